package store

import (
	"context"
	"fmt"
)

// WriteProbe commits a write of one row (health_probe, id 1) and returns nil once it is committed,
// or an error wrapping ErrUnavailable: the readiness check's proof that the database still accepts
// writes (a full disk, a read-only file, a read-only replica or session fail it; a ping does not).
func (s *Store) WriteProbe(ctx context.Context) error {
	_, err := s.exec(ctx, `INSERT INTO health_probe (id, at) VALUES (1, ?)
ON CONFLICT (id) DO UPDATE SET at = excluded.at`, micros(s.now()))
	if err != nil {
		return fmt.Errorf("%w: write probe: %w", ErrUnavailable, err)
	}
	return nil
}
