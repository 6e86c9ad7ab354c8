package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// CatalogName is the name of one provider object (a Circle access group, a Kit tag or sequence, a
// Stripe price or product) as membersync last listed it.
type CatalogName struct {
	Provider string // circle, kit, stripe
	Kind     string // access_group, tag, sequence, price, product
	ID       string // the provider's id as text: "11", "price_…"
	Name     string
	// Detail qualifies the name: a price's amount ("€29/month"), an archived group's status.
	Detail    string
	FetchedAt time.Time
}

// catalogChunk is how many rows one INSERT of ReplaceCatalogNames writes.
const catalogChunk = 100

// ReplaceCatalogNames makes names, stamped at, the cached names of provider's kind, in one
// transaction: every other row of that provider and kind goes (the provider no longer lists it),
// and the rows of other kinds stay as they are. An id listed twice keeps its last name. at becomes
// the kind's refresh time (CatalogRefreshes), also for an empty list. A failure to begin or commit
// wraps ErrUnavailable.
func (s *Store) ReplaceCatalogNames(ctx context.Context, provider, kind string, names []CatalogName, at time.Time) error {
	if provider == "" || kind == "" {
		return errors.New("replacing catalog names: provider and kind are required")
	}
	// One row per id, the last one listed (PostgreSQL refuses to update a row twice in one INSERT).
	last := make(map[string]int, len(names))
	for i, n := range names {
		if n.ID == "" {
			return fmt.Errorf("replacing catalog names of %s %s: a name without an id (%q)", provider, kind, n.Name)
		}
		last[n.ID] = i
	}
	unique := make([]CatalogName, 0, len(last))
	for i, n := range names {
		if last[n.ID] == i {
			unique = append(unique, n)
		}
	}
	names = unique
	err := s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, "DELETE FROM catalog_names WHERE provider = ? AND kind = ?", provider, kind); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `INSERT INTO catalog_refreshes (provider, kind, refreshed_at) VALUES (?, ?, ?)
ON CONFLICT (provider, kind) DO UPDATE SET refreshed_at = excluded.refreshed_at`, provider, kind, micros(at)); err != nil {
			return err
		}
		for start := 0; start < len(names); start += catalogChunk {
			chunk := names[start:min(start+catalogChunk, len(names))]
			rows := make([]string, len(chunk))
			args := make([]any, 0, 6*len(chunk))
			for i, n := range chunk {
				rows[i] = "(?, ?, ?, ?, ?, ?)"
				args = append(args, provider, kind, n.ID, n.Name, n.Detail, micros(at))
			}
			if _, err := tx.exec(ctx, "INSERT INTO catalog_names (provider, kind, id, name, detail, fetched_at) VALUES "+
				strings.Join(rows, ", "), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("replacing catalog names of %s %s: %w", provider, kind, err)
	}
	return nil
}

// CatalogNames returns every cached name, ordered by provider, kind and id.
func (s *Store) CatalogNames(ctx context.Context) ([]CatalogName, error) {
	r, err := s.query(ctx, "SELECT provider, kind, id, name, detail, fetched_at FROM catalog_names ORDER BY provider, kind, id")
	if err != nil {
		return nil, fmt.Errorf("reading catalog names: %w", err)
	}
	defer r.Close()
	var out []CatalogName
	for r.Next() {
		var n CatalogName
		var at int64
		if err := r.Scan(&n.Provider, &n.Kind, &n.ID, &n.Name, &n.Detail, &at); err != nil {
			return nil, fmt.Errorf("reading catalog names: %w", err)
		}
		n.FetchedAt = fromMicros(at)
		out = append(out, n)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("reading catalog names: %w", err)
	}
	return out, nil
}

// CatalogRefreshes returns when each kind was last replaced, keyed "provider:kind".
func (s *Store) CatalogRefreshes(ctx context.Context) (map[string]time.Time, error) {
	r, err := s.query(ctx, "SELECT provider, kind, refreshed_at FROM catalog_refreshes")
	if err != nil {
		return nil, fmt.Errorf("reading catalog refresh times: %w", err)
	}
	defer r.Close()
	out := map[string]time.Time{}
	for r.Next() {
		var provider, kind string
		var at int64
		if err := r.Scan(&provider, &kind, &at); err != nil {
			return nil, fmt.Errorf("reading catalog refresh times: %w", err)
		}
		out[provider+":"+kind] = fromMicros(at)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("reading catalog refresh times: %w", err)
	}
	return out, nil
}
