package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// This file holds support messages as internal/support triaged them: who wrote (a person link and a
// keyed hash, never the email unless bodies are kept), the category, the rules that matched, the
// diagnosis, and the state of the private note posted back on the help desk ticket. A message is
// stored once per (source, external id): a mailbox read twice counts nothing twice.

// Note states of a support message.
const (
	NoteNone    = "none"    // nothing to post: the source has no ticket to note on
	NotePending = "pending" // waiting for the sources' worker to post it
	NotePosted  = "posted"
	NoteFailed  = "failed" // gave up after the attempts allowed; NoteError says why
)

// SupportMessage is one triaged support message as stored.
type SupportMessage struct {
	ID         int64
	Source     string // imap | helpscout | zendesk | webhook
	ExternalID string // unique per source
	TicketRef  string // the help desk ticket a note goes on; "" for none
	ReceivedAt time.Time
	IngestedAt time.Time
	PersonID   int64  // 0 when no person matched
	SenderHash string // identity.Hash of the sender's normalized email
	// SenderEmail, Subject and Body are "" unless support.keep_bodies is set.
	SenderEmail string
	Subject     string
	Body        string
	Category    string   // access | welcome_email | billing | refund | other
	Rules       []string // the keyword rules that matched
	Diagnosis   string   // JSON of support.Diagnosis
	NoteStatus  string   // NoteNone, NotePending, NotePosted or NoteFailed
	NoteError   string   // the last failure to post the note
	// NoteAttempts counts the failed attempts to post the note; NotedAt is when it was posted.
	NoteAttempts int
	NotedAt      time.Time
}

const supportColumns = `id, source, external_id, ticket_ref, received_at, ingested_at, person_id, sender_hash, sender_email,
	subject, body, category, rules, diagnosis, note_status, note_error, note_attempts, noted_at`

func scanSupport(r row) (SupportMessage, error) {
	var m SupportMessage
	var recv, ing, noted int64
	var rules string
	err := r.Scan(&m.ID, &m.Source, &m.ExternalID, &m.TicketRef, &recv, &ing, &m.PersonID, &m.SenderHash, &m.SenderEmail,
		&m.Subject, &m.Body, &m.Category, &rules, &m.Diagnosis, &m.NoteStatus, &m.NoteError, &m.NoteAttempts, &noted)
	if err != nil {
		return SupportMessage{}, err
	}
	m.ReceivedAt, m.IngestedAt, m.NotedAt = fromMicros(recv), fromMicros(ing), optMicros(noted)
	if rules != "" {
		if err := json.Unmarshal([]byte(rules), &m.Rules); err != nil {
			return SupportMessage{}, fmt.Errorf("reading the rules of support message %d: %w", m.ID, err)
		}
	}
	return m, nil
}

// RecordSupportMessage stores m unless a message with its source and external id is stored
// already, and returns the stored row: created is false for a duplicate, whose row is returned as
// it was first stored (nothing is updated, so nothing is counted or noted twice). IngestedAt
// defaults to the store's clock, NoteStatus to NoteNone.
func (s *Store) RecordSupportMessage(ctx context.Context, m SupportMessage) (stored SupportMessage, created bool, err error) {
	if m.Source == "" || m.ExternalID == "" || m.Category == "" {
		return SupportMessage{}, false, errors.New("a support message needs a source, an external id and a category")
	}
	if m.IngestedAt.IsZero() {
		m.IngestedAt = s.now()
	}
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = m.IngestedAt
	}
	if m.NoteStatus == "" {
		m.NoteStatus = NoteNone
	}
	if m.Diagnosis == "" {
		m.Diagnosis = "{}"
	}
	rules, err := json.Marshal(append([]string{}, m.Rules...))
	if err != nil {
		return SupportMessage{}, false, err
	}
	stored, err = scanSupport(s.queryRow(ctx, `INSERT INTO support_messages (source, external_id, ticket_ref, received_at, ingested_at,
		person_id, sender_hash, sender_email, subject, body, category, rules, diagnosis, note_status)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (source, external_id) DO NOTHING RETURNING `+supportColumns,
		m.Source, m.ExternalID, m.TicketRef, micros(m.ReceivedAt), micros(m.IngestedAt), m.PersonID, m.SenderHash, m.SenderEmail,
		m.Subject, m.Body, m.Category, string(rules), m.Diagnosis, m.NoteStatus))
	if err == nil {
		return stored, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return SupportMessage{}, false, fmt.Errorf("storing a %s support message: %w", m.Source, err)
	}
	stored, err = s.SupportMessageByExternalID(ctx, m.Source, m.ExternalID)
	return stored, false, err
}

// SupportMessage returns one stored message; ErrNotFound when there is none.
func (s *Store) SupportMessage(ctx context.Context, id int64) (SupportMessage, error) {
	m, err := scanSupport(s.queryRow(ctx, "SELECT "+supportColumns+" FROM support_messages WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return SupportMessage{}, ErrNotFound
	}
	return m, err
}

// SupportMessageByExternalID returns the message a source delivered under externalID; ErrNotFound
// when it was never stored.
func (s *Store) SupportMessageByExternalID(ctx context.Context, source, externalID string) (SupportMessage, error) {
	m, err := scanSupport(s.queryRow(ctx, "SELECT "+supportColumns+" FROM support_messages WHERE source = ? AND external_id = ?", source, externalID))
	if errors.Is(err, sql.ErrNoRows) {
		return SupportMessage{}, ErrNotFound
	}
	return m, err
}

// SupportFilter selects support messages, newest first.
type SupportFilter struct {
	PersonID int64  // 0: everyone
	Category string // "": every category
	Before   int64  // only ids below this (the next page's cursor); 0: from the newest
	Limit    int    // default 50, at most 1000
}

// SupportMessages returns the messages f selects, newest first (by id, which follows ingestion).
func (s *Store) SupportMessages(ctx context.Context, f SupportFilter) ([]SupportMessage, error) {
	q := "SELECT " + supportColumns + " FROM support_messages WHERE 1 = 1"
	var args []any
	if f.PersonID != 0 {
		q += " AND person_id = ?"
		args = append(args, f.PersonID)
	}
	if f.Category != "" {
		q += " AND category = ?"
		args = append(args, f.Category)
	}
	if f.Before > 0 {
		q += " AND id < ?"
		args = append(args, f.Before)
	}
	q += " ORDER BY id DESC LIMIT " + strconv.Itoa(limitOr(f.Limit, 50))
	r, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("reading support messages: %w", err)
	}
	defer r.Close()
	var out []SupportMessage
	for r.Next() {
		m, err := scanSupport(r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, r.Err()
}

// PendingSupportNotes returns up to limit messages whose note waits to be posted, oldest first.
func (s *Store) PendingSupportNotes(ctx context.Context, limit int) ([]SupportMessage, error) {
	r, err := s.query(ctx, "SELECT "+supportColumns+" FROM support_messages WHERE note_status = ? ORDER BY id LIMIT "+
		strconv.Itoa(limitOr(limit, 50)), NotePending)
	if err != nil {
		return nil, fmt.Errorf("reading pending support notes: %w", err)
	}
	defer r.Close()
	var out []SupportMessage
	for r.Next() {
		m, err := scanSupport(r)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, r.Err()
}

// MarkSupportNote records an attempt to post message id's note: errText "" marks it posted;
// otherwise the attempt is counted and the note stays pending until maxAttempts failures, then
// failed. Only a pending note changes: ErrNotFound when id has none pending (posted already, or
// never needed one).
func (s *Store) MarkSupportNote(ctx context.Context, id int64, errText string, maxAttempts int) error {
	var n int64
	var err error
	if errText == "" {
		n, err = s.exec(ctx, "UPDATE support_messages SET note_status = ?, note_error = '', noted_at = ? WHERE id = ? AND note_status = ?",
			NotePosted, micros(s.now()), id, NotePending)
	} else {
		n, err = s.exec(ctx, `UPDATE support_messages SET note_attempts = note_attempts + 1, note_error = ?,
			note_status = CASE WHEN note_attempts + 1 >= ? THEN ? ELSE ? END WHERE id = ? AND note_status = ?`,
			errText, maxAttempts, NoteFailed, NotePending, id, NotePending)
	}
	if err != nil {
		return fmt.Errorf("recording the note of support message %d: %w", id, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// SupportCounts returns how many messages of each category were received in each of weeks
// consecutive 7-day buckets starting at from (from should be a Monday 00:00 UTC for ISO weeks):
// counts[i][category]. The buckets are computed by the database: one small row per week and
// category, however many messages there are.
func (s *Store) SupportCounts(ctx context.Context, from time.Time, weeks int) ([]map[string]int, error) {
	if weeks <= 0 {
		return nil, nil
	}
	week := (7 * 24 * time.Hour).Microseconds()
	start := micros(from)
	end := start + int64(weeks)*week
	r, err := s.query(ctx, `SELECT (received_at - ?) / ?, category, COUNT(*) FROM support_messages
		WHERE received_at >= ? AND received_at < ? GROUP BY 1, 2`, start, week, start, end)
	if err != nil {
		return nil, fmt.Errorf("counting support messages by week: %w", err)
	}
	defer r.Close()
	out := make([]map[string]int, weeks)
	for i := range out {
		out[i] = map[string]int{}
	}
	for r.Next() {
		var i int64
		var cat string
		var n int
		if err := r.Scan(&i, &cat, &n); err != nil {
			return nil, err
		}
		if i >= 0 && i < int64(weeks) {
			out[i][cat] += n
		}
	}
	return out, r.Err()
}

// SupportCountBetween returns how many messages of category were received in [from, to).
func (s *Store) SupportCountBetween(ctx context.Context, category string, from, to time.Time) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT COUNT(*) FROM support_messages WHERE category = ? AND received_at >= ? AND received_at < ?",
		category, micros(from), micros(to)).Scan(&n)
	return n, err
}

// settingSupportBaseline is the instance_settings key of the recorded baseline week's count of
// access messages (support.Triage.Baseline).
const settingSupportBaseline = "support_baseline"

// SupportBaseline returns the recorded baseline; ok is false while none is recorded.
func (s *Store) SupportBaseline(ctx context.Context) (n int, ok bool, err error) {
	var v string
	err = s.queryRow(ctx, "SELECT value FROM instance_settings WHERE key = ?", settingSupportBaseline).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("reading the support baseline: %w", err)
	}
	n, err = strconv.Atoi(v)
	if err != nil {
		return 0, false, fmt.Errorf("reading the support baseline %q: %w", v, err)
	}
	return n, true, nil
}

// RecordSupportBaseline records n as the baseline unless one is recorded, and returns the
// recorded value (the first caller's, when two instances race).
func (s *Store) RecordSupportBaseline(ctx context.Context, n int) (int, error) {
	if _, err := s.exec(ctx, `INSERT INTO instance_settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO NOTHING`, settingSupportBaseline, strconv.Itoa(n), micros(s.now())); err != nil {
		return 0, fmt.Errorf("recording the support baseline: %w", err)
	}
	got, ok, err := s.SupportBaseline(ctx)
	if err == nil && !ok {
		err = errors.New("recording the support baseline: the row is missing after its insert")
	}
	return got, err
}

// MoveSupportMessages gives person from's messages to person into (a merge); into 0 unlinks them
// (an erasure, which also blanks what could name the person).
func (tx *Tx) MoveSupportMessages(ctx context.Context, from, into int64) error {
	q := "UPDATE support_messages SET person_id = ? WHERE person_id = ?"
	if into == 0 {
		q = "UPDATE support_messages SET person_id = ?, sender_hash = '', sender_email = '', subject = '', body = '', diagnosis = '{}' WHERE person_id = ?"
	}
	_, err := tx.exec(ctx, q, into, from)
	return err
}

// PersonIDByAnyEmail returns the person whose email is email (normalized), or else the person of
// a Stripe customer last read with that email: someone who paid with a second address is found
// by either. ErrNotFound when neither matches.
func (s *Store) PersonIDByAnyEmail(ctx context.Context, email string) (int64, error) {
	if email == "" {
		return 0, ErrNotFound
	}
	pid, err := s.PersonIDByEmail(ctx, email)
	if !errors.Is(err, ErrNotFound) {
		return pid, err
	}
	err = s.queryRow(ctx, "SELECT person_id FROM customers WHERE email = ? ORDER BY created_at LIMIT 1", email).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return pid, err
}
