package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file holds the admin UI's server-side sessions.

// AdminSession is a signed-in browser. Only the SHA-256 of the cookie's id is stored.
type AdminSession struct {
	IDHash     string
	UserID     int64
	CSRFToken  string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time // absolute expiry
	UserAgent  string
}

// CreateAdminSession stores a new session.
func (s *Store) CreateAdminSession(ctx context.Context, ss AdminSession) error {
	_, err := s.exec(ctx, `INSERT INTO admin_sessions (id_hash, user_id, csrf_token, created_at, last_seen_at, expires_at, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, ss.IDHash, ss.UserID, ss.CSRFToken, micros(ss.CreatedAt), micros(ss.LastSeenAt), micros(ss.ExpiresAt), ss.UserAgent)
	if err != nil {
		return fmt.Errorf("creating session: %w", err)
	}
	return nil
}

// AdminSession returns a session and its user, unless the user is disabled (ErrNotFound). Expiry is
// the caller's to check: it owns the clock and the timeouts.
func (s *Store) AdminSession(ctx context.Context, idHash string) (AdminSession, AdminUser, error) {
	var ss AdminSession
	var c, ls, ex int64
	var u AdminUser
	var uc, uu, ul int64
	err := s.queryRow(ctx, `SELECT s.id_hash, s.user_id, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, s.user_agent,
			u.id, u.email, u.role, u.password_hash, u.disabled, u.created_at, u.updated_at, u.last_login_at
		FROM admin_sessions s JOIN admin_users u ON u.id = s.user_id
		WHERE s.id_hash = ? AND u.disabled = FALSE`, idHash).Scan(&ss.IDHash, &ss.UserID, &ss.CSRFToken, &c, &ls, &ex, &ss.UserAgent,
		&u.ID, &u.Email, &u.Role, &u.PasswordHash, &u.Disabled, &uc, &uu, &ul)
	if errors.Is(err, sql.ErrNoRows) {
		return AdminSession{}, AdminUser{}, ErrNotFound
	}
	if err != nil {
		return AdminSession{}, AdminUser{}, fmt.Errorf("reading session: %w", err)
	}
	ss.CreatedAt, ss.LastSeenAt, ss.ExpiresAt = fromMicros(c), fromMicros(ls), fromMicros(ex)
	u.CreatedAt, u.UpdatedAt, u.LastLoginAt = fromMicros(uc), fromMicros(uu), fromMicros(ul)
	return ss, u, nil
}

// TouchAdminSession records activity on a session (idle expiry counts from the last touch).
func (s *Store) TouchAdminSession(ctx context.Context, idHash string, at time.Time) error {
	_, err := s.exec(ctx, "UPDATE admin_sessions SET last_seen_at = ? WHERE id_hash = ?", micros(at), idHash)
	return err
}

// DeleteAdminSession ends a session.
func (s *Store) DeleteAdminSession(ctx context.Context, idHash string) error {
	_, err := s.exec(ctx, "DELETE FROM admin_sessions WHERE id_hash = ?", idHash)
	return err
}

// PruneAdminSessions deletes sessions past their absolute expiry at now or idle since idleBefore.
func (s *Store) PruneAdminSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	return s.exec(ctx, "DELETE FROM admin_sessions WHERE expires_at <= ? OR last_seen_at <= ?", micros(now), micros(idleBefore))
}

// AdminSessionCount returns how many sessions a user holds (tests and the users page).
func (s *Store) AdminSessionCount(ctx context.Context, userID int64) (int, error) {
	var n int
	err := s.queryRow(ctx, "SELECT COUNT(*) FROM admin_sessions WHERE user_id = ?", userID).Scan(&n)
	return n, err
}
