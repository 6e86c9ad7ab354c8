// Package support triages customer support messages: it matches the sender to a person, classifies
// the message by keyword rules, writes a diagnosis from that person's journey and stores the
// outcome (without the body unless configured), so that a "paid but cannot access" message arrives
// already answered. Where messages come from (IMAP, Help Scout, Zendesk, a generic webhook) is the
// business of package support/sources, which calls Ingest and posts the pending private notes.
// Weekly volumes, the baseline week and the spike check are in weekly.go.
package support

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/plan"
	"github.com/membersync/membersync/internal/store"
)

// Sources a message may come from.
const (
	SourceIMAP      = "imap"
	SourceHelpScout = "helpscout"
	SourceZendesk   = "zendesk"
	SourceWebhook   = "webhook"
)

// Sources lists the sources Ingest accepts.
var Sources = []string{SourceIMAP, SourceHelpScout, SourceZendesk, SourceWebhook}

// Bounds on what one message may make Ingest store or read: a hostile sender cannot grow a row or
// the lookups without limit.
const (
	maxExternalID = 512
	maxFrom       = 320 // RFC 5321's longest path
	maxSubject    = 1000
	maxBody       = 64 << 10 // classified and, with keep_bodies, stored; the rest is dropped
	// MaxNoteAttempts is how many failed posts of a private note leave it failed rather than pending.
	MaxNoteAttempts = 5
)

// Message is one support message as a source received it. Sources fill it; Triage never keeps
// Subject or Body unless KeepBodies is set, and never logs them.
type Message struct {
	Source     string    // "imap" | "helpscout" | "zendesk" | "webhook"
	ExternalID string    // unique per source: IMAP "<mailbox>/<uidvalidity>/<uid>", Help Scout "<conversation>/<thread>", Zendesk "<ticket>/<comment>", webhook: the sender's id
	TicketRef  string    // Help Scout conversation id / Zendesk ticket id to post the note on; "" for imap/webhook
	From       string    // sender email as received
	Subject    string    // never logged
	Body       string    // plain text; never logged
	ReceivedAt time.Time // zero: now
}

// Outcome is what Ingest decided about a message.
type Outcome struct {
	ID        int64     // the stored message's id
	Duplicate bool      // (Source, ExternalID) was seen before: nothing counted twice, nothing re-noted
	Category  string    // access | welcome_email | billing | refund | other
	Rules     []string  // the keyword rules that matched
	PersonID  int64     // 0 when no person matched
	Diagnosis Diagnosis // as stored when the message was first ingested
}

// Diagnosis is the answer support would otherwise assemble from three dashboards: what the person
// paid, their access state, what is wrong, and what to do.
type Diagnosis struct {
	Summary string   `json:"summary"` // one sentence: what they paid, access state, what is wrong
	Action  string   `json:"action"`  // the suggested action in words
	Lines   []string `json:"lines"`   // supporting facts (journey steps, review item #, other email found)
	// Fix names the admin's one-click fix that fits: "retry" (ReviewID), "resync", "resend",
	// "status_link", "merge" (OtherPersonID) or "" for none.
	Fix string `json:"fix,omitempty"`
	// ReviewID is the open review item the diagnosis names; 0 for none.
	ReviewID int64 `json:"review_id,omitempty"`
	// OtherPersonID is the person another email or customer in the message belongs to; 0 for none.
	OtherPersonID int64 `json:"other_person_id,omitempty"`
}

// Note is the private-note text posted to Help Scout or Zendesk: plain text, no secrets, readable
// without opening membersync.
func (d Diagnosis) Note() string {
	var b strings.Builder
	b.WriteString("membersync diagnosis\n")
	b.WriteString(d.Summary + "\n")
	if d.Action != "" {
		b.WriteString("Suggested action: " + d.Action + "\n")
	}
	for _, l := range d.Lines {
		b.WriteString("- " + l + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

// PendingNote is a diagnosis waiting to be posted as a private note on the help desk ticket its
// message came from.
type PendingNote struct {
	ID        int64  // the stored message's id, for MarkNoted
	Source    string // helpscout | zendesk
	TicketRef string
	Text      string // Diagnosis.Note
}

// Metrics counts triaged messages; *metrics.Metrics provides it.
type Metrics interface {
	SupportMessage(category, source string)
}

// Triage ingests support messages. Store is required; Now and Log default to time.Now and a
// discarding logger; zero Rules classify with DefaultRules.
type Triage struct {
	Store      *store.Store
	Rules      Rules
	KeepBodies bool // store the sender's email, subject and body (support.keep_bodies)
	Now        func() time.Time
	Log        *slog.Logger
	// HashKey keys the sender hash stored and logged (identity.Hash), so that a copy of the
	// database does not tell who wrote by hashing a list of emails. Use the sync engine's key:
	// the same person then has the same hash in every log line.
	HashKey []byte
	// Plans and Names word the diagnosis (plan names, Circle group names); nil names by id.
	Plans   []plan.Plan
	Names   catalog.Names
	Metrics Metrics // nil counts nothing
}

func (t *Triage) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

func (t *Triage) log() *slog.Logger {
	if t.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return t.Log
}

// ErrInvalid wraps what is wrong with a message a source passed: the source should answer its
// sender with a client error (HTTP 400) and not retry.
var ErrInvalid = errors.New("invalid support message")

func validate(m Message) error {
	switch {
	case !slices.Contains(Sources, m.Source):
		return fmt.Errorf("%w: unknown source %q (one of %s)", ErrInvalid, m.Source, strings.Join(Sources, ", "))
	case strings.TrimSpace(m.ExternalID) == "":
		return fmt.Errorf("%w: no external id: a source must name each message so that it is counted once", ErrInvalid)
	case len(m.ExternalID) > maxExternalID:
		return fmt.Errorf("%w: the external id is longer than %d bytes", ErrInvalid, maxExternalID)
	case len(m.From) > maxFrom:
		return fmt.Errorf("%w: the sender is longer than %d bytes", ErrInvalid, maxFrom)
	case len(m.TicketRef) > maxExternalID:
		return fmt.Errorf("%w: the ticket reference is longer than %d bytes", ErrInvalid, maxExternalID)
	}
	return nil
}

// Ingest triages m once: it classifies it, matches the sender, diagnoses, stores the outcome and,
// for Help Scout and Zendesk with a ticket, queues the private note (NotePending). A second call
// with the same (Source, ExternalID) returns the stored outcome with Duplicate set and counts
// nothing. An error wrapping ErrInvalid means the message itself is wrong; any other error is the
// store's, and the source should retry later.
func (t *Triage) Ingest(ctx context.Context, m Message) (Outcome, error) {
	if err := validate(m); err != nil {
		return Outcome{}, err
	}
	if prev, err := t.Store.SupportMessageByExternalID(ctx, m.Source, m.ExternalID); err == nil {
		return outcomeOf(prev, true), nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return Outcome{}, fmt.Errorf("looking up support message %s/%s: %w", m.Source, m.ExternalID, err)
	}
	subject, body := clip(m.Subject, maxSubject), clip(m.Body, maxBody)
	category, rules := t.Rules.Classify(subject, body)
	from := identity.NormalizeEmail(m.From)
	mt, err := t.match(ctx, from, subject+"\n"+body)
	if err != nil {
		return Outcome{}, err
	}
	d, err := t.diagnose(ctx, mt, category)
	if err != nil {
		return Outcome{}, err
	}
	dj, err := json.Marshal(d)
	if err != nil {
		return Outcome{}, err
	}
	row := store.SupportMessage{Source: m.Source, ExternalID: m.ExternalID, TicketRef: m.TicketRef, ReceivedAt: m.ReceivedAt,
		PersonID: mt.personID(), SenderHash: identity.Hash(t.HashKey, from), Category: category, Rules: rules,
		Diagnosis: string(dj), NoteStatus: store.NoteNone}
	if row.ReceivedAt.IsZero() {
		row.ReceivedAt = t.now()
	}
	if (m.Source == SourceHelpScout || m.Source == SourceZendesk) && m.TicketRef != "" {
		row.NoteStatus = store.NotePending
	}
	if t.KeepBodies {
		row.SenderEmail, row.Subject, row.Body = from, subject, body
	}
	stored, created, err := t.Store.RecordSupportMessage(ctx, row)
	if err != nil {
		return Outcome{}, err
	}
	out := outcomeOf(stored, !created)
	if created {
		if t.Metrics != nil {
			t.Metrics.SupportMessage(category, m.Source)
		}
		// Never the subject, the body or the email: the hash follows the person through the logs.
		t.log().Info("support message triaged", "id", stored.ID, "source", m.Source, "category", category,
			"rules", len(rules), "person_id", out.PersonID, "sender", row.SenderHash, "fix", d.Fix, "note", row.NoteStatus)
	}
	return out, nil
}

// outcomeOf returns the outcome a stored message records.
func outcomeOf(m store.SupportMessage, duplicate bool) Outcome {
	var d Diagnosis
	_ = json.Unmarshal([]byte(m.Diagnosis), &d) // an unreadable diagnosis reads as empty
	return Outcome{ID: m.ID, Duplicate: duplicate, Category: m.Category, Rules: m.Rules, PersonID: m.PersonID, Diagnosis: d}
}

// DiagnosisOf returns the diagnosis a stored message records.
func DiagnosisOf(m store.SupportMessage) Diagnosis { return outcomeOf(m, false).Diagnosis }

// NotePending lists up to limit diagnoses waiting to be posted as private notes, oldest first.
// The sources' worker posts each and reports with MarkNoted; a note stays listed until it is
// posted or has failed MaxNoteAttempts times.
func (t *Triage) NotePending(ctx context.Context, limit int) ([]PendingNote, error) {
	ms, err := t.Store.PendingSupportNotes(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make([]PendingNote, 0, len(ms))
	for _, m := range ms {
		out = append(out, PendingNote{ID: m.ID, Source: m.Source, TicketRef: m.TicketRef, Text: DiagnosisOf(m).Note()})
	}
	return out, nil
}

// MarkNoted records the result of posting message id's note: nil means posted. A failure is kept
// (its error, without secrets: pass the error the client returned) and the note is offered again
// until MaxNoteAttempts failures. store.ErrNotFound means no note of id was pending.
func (t *Triage) MarkNoted(ctx context.Context, id int64, err error) error {
	msg := ""
	if err != nil {
		msg = clip(err.Error(), 500)
		if msg == "" {
			msg = "failed"
		}
	}
	if e := t.Store.MarkSupportNote(ctx, id, msg, MaxNoteAttempts); e != nil {
		return e
	}
	if err != nil {
		t.log().Warn("support note not posted", "id", id, "err", msg)
	}
	return nil
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// RulesFromConfig returns the classifier support.rules configures: the defaults plus the custom
// phrases, or the custom phrases alone with replace_defaults.
func RulesFromConfig(r config.SupportRules) (Rules, error) {
	return NewRules(r.ByCategory(), r.ReplaceDefaults)
}
