package store

import (
	"context"
	"fmt"
	"time"
)

// This file holds the sign-in throttle: attempts reserved before a password is checked, and the
// failures counted per key (an account, an address).

// LoginCount is what the sign-in throttle knows of one key (an account, an address): how many
// attempts it has in the window and when the oldest and the latest of them were.
type LoginCount struct {
	Key    string
	N      int
	Oldest time.Time // zero when N is 0
	Latest time.Time // zero when N is 0
}

// ReserveLoginAttempt admits a sign-in attempt before its password is checked. In one transaction,
// serialized against every other reservation, it prunes attempts older than since, counts each
// key's attempts since that instant and asks admit; when admit says yes it records an attempt at at
// against every key and returns the ids of those rows (for ReleaseLoginAttempt), else nil. Because
// the count and the record are one step, concurrent attempts cannot all pass a limit that each
// alone would see as not yet reached.
func (s *Store) ReserveLoginAttempt(ctx context.Context, keys []string, since, at time.Time, admit func([]LoginCount) bool) ([]int64, error) {
	var ids []int64
	err := s.InTx(ctx, func(tx *Tx) error {
		ids = nil
		// SQLite transactions begin IMMEDIATE, which already serializes writers; PostgreSQL needs
		// a lock that conflicts with itself (and with the deletes of ClearLoginFailures).
		if s.dialect == Postgres {
			if _, err := tx.exec(ctx, "LOCK TABLE login_failures IN SHARE ROW EXCLUSIVE MODE"); err != nil {
				return fmt.Errorf("locking the sign-in throttle: %w", err)
			}
		}
		if _, err := tx.exec(ctx, "DELETE FROM login_failures WHERE at < ?", micros(since)); err != nil {
			return fmt.Errorf("pruning sign-in attempts: %w", err)
		}
		counts := make([]LoginCount, len(keys))
		for i, k := range keys {
			var first, last int64
			err := tx.queryRow(ctx, "SELECT COUNT(*), COALESCE(MIN(at), 0), COALESCE(MAX(at), 0) FROM login_failures WHERE key = ? AND at >= ?",
				k, micros(since)).Scan(&counts[i].N, &first, &last)
			if err != nil {
				return fmt.Errorf("counting sign-in attempts: %w", err)
			}
			counts[i].Key, counts[i].Oldest, counts[i].Latest = k, fromMicros(first), fromMicros(last)
		}
		if !admit(counts) {
			return nil
		}
		for _, k := range keys {
			var id int64
			if err := tx.queryRow(ctx, "INSERT INTO login_failures (key, at) VALUES (?, ?) RETURNING id", k, micros(at)).Scan(&id); err != nil {
				return fmt.Errorf("recording a sign-in attempt: %w", err)
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// ReleaseLoginAttempt forgets attempts recorded by ReserveLoginAttempt (one that succeeded, or one
// that was never checked).
func (s *Store) ReleaseLoginAttempt(ctx context.Context, ids []int64) error {
	for _, id := range ids {
		if _, err := s.exec(ctx, "DELETE FROM login_failures WHERE id = ?", id); err != nil {
			return fmt.Errorf("releasing a sign-in attempt: %w", err)
		}
	}
	return nil
}

// LoginFailures returns how many sign-in attempts (reserved and not released: failures and
// checks under way) key has since the instant, and the oldest of them.
func (s *Store) LoginFailures(ctx context.Context, key string, since time.Time) (n int, oldest time.Time, err error) {
	var first int64
	err = s.queryRow(ctx, "SELECT COUNT(*), COALESCE(MIN(at), 0) FROM login_failures WHERE key = ? AND at >= ?", key, micros(since)).Scan(&n, &first)
	return n, fromMicros(first), err
}

// ClearLoginFailures forgets the failures of a key (an account after a successful sign-in or a
// password reset).
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "DELETE FROM login_failures WHERE key = ?", key)
	return err
}
