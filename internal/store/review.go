package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file holds the review queue: items that need a person, opened by the sync and the sweep,
// closed by an operator or by a later sync; an open item's action key blocks that action.

// ReviewItem is something that needs a person.
type ReviewItem struct {
	ID          int64
	PersonID    int64
	Kind        string
	ActionKey   string
	Reason      string
	LastError   string
	Status      string
	Occurrences int
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ResolvedAt  time.Time
	ResolvedBy  string
	Resolution  string
}

// OpenReview opens a review item, or bumps the open one with the same person, kind and action
// (its occurrences and last error). It reports whether the item is new.
func (s *Store) OpenReview(ctx context.Context, it ReviewItem) (created bool, err error) {
	now := micros(s.now())
	n, err := s.exec(ctx, `UPDATE review_items SET occurrences = occurrences + 1, last_error = ?, reason = ?, updated_at = ?
		WHERE person_id = ? AND kind = ? AND action_key = ? AND status = 'open'`, it.LastError, it.Reason, now, it.PersonID, it.Kind, it.ActionKey)
	if err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	_, err = s.exec(ctx, `INSERT INTO review_items (person_id, kind, action_key, reason, last_error, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, it.PersonID, it.Kind, it.ActionKey, it.Reason, it.LastError, now, now)
	return err == nil, err
}

// ResolveReview closes an open item with who closed it and why.
func (s *Store) ResolveReview(ctx context.Context, id int64, by, resolution string) (ReviewItem, error) {
	n, err := s.exec(ctx, "UPDATE review_items SET status = 'resolved', resolved_at = ?, resolved_by = ?, resolution = ?, updated_at = ? WHERE id = ? AND status = 'open'",
		micros(s.now()), by, resolution, micros(s.now()), id)
	if err != nil {
		return ReviewItem{}, err
	}
	if n == 0 {
		return ReviewItem{}, ErrNotFound
	}
	return s.Review(ctx, id)
}

// ResolveReviews closes the open items of a person of one kind (all actions when actionKey is "*").
func (s *Store) ResolveReviews(ctx context.Context, personID int64, kind, actionKey, by, resolution string) (int64, error) {
	q := "UPDATE review_items SET status = 'resolved', resolved_at = ?, resolved_by = ?, resolution = ?, updated_at = ? WHERE person_id = ? AND kind = ? AND status = 'open'"
	args := []any{micros(s.now()), by, resolution, micros(s.now()), personID, kind}
	if actionKey != "*" {
		q += " AND action_key = ?"
		args = append(args, actionKey)
	}
	return s.exec(ctx, q, args...)
}

const reviewCols = "id, person_id, kind, action_key, reason, last_error, status, occurrences, created_at, updated_at, resolved_at, resolved_by, resolution"

func scanReview(r row) (ReviewItem, error) {
	var it ReviewItem
	var c, u, ra int64
	err := r.Scan(&it.ID, &it.PersonID, &it.Kind, &it.ActionKey, &it.Reason, &it.LastError, &it.Status, &it.Occurrences, &c, &u, &ra, &it.ResolvedBy, &it.Resolution)
	it.CreatedAt, it.UpdatedAt, it.ResolvedAt = fromMicros(c), fromMicros(u), fromMicros(ra)
	return it, err
}

// Review returns one item.
func (s *Store) Review(ctx context.Context, id int64) (ReviewItem, error) {
	it, err := scanReview(s.queryRow(ctx, "SELECT "+reviewCols+" FROM review_items WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return it, ErrNotFound
	}
	return it, err
}

// Reviews lists items by status (” for all) and person (0 for everyone), newest first.
func (s *Store) Reviews(ctx context.Context, status string, personID int64, limit int) ([]ReviewItem, error) {
	q := "SELECT " + reviewCols + " FROM review_items WHERE 1 = 1"
	var args []any
	if status != "" {
		q += " AND status = ?"
		args = append(args, status)
	}
	if personID != 0 {
		q += " AND person_id = ?"
		args = append(args, personID)
	}
	q += " ORDER BY updated_at DESC, id DESC"
	if limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", limit)
	}
	r, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []ReviewItem
	for r.Next() {
		it, err := scanReview(r)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, r.Err()
}

// OpenActionKeys returns the action keys of a person's open items: actions the sync must not retry.
func (s *Store) OpenActionKeys(ctx context.Context, personID int64) (map[string]bool, error) {
	r, err := s.query(ctx, "SELECT action_key FROM review_items WHERE person_id = ? AND status = 'open' AND action_key <> ''", personID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	out := map[string]bool{}
	for r.Next() {
		var k string
		if err := r.Scan(&k); err != nil {
			return nil, err
		}
		out[k] = true
	}
	return out, r.Err()
}
