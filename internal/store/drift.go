package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file holds what the drift sweep reads and writes: people as the sweep compares them, the
// grants the sweep corrects before it enqueues a repairing sync, the stored sweep reports, and named
// task leases (the sweep's and the backfill's). The backfill's runs are in backfill.go.

// SweepPerson is one person as the drift sweep compares them.
type SweepPerson struct {
	ID               int64
	Email            string
	CircleMemberID   int64
	KitSubscriberID  int64
	Generation       int64
	SyncedGeneration int64
	SyncedAt         time.Time
	LeaseUntil       time.Time
	Desired          string // JSON of the entitlement.Desired of the last sync; '' before the first
	NextChange       time.Time
	// Customers is true when at least one Stripe customer belongs to the person: one without any
	// is a stranger to every managed group its desired state does not grant (a comp's is).
	Customers bool
}

// sweepBatch is how many people EachSweepPerson reads per query.
const sweepBatch = 1000

// EachSweepPerson calls fn for every person, in id order. People are read in batches by id, so fn
// may use the store; a person created during the walk may or may not be seen.
func (s *Store) EachSweepPerson(ctx context.Context, fn func(SweepPerson) error) error {
	var after int64
	batch := make([]SweepPerson, 0, sweepBatch)
	for {
		batch = batch[:0]
		r, err := s.query(ctx, `SELECT id, email, circle_member_id, kit_subscriber_id, generation, synced_generation,
			synced_at, lease_until, desired, next_change, EXISTS (SELECT 1 FROM customers c WHERE c.person_id = people.id)
			FROM people WHERE id > ? ORDER BY id LIMIT ?`, after, sweepBatch)
		if err != nil {
			return fmt.Errorf("reading people: %w", err)
		}
		for r.Next() {
			var p SweepPerson
			var synced, lease, next int64
			if err := r.Scan(&p.ID, &p.Email, &p.CircleMemberID, &p.KitSubscriberID, &p.Generation, &p.SyncedGeneration,
				&synced, &lease, &p.Desired, &next, &p.Customers); err != nil {
				r.Close()
				return fmt.Errorf("reading people: %w", err)
			}
			p.SyncedAt, p.LeaseUntil, p.NextChange = fromMicros(synced), fromMicros(lease), fromMicros(next)
			batch = append(batch, p)
		}
		r.Close()
		if err := r.Err(); err != nil {
			return fmt.Errorf("reading people: %w", err)
		}
		for _, p := range batch {
			if err := fn(p); err != nil {
				return err
			}
		}
		if len(batch) < sweepBatch {
			return nil
		}
		after = batch[len(batch)-1].ID
	}
}

// SweepMark is what tells whether a person moved while a sweep read the providers.
type SweepMark struct {
	Generation int64
	SyncedAt   time.Time
	LeaseUntil time.Time
}

// SweepMarks returns the marks of the people with ids (missing people are absent from the map).
func (s *Store) SweepMarks(ctx context.Context, ids []int64) (map[int64]SweepMark, error) {
	out := make(map[int64]SweepMark, len(ids))
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		r, err := s.query(ctx, "SELECT id, generation, synced_at, lease_until FROM people WHERE id IN ("+placeholders(len(chunk))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("reading people: %w", err)
		}
		for r.Next() {
			var id, gen, synced, lease int64
			if err := r.Scan(&id, &gen, &synced, &lease); err != nil {
				r.Close()
				return nil, err
			}
			out[id] = SweepMark{Generation: gen, SyncedAt: fromMicros(synced), LeaseUntil: fromMicros(lease)}
		}
		r.Close()
		if err := r.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return "?" + strings.Repeat(", ?", n-1)
}

// RemoteID is a Circle member or Kit subscriber id recorded on a person's confirmed grants.
type RemoteID struct {
	PersonID int64
	Provider string // ProviderCircle or ProviderKit
	RemoteID int64
}

// AppliedRemoteIDs returns every distinct remote id of the applied grants: the identity record the
// sweep maps listed members and subscribers through, beside people's own ids.
func (s *Store) AppliedRemoteIDs(ctx context.Context) ([]RemoteID, error) {
	r, err := s.query(ctx, "SELECT DISTINCT person_id, provider, remote_id FROM applied WHERE remote_id <> 0")
	if err != nil {
		return nil, fmt.Errorf("reading applied remote ids: %w", err)
	}
	defer r.Close()
	var out []RemoteID
	for r.Next() {
		var x RemoteID
		if err := r.Scan(&x.PersonID, &x.Provider, &x.RemoteID); err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, r.Err()
}

// GrantTarget names one access group, tag or sequence of a provider.
type GrantTarget struct {
	Provider string
	Kind     string
	TargetID int64
}

// AppliedTargetCounts returns how many people hold each applied grant.
func (s *Store) AppliedTargetCounts(ctx context.Context) (map[GrantTarget]int, error) {
	r, err := s.query(ctx, "SELECT provider, kind, target_id, COUNT(DISTINCT person_id) FROM applied GROUP BY provider, kind, target_id")
	if err != nil {
		return nil, fmt.Errorf("counting applied grants: %w", err)
	}
	defer r.Close()
	out := map[GrantTarget]int{}
	for r.Next() {
		var t GrantTarget
		var n int
		if err := r.Scan(&t.Provider, &t.Kind, &t.TargetID, &n); err != nil {
			return nil, err
		}
		out[t] = n
	}
	return out, r.Err()
}

// ForgetGrant deletes a person's recorded grants of one target (every email): the drift sweep
// found that the provider does not hold it, so that the next sync applies it again.
func (tx *Tx) ForgetGrant(ctx context.Context, personID int64, provider, kind string, targetID int64) error {
	if _, err := tx.exec(ctx, "DELETE FROM applied WHERE person_id = ? AND provider = ? AND kind = ? AND target_id = ?",
		personID, provider, kind, targetID); err != nil {
		return fmt.Errorf("forgetting grant %s %s %d: %w", provider, kind, targetID, err)
	}
	return nil
}

// AdoptGrant records a grant that the provider holds but membersync had not recorded (someone gave
// it by hand), so that the next sync converges it: keeps it when it is desired, revokes it when not.
func (tx *Tx) AdoptGrant(ctx context.Context, a Applied) error {
	_, err := tx.exec(ctx, `INSERT INTO applied (person_id, provider, kind, target_id, email, remote_id, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (person_id, provider, kind, target_id, email) DO UPDATE SET remote_id = excluded.remote_id`,
		a.PersonID, a.Provider, a.Kind, a.TargetID, a.Email, a.RemoteID, micros(tx.s.now()))
	if err != nil {
		return fmt.Errorf("adopting grant %s %s %d: %w", a.Provider, a.Kind, a.TargetID, err)
	}
	return nil
}

// ProviderCallCount returns how many provider HTTP calls (every attempt) were journaled since t for
// one provider ("circle", "kit", "stripe"): Circle's monthly quota is spent by these.
func (s *Store) ProviderCallCount(ctx context.Context, provider string, since time.Time) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT COUNT(*) FROM journal WHERE at >= ? AND kind = 'call' AND action LIKE ?",
		micros(since), provider+":%").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting %s calls: %w", provider, err)
	}
	return n, nil
}

// DriftReport is one stored drift sweep report. Detail is the whole report as JSON (the drift
// package owns its shape); the other fields are columns for listing and budgeting.
type DriftReport struct {
	ID          int64
	StartedAt   time.Time
	FinishedAt  time.Time
	Mode        string // dry_run | repair
	Status      string // complete | refused | failed
	People      int
	Drifted     int
	CircleCalls int
	KitCalls    int
	StripeCalls int
	Error       string
	Detail      string
}

// SaveDriftReport stores a report and returns its id.
func (s *Store) SaveDriftReport(ctx context.Context, r DriftReport) (int64, error) {
	var id int64
	err := s.queryRow(ctx, `INSERT INTO drift_reports (started_at, finished_at, mode, status, people, drifted, circle_calls, kit_calls, stripe_calls, error, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		micros(r.StartedAt), microsOrZero(r.FinishedAt), r.Mode, r.Status, r.People, r.Drifted, r.CircleCalls, r.KitCalls, r.StripeCalls, r.Error, r.Detail).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("storing the drift report: %w", err)
	}
	return id, nil
}

// LatestDriftReport returns the most recent report; ErrNotFound when no sweep ran yet.
func (s *Store) LatestDriftReport(ctx context.Context) (DriftReport, error) {
	var r DriftReport
	var started, finished int64
	err := s.queryRow(ctx, `SELECT id, started_at, finished_at, mode, status, people, drifted, circle_calls, kit_calls, stripe_calls, error, detail
		FROM drift_reports ORDER BY started_at DESC, id DESC LIMIT 1`).Scan(&r.ID, &started, &finished, &r.Mode, &r.Status, &r.People, &r.Drifted,
		&r.CircleCalls, &r.KitCalls, &r.StripeCalls, &r.Error, &r.Detail)
	if errors.Is(err, sql.ErrNoRows) {
		return DriftReport{}, ErrNotFound
	}
	if err != nil {
		return DriftReport{}, fmt.Errorf("reading the latest drift report: %w", err)
	}
	r.StartedAt, r.FinishedAt = fromMicros(started), fromMicros(finished)
	return r, nil
}

// SweepCircleCallsSince returns how many Circle calls the sweeps started since t made.
func (s *Store) SweepCircleCallsSince(ctx context.Context, since time.Time) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT CAST(COALESCE(SUM(circle_calls), 0) AS BIGINT) FROM drift_reports WHERE started_at >= ?", micros(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("counting the sweeps' Circle calls: %w", err)
	}
	return n, nil
}

func microsOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

// AcquireLock takes the named task lease for owner until now+ttl, unless another owner holds an
// unexpired one; the owner that holds it extends it. It reports whether owner holds it now.
func (s *Store) AcquireLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	now := s.now()
	n, err := s.exec(ctx, `INSERT INTO task_locks (name, owner, until_us) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_us = excluded.until_us
		WHERE task_locks.until_us < ? OR task_locks.owner = excluded.owner`,
		name, owner, micros(now.Add(ttl)), micros(now))
	if err != nil {
		return false, fmt.Errorf("taking the %s lock: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLock gives the named lease back if owner holds it.
func (s *Store) ReleaseLock(ctx context.Context, name, owner string) error {
	_, err := s.exec(ctx, "DELETE FROM task_locks WHERE name = ? AND owner = ?", name, owner)
	return err
}
