package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// This file holds the uptime checks' records (package uptime owns the logic): one row per probe in
// uptime_results, each complete hour rolled up into uptime_hours, and one uptime_state row per
// configured target with its last probe and its damped alert state.

// UptimeResult is one probe of one target.
type UptimeResult struct {
	Target  string
	At      time.Time
	OK      bool
	Status  int // the HTTP status; 0 when there was no answer
	Latency time.Duration
	TLSDays int    // whole days the served certificate has left; -1 without TLS or an answer
	Reason  string // why it failed; "" when OK
}

// UptimeHour is the roll-up of one target's probes in one hour.
type UptimeHour struct {
	Target     string
	Hour       time.Time // the hour's start (UTC)
	OK, Total  int
	LatencyP50 time.Duration
	LatencyMax time.Duration
	TLSDays    int // the fewest days left seen in the hour; -1 when none was seen
}

// UptimeState is one target's last probe and damped alert state.
type UptimeState struct {
	Target string
	URL    string
	// LastAt is when the target was last probed (zero before the first probe); the last probe's
	// outcome follows.
	LastAt      time.Time
	OK          bool
	Status      int
	Latency     time.Duration
	TLSDays     int
	TLSDaysWarn int // the target's tls_days_warn when it was probed; -1 never warns
	Reason      string
	// FailStreak and OKStreak count the probes in a row that failed or succeeded (one is 0).
	FailStreak, OKStreak int
	// History is the latest outcomes, oldest first: 'u' up, 'd' down (the flap damping's window).
	History string
	// ChangedAt is when the outcome last changed (up to down or back).
	ChangedAt time.Time
	// Alerting is what the uptime alert rule reads: the target is down (AlertKind "down") or
	// flapping ("flapping") since AlertSince, for AlertReason.
	Alerting    bool
	AlertKind   string
	AlertSince  time.Time
	AlertReason string
	UpdatedAt   time.Time
}

const uptimeStateCols = "target, url, last_at, ok, status, latency_us, tls_days, tls_days_warn, reason, fail_streak, ok_streak, history, changed_at, alerting, alert_kind, alert_since, alert_reason, updated_at"

func scanUptimeState(r row) (UptimeState, error) {
	var s UptimeState
	var last, lat, changed, since, updated int64
	err := r.Scan(&s.Target, &s.URL, &last, &s.OK, &s.Status, &lat, &s.TLSDays, &s.TLSDaysWarn, &s.Reason, &s.FailStreak, &s.OKStreak,
		&s.History, &changed, &s.Alerting, &s.AlertKind, &since, &s.AlertReason, &updated)
	s.LastAt, s.ChangedAt, s.AlertSince, s.UpdatedAt = fromMicros(last), fromMicros(changed), fromMicros(since), fromMicros(updated)
	s.Latency = time.Duration(lat) * time.Microsecond
	return s, err
}

// UptimeStates returns every target's state, by name.
func (s *Store) UptimeStates(ctx context.Context) ([]UptimeState, error) {
	r, err := s.query(ctx, "SELECT "+uptimeStateCols+" FROM uptime_state ORDER BY target")
	if err != nil {
		return nil, fmt.Errorf("reading uptime state: %w", err)
	}
	defer r.Close()
	var out []UptimeState
	for r.Next() {
		st, err := scanUptimeState(r)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, r.Err()
}

// UptimeStateOf returns one target's state, or ErrNotFound before its first probe.
func (s *Store) UptimeStateOf(ctx context.Context, target string) (UptimeState, error) {
	st, err := scanUptimeState(s.queryRow(ctx, "SELECT "+uptimeStateCols+" FROM uptime_state WHERE target = ?", target))
	if errors.Is(err, sql.ErrNoRows) {
		return UptimeState{}, ErrNotFound
	}
	return st, err
}

// RecordUptime stores one probe and the target's state after it, in one transaction.
func (s *Store) RecordUptime(ctx context.Context, r UptimeResult, st UptimeState) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, "INSERT INTO uptime_results (target, at, ok, status, latency_us, tls_days, reason) VALUES (?, ?, ?, ?, ?, ?, ?)",
			r.Target, micros(r.At), r.OK, r.Status, r.Latency.Microseconds(), r.TLSDays, r.Reason); err != nil {
			return fmt.Errorf("recording a probe of %s: %w", r.Target, err)
		}
		if _, err := tx.exec(ctx, `INSERT INTO uptime_state (`+uptimeStateCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (target) DO UPDATE SET url = excluded.url, last_at = excluded.last_at, ok = excluded.ok, status = excluded.status,
			latency_us = excluded.latency_us, tls_days = excluded.tls_days, tls_days_warn = excluded.tls_days_warn, reason = excluded.reason,
			fail_streak = excluded.fail_streak, ok_streak = excluded.ok_streak, history = excluded.history, changed_at = excluded.changed_at,
			alerting = excluded.alerting, alert_kind = excluded.alert_kind, alert_since = excluded.alert_since, alert_reason = excluded.alert_reason,
			updated_at = excluded.updated_at`,
			st.Target, st.URL, t0(st.LastAt), st.OK, st.Status, st.Latency.Microseconds(), st.TLSDays, st.TLSDaysWarn, st.Reason,
			st.FailStreak, st.OKStreak, st.History, t0(st.ChangedAt), st.Alerting, st.AlertKind, t0(st.AlertSince), st.AlertReason, micros(s.now())); err != nil {
			return fmt.Errorf("saving the uptime state of %s: %w", st.Target, err)
		}
		return nil
	})
}

// DeleteUptimeStates removes the state of every target not in keep (targets taken out of the
// config): their alerts then resolve. Their results age out with the rest.
func (s *Store) DeleteUptimeStates(ctx context.Context, keep []string) (int64, error) {
	if len(keep) == 0 {
		return s.exec(ctx, "DELETE FROM uptime_state")
	}
	args := make([]any, len(keep))
	for i, k := range keep {
		args[i] = k
	}
	return s.exec(ctx, "DELETE FROM uptime_state WHERE target NOT IN (?"+strings.Repeat(", ?", len(keep)-1)+")", args...)
}

// UptimeTargets returns the targets that have per-probe results, by name.
func (s *Store) UptimeTargets(ctx context.Context) ([]string, error) {
	return s.textColumn(ctx, "SELECT DISTINCT target FROM uptime_results ORDER BY target")
}

// UptimeRolledThrough returns the end of target's newest rolled-up hour: its probes before it are
// counted in uptime_hours, those from it on in uptime_results. Zero when nothing is rolled up.
func (s *Store) UptimeRolledThrough(ctx context.Context, target string) (time.Time, error) {
	var h sql.NullInt64
	if err := s.queryRow(ctx, "SELECT MAX(hour) FROM uptime_hours WHERE target = ?", target).Scan(&h); err != nil {
		return time.Time{}, fmt.Errorf("reading the uptime roll-up of %s: %w", target, err)
	}
	if !h.Valid {
		return time.Time{}, nil
	}
	return fromMicros(h.Int64).Add(time.Hour), nil
}

// UptimeResults returns target's probes at or after from and before to (zero to: no end), oldest
// first.
func (s *Store) UptimeResults(ctx context.Context, target string, from, to time.Time) ([]UptimeResult, error) {
	q := "SELECT at, ok, status, latency_us, tls_days, reason FROM uptime_results WHERE target = ? AND at >= ?"
	args := []any{target, micros(from)}
	if !to.IsZero() {
		q += " AND at < ?"
		args = append(args, micros(to))
	}
	r, err := s.query(ctx, q+" ORDER BY at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("reading the probes of %s: %w", target, err)
	}
	defer r.Close()
	var out []UptimeResult
	for r.Next() {
		res := UptimeResult{Target: target}
		var at, lat int64
		if err := r.Scan(&at, &res.OK, &res.Status, &lat, &res.TLSDays, &res.Reason); err != nil {
			return nil, err
		}
		res.At, res.Latency = fromMicros(at), time.Duration(lat)*time.Microsecond
		out = append(out, res)
	}
	return out, r.Err()
}

// UptimeHours returns target's rolled-up hours starting at or after from and before to, oldest
// first.
func (s *Store) UptimeHours(ctx context.Context, target string, from, to time.Time) ([]UptimeHour, error) {
	r, err := s.query(ctx, "SELECT hour, ok_count, total, latency_p50_us, latency_max_us, tls_days FROM uptime_hours WHERE target = ? AND hour >= ? AND hour < ? ORDER BY hour",
		target, micros(from), micros(to))
	if err != nil {
		return nil, fmt.Errorf("reading the uptime hours of %s: %w", target, err)
	}
	defer r.Close()
	var out []UptimeHour
	for r.Next() {
		h := UptimeHour{Target: target}
		var hour, p50, mx int64
		if err := r.Scan(&hour, &h.OK, &h.Total, &p50, &mx, &h.TLSDays); err != nil {
			return nil, err
		}
		h.Hour, h.LatencyP50, h.LatencyMax = fromMicros(hour), time.Duration(p50)*time.Microsecond, time.Duration(mx)*time.Microsecond
		out = append(out, h)
	}
	return out, r.Err()
}

// AddUptimeHours stores roll-ups; an hour already rolled up is left as it is.
func (s *Store) AddUptimeHours(ctx context.Context, hours []UptimeHour) error {
	if len(hours) == 0 {
		return nil
	}
	return s.InTx(ctx, func(tx *Tx) error {
		for _, h := range hours {
			if _, err := tx.exec(ctx, `INSERT INTO uptime_hours (target, hour, ok_count, total, latency_p50_us, latency_max_us, tls_days)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (target, hour) DO NOTHING`,
				h.Target, micros(h.Hour), h.OK, h.Total, h.LatencyP50.Microseconds(), h.LatencyMax.Microseconds(), h.TLSDays); err != nil {
				return fmt.Errorf("rolling up the uptime of %s: %w", h.Target, err)
			}
		}
		return nil
	})
}

// PruneUptime deletes the probes older than resultsBefore that are already rolled up, and the
// rolled-up hours older than hoursBefore.
func (s *Store) PruneUptime(ctx context.Context, resultsBefore, hoursBefore time.Time) error {
	if _, err := s.exec(ctx, `DELETE FROM uptime_results WHERE at < ?
		AND at < (SELECT COALESCE(MAX(h.hour), 0) FROM uptime_hours h WHERE h.target = uptime_results.target) + ?`,
		micros(resultsBefore), time.Hour.Microseconds()); err != nil {
		return fmt.Errorf("pruning uptime probes: %w", err)
	}
	if _, err := s.exec(ctx, "DELETE FROM uptime_hours WHERE hour < ?", micros(hoursBefore)); err != nil {
		return fmt.Errorf("pruning uptime hours: %w", err)
	}
	return nil
}
