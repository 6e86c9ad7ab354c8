package store

import (
	"context"
	"database/sql"
	"errors"
)

// SaveBilling records the billing snapshot (entitlement.Billing as JSON) a sync read for a person.
func (s *Store) SaveBilling(ctx context.Context, personID int64, billingJSON string) error {
	_, err := s.exec(ctx, "UPDATE people SET billing = ? WHERE id = ?", billingJSON, personID)
	return err
}

// Billing returns the person's last billing snapshot as JSON ("" before the first sync that
// recorded one).
func (s *Store) Billing(ctx context.Context, personID int64) (string, error) {
	var b string
	err := s.queryRow(ctx, "SELECT billing FROM people WHERE id = ?", personID).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return b, err
}
