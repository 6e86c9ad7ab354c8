package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file holds what the backfill reads and writes: its runs with their cursor, and the stored
// events it checks against.

// Backfill run statuses.
const (
	BackfillRunning  = "running"
	BackfillComplete = "complete"
	BackfillFailed   = "failed"
)

// BackfillRun is one backfill from Stripe's Events API and its cursor.
type BackfillRun struct {
	ID          int64
	Since       time.Time // window start (Stripe's created, whole seconds)
	Types       string    // sorted, comma-separated type filter; '' for every type
	Status      string    // BackfillRunning, BackfillComplete or BackfillFailed
	LastEventID string    // the last event fed through the inbox; the run resumes after it
	Processed   int
	Accepted    int
	Duplicates  int
	Ignored     int
	Error       string
	StartedAt   time.Time
	UpdatedAt   time.Time
	FinishedAt  time.Time
}

const backfillCols = "id, since, types, status, last_event_id, processed, accepted, duplicates, ignored, error, started_at, updated_at, finished_at"

func scanBackfill(r row) (BackfillRun, error) {
	var b BackfillRun
	var since, started, updated, finished int64
	err := r.Scan(&b.ID, &since, &b.Types, &b.Status, &b.LastEventID, &b.Processed, &b.Accepted, &b.Duplicates, &b.Ignored, &b.Error,
		&started, &updated, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return BackfillRun{}, ErrNotFound
	}
	if err != nil {
		return BackfillRun{}, fmt.Errorf("reading a backfill run: %w", err)
	}
	b.Since = time.Unix(since, 0).UTC()
	b.StartedAt, b.UpdatedAt, b.FinishedAt = fromMicros(started), fromMicros(updated), fromMicros(finished)
	return b, nil
}

// StartBackfill records a new running backfill over the window from since.
func (s *Store) StartBackfill(ctx context.Context, since time.Time, types string) (BackfillRun, error) {
	now := micros(s.now())
	var id int64
	err := s.queryRow(ctx, "INSERT INTO backfill_runs (since, types, status, started_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
		since.Unix(), types, BackfillRunning, now, now).Scan(&id)
	if err != nil {
		return BackfillRun{}, fmt.Errorf("recording the backfill: %w", err)
	}
	return s.BackfillRun(ctx, id)
}

// BackfillRun returns one run.
func (s *Store) BackfillRun(ctx context.Context, id int64) (BackfillRun, error) {
	return scanBackfill(s.queryRow(ctx, "SELECT "+backfillCols+" FROM backfill_runs WHERE id = ?", id))
}

// LatestBackfill returns the most recent run with the type filter types; ErrNotFound when none.
// A run that is not complete is the one to resume.
func (s *Store) LatestBackfill(ctx context.Context, types string) (BackfillRun, error) {
	return scanBackfill(s.queryRow(ctx, "SELECT "+backfillCols+" FROM backfill_runs WHERE types = ? ORDER BY id DESC LIMIT 1", types))
}

// SaveBackfill records a run's cursor, counters and status. A complete run gets its finish time.
func (s *Store) SaveBackfill(ctx context.Context, b BackfillRun) error {
	now := s.now()
	var finished int64
	if b.Status != BackfillRunning {
		finished = micros(now)
	}
	_, err := s.exec(ctx, `UPDATE backfill_runs SET status = ?, last_event_id = ?, processed = ?, accepted = ?, duplicates = ?, ignored = ?,
		error = ?, updated_at = ?, finished_at = ? WHERE id = ?`,
		b.Status, b.LastEventID, b.Processed, b.Accepted, b.Duplicates, b.Ignored, b.Error, micros(now), finished, b.ID)
	if err != nil {
		return fmt.Errorf("recording the backfill cursor: %w", err)
	}
	return nil
}

// KnownEventIDs returns which of ids are stored.
func (s *Store) KnownEventIDs(ctx context.Context, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		r, err := s.query(ctx, "SELECT id FROM stripe_events WHERE id IN ("+placeholders(len(chunk))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("looking up events: %w", err)
		}
		for r.Next() {
			var id string
			if err := r.Scan(&id); err != nil {
				r.Close()
				return nil, err
			}
			out[id] = true
		}
		r.Close()
		if err := r.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// EventSource returns how a stored event arrived ("webhook", "backfill", …); ErrNotFound when the
// event is not stored.
func (s *Store) EventSource(ctx context.Context, id string) (string, error) {
	var src string
	err := s.queryRow(ctx, "SELECT source FROM stripe_events WHERE id = ?", id).Scan(&src)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return src, err
}

// LatestWebhookAt returns when the last webhook delivery was stored; zero when none ever was.
func (s *Store) LatestWebhookAt(ctx context.Context) (time.Time, error) {
	var us int64
	err := s.queryRow(ctx, "SELECT COALESCE(MAX(received_at), 0) FROM stripe_events WHERE source = 'webhook'").Scan(&us)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the latest webhook: %w", err)
	}
	return fromMicros(us), nil
}
