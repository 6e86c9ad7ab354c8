package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/membersync/membersync/internal/entitlement"
)

// This file holds comps: plans an operator granted a person without payment. A comp is an
// entitlement input beside Stripe (entitlement.Comp); the admin writes it here, with its audit entry
// and journal entry, and the person's next sync reads it (Comps).

// ErrCompRevoked is returned when revoking a comp that is already revoked.
var ErrCompRevoked = errors.New("the comp is already revoked")

// Comp is one comp as stored.
type Comp struct {
	ID        int64
	PersonID  int64
	PlanID    string
	Reason    string    // why the operator granted it (required)
	GrantedBy string    // the operator (AuditEntry.Actor)
	GrantedAt time.Time // when it was granted
	Until     time.Time // when it ends; zero: no end
	// RevokedAt is when it was revoked (zero while it is not), RevokedBy by whom and RevokeReason why.
	RevokedAt    time.Time
	RevokedBy    string
	RevokeReason string
}

// Entitlement returns the comp as entitlement.Compute takes it.
func (c Comp) Entitlement() entitlement.Comp {
	return entitlement.Comp{ID: c.ID, PlanID: c.PlanID, Granted: c.GrantedAt, Until: c.Until, Revoked: c.RevokedAt}
}

// InForce reports whether the comp grants its plan at now: not revoked and not ended.
func (c Comp) InForce(now time.Time) bool {
	return c.RevokedAt.IsZero() && (c.Until.IsZero() || now.Before(c.Until))
}

// EntitlementComps returns cs as entitlement.Compute takes them.
func EntitlementComps(cs []Comp) []entitlement.Comp {
	var out []entitlement.Comp
	for _, c := range cs {
		out = append(out, c.Entitlement())
	}
	return out
}

const compColumns = "id, person_id, plan_id, reason, granted_by, granted_at, until_at, revoked_at, revoked_by, revoke_reason"

func scanComp(r interface{ Scan(...any) error }) (Comp, error) {
	var c Comp
	var granted, until, revoked int64
	if err := r.Scan(&c.ID, &c.PersonID, &c.PlanID, &c.Reason, &c.GrantedBy, &granted, &until, &revoked, &c.RevokedBy, &c.RevokeReason); err != nil {
		return Comp{}, err
	}
	c.GrantedAt, c.Until, c.RevokedAt = fromMicros(granted), optMicros(until), optMicros(revoked)
	return c, nil
}

// optMicros reads a time column where 0 means unset.
func optMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return fromMicros(us)
}

// AddComp stores a comp for c.PersonID; GrantedAt defaults to the store's clock. It returns the
// comp as stored, and ErrNotFound when the person does not exist. It does not sync the person:
// the caller marks them dirty.
func (s *Store) AddComp(ctx context.Context, c Comp) (Comp, error) {
	if c.PlanID == "" || c.Reason == "" || c.GrantedBy == "" {
		return Comp{}, errors.New("a comp needs a plan, a reason and who granted it")
	}
	if c.GrantedAt.IsZero() {
		c.GrantedAt = s.now()
	}
	var until int64
	if !c.Until.IsZero() {
		until = micros(c.Until)
	}
	var out Comp
	err := s.InTx(ctx, func(tx *Tx) error {
		var n int
		if err := tx.queryRow(ctx, "SELECT COUNT(*) FROM people WHERE id = ?", c.PersonID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		var err error
		out, err = scanComp(tx.queryRow(ctx, `INSERT INTO comps (person_id, plan_id, reason, granted_by, granted_at, until_at)
			VALUES (?, ?, ?, ?, ?, ?) RETURNING `+compColumns, c.PersonID, c.PlanID, c.Reason, c.GrantedBy, micros(c.GrantedAt), until))
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Comp{}, fmt.Errorf("adding a comp for person %d: %w", c.PersonID, err)
	}
	return out, err
}

// RevokeComp revokes the comp compID of personID at the store's clock, recording by and reason. It
// returns the comp before and after; ErrNotFound when the person has no such comp, ErrCompRevoked
// when it was already revoked.
func (s *Store) RevokeComp(ctx context.Context, personID, compID int64, by, reason string) (before, after Comp, err error) {
	if by == "" || reason == "" {
		return Comp{}, Comp{}, errors.New("revoking a comp needs who and why")
	}
	err = s.InTx(ctx, func(tx *Tx) error {
		var err error
		before, err = scanComp(tx.queryRow(ctx, "SELECT "+compColumns+" FROM comps WHERE id = ? AND person_id = ?", compID, personID))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !before.RevokedAt.IsZero() {
			return ErrCompRevoked
		}
		after, err = scanComp(tx.queryRow(ctx, `UPDATE comps SET revoked_at = ?, revoked_by = ?, revoke_reason = ?
			WHERE id = ? AND revoked_at = 0 RETURNING `+compColumns, micros(s.now()), by, reason, compID))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrCompRevoked // revoked meanwhile
		}
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrCompRevoked) {
		err = fmt.Errorf("revoking comp %d of person %d: %w", compID, personID, err)
	}
	return before, after, err
}

// Comps returns every comp of the person, revoked and ended ones included, oldest first.
func (s *Store) Comps(ctx context.Context, personID int64) ([]Comp, error) {
	r, err := s.query(ctx, "SELECT "+compColumns+" FROM comps WHERE person_id = ? ORDER BY id", personID)
	if err != nil {
		return nil, fmt.Errorf("reading the comps of person %d: %w", personID, err)
	}
	defer r.Close()
	var out []Comp
	for r.Next() {
		c, err := scanComp(r)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, r.Err()
}
