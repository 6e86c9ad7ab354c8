package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// This file holds the figures of the admin overview: counts, hourly charts and the job queue.

// Overview is the health of the instance at a glance.
type Overview struct {
	Now           time.Time
	LastWebhookAt time.Time // zero when none was ever received
	EventsHour    int
	EventsDay     int
	FailuresHour  int // syncs that failed or must retry
	FailuresDay   int
	SyncsDay      int // syncs that completed
	// Hours are the last 24 hours, oldest first; the last one is the current (partial) hour.
	Hours []HourStats
	// Jobs by River state: available (ready to run), running, retryable, scheduled.
	JobsAvailable int
	JobsRunning   int
	JobsRetryable int
	JobsScheduled int
	// OldestAvailable is when the oldest job ready to run became ready; zero when none waits.
	OldestAvailable time.Time
	OpenReviews     int
	People          int
	PeoplePending   int // people whose last sync does not cover their last trigger
}

// HourStats is one hour of the overview charts.
type HourStats struct {
	Start    time.Time
	Events   int
	Failures int
	Syncs    int
	AvgSync  time.Duration // mean duration of completed syncs
	MaxSync  time.Duration
	// Converged counts the events whose every action was confirmed in the hour; AvgConverge and
	// MaxConverge are their times from receipt to converged.
	Converged   int
	AvgConverge time.Duration
	MaxConverge time.Duration
}

// Sync journal results the overview counts (kind "sync", action "sync").
const (
	syncDone   = "('converged', 'blocked')"
	syncFailed = "('retry', 'failed')"
)

// Overview computes the overview figures as of now.
func (s *Store) Overview(ctx context.Context, now time.Time) (Overview, error) {
	o := Overview{Now: now}
	hourAgo, dayAgo := micros(now.Add(-time.Hour)), micros(now.Add(-24*time.Hour))
	var last int64
	if err := s.queryRow(ctx, "SELECT COALESCE(MAX(received_at), 0) FROM stripe_events WHERE source = 'webhook'").Scan(&last); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	o.LastWebhookAt = fromMicros(last)
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM stripe_events WHERE received_at >= ?", hourAgo).Scan(&o.EventsHour); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM stripe_events WHERE received_at >= ?", dayAgo).Scan(&o.EventsDay); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	failed := "SELECT COUNT(*) FROM journal WHERE kind = 'sync' AND action = 'sync' AND result IN " + syncFailed + " AND at >= ?"
	if err := s.queryRow(ctx, failed, hourAgo).Scan(&o.FailuresHour); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	if err := s.queryRow(ctx, failed, dayAgo).Scan(&o.FailuresDay); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM review_items WHERE status = 'open'").Scan(&o.OpenReviews); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	if err := s.queryRow(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN synced_generation < generation THEN 1 ELSE 0 END), 0) FROM people").Scan(&o.People, &o.PeoplePending); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	if err := s.overviewHours(ctx, &o); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	for _, h := range o.Hours {
		o.SyncsDay += h.Syncs
	}
	if err := s.overviewJobs(ctx, &o); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	return o, nil
}

func (s *Store) overviewHours(ctx context.Context, o *Overview) error {
	start := o.Now.Truncate(time.Hour).Add(-23 * time.Hour)
	o.Hours = make([]HourStats, 24)
	for i := range o.Hours {
		o.Hours[i].Start = start.Add(time.Duration(i) * time.Hour)
	}
	from := micros(start)
	const hour = int64(time.Hour / time.Microsecond)
	bucket := func(b int64) *HourStats {
		if b < 0 || b >= 24 {
			return nil
		}
		return &o.Hours[b]
	}
	r, err := s.query(ctx, fmt.Sprintf("SELECT (received_at - ?) / %d AS b, COUNT(*) FROM stripe_events WHERE received_at >= ? GROUP BY b", hour), from, from)
	if err != nil {
		return err
	}
	for r.Next() {
		var b int64
		var n int
		if err := r.Scan(&b, &n); err != nil {
			r.Close()
			return err
		}
		if h := bucket(b); h != nil {
			h.Events = n
		}
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	r, err = s.query(ctx, fmt.Sprintf(`SELECT (converged_at - ?) / %d AS b, COUNT(*),
			CAST(COALESCE(SUM(converged_at - received_at), 0) AS BIGINT), COALESCE(MAX(converged_at - received_at), 0)
		FROM stripe_events WHERE converged_at >= ? GROUP BY b`, hour), from, from)
	if err != nil {
		return err
	}
	for r.Next() {
		var b, sum, mx int64
		var n int
		if err := r.Scan(&b, &n, &sum, &mx); err != nil {
			r.Close()
			return err
		}
		if h := bucket(b); h != nil && n > 0 {
			h.Converged, h.MaxConverge = n, time.Duration(mx)*time.Microsecond
			h.AvgConverge = time.Duration(sum/int64(n)) * time.Microsecond
		}
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	r, err = s.query(ctx, fmt.Sprintf(`SELECT (at - ?) / %d AS b,
			SUM(CASE WHEN result IN %s THEN 1 ELSE 0 END),
			SUM(CASE WHEN result IN %s THEN 1 ELSE 0 END),
			CAST(COALESCE(SUM(CASE WHEN result IN %s THEN duration_us ELSE 0 END), 0) AS BIGINT),
			COALESCE(MAX(CASE WHEN result IN %s THEN duration_us ELSE 0 END), 0)
		FROM journal WHERE kind = 'sync' AND action = 'sync' AND at >= ? GROUP BY b`, hour, syncFailed, syncDone, syncDone, syncDone), from, from)
	if err != nil {
		return err
	}
	defer r.Close()
	for r.Next() {
		var b, sum, mx int64
		var failures, syncs int
		if err := r.Scan(&b, &failures, &syncs, &sum, &mx); err != nil {
			return err
		}
		h := bucket(b)
		if h == nil {
			continue
		}
		h.Failures, h.Syncs, h.MaxSync = failures, syncs, time.Duration(mx)*time.Microsecond
		if syncs > 0 {
			h.AvgSync = time.Duration(sum/int64(syncs)) * time.Microsecond
		}
	}
	return r.Err()
}

func (s *Store) overviewJobs(ctx context.Context, o *Overview) error {
	r, err := s.query(ctx, "SELECT state, COUNT(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'scheduled') GROUP BY state")
	if err != nil {
		return err
	}
	for r.Next() {
		var st string
		var n int
		if err := r.Scan(&st, &n); err != nil {
			r.Close()
			return err
		}
		switch st {
		case "available":
			o.JobsAvailable = n
		case "running":
			o.JobsRunning = n
		case "retryable":
			o.JobsRetryable = n
		case "scheduled":
			o.JobsScheduled = n
		}
	}
	r.Close()
	if err := r.Err(); err != nil || o.JobsAvailable == 0 {
		return err
	}
	// River keeps timestamps as timestamptz on PostgreSQL and as UTC text on SQLite.
	q := "SELECT CAST(strftime('%s', MIN(scheduled_at)) AS INTEGER) FROM river_job WHERE state = 'available'"
	if s.dialect == Postgres {
		q = "SELECT CAST(EXTRACT(EPOCH FROM MIN(scheduled_at)) AS BIGINT) FROM river_job WHERE state = 'available'"
	}
	var sec sql.NullInt64
	if err := s.queryRow(ctx, q).Scan(&sec); err != nil {
		return err
	}
	if sec.Valid {
		o.OldestAvailable = time.Unix(sec.Int64, 0).UTC()
	}
	return nil
}
