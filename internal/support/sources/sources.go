// Package sources brings support messages to the triage (package support): an IMAP mailbox polled
// read-only, Help Scout's and Zendesk's signed webhooks and a generic signed JSON webhook, and
// back again, the diagnosis posted as a private note on the Help Scout conversation or Zendesk
// ticket. Every source hands a support.Message to an Ingester; the triage decides what it means.
//
// The webhook endpoints are public and hostile input: each refuses what it can cheaply first
// (method, rate, size, signature header) and reads and parses the body only once the signature
// holds; it answers 2xx only after the message was ingested (committed), and 503 when the
// database is down, so that the sender retries and no message is lost. Subjects, bodies and
// email addresses never reach the logs.
package sources

import (
	"context"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/support"
)

// Source names, as support.Message.Source.
const (
	SourceIMAP      = "imap"
	SourceHelpScout = "helpscout"
	SourceZendesk   = "zendesk"
	SourceWebhook   = "webhook"
)

// Ingester is what the sources need of the triage: *support.Triage is one; tests may use a double.
type Ingester interface {
	Ingest(ctx context.Context, m support.Message) (support.Outcome, error)
}

// NoteQueue is what the note worker needs of the triage: the diagnoses waiting to be posted on
// their tickets, and recording each result.
type NoteQueue interface {
	NotePending(ctx context.Context, limit int) ([]support.PendingNote, error)
	MarkNoted(ctx context.Context, id int64, err error) error
}

// emailHash returns the keyed hash of an email for log lines (identity.Hash, the sync engine's),
// never the email itself.
func emailHash(key []byte, email string) string {
	if email == "" {
		return ""
	}
	return identity.Hash(key, email)
}
