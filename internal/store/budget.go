package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/membersync/membersync/internal/budget"
)

// This file holds the provider budgets kept in the database: one row per provider credential, so
// that every instance serving the same database spends one rate limit (budget.Budget).

// Budget is a budget.Budget kept in the database row of key. Each Take is one UPDATE statement
// (no transaction, no lock held across round trips): the row lock it takes serializes the
// instances. Times are the caller's clock, so the instances' clocks must agree (NTP) to within a
// small part of the rate's interval — they must already for Stripe's 5-minute signature tolerance.
type Budget struct {
	s    *Store
	key  string
	rate budget.Rate
	now  func() time.Time
	take string // the UPDATE of Take, in the store's dialect
}

// Budget returns the database budget of key (such as "kit:1a2b3c4d", a provider and a keyed
// fingerprint of its credential, never the credential) at rate, creating its row if need be. now
// is the clock; nil means time.Now.
func (s *Store) Budget(ctx context.Context, key string, rate budget.Rate, now func() time.Time) (*Budget, error) {
	if now == nil {
		now = time.Now
	}
	if _, err := s.exec(ctx, "INSERT INTO provider_budgets (key, tat, paused_until) VALUES (?, 0, 0) ON CONFLICT (key) DO NOTHING", key); err != nil {
		return nil, fmt.Errorf("creating the budget of %s: %w", key, err)
	}
	greatest := "GREATEST"
	if s.dialect != Postgres {
		greatest = "MAX" // SQLite's multi-argument max
	}
	// start = the later of tat, now and the pause; the request is allowed at
	// max(start + interval - window, paused_until), and reserved only when that is within maxWait.
	take := fmt.Sprintf(`UPDATE provider_budgets SET tat = %[1]s(tat, ?, paused_until) + ?,
			month_calls = CASE WHEN month = ? THEN month_calls + 1 ELSE 1 END, month = ?
		WHERE key = ? AND %[1]s(%[1]s(tat, ?, paused_until) + ? - ?, paused_until) - ? <= ?
		RETURNING tat, paused_until`, greatest)
	return &Budget{s: s, key: key, rate: rate, now: now, take: take}, nil
}

// Take implements budget.Budget.
func (b *Budget) Take(ctx context.Context, maxWait time.Duration) (time.Duration, error) {
	at := b.now()
	now, month := micros(at), Month(at)
	interval, window := b.rate.Interval().Microseconds(), b.rate.Window().Microseconds()
	limit := maxWait.Microseconds()
	if maxWait <= 0 {
		limit = 1 << 62
	}
	var tat, paused int64
	err := b.s.queryRow(ctx, b.take, now, interval, month, month, b.key, now, interval, window, now, limit).Scan(&tat, &paused)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Over the caller's limit: read the state to say how long it would have waited.
		if err := b.s.queryRow(ctx, "SELECT tat, paused_until FROM provider_budgets WHERE key = ?", b.key).Scan(&tat, &paused); err != nil {
			return 0, fmt.Errorf("reading the budget of %s: %w", b.key, err)
		}
		_, wait, _ := budget.GCRA(b.rate, fromMicros(tat), fromMicros(paused), fromMicros(now), 0)
		return 0, &budget.Over{Wait: wait, Paused: paused > now}
	case err != nil:
		return 0, fmt.Errorf("taking from the budget of %s: %w", b.key, err)
	}
	allowed := max(tat-window, paused)
	return time.Duration(max(allowed-now, 0)) * time.Microsecond, nil
}

// Pause implements budget.Budget.
func (b *Budget) Pause(ctx context.Context, d time.Duration) error {
	until := b.now().Add(d)
	_, err := b.s.exec(ctx, "UPDATE provider_budgets SET paused_until = ? WHERE key = ? AND paused_until < ?",
		micros(until), b.key, micros(until))
	if err != nil {
		return fmt.Errorf("pausing the budget of %s: %w", b.key, err)
	}
	return nil
}

// Paused implements budget.Budget.
func (b *Budget) Paused(ctx context.Context) (time.Duration, error) {
	var paused int64
	if err := b.s.queryRow(ctx, "SELECT paused_until FROM provider_budgets WHERE key = ?", b.key).Scan(&paused); err != nil {
		return 0, fmt.Errorf("reading the pause of the budget of %s: %w", b.key, err)
	}
	return max(fromMicros(paused).Sub(b.now()), 0), nil
}

// Month names the UTC month of t as the budgets count it: "2026-12".
func Month(t time.Time) string { return t.UTC().Format("2006-01") }

// AddBudgetUsage adds n requests to key's count for month (an in-memory budget's count, flushed
// periodically on SQLite, where the bucket itself stays in memory). A count of another month
// replaces the stored one.
func (s *Store) AddBudgetUsage(ctx context.Context, key, month string, n int64) error {
	if n <= 0 {
		return nil
	}
	_, err := s.exec(ctx, `INSERT INTO provider_budgets (key, tat, paused_until, month, month_calls) VALUES (?, 0, 0, ?, ?)
		ON CONFLICT (key) DO UPDATE SET month_calls = CASE WHEN provider_budgets.month = excluded.month
			THEN provider_budgets.month_calls + excluded.month_calls ELSE excluded.month_calls END, month = excluded.month`,
		key, month, n)
	if err != nil {
		return fmt.Errorf("counting the requests of %s: %w", key, err)
	}
	return nil
}

// BudgetUsage returns how many requests the budgets whose key starts with prefix (such as
// "circle:") made in month, summed over every credential.
func (s *Store) BudgetUsage(ctx context.Context, prefix, month string) (int64, error) {
	var n int64
	err := s.queryRow(ctx, "SELECT COALESCE(SUM(month_calls), 0) FROM provider_budgets WHERE key LIKE ? ESCAPE '\\' AND month = ?",
		likeEscape(prefix)+"%", month).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("reading the requests of %s: %w", prefix, err)
	}
	return n, nil
}
