package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// AcquireLease takes the person's sync lease for owner until now+ttl, unless another owner holds an
// unexpired one. Two syncs of one person never run at once. ErrNotFound means the person is gone.
func (s *Store) AcquireLease(ctx context.Context, personID int64, owner string, ttl time.Duration) (bool, error) {
	now := s.now()
	n, err := s.exec(ctx, "UPDATE people SET lease_until = ?, lease_owner = ? WHERE id = ? AND (lease_until < ? OR lease_owner = ?)",
		micros(now.Add(ttl)), owner, personID, micros(now), owner)
	if err != nil {
		return false, fmt.Errorf("taking sync lease: %w", err)
	}
	if n == 1 {
		return true, nil
	}
	var exists int
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM people WHERE id = ?", personID).Scan(&exists); err != nil {
		return false, err
	}
	if exists == 0 {
		return false, ErrNotFound // merged into another person since the job was queued
	}
	return false, nil
}

// ReleaseLease gives the lease back if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, personID int64, owner string) error {
	_, err := s.exec(ctx, "UPDATE people SET lease_until = 0, lease_owner = '' WHERE id = ? AND lease_owner = ?", personID, owner)
	return err
}

// Applied is one grant membersync confirmed in a provider.
type Applied struct {
	PersonID  int64
	Provider  string // circle | kit
	Kind      string // access_group | tag | sequence
	TargetID  int64
	Email     string
	RemoteID  int64 // Circle member id or Kit subscriber id
	AppliedAt time.Time
}

// Applied kinds.
const (
	ProviderCircle  = "circle"
	ProviderKit     = "kit"
	KindAccessGroup = "access_group"
	KindTag         = "tag"
	KindSequence    = "sequence"
)

const appliedCols = "person_id, provider, kind, target_id, email, remote_id, applied_at"

// scanApplied reads every row of r, the answer to a query of appliedCols, and closes r.
func scanApplied(r rows) ([]Applied, error) {
	defer r.Close()
	var out []Applied
	for r.Next() {
		var a Applied
		var at int64
		if err := r.Scan(&a.PersonID, &a.Provider, &a.Kind, &a.TargetID, &a.Email, &a.RemoteID, &at); err != nil {
			return nil, err
		}
		a.AppliedAt = fromMicros(at)
		out = append(out, a)
	}
	return out, r.Err()
}

// Applied returns what was confirmed for a person.
func (s *Store) Applied(ctx context.Context, personID int64) ([]Applied, error) {
	r, err := s.query(ctx, "SELECT "+appliedCols+" FROM applied WHERE person_id = ? ORDER BY provider, kind, target_id, email", personID)
	if err != nil {
		return nil, err
	}
	return scanApplied(r)
}

// RecordApplied stores a confirmed grant.
func (s *Store) RecordApplied(ctx context.Context, a Applied) error {
	_, err := s.exec(ctx, `INSERT INTO applied (person_id, provider, kind, target_id, email, remote_id, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (person_id, provider, kind, target_id, email) DO UPDATE SET remote_id = excluded.remote_id`,
		a.PersonID, a.Provider, a.Kind, a.TargetID, a.Email, a.RemoteID, micros(s.now()))
	if err != nil {
		return fmt.Errorf("recording applied %s %s %d: %w", a.Provider, a.Kind, a.TargetID, err)
	}
	return nil
}

// RemoveApplied forgets a grant that was confirmed removed.
func (s *Store) RemoveApplied(ctx context.Context, a Applied) error {
	_, err := s.exec(ctx, "DELETE FROM applied WHERE person_id = ? AND provider = ? AND kind = ? AND target_id = ? AND email = ?",
		a.PersonID, a.Provider, a.Kind, a.TargetID, a.Email)
	return err
}

// AppliedByTarget returns every person holding a grant (drift sweep).
func (s *Store) AppliedByTarget(ctx context.Context, provider, kind string, targetID int64) ([]Applied, error) {
	r, err := s.query(ctx, "SELECT "+appliedCols+" FROM applied WHERE provider = ? AND kind = ? AND target_id = ?", provider, kind, targetID)
	if err != nil {
		return nil, err
	}
	return scanApplied(r)
}

// SetIdentity records the person's normalized email and name. It fails with ErrConflict when another
// person holds the email.
//
// A changed email forgets the Circle member and Kit subscriber ids, which belong to the old address:
// the next Circle and Kit steps link the records of the new one. (Left in place, an id would look
// current once the old address's grants were revoked, and Kit would be asked to tag an address it
// does not know: a Kit step handed off between the untag and the tag met exactly that.) The grants of
// the old address keep their own ids in the applied state, for their revocation.
func (s *Store) SetIdentity(ctx context.Context, personID int64, email, name string) error {
	_, err := s.exec(ctx, `UPDATE people SET
			circle_member_id = CASE WHEN email = '' OR email = ? THEN circle_member_id ELSE 0 END,
			kit_subscriber_id = CASE WHEN email = '' OR email = ? THEN kit_subscriber_id ELSE 0 END,
			email = ?, name = ?, updated_at = ? WHERE id = ?`, email, email, email, name, micros(s.now()), personID)
	if err != nil && isUniqueViolation(err) {
		return ErrConflict
	}
	return err
}

// ErrConflict is a uniqueness conflict (an email another person holds).
var ErrConflict = errors.New("conflict")

func isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "23505")
}

// SetRemoteIDs records the person's Circle member id and/or Kit subscriber id (zero leaves one as is).
func (s *Store) SetRemoteIDs(ctx context.Context, personID, circleMemberID, kitSubscriberID int64) error {
	if circleMemberID != 0 {
		if _, err := s.exec(ctx, "UPDATE people SET circle_member_id = ? WHERE id = ?", circleMemberID, personID); err != nil {
			return err
		}
	}
	if kitSubscriberID != 0 {
		if _, err := s.exec(ctx, "UPDATE people SET kit_subscriber_id = ? WHERE id = ?", kitSubscriberID, personID); err != nil {
			return err
		}
	}
	return nil
}

// LinkCustomer attaches a Stripe customer to a person (when a sync finds another customer with the
// person's email). A customer already linked elsewhere is left where it is; false reports that.
func (s *Store) LinkCustomer(ctx context.Context, personID int64, customerID string) (bool, error) {
	n, err := s.exec(ctx, "INSERT INTO customers (id, person_id, created_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING", customerID, personID, micros(s.now()))
	return n == 1, err
}

// MergePerson moves everything of person from into person into (same email seen from two customers
// first seen separately) and deletes from. into is marked dirty; the caller enqueues its sync.
func (s *Store) MergePerson(ctx context.Context, from, into int64) (needsSync bool, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		for _, q := range []string{
			"UPDATE customers SET person_id = ? WHERE person_id = ?",
			"UPDATE stripe_events SET person_id = ? WHERE person_id = ?",
			"UPDATE journal SET person_id = ? WHERE person_id = ?",
			"UPDATE review_items SET person_id = ? WHERE person_id = ?",
			"UPDATE comps SET person_id = ? WHERE person_id = ?",            // an operator's grant follows the person
			"UPDATE support_messages SET person_id = ? WHERE person_id = ?", // and so do their support messages
		} {
			if _, err := tx.exec(ctx, q, into, from); err != nil {
				return fmt.Errorf("merging person %d into %d: %w", from, into, err)
			}
		}
		// Grants confirmed for the merged person stay recorded under the survivor so they are
		// converged (kept or revoked) by its next sync rather than forgotten.
		if _, err := tx.exec(ctx, `INSERT INTO applied (person_id, provider, kind, target_id, email, remote_id, applied_at)
			SELECT ?, provider, kind, target_id, email, remote_id, applied_at FROM applied WHERE person_id = ?
			ON CONFLICT (person_id, provider, kind, target_id, email) DO NOTHING`, into, from); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM applied WHERE person_id = ?", from); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, "DELETE FROM people WHERE id = ?", from); err != nil {
			return err
		}
		// The survivor's journal says where the merged person went (MergedInto reads it): a link
		// to the old person's page leads on instead of ending at "not found".
		if err := tx.AppendJournal(ctx, JournalEntry{PersonID: into, Kind: "sync", Action: mergedFromAction,
			Target: mergedTarget(from), Result: "merged", Detail: fmt.Sprintf("person %d (same email) was merged into this one", from)}); err != nil {
			return err
		}
		var e error
		needsSync, e = tx.MarkDirty(ctx, into)
		return e
	})
	return needsSync, err
}

// mergedFromAction is the journal action MergePerson records on the survivor, whose target names
// the merged person (mergedTarget).
const mergedFromAction = "merged_from"

func mergedTarget(id int64) string { return "person:" + strconv.FormatInt(id, 10) }

// MergedInto returns the person that person id was merged into, following later merges of the
// survivor; ErrNotFound when id was never merged (it never existed, or it was removed).
func (s *Store) MergedInto(ctx context.Context, id int64) (int64, error) {
	cur := id
	for range 16 { // a chain of merges is short; a cycle cannot happen, but bounds cost nothing
		var into int64
		err := s.queryRow(ctx, "SELECT person_id FROM journal WHERE kind = 'sync' AND action = ? AND target = ? ORDER BY id DESC LIMIT 1",
			mergedFromAction, mergedTarget(cur)).Scan(&into)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return 0, err
		}
		cur = into
	}
	if cur == id {
		return 0, ErrNotFound
	}
	return cur, nil
}

// SaveSyncResult records the outcome of a sync for display: the desired state as JSON, the next
// clock-driven change and the error that stopped it (” when it converged).
func (s *Store) SaveSyncResult(ctx context.Context, personID int64, desiredJSON string, nextChange time.Time, syncErr string) error {
	var nc int64
	if !nextChange.IsZero() {
		nc = micros(nextChange)
	}
	_, err := s.exec(ctx, "UPDATE people SET desired = ?, next_change = ?, sync_error = ?, synced_at = ? WHERE id = ?",
		desiredJSON, nc, syncErr, micros(s.now()), personID)
	return err
}

// SyncState is what the last sync left for display.
type SyncState struct {
	Desired    string // JSON of the entitlement.Desired
	NextChange time.Time
	SyncedAt   time.Time
	Error      string
}

// SyncState returns the person's last sync result.
func (s *Store) SyncState(ctx context.Context, personID int64) (SyncState, error) {
	var st SyncState
	var nc, at int64
	err := s.queryRow(ctx, "SELECT desired, next_change, synced_at, sync_error FROM people WHERE id = ?", personID).Scan(&st.Desired, &nc, &at, &st.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return st, ErrNotFound
	}
	st.NextChange, st.SyncedAt = fromMicros(nc), fromMicros(at)
	return st, err
}

// SyncStart is what one sync of a person starts from.
type SyncStart struct {
	// Generation is the person's generation when the sync cleared its waiting mark: every trigger
	// up to it is this sync's to cover (FinishSync records it).
	Generation int64
	// Events are the person's queued events whose dirty marks Generation includes: exactly the
	// events this sync marks converged (MarkEventsConverged) once it confirms every action.
	Events []string
}

// StartSync clears the person's waiting mark and returns the generation the sync starts from with
// the queued events that generation covers. Both are read in one transaction after the person's row
// is written, so they agree: an event and its dirty mark commit together (IngestEvent, ResolveEvent,
// MergePerson), and a dirty mark writes the same row, so on PostgreSQL an inbox transaction either
// committed before this one took the row (its event is listed and its bump counted) or writes the
// row after this one commits (its event is not listed, and its bump finds no sync waiting and
// enqueues another). No clock is compared: the receipt time of an event says nothing about when its
// transaction committed. Events stored later bump the generation and enqueue another sync.
func (s *Store) StartSync(ctx context.Context, personID int64) (SyncStart, error) {
	var st SyncStart
	err := s.InTx(ctx, func(tx *Tx) error {
		if err := tx.queryRow(ctx, "UPDATE people SET queued = FALSE WHERE id = ? RETURNING generation", personID).Scan(&st.Generation); err != nil {
			return err
		}
		r, err := tx.query(ctx, "SELECT id FROM stripe_events WHERE person_id = ? AND state = ? ORDER BY id", personID, EventQueued)
		if err != nil {
			return fmt.Errorf("listing the queued events of person %d: %w", personID, err)
		}
		defer r.Close()
		for r.Next() {
			var id string
			if err := r.Scan(&id); err != nil {
				return err
			}
			st.Events = append(st.Events, id)
		}
		return r.Err()
	})
	if errors.Is(err, sql.ErrNoRows) {
		return SyncStart{}, ErrNotFound
	}
	if err != nil {
		return SyncStart{}, fmt.Errorf("starting the sync of person %d: %w", personID, err)
	}
	return st, nil
}

// markBatch bounds the ids bound to one statement (SQLite and PostgreSQL cap the parameters).
const markBatch = 500

// MarkEventsConverged marks as processed the events a sync started from (SyncStart.Events) that
// are still the person's and still queued, and returns their receipt times (for the time-to-converge
// metric). An event stored after StartSync is left queued for the sync its dirty mark enqueued.
func (s *Store) MarkEventsConverged(ctx context.Context, personID int64, eventIDs []string) ([]time.Time, error) {
	var out []time.Time
	err := s.InTx(ctx, func(tx *Tx) error {
		now := micros(s.now())
		for ids := range slices.Chunk(eventIDs, markBatch) {
			args := make([]any, 0, len(ids)+4)
			args = append(args, EventProcessed, now, personID, EventQueued)
			for _, id := range ids {
				args = append(args, id)
			}
			r, err := tx.query(ctx, "UPDATE stripe_events SET state = ?, converged_at = ? WHERE person_id = ? AND state = ? AND id IN (?"+
				strings.Repeat(", ?", len(ids)-1)+") RETURNING received_at", args...)
			if err != nil {
				return err
			}
			for r.Next() {
				var us int64
				if err := r.Scan(&us); err != nil {
					r.Close()
					return err
				}
				out = append(out, fromMicros(us))
			}
			r.Close()
			if err := r.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("marking the events of person %d converged: %w", personID, err)
	}
	return out, nil
}
