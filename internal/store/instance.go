package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// settingStripeMode is the instance_settings key of the Stripe mode the database was first served
// with.
const settingStripeMode = "stripe_mode"

// StripeMode returns the Stripe mode ("live" or "test") recorded by RecordStripeMode; ok is false
// while none is recorded (a database never served).
func (s *Store) StripeMode(ctx context.Context) (mode string, ok bool, err error) {
	err = s.queryRow(ctx, "SELECT value FROM instance_settings WHERE key = ?", settingStripeMode).Scan(&mode)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading the recorded Stripe mode: %w", err)
	}
	return mode, true, nil
}

// RecordStripeMode records mode as the database's Stripe mode unless one is recorded already, and
// returns the recorded mode: mode on the first call, the first caller's mode ever after (two
// instances starting at once on PostgreSQL agree on one). serve refuses to start with a key whose
// mode differs: one database holds the data of one Stripe mode.
func (s *Store) RecordStripeMode(ctx context.Context, mode string) (string, error) {
	if mode == "" {
		return "", errors.New("recording the Stripe mode: no mode given")
	}
	if _, err := s.exec(ctx, `INSERT INTO instance_settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO NOTHING`, settingStripeMode, mode, micros(s.now())); err != nil {
		return "", fmt.Errorf("recording the Stripe mode: %w", err)
	}
	recorded, ok, err := s.StripeMode(ctx)
	if err == nil && !ok {
		err = errors.New("recording the Stripe mode: the row is missing after its insert")
	}
	return recorded, err
}
