package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Event states.
const (
	EventQueued     = "queued"     // its person is marked dirty and a sync is (or was) queued
	EventUnresolved = "unresolved" // acts on a customer the payload does not name (a dispute, a refund): resolved by a job
	EventIgnored    = "ignored"    // a type membersync does not act on; kept for the record
	EventProcessed  = "processed"  // a sync that consumed its dirty mark converged (see StartSync)
)

// Event is a verified Stripe event as the inbox stores it.
type Event struct {
	ID         string // evt_…
	Type       string
	CustomerID string // '' when data.object names no customer
	APIVersion string
	Created    time.Time
	Livemode   bool
	Source     string // webhook | backfill | replay
	// Actionable is whether membersync acts on the type; others are stored and ignored.
	Actionable bool
	Payload    []byte
	// Set on read:
	State      string
	PersonID   int64
	ReceivedAt time.Time
}

// IngestResult is what storing one event did.
type IngestResult struct {
	Duplicate bool   // the event id was stored before: nothing else was done
	State     string // the new event's state
	PersonID  int64  // the person marked dirty (0 when none)
	// NeedsSync is true when the person had no sync waiting: the caller inserts one in the same Tx.
	NeedsSync bool
	// NeedsResolve is true for an unresolved event: the caller inserts a resolve job in the same Tx.
	NeedsResolve bool
}

// IngestEvent stores ev unless its id was seen before and, for an event about a customer, marks the
// customer's person dirty (creating the person on first sight). It is the inbox's whole write; the
// caller adds the jobs the result asks for in the same transaction.
func (tx *Tx) IngestEvent(ctx context.Context, ev Event) (IngestResult, error) {
	state := EventIgnored
	switch {
	case ev.Actionable && ev.CustomerID != "":
		state = EventQueued
	case ev.Actionable:
		state = EventUnresolved
	}
	if ev.Source == "" {
		ev.Source = "webhook"
	}
	// The person is resolved first so that the event row is written once, already linked. A duplicate
	// delivery finds the customer its first delivery linked, so this never creates a person for one.
	var pid int64
	var created bool
	if state == EventQueued {
		var err error
		if pid, created, err = tx.PersonForCustomer(ctx, ev.CustomerID); err != nil {
			return IngestResult{}, err
		}
	}
	n, err := tx.exec(ctx, `INSERT INTO stripe_events (id, type, customer_id, person_id, created, livemode, api_version, received_at, source, state, payload)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
		ev.ID, ev.Type, ev.CustomerID, pid, ev.Created.Unix(), ev.Livemode, ev.APIVersion, micros(tx.s.now()), ev.Source, state, string(ev.Payload))
	if err != nil {
		return IngestResult{}, fmt.Errorf("storing event %s: %w", ev.ID, err)
	}
	if n == 0 {
		return IngestResult{Duplicate: true}, nil
	}
	res := IngestResult{State: state, NeedsResolve: state == EventUnresolved}
	if state != EventQueued {
		return res, nil
	}
	need := created
	if !created {
		if need, err = tx.MarkDirty(ctx, pid); err != nil {
			return IngestResult{}, err
		}
	}
	res.PersonID, res.NeedsSync = pid, need
	return res, nil
}

// PersonForCustomer returns the person a Stripe customer belongs to, creating both on first sight;
// created is true when it made a new person (born dirty, with a sync to enqueue).
func (tx *Tx) PersonForCustomer(ctx context.Context, customerID string) (pid int64, created bool, err error) {
	err = tx.queryRow(ctx, "SELECT person_id FROM customers WHERE id = ?", customerID).Scan(&pid)
	if err == nil {
		return pid, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("looking up customer: %w", err)
	}
	// A new person starts dirty with its sync waiting: the caller enqueues it.
	now := micros(tx.s.now())
	if err := tx.queryRow(ctx, "INSERT INTO people (generation, queued, created_at, updated_at) VALUES (1, TRUE, ?, ?) RETURNING id", now, now).Scan(&pid); err != nil {
		return 0, false, fmt.Errorf("creating person: %w", err)
	}
	n, err := tx.exec(ctx, "INSERT INTO customers (id, person_id, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", customerID, pid, now)
	if err != nil {
		return 0, false, fmt.Errorf("linking customer: %w", err)
	}
	if n == 1 {
		return pid, true, nil
	}
	// A concurrent transaction linked the customer first: use its person, drop ours.
	if _, err := tx.exec(ctx, "DELETE FROM people WHERE id = ?", pid); err != nil {
		return 0, false, fmt.Errorf("dropping duplicate person: %w", err)
	}
	if err := tx.queryRow(ctx, "SELECT person_id FROM customers WHERE id = ?", customerID).Scan(&pid); err != nil {
		return 0, false, fmt.Errorf("looking up customer: %w", err)
	}
	return pid, false, nil
}

// MarkDirty bumps the person's generation and reports whether a sync must be enqueued: true unless
// one is already waiting to start. A sync that is running does not count as waiting, so an event
// arriving mid-sync always causes another sync after it.
//
// The first statement bumps the generation unconditionally, which locks the row until this
// transaction ends, and reads the waiting mark under that lock. A sync starting meanwhile
// (StartSync clears the mark) either committed before — then this sees no sync waiting and asks
// for one — or waits for this transaction and reads the new generation. (Matching on the mark in
// the first statement left a gap on PostgreSQL: when a sync was waiting, nothing was locked, the
// sync could start before the bump, and the bump then asked for no job: a person dirty forever.)
func (tx *Tx) MarkDirty(ctx context.Context, personID int64) (needsSync bool, err error) {
	now := micros(tx.s.now())
	var waiting bool
	err = tx.queryRow(ctx, "UPDATE people SET generation = generation + 1, updated_at = ? WHERE id = ? RETURNING queued", now, personID).Scan(&waiting)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("marking person dirty: %w", err)
	}
	if waiting {
		return false, nil
	}
	if _, err := tx.exec(ctx, "UPDATE people SET queued = TRUE WHERE id = ?", personID); err != nil {
		return false, fmt.Errorf("marking person dirty: %w", err)
	}
	return true, nil
}

// Event returns one stored event.
func (s *Store) Event(ctx context.Context, id string) (Event, error) {
	var ev Event
	var created, received int64
	var payload string
	err := s.queryRow(ctx, `SELECT id, type, customer_id, person_id, created, livemode, api_version, received_at, source, state, payload
		FROM stripe_events WHERE id = ?`, id).Scan(&ev.ID, &ev.Type, &ev.CustomerID, &ev.PersonID, &created, &ev.Livemode, &ev.APIVersion, &received, &ev.Source, &ev.State, &payload)
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, ErrNotFound
	}
	if err != nil {
		return Event{}, fmt.Errorf("reading event %s: %w", id, err)
	}
	ev.Created, ev.ReceivedAt, ev.Payload = time.Unix(created, 0).UTC(), fromMicros(received), []byte(payload)
	return ev, nil
}

// EventCounts returns how many events are stored in all, and per state.
func (s *Store) EventCounts(ctx context.Context) (map[string]int, error) {
	r, err := s.query(ctx, "SELECT state, COUNT(*) FROM stripe_events GROUP BY state")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := map[string]int{}
	for r.Next() {
		var st string
		var n int
		if err := r.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[st] = n
	}
	return out, r.Err()
}

// EventIDs returns every stored event id (tests and checks; small databases).
func (s *Store) EventIDs(ctx context.Context) ([]string, error) {
	r, err := s.query(ctx, "SELECT id FROM stripe_events ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var id string
		if err := r.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, r.Err()
}

// ResolveEvent links an unresolved event to its customer's person and marks the person dirty.
func (s *Store) ResolveEvent(ctx context.Context, eventID, customerID string) (personID int64, needsSync bool, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		pid, created, err := tx.PersonForCustomer(ctx, customerID)
		if err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "UPDATE stripe_events SET person_id = ?, customer_id = ?, state = ? WHERE id = ?", pid, customerID, EventQueued, eventID); err != nil {
			return err
		}
		personID, needsSync = pid, created
		if !created {
			needsSync, err = tx.MarkDirty(ctx, pid)
		}
		return err
	})
	return personID, needsSync, err
}

// PersonEvents returns the events linked to a person, oldest first (payload not included).
func (s *Store) PersonEvents(ctx context.Context, personID int64) ([]Event, error) {
	r, err := s.query(ctx, `SELECT id, type, customer_id, person_id, created, livemode, api_version, received_at, source, state
		FROM stripe_events WHERE person_id = ? ORDER BY received_at, id`, personID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Event
	for r.Next() {
		var ev Event
		var created, received int64
		if err := r.Scan(&ev.ID, &ev.Type, &ev.CustomerID, &ev.PersonID, &created, &ev.Livemode, &ev.APIVersion, &received, &ev.Source, &ev.State); err != nil {
			return nil, err
		}
		ev.Created, ev.ReceivedAt = time.Unix(created, 0).UTC(), fromMicros(received)
		out = append(out, ev)
	}
	return out, r.Err()
}

// Trigger marks a person dirty inside a transaction for a manual or scheduled sync; the caller
// enqueues the job when needsSync says one is not already waiting.
func (tx *Tx) Trigger(ctx context.Context, personID int64) (needsSync bool, err error) {
	return tx.MarkDirty(ctx, personID)
}
