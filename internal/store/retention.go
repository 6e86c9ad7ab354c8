package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file holds retention: Prune deletes or blanks what outlived its retention period in small
// batches, each batch its own short transaction, so that the inbox (which needs SQLite's single
// writer to acknowledge a webhook) waits one batch at most. What identifies or sums up a person is
// never pruned: an event's row and id stay forever (the inbox's ON CONFLICT (id) DO NOTHING is the
// dedup, so a redelivery of a pruned event still answers "duplicate"), and so do people,
// customers, applied, the desired state, open review items and the audit log. Then, on SQLite,
// Reclaim hands the freed pages back to the file system (incremental vacuum); PostgreSQL's
// autovacuum makes the space reusable by itself.

// The kinds of data Prune prunes, in the order it prunes them.
const (
	PruneEventPayloads      = "event_payloads" // stripe_events.payload emptied, payload_pruned_at set
	PruneJournalCalls       = "journal_calls"  // journal rows of kind call deleted
	PruneJournalDetail      = "journal_detail" // journal.detail of the other rows emptied
	PruneResolvedReviews    = "resolved_review_items"
	PruneAlertNotifications = "alert_notifications"
	PruneDriftReports       = "drift_reports"  // the latest always stays
	PruneDoctorReports      = "doctor_reports" // the latest always stays
	// PruneSupportBodies empties the sender, subject and body that support.keep_bodies keeps, with
	// the journal detail's retention; the category, person link and diagnosis stay for the counts.
	PruneSupportBodies = "support_bodies"
)

// RetentionPolicy says how long each kind of data is kept; a zero period keeps it forever.
type RetentionPolicy struct {
	EventPayloads       time.Duration
	JournalDetail       time.Duration // provider-call rows and the detail of the other rows
	ResolvedReviewItems time.Duration
	AlertNotifications  time.Duration
	DriftReports        time.Duration
	DoctorReports       time.Duration
	// BatchSize is how many rows one transaction touches; 0 means 500.
	BatchSize int
	// AfterBatch, when set, is called after each committed batch that changed rows, outside any
	// transaction (progress logs; tests interleave writes with it).
	AfterBatch func(kind string, rows int64)
}

// Pruned is what one pass did to one kind of data.
type Pruned struct {
	Kind    string
	Keep    time.Duration // the retention period
	Horizon time.Time     // rows older than this were pruned
	Rows    int64         // rows deleted or blanked
	Batches int           // transactions that changed something
}

// PruneResult is what one Prune pass did, per kind, in pruning order (kinds kept forever left out).
type PruneResult struct {
	Kinds []Pruned
}

// Rows returns the rows pruned in all.
func (r PruneResult) Rows() int64 {
	var n int64
	for _, k := range r.Kinds {
		n += k.Rows
	}
	return n
}

// Batches returns the transactions that changed something, in all.
func (r PruneResult) Batches() int {
	var n int
	for _, k := range r.Kinds {
		n += k.Batches
	}
	return n
}

// Of returns what the pass did to kind (zero when it was kept forever).
func (r PruneResult) Of(kind string) Pruned {
	for _, k := range r.Kinds {
		if k.Kind == kind {
			return k
		}
	}
	return Pruned{Kind: kind}
}

// Summary says what the pass pruned in a line of counts, such as "event_payloads=1200
// journal_calls=5400", or "nothing".
func (r PruneResult) Summary() string {
	var parts []string
	for _, k := range r.Kinds {
		if k.Rows > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", k.Kind, k.Rows))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, " ")
}

// pruneStep is one kind's batch statement: it changes at most limit rows older than horizon. Its
// arguments are (now, horizon, limit) when setsNow, else (horizon, limit).
type pruneStep struct {
	kind    string
	keep    func(RetentionPolicy) time.Duration
	query   string
	setsNow bool
	// sqlite, when set, replaces query on SQLite.
	sqlite func(ctx context.Context, tx *Tx, args []any) (int64, error)
}

// pruneSteps are the batch statements. Each selects its batch through an index in age order (the
// partial indexes of migration 0016 leave the rows already blanked out of the walk) and changes it
// by primary key, which both dialects plan well.
var pruneSteps = []pruneStep{
	{PruneEventPayloads, func(p RetentionPolicy) time.Duration { return p.EventPayloads },
		`UPDATE stripe_events SET payload = '', payload_pruned_at = ? WHERE id IN (
			SELECT id FROM stripe_events WHERE payload_pruned_at = 0 AND received_at < ? ORDER BY received_at LIMIT ?)`, true,
		rewriteEventsSQLite},
	{PruneJournalCalls, func(p RetentionPolicy) time.Duration { return p.JournalDetail },
		`DELETE FROM journal WHERE id IN (SELECT id FROM journal WHERE kind = 'call' AND at < ? ORDER BY at LIMIT ?)`, false, nil},
	{PruneJournalDetail, func(p RetentionPolicy) time.Duration { return p.JournalDetail },
		`UPDATE journal SET detail = '' WHERE id IN (SELECT id FROM journal WHERE detail <> '' AND at < ? ORDER BY at LIMIT ?)`, false, nil},
	{PruneResolvedReviews, func(p RetentionPolicy) time.Duration { return p.ResolvedReviewItems },
		`DELETE FROM review_items WHERE id IN (
			SELECT id FROM review_items WHERE status = 'resolved' AND resolved_at < ? ORDER BY resolved_at LIMIT ?)`, false, nil},
	{PruneAlertNotifications, func(p RetentionPolicy) time.Duration { return p.AlertNotifications },
		`DELETE FROM alert_notifications WHERE id IN (SELECT id FROM alert_notifications WHERE at < ? ORDER BY at LIMIT ?)`, false, nil},
	{PruneDriftReports, func(p RetentionPolicy) time.Duration { return p.DriftReports },
		`DELETE FROM drift_reports WHERE id IN (SELECT id FROM drift_reports WHERE started_at < ?
			AND id <> (SELECT id FROM drift_reports ORDER BY started_at DESC, id DESC LIMIT 1) ORDER BY started_at LIMIT ?)`, false, nil},
	{PruneSupportBodies, func(p RetentionPolicy) time.Duration { return p.JournalDetail },
		`UPDATE support_messages SET sender_email = '', subject = '', body = '' WHERE id IN (SELECT id FROM support_messages
			WHERE received_at < ? AND (sender_email <> '' OR subject <> '' OR body <> '') ORDER BY received_at LIMIT ?)`, false, nil},
	{PruneDoctorReports, func(p RetentionPolicy) time.Duration { return p.DoctorReports },
		`DELETE FROM doctor_reports WHERE id IN (SELECT id FROM doctor_reports WHERE at < ?
			AND id <> (SELECT id FROM doctor_reports ORDER BY at DESC, id DESC LIMIT 1) ORDER BY at LIMIT ?)`, false, nil},
}

// rewriteEventsSQLite empties a batch of payloads on SQLite by deleting the rows and inserting
// them again without their payload, in one transaction (args: now, horizon, limit). An UPDATE
// that shrinks a row leaves its page as full of nothing as before: SQLite rebalances a b-tree
// page after a delete, not after a shrinking update, so 40,000 emptied payloads would keep their
// 194 MB. Deleted, their pages go to the freelist (Reclaim hands them back); the rows inserted
// again are small and pack densely at the end of the table. The batch is copied through a
// temporary table with SELECT *, so that columns other migrations add come along; the writer
// lock held meanwhile means no reader or writer ever sees the id missing (the dedup holds).
func rewriteEventsSQLite(ctx context.Context, tx *Tx, args []any) (int64, error) {
	now, horizon, limit := args[0], args[1], args[2]
	steps := []struct {
		query string
		args  []any
	}{
		{"DROP TABLE IF EXISTS temp.retention_batch", nil},
		{"CREATE TEMP TABLE retention_batch AS SELECT * FROM main.stripe_events WHERE 0", nil},
		{`INSERT INTO temp.retention_batch SELECT * FROM main.stripe_events WHERE id IN (
			SELECT id FROM main.stripe_events WHERE payload_pruned_at = 0 AND received_at < ? ORDER BY received_at LIMIT ?)`, []any{horizon, limit}},
		{"UPDATE temp.retention_batch SET payload = '', payload_pruned_at = ?", []any{now}},
		{"DELETE FROM main.stripe_events WHERE id IN (SELECT id FROM temp.retention_batch)", nil},
		{"INSERT INTO main.stripe_events SELECT * FROM temp.retention_batch", nil},
		{"DROP TABLE temp.retention_batch", nil},
	}
	var n int64
	for i, st := range steps {
		// Not tx.exec: its cached statements would outlive the temporary table they name.
		r, err := tx.sqlTx.ExecContext(ctx, st.query, st.args...)
		if err != nil {
			return 0, err
		}
		if i == 3 {
			if n, err = r.RowsAffected(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

// DefaultPruneBatch is the batch size of a policy that sets none.
const DefaultPruneBatch = 500

// Prune deletes or blanks, kind by kind, the rows older than their retention period at now, in
// batches of policy.BatchSize rows, each batch its own transaction: between two batches the
// database is free for the inbox. It records each kind's horizon (PruneHorizons) and returns what
// it did. When ctx ends it stops after the batch under way and returns what it did with ctx's
// error; the next pass carries on where it stopped.
func (s *Store) Prune(ctx context.Context, policy RetentionPolicy, now time.Time) (PruneResult, error) {
	limit := policy.BatchSize
	if limit <= 0 {
		limit = DefaultPruneBatch
	}
	var res PruneResult
	for _, step := range pruneSteps {
		keep := step.keep(policy)
		if keep <= 0 {
			continue
		}
		p := Pruned{Kind: step.kind, Keep: keep, Horizon: now.Add(-keep)}
		err := s.pruneKind(ctx, step, &p, now, limit, policy.AfterBatch)
		res.Kinds = append(res.Kinds, p)
		if err == nil {
			err = s.recordPrune(ctx, p, now)
		}
		if err != nil {
			return res, fmt.Errorf("pruning %s: %w", strings.ReplaceAll(step.kind, "_", " "), err)
		}
	}
	return res, nil
}

// pruneKind runs step's batches until one changes fewer than limit rows.
func (s *Store) pruneKind(ctx context.Context, step pruneStep, p *Pruned, now time.Time, limit int, after func(string, int64)) error {
	args := []any{micros(p.Horizon), limit}
	if step.setsNow {
		args = append([]any{micros(now)}, args...)
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		var n int64
		err := s.InTx(ctx, func(tx *Tx) error {
			var err error
			if step.sqlite != nil && s.dialect == SQLite {
				n, err = step.sqlite(ctx, tx, args)
			} else {
				n, err = tx.exec(ctx, step.query, args...)
			}
			return err
		})
		if err != nil {
			return err
		}
		if n > 0 {
			p.Rows += n
			p.Batches++
			if after != nil {
				after(step.kind, n)
			}
		}
		if n < int64(limit) {
			return nil
		}
	}
}

// recordPrune remembers the horizon of a kind's pass and counts its rows.
func (s *Store) recordPrune(ctx context.Context, p Pruned, now time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO retention_state (kind, horizon, keep_us, pruned, last_run_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (kind) DO UPDATE SET horizon = excluded.horizon, keep_us = excluded.keep_us,
		pruned = retention_state.pruned + excluded.pruned, last_run_at = excluded.last_run_at`,
		p.Kind, micros(p.Horizon), p.Keep.Microseconds(), p.Rows, micros(now))
	return err
}

// PruneHorizon is the last pass over one kind of data: what was older than Horizon was pruned,
// under a retention period of Keep; Total counts the rows pruned in all passes.
type PruneHorizon struct {
	Horizon time.Time
	Keep    time.Duration
	Total   int64
	LastRun time.Time
}

// PruneHorizons returns the last pass over each kind ever pruned, by kind: the journey says from
// them that a sync's provider calls were pruned rather than never made.
func (s *Store) PruneHorizons(ctx context.Context) (map[string]PruneHorizon, error) {
	r, err := s.query(ctx, "SELECT kind, horizon, keep_us, pruned, last_run_at FROM retention_state")
	if err != nil {
		return nil, fmt.Errorf("reading the retention horizons: %w", err)
	}
	defer r.Close()
	out := map[string]PruneHorizon{}
	for r.Next() {
		var kind string
		var horizon, keep, total, last int64
		if err := r.Scan(&kind, &horizon, &keep, &total, &last); err != nil {
			return nil, err
		}
		out[kind] = PruneHorizon{Horizon: fromMicros(horizon), Keep: time.Duration(keep) * time.Microsecond, Total: total, LastRun: fromMicros(last)}
	}
	return out, r.Err()
}

// Space is how a SQLite file's pages are used: PostgreSQL reports zeros (autovacuum manages it).
type Space struct {
	PageSize  int64
	Pages     int64 // pages in the file
	FreePages int64 // pages on the freelist: space inside the file that no row uses
	// AutoVacuum is SQLite's auto_vacuum mode: "none", "full" or "incremental".
	AutoVacuum string
}

// FileBytes returns the file's size in bytes.
func (sp Space) FileBytes() int64 { return sp.Pages * sp.PageSize }

// FreeBytes returns the bytes on the freelist.
func (sp Space) FreeBytes() int64 { return sp.FreePages * sp.PageSize }

// Space reads how the SQLite file's pages are used (zero on PostgreSQL).
func (s *Store) Space(ctx context.Context) (Space, error) {
	if s.dialect != SQLite {
		return Space{}, nil
	}
	var sp Space
	var mode int
	for _, v := range []struct {
		pragma string
		dest   any
	}{{"page_size", &sp.PageSize}, {"page_count", &sp.Pages}, {"freelist_count", &sp.FreePages}, {"auto_vacuum", &mode}} {
		if err := s.sqlDB.QueryRowContext(ctx, "PRAGMA "+v.pragma).Scan(v.dest); err != nil {
			return Space{}, fmt.Errorf("reading PRAGMA %s: %w", v.pragma, err)
		}
	}
	sp.AutoVacuum = [...]string{"none", "full", "incremental"}[min(max(mode, 0), 2)]
	return sp, nil
}

// reclaimChunk is how many free pages one incremental_vacuum statement hands back (4 MiB of 4 KiB
// pages): each holds the writer for a few milliseconds.
const reclaimChunk = 1000

// Reclaim hands free pages at the end of a SQLite file back to the file system, in chunks of
// reclaimChunk pages, each its own statement (so the inbox waits one chunk at most), until the
// freelist is empty or maxPages were returned (0: no bound). It does nothing unless the file's
// auto_vacuum mode is incremental (EnableIncrementalVacuum), and nothing on PostgreSQL, whose
// autovacuum makes deleted rows' space reusable by itself (the file does not shrink).
func (s *Store) Reclaim(ctx context.Context, maxPages int64) (pages int64, err error) {
	if s.dialect != SQLite {
		return 0, nil
	}
	sp, err := s.Space(ctx)
	if err != nil || sp.AutoVacuum != "incremental" {
		return 0, err
	}
	free := sp.FreePages
	for free > 0 && (maxPages <= 0 || pages < maxPages) {
		if err := ctx.Err(); err != nil {
			return pages, err
		}
		n := min(free, reclaimChunk)
		if maxPages > 0 {
			n = min(n, maxPages-pages)
		}
		// incremental_vacuum returns no rows but must be stepped to completion: Exec does that.
		if _, err := s.sqlDB.ExecContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", n)); err != nil {
			return pages, fmt.Errorf("reclaiming free pages: %w", err)
		}
		var left int64
		if err := s.sqlDB.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&left); err != nil {
			return pages, fmt.Errorf("reading PRAGMA freelist_count: %w", err)
		}
		if left >= free { // nothing moved: stop rather than spin
			return pages, nil
		}
		pages += free - left
		free = left
	}
	return pages, nil
}

// VacuumSetup is what EnableIncrementalVacuum found and did.
type VacuumSetup struct {
	Before    Space
	Converted bool // the file was rewritten (VACUUM) into incremental mode
	// Deferred is true when the file was too large to convert at start: it stays in its mode, and
	// the freed space is reused by new rows but not handed back until an operator runs VACUUM.
	Deferred bool
	Took     time.Duration
}

// EnableIncrementalVacuum puts a SQLite file into auto_vacuum=INCREMENTAL, so that Reclaim can
// hand pruned space back to the file system. SQLite applies that mode only to a new file or on a
// full VACUUM, which rewrites the whole file and holds the writer meanwhile: this rewrites the file
// only when it is at most maxBytes (a new or young database: milliseconds), and otherwise leaves
// the mode as it is and reports Deferred (the caller says how to convert it by hand). Call it
// before serving, when no transaction is open. It does nothing on PostgreSQL or when the mode is
// already incremental.
func (s *Store) EnableIncrementalVacuum(ctx context.Context, maxBytes int64) (VacuumSetup, error) {
	var v VacuumSetup
	if s.dialect != SQLite {
		return v, nil
	}
	var err error
	if v.Before, err = s.Space(ctx); err != nil || v.Before.AutoVacuum == "incremental" {
		return v, err
	}
	if v.Before.FileBytes() > maxBytes {
		v.Deferred = true
		return v, nil
	}
	start := time.Now()
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return v, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA auto_vacuum = INCREMENTAL"); err != nil {
		return v, fmt.Errorf("setting auto_vacuum: %w", err)
	}
	if _, err := conn.ExecContext(ctx, "VACUUM"); err != nil {
		return v, fmt.Errorf("rewriting the database for incremental vacuum (needs free disk space the size of the file): %w", err)
	}
	var mode int
	if err := conn.QueryRowContext(ctx, "PRAGMA auto_vacuum").Scan(&mode); err != nil {
		return v, fmt.Errorf("reading PRAGMA auto_vacuum: %w", err)
	}
	if mode != 2 {
		return v, errors.New("auto_vacuum is still not incremental after VACUUM")
	}
	v.Converted, v.Took = true, time.Since(start)
	return v, nil
}

// PayloadPrunedAt returns when retention emptied an event's payload (zero while it is whole), so
// that what shows a payload says "pruned" instead of failing on an empty one; ErrNotFound when no
// such event is stored.
func (s *Store) PayloadPrunedAt(ctx context.Context, id string) (time.Time, error) {
	var at int64
	err := s.queryRow(ctx, "SELECT payload_pruned_at FROM stripe_events WHERE id = ?", id).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, ErrNotFound
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading event %s: %w", id, err)
	}
	return fromMicros(at), nil
}
