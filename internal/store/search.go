package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file holds the admin people search.

// PersonSummary is one row of the people search.
type PersonSummary struct {
	ID               int64
	Email            string
	Name             string
	CustomerIDs      []string
	Generation       int64
	SyncedGeneration int64
	SyncError        string
	SyncedAt         time.Time
	UpdatedAt        time.Time
	OpenReviews      int
}

// SearchPeople finds people by email or name (substring, case-insensitive), by Stripe customer id
// (prefix) or by person id; an empty query lists the most recently changed people.
func (s *Store) SearchPeople(ctx context.Context, query string, limit int) ([]PersonSummary, error) {
	query = strings.TrimSpace(query)
	q := `SELECT p.id, p.email, p.name, p.generation, p.synced_generation, p.sync_error, p.synced_at, p.updated_at,
		(SELECT COUNT(*) FROM review_items r WHERE r.person_id = p.id AND r.status = 'open')
		FROM people p`
	var args []any
	if query != "" {
		low := "%" + likeEscape(strings.ToLower(query)) + "%"
		q += ` WHERE p.email LIKE ? ESCAPE '\' OR LOWER(p.name) LIKE ? ESCAPE '\'
			OR p.id IN (SELECT c.person_id FROM customers c WHERE c.id LIKE ? ESCAPE '\')`
		args = append(args, low, low, likeEscape(query)+"%")
		if id, err := strconv.ParseInt(query, 10, 64); err == nil {
			q += " OR p.id = ?"
			args = append(args, id)
		}
	}
	q += fmt.Sprintf(" ORDER BY p.updated_at DESC, p.id DESC LIMIT %d", limitOr(limit, 50))
	r, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("searching people: %w", err)
	}
	var out []PersonSummary
	byID := map[int64]int{}
	for r.Next() {
		var p PersonSummary
		var sa, ua int64
		if err := r.Scan(&p.ID, &p.Email, &p.Name, &p.Generation, &p.SyncedGeneration, &p.SyncError, &sa, &ua, &p.OpenReviews); err != nil {
			r.Close()
			return nil, err
		}
		p.SyncedAt, p.UpdatedAt = fromMicros(sa), fromMicros(ua)
		byID[p.ID] = len(out)
		out = append(out, p)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	ids := make([]any, 0, len(out))
	for _, p := range out {
		ids = append(ids, p.ID)
	}
	cr, err := s.query(ctx, "SELECT person_id, id FROM customers WHERE person_id IN (?"+strings.Repeat(",?", len(ids)-1)+") ORDER BY id", ids...)
	if err != nil {
		return nil, fmt.Errorf("reading customers: %w", err)
	}
	defer cr.Close()
	for cr.Next() {
		var pid int64
		var cid string
		if err := cr.Scan(&pid, &cid); err != nil {
			return nil, err
		}
		i := byID[pid]
		out[i].CustomerIDs = append(out[i].CustomerIDs, cid)
	}
	return out, cr.Err()
}
