package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// StatusCheckout is a Checkout Session as the post-checkout page last saw it.
type StatusCheckout struct {
	SessionID  string // cs_…
	PersonID   int64  // 0 for a guest checkout not matched to a person yet
	CustomerID string // '' for a guest checkout
	// Email is the normalized email of a guest checkout (kept to match it later); '' otherwise.
	Email           string
	Paid            bool // Stripe confirmed the payment
	CreatedAt       time.Time
	CheckedAt       time.Time // last read from Stripe
	SyncRequestedAt time.Time // when the page asked for a sync; zero if it never did
}

// StatusCheckout returns what the post-checkout page recorded of a session, or ErrNotFound.
func (s *Store) StatusCheckout(ctx context.Context, sessionID string) (StatusCheckout, error) {
	c := StatusCheckout{SessionID: sessionID}
	var created, checked, requested int64
	err := s.queryRow(ctx, `SELECT person_id, customer_id, email, paid, created_at, checked_at, sync_requested_at
		FROM status_checkouts WHERE session_id = ?`, sessionID).Scan(&c.PersonID, &c.CustomerID, &c.Email, &c.Paid, &created, &checked, &requested)
	if errors.Is(err, sql.ErrNoRows) {
		return StatusCheckout{}, ErrNotFound
	}
	if err != nil {
		return StatusCheckout{}, fmt.Errorf("reading checkout %s: %w", sessionID, err)
	}
	c.CreatedAt, c.CheckedAt, c.SyncRequestedAt = fromMicros(created), fromMicros(checked), fromMicros(requested)
	return c, nil
}

// SaveStatusCheckout records a session; its creation time is kept when it exists. A zero CreatedAt
// or CheckedAt means now.
func (s *Store) SaveStatusCheckout(ctx context.Context, c StatusCheckout) error {
	now := s.now()
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now
	}
	if c.CheckedAt.IsZero() {
		c.CheckedAt = now
	}
	var requested int64
	if !c.SyncRequestedAt.IsZero() {
		requested = micros(c.SyncRequestedAt)
	}
	_, err := s.exec(ctx, `INSERT INTO status_checkouts (session_id, person_id, customer_id, email, paid, created_at, checked_at, sync_requested_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (session_id) DO UPDATE SET person_id = excluded.person_id, customer_id = excluded.customer_id,
			email = excluded.email, paid = excluded.paid, checked_at = excluded.checked_at, sync_requested_at = excluded.sync_requested_at`,
		c.SessionID, c.PersonID, c.CustomerID, c.Email, c.Paid, micros(c.CreatedAt), micros(c.CheckedAt), requested)
	if err != nil {
		return fmt.Errorf("recording checkout %s: %w", c.SessionID, err)
	}
	return nil
}

// PersonForCheckout returns the person of a Stripe customer, creating both on first sight like the
// inbox does, except that a person created here starts clean (not marked dirty, no sync waiting):
// the caller triggers its sync, which then enqueues the job. created reports a new person.
func (s *Store) PersonForCheckout(ctx context.Context, customerID string) (pid int64, created bool, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		var err error
		pid, created, err = tx.PersonForCustomer(ctx, customerID)
		if err != nil || !created {
			return err
		}
		_, err = tx.exec(ctx, "UPDATE people SET generation = 0, queued = FALSE WHERE id = ?", pid)
		return err
	})
	return pid, created, err
}

// CheckoutEventSeen reports whether the inbox stored the checkout.session.completed event of a
// session: the webhook arrived (and its sync was enqueued).
func (s *Store) CheckoutEventSeen(ctx context.Context, customerID, sessionID string) (bool, error) {
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM stripe_events WHERE customer_id = ? AND type = 'checkout.session.completed'
		AND payload LIKE ? ESCAPE '\' LIMIT 1`, customerID, "%"+likeEscape(sessionID)+"%").Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("looking for the checkout event: %w", err)
	}
	return true, nil
}

// StatusLimitHit counts one hit of bucket in the current fixed window of the given length and
// reports whether the hits so far in that window are within limit. Windows older than a day are
// pruned when a new one starts.
func (s *Store) StatusLimitHit(ctx context.Context, bucket string, window time.Duration, limit int) (allowed bool, err error) {
	now := s.now()
	start := micros(now.Truncate(window))
	var hits int
	err = s.queryRow(ctx, `INSERT INTO status_limits (bucket, window_start, hits) VALUES (?, ?, 1)
		ON CONFLICT (bucket, window_start) DO UPDATE SET hits = status_limits.hits + 1 RETURNING hits`, bucket, start).Scan(&hits)
	if err != nil {
		return false, fmt.Errorf("counting %s: %w", bucketKind(bucket), err)
	}
	if hits == 1 {
		horizon := now.Add(-24 * time.Hour)
		if window > 24*time.Hour {
			horizon = now.Add(-window)
		}
		if _, err := s.exec(ctx, "DELETE FROM status_limits WHERE window_start < ?", micros(horizon)); err != nil {
			return false, fmt.Errorf("pruning rate-limit windows: %w", err)
		}
	}
	return hits <= limit, nil
}

// StatusLimitReached reports, without counting a hit, whether bucket has used up limit in the
// current window.
func (s *Store) StatusLimitReached(ctx context.Context, bucket string, window time.Duration, limit int) (bool, error) {
	var hits int
	err := s.queryRow(ctx, "SELECT hits FROM status_limits WHERE bucket = ? AND window_start = ?",
		bucket, micros(s.now().Truncate(window))).Scan(&hits)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", bucketKind(bucket), err)
	}
	return hits >= limit, nil
}

// bucketKind names a bucket for errors without its key (an address hash, a person id).
func bucketKind(bucket string) string {
	kind, _, _ := strings.Cut(bucket, ":")
	return kind + " rate limit"
}

// PersonEmail is a person's id and normalized email.
type PersonEmail struct {
	ID    int64
	Email string
}

// PeopleEmails returns every person whose email is known, by id (status links in bulk).
func (s *Store) PeopleEmails(ctx context.Context) ([]PersonEmail, error) {
	r, err := s.query(ctx, "SELECT id, email FROM people WHERE email <> '' ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []PersonEmail
	for r.Next() {
		var p PersonEmail
		if err := r.Scan(&p.ID, &p.Email); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, r.Err()
}
