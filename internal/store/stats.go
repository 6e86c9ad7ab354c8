package store

import (
	"context"
	"strings"
	"time"
)

// QueueStats returns how many jobs are available to run now and the age of the oldest one.
func (s *Store) QueueStats(ctx context.Context) (available int, oldest time.Duration, err error) {
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM river_job WHERE state = 'available'").Scan(&available); err != nil {
		return 0, 0, err
	}
	if available == 0 {
		return 0, 0, nil
	}
	// River stores timestamps natively per dialect; compare in Go to stay dialect-neutral.
	var at time.Time
	if s.dialect == Postgres {
		err = s.queryRow(ctx, "SELECT MIN(scheduled_at) FROM river_job WHERE state = 'available'").Scan(&at)
	} else {
		var txt string
		err = s.queryRow(ctx, "SELECT MIN(scheduled_at) FROM river_job WHERE state = 'available'").Scan(&txt)
		if err == nil {
			at, err = parseSQLiteTime(txt)
		}
	}
	if err != nil {
		return available, 0, err
	}
	return available, max(s.now().Sub(at), 0), nil
}

func parseSQLiteTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t, nil
		}
	}
	return time.Parse(time.RFC3339Nano, s)
}

// OpenReviewCount returns how many review items are open.
func (s *Store) OpenReviewCount(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT COUNT(*) FROM review_items WHERE status = 'open'").Scan(&n)
	return n, err
}

// ProviderCallsSince counts the provider HTTP calls journaled since t, per provider.
func (s *Store) ProviderCallsSince(ctx context.Context, since time.Time) (map[string]int, error) {
	r, err := s.query(ctx, "SELECT action FROM journal WHERE kind = 'call' AND at >= ?", micros(since))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := map[string]int{}
	for r.Next() {
		var a string
		if err := r.Scan(&a); err != nil {
			return nil, err
		}
		p, _, _ := strings.Cut(a, ":")
		out[p]++
	}
	return out, r.Err()
}

// ReviewShare returns the events received and the review items opened since t, leaving out the
// items membersync resolved itself (a sync that failed for a while, then succeeded on a retry):
// those needed nobody.
func (s *Store) ReviewShare(ctx context.Context, since time.Time) (events, reviews int, err error) {
	if err = s.queryRow(ctx, "SELECT COUNT(*) FROM stripe_events WHERE received_at >= ?", micros(since)).Scan(&events); err != nil {
		return
	}
	err = s.queryRow(ctx, "SELECT COUNT(*) FROM review_items WHERE created_at >= ? AND NOT (status = 'resolved' AND resolved_by = ?)",
		micros(since), ResolvedBySystem).Scan(&reviews)
	return
}

// ResolvedBySystem is the resolver of review items membersync closed itself, when a later sync
// succeeded or the data settled.
const ResolvedBySystem = "membersync"
