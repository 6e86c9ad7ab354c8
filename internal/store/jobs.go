package store

import "context"

// JobCount returns how many River jobs of a kind exist in the given states (all states when none).
func (s *Store) JobCount(ctx context.Context, kind string, states ...string) (int, error) {
	query := "SELECT COUNT(*) FROM river_job WHERE kind = ?"
	args := []any{kind}
	if len(states) > 0 {
		query += " AND state IN (?" + repeat(",?", len(states)-1) + ")"
		for _, st := range states {
			args = append(args, st)
		}
	}
	var n int
	err := s.queryRow(ctx, query, args...).Scan(&n)
	return n, err
}

func repeat(s string, n int) string {
	out := ""
	for range n {
		out += s
	}
	return out
}
