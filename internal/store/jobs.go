package store

import (
	"context"
	"fmt"
	"strings"
)

// JobCount returns how many River jobs of a kind exist in the given states (all states when none).
func (s *Store) JobCount(ctx context.Context, kind string, states ...string) (int, error) {
	query := "SELECT COUNT(*) FROM river_job WHERE kind = ?"
	args := []any{kind}
	if len(states) > 0 {
		query += " AND state IN (?" + strings.Repeat(",?", len(states)-1) + ")"
		for _, st := range states {
			args = append(args, st)
		}
	}
	var n int
	err := s.queryRow(ctx, query, args...).Scan(&n)
	return n, err
}

// Settled reports whether every person's last sync covers every trigger they received and no job
// is waiting, running or retrying, nor a Kit step a sync handed off (sync_kit, which may be
// scheduled for when Kit has room): the point where providers must equal the desired state. A
// person whose sync gave up (discarded job) keeps it unsettled; why says what is still moving.
func (s *Store) Settled(ctx context.Context) (ok bool, why string, err error) {
	var dirty int
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM people WHERE synced_generation < generation").Scan(&dirty); err != nil {
		return false, "", err
	}
	var jobs int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'pending')
		OR (state = 'scheduled' AND kind = 'sync_kit')`).Scan(&jobs); err != nil {
		return false, "", err
	}
	var unresolved int
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM stripe_events WHERE state = ?", EventUnresolved).Scan(&unresolved); err != nil {
		return false, "", err
	}
	if dirty == 0 && jobs == 0 && unresolved == 0 {
		return true, "", nil
	}
	return false, fmt.Sprintf("%d people to sync, %d jobs moving, %d events unresolved", dirty, jobs, unresolved), nil
}

// DebugJobs describes the jobs that are not finished, for test failure messages.
func (s *Store) DebugJobs(ctx context.Context) string {
	r, err := s.query(ctx, "SELECT id, kind, state, attempt, args, errors FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded', 'scheduled')")
	if err != nil {
		return err.Error()
	}
	defer r.Close()
	out := ""
	for r.Next() {
		var id int64
		var attempt int
		var kind, state string
		var args, errs []byte
		if err := r.Scan(&id, &kind, &state, &attempt, &args, &errs); err != nil {
			return err.Error()
		}
		out += fmt.Sprintf("job %d %s %s attempt %d args %s errors %.600s\n", id, kind, state, attempt, args, errs)
	}
	return out
}

// DebugUnsettled describes each person whose last sync does not cover their triggers, with every
// sync job of theirs in any state, for test failure messages.
func (s *Store) DebugUnsettled(ctx context.Context) string {
	r, err := s.query(ctx, "SELECT id, generation, synced_generation, queued FROM people WHERE synced_generation < generation")
	if err != nil {
		return err.Error()
	}
	type dirty struct {
		id, gen, synced int64
		queued          bool
	}
	var people []dirty
	for r.Next() {
		var d dirty
		if err := r.Scan(&d.id, &d.gen, &d.synced, &d.queued); err != nil {
			r.Close()
			return err.Error()
		}
		people = append(people, d)
	}
	r.Close()
	out := ""
	for _, d := range people {
		out += fmt.Sprintf("person %d: generation %d, synced %d, queued %t\n", d.id, d.gen, d.synced, d.queued)
		jr, err := s.query(ctx, "SELECT id, state, attempt, args, errors FROM river_job WHERE kind = 'sync_person' ORDER BY id")
		if err != nil {
			return out + err.Error()
		}
		for jr.Next() {
			var id int64
			var attempt int
			var state string
			var args, errs []byte
			if err := jr.Scan(&id, &state, &attempt, &args, &errs); err != nil {
				jr.Close()
				return out + err.Error()
			}
			compact := strings.ReplaceAll(string(args), " ", "") // PostgreSQL's jsonb puts spaces in
			if strings.Contains(compact, fmt.Sprintf(`"person_id":%d,`, d.id)) || strings.Contains(compact, fmt.Sprintf(`"person_id":%d}`, d.id)) {
				out += fmt.Sprintf("  job %d %s attempt %d args %s errors %.400s\n", id, state, attempt, args, errs)
			}
		}
		jr.Close()
	}
	return out
}
