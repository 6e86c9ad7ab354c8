package store

import (
	"context"
	"fmt"
	"time"
)

// This file holds the journal: each step of a person's journey (events, syncs, provider calls,
// reviews).

// JournalEntry is one step of a person's journey.
type JournalEntry struct {
	ID       int64
	PersonID int64
	At       time.Time
	Kind     string // event | sync | call | admin | review | note
	EventID  string
	Action   string
	Target   string
	Result   string
	Status   int
	Attempt  int
	Duration time.Duration
	Detail   string
}

// AppendJournal records one step.
func (s *Store) AppendJournal(ctx context.Context, e JournalEntry) error {
	return appendJournal(ctx, s, s.now(), e)
}

// AppendJournal records one step inside the transaction.
func (tx *Tx) AppendJournal(ctx context.Context, e JournalEntry) error {
	return appendJournal(ctx, tx, tx.s.now(), e)
}

func appendJournal(ctx context.Context, db q, now time.Time, e JournalEntry) error {
	if e.At.IsZero() {
		e.At = now
	}
	_, err := db.exec(ctx, `INSERT INTO journal (person_id, at, kind, event_id, action, target, result, status, attempt, duration_us, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.PersonID, micros(e.At), e.Kind, e.EventID, e.Action, e.Target, e.Result, e.Status, e.Attempt, e.Duration.Microseconds(), e.Detail)
	if err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	return nil
}

// Journal returns a person's journal, oldest first.
func (s *Store) Journal(ctx context.Context, personID int64) ([]JournalEntry, error) {
	r, err := s.query(ctx, `SELECT id, person_id, at, kind, event_id, action, target, result, status, attempt, duration_us, detail
		FROM journal WHERE person_id = ? ORDER BY at, id`, personID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []JournalEntry
	for r.Next() {
		var e JournalEntry
		var at, dur int64
		if err := r.Scan(&e.ID, &e.PersonID, &at, &e.Kind, &e.EventID, &e.Action, &e.Target, &e.Result, &e.Status, &e.Attempt, &dur, &e.Detail); err != nil {
			return nil, err
		}
		e.At, e.Duration = fromMicros(at), time.Duration(dur)*time.Microsecond
		out = append(out, e)
	}
	return out, r.Err()
}
