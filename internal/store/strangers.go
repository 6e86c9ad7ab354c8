package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// PersonForEmail returns the person with the normalized email, creating one when none has it: the
// drift sweep gives a stranger (a member of a managed group no person maps to) a person record, so
// that an operator can comp them or a sync can remove them. created is true when it made a new
// person; a new person starts clean (no sync waiting) and with no Stripe customer.
func (tx *Tx) PersonForEmail(ctx context.Context, email string) (pid int64, created bool, err error) {
	if email == "" {
		return 0, false, errors.New("a person by email needs an email")
	}
	err = tx.queryRow(ctx, "SELECT id FROM people WHERE email = ?", email).Scan(&pid)
	if err == nil {
		return pid, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, false, fmt.Errorf("looking up a person by email: %w", err)
	}
	now := micros(tx.s.now())
	n, err := tx.exec(ctx, "INSERT INTO people (email, created_at, updated_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", email, now, now)
	if err != nil {
		return 0, false, fmt.Errorf("creating a person by email: %w", err)
	}
	if err := tx.queryRow(ctx, "SELECT id FROM people WHERE email = ?", email).Scan(&pid); err != nil {
		return 0, false, fmt.Errorf("looking up a person by email: %w", err)
	}
	return pid, n == 1, nil
}

// NoteRemoteIDs records a person's Circle member id and Kit subscriber id where none is recorded
// yet (zero leaves one as is), so that the next sweep maps a stranger without looking them up.
func (tx *Tx) NoteRemoteIDs(ctx context.Context, personID, circleMemberID, kitSubscriberID int64) error {
	if circleMemberID != 0 {
		if _, err := tx.exec(ctx, "UPDATE people SET circle_member_id = ? WHERE id = ? AND circle_member_id = 0", circleMemberID, personID); err != nil {
			return fmt.Errorf("recording the Circle member id: %w", err)
		}
	}
	if kitSubscriberID != 0 {
		if _, err := tx.exec(ctx, "UPDATE people SET kit_subscriber_id = ? WHERE id = ? AND kit_subscriber_id = 0", kitSubscriberID, personID); err != nil {
			return fmt.Errorf("recording the Kit subscriber id: %w", err)
		}
	}
	return nil
}
