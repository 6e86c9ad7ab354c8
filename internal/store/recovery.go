package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// This file tells a failure that a retry recovered from one that still holds: the overview shows
// the first as history and only the second as a problem, and the Circle-failures alert counts only
// the second.

// syncSettled are the results of a sync (kind "sync", action "sync") that end a run of failures:
// every action confirmed, or as far as open review items allow, or the person merged into another.
const syncSettled = "('converged', 'blocked', 'merged')"

// recoveredLater is true for a failed sync s (a journal row) that a later sync of its person
// settled. Later means journaled after it (a larger id): clocks may tie, insertion order does not.
const recoveredLater = `EXISTS (SELECT 1 FROM journal o WHERE o.person_id = s.person_id AND o.kind = 'sync' AND o.action = 'sync'
	AND o.result IN ` + syncSettled + ` AND o.id > s.id)`

// FailureRun is one person's failed syncs since a time, and how they ended.
type FailureRun struct {
	PersonID    int64
	Email       string // '' when not known yet
	Failures    int    // failed or retrying syncs since the time
	FirstFailed time.Time
	LastFailed  time.Time
	// RecoveredAt is when the first sync after the last failure settled; zero while still failing.
	RecoveredAt time.Time
	LastError   string // what the last failed sync journaled
}

// SyncRecovery sorts the people whose syncs failed since a time.
type SyncRecovery struct {
	// Failing are the people whose last failure no sync has settled since, last failure first.
	Failing []FailureRun
	// Recovered are the people whose failures a later sync settled, latest recovery first.
	Recovered []FailureRun
	// FailingSyncs and RecoveredSyncs count the failed syncs of each group.
	FailingSyncs, RecoveredSyncs int
}

// maxFailureRuns bounds the people SyncRecovery reads: the figures of a large outage stay one
// query of bounded size (the groups' counts then cover the people read).
const maxFailureRuns = 5000

// SyncRecovery returns the people whose syncs failed or are retrying since since, split into
// those still failing and those a later sync recovered.
func (s *Store) SyncRecovery(ctx context.Context, since time.Time) (SyncRecovery, error) {
	var out SyncRecovery
	r, err := s.query(ctx, fmt.Sprintf(`SELECT g.person_id, g.n, g.first_at, g.last_at,
			COALESCE((SELECT MIN(o.at) FROM journal o WHERE o.person_id = g.person_id AND o.kind = 'sync' AND o.action = 'sync'
				AND o.result IN %s AND o.id > g.last_id), 0),
			COALESCE((SELECT d.detail FROM journal d WHERE d.id = g.last_id), ''),
			COALESCE(p.email, '')
		FROM (SELECT person_id, COUNT(*) AS n, MIN(at) AS first_at, MAX(at) AS last_at, MAX(id) AS last_id
			FROM journal WHERE kind = 'sync' AND action = 'sync' AND result IN %s AND at >= ? GROUP BY person_id) g
		LEFT JOIN people p ON p.id = g.person_id
		ORDER BY g.last_at DESC, g.person_id DESC LIMIT %d`, syncSettled, syncFailed, maxFailureRuns), micros(since))
	if err != nil {
		return out, fmt.Errorf("reading failed syncs: %w", err)
	}
	defer r.Close()
	for r.Next() {
		var f FailureRun
		var first, last, recovered int64
		if err := r.Scan(&f.PersonID, &f.Failures, &first, &last, &recovered, &f.LastError, &f.Email); err != nil {
			return out, err
		}
		f.FirstFailed, f.LastFailed, f.RecoveredAt = fromMicros(first), fromMicros(last), fromMicros(recovered)
		if f.RecoveredAt.IsZero() {
			out.Failing = append(out.Failing, f)
			out.FailingSyncs += f.Failures
		} else {
			out.Recovered = append(out.Recovered, f)
			out.RecoveredSyncs += f.Failures
		}
	}
	if err := r.Err(); err != nil {
		return out, err
	}
	// Recovered people latest recovery first (the query ordered by the last failure).
	slices.SortStableFunc(out.Recovered, func(a, b FailureRun) int { return b.RecoveredAt.Compare(a.RecoveredAt) })
	return out, nil
}

// maxFailedSyncs bounds the failed syncs FailedSyncs reads.
const maxFailedSyncs = 20000

// FailedSyncs returns, by person, when each of their syncs journaled since since failed or left
// a retry, oldest first (at most the latest 20,000). The time-to-converge alert leaves out the
// events that converged after such a failure: a retry recovered them, and their wait is history.
func (s *Store) FailedSyncs(ctx context.Context, since time.Time) (map[int64][]time.Time, error) {
	r, err := s.query(ctx, fmt.Sprintf(`SELECT person_id, at FROM journal WHERE kind = 'sync' AND action = 'sync' AND result IN %s AND at >= ?
		ORDER BY at DESC, id DESC LIMIT %d`, syncFailed, maxFailedSyncs), micros(since))
	if err != nil {
		return nil, fmt.Errorf("reading failed syncs: %w", err)
	}
	defer r.Close()
	out := map[int64][]time.Time{}
	for r.Next() {
		var pid, at int64
		if err := r.Scan(&pid, &at); err != nil {
			return nil, err
		}
		out[pid] = append(out[pid], fromMicros(at))
	}
	for _, ts := range out {
		slices.Reverse(ts)
	}
	return out, r.Err()
}
