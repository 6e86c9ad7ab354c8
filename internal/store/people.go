package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Person is one human across Stripe, Circle and Kit.
type Person struct {
	ID               int64
	Email            string // normalized; '' until a sync reads it
	Name             string
	CircleMemberID   int64
	KitSubscriberID  int64
	Generation       int64 // bumped by every trigger
	SyncedGeneration int64 // the generation the last completed sync started from
	Queued           bool  // a sync is waiting to start
	CustomerIDs      []string
	// Erasure is "" or the erasure's state, Erasing or Erased (erasure.go).
	Erasure   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Person returns the person with its Stripe customer ids.
func (s *Store) Person(ctx context.Context, id int64) (Person, error) {
	var p Person
	var created, updated int64
	err := s.queryRow(ctx, `SELECT id, email, name, circle_member_id, kit_subscriber_id, generation, synced_generation, queued, erasure, created_at, updated_at
		FROM people WHERE id = ?`, id).Scan(&p.ID, &p.Email, &p.Name, &p.CircleMemberID, &p.KitSubscriberID, &p.Generation, &p.SyncedGeneration, &p.Queued, &p.Erasure, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return Person{}, ErrNotFound
	}
	if err != nil {
		return Person{}, fmt.Errorf("reading person %d: %w", id, err)
	}
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	r, err := s.query(ctx, "SELECT id FROM customers WHERE person_id = ? ORDER BY id", id)
	if err != nil {
		return Person{}, fmt.Errorf("reading customers of person %d: %w", id, err)
	}
	defer r.Close()
	for r.Next() {
		var c string
		if err := r.Scan(&c); err != nil {
			return Person{}, err
		}
		p.CustomerIDs = append(p.CustomerIDs, c)
	}
	return p, r.Err()
}

// PersonIDByCustomer returns the person a Stripe customer belongs to.
func (s *Store) PersonIDByCustomer(ctx context.Context, customerID string) (int64, error) {
	var pid int64
	err := s.queryRow(ctx, "SELECT person_id FROM customers WHERE id = ?", customerID).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return pid, err
}

// PersonIDByEmail returns the person with the normalized email.
func (s *Store) PersonIDByEmail(ctx context.Context, email string) (int64, error) {
	var pid int64
	err := s.queryRow(ctx, "SELECT id FROM people WHERE email = ?", email).Scan(&pid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return pid, err
}

// FinishSync records that a sync which started from generation completed.
func (s *Store) FinishSync(ctx context.Context, personID, generation int64) error {
	_, err := s.exec(ctx, "UPDATE people SET synced_generation = ?, updated_at = ? WHERE id = ? AND synced_generation < ?",
		generation, micros(s.now()), personID, generation)
	return err
}

// PeopleCount returns how many people are known.
func (s *Store) PeopleCount(ctx context.Context) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT COUNT(*) FROM people").Scan(&n)
	return n, err
}
