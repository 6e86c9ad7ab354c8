package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file holds the JSON API's tokens.

// APIToken is a credential for the JSON API. Only its SHA-256 is stored.
type APIToken struct {
	ID         int64
	UserID     int64
	Name       string
	Role       string // the token's scope; it never acts above its user's role
	Prefix     string // the token's first characters, to recognise it in lists
	CreatedAt  time.Time
	LastUsedAt time.Time
	RevokedAt  time.Time
}

const apiTokenCols = "id, user_id, name, role, prefix, created_at, last_used_at, revoked_at"

func scanAPIToken(r row) (APIToken, error) {
	var t APIToken
	var c, lu, rv int64
	err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.Role, &t.Prefix, &c, &lu, &rv)
	t.CreatedAt, t.LastUsedAt, t.RevokedAt = fromMicros(c), fromMicros(lu), fromMicros(rv)
	return t, err
}

// CreateAPIToken stores a token by its hash and returns it with its id.
func (s *Store) CreateAPIToken(ctx context.Context, t APIToken, tokenHash string) (APIToken, error) {
	var id int64
	err := s.queryRow(ctx, `INSERT INTO api_tokens (user_id, name, role, token_hash, prefix, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		t.UserID, t.Name, t.Role, tokenHash, t.Prefix, micros(s.now())).Scan(&id)
	if err != nil {
		return APIToken{}, fmt.Errorf("creating API token: %w", err)
	}
	return s.APIToken(ctx, id)
}

// APIToken returns one token by id.
func (s *Store) APIToken(ctx context.Context, id int64) (APIToken, error) {
	t, err := scanAPIToken(s.queryRow(ctx, "SELECT "+apiTokenCols+" FROM api_tokens WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, ErrNotFound
	}
	return t, err
}

// APITokenByHash returns an unrevoked token of an enabled user, with the user.
func (s *Store) APITokenByHash(ctx context.Context, tokenHash string) (APIToken, AdminUser, error) {
	var tok APIToken
	var u AdminUser
	var tc, tl, tr, uc, uu, ul int64
	err := s.queryRow(ctx, `SELECT t.id, t.user_id, t.name, t.role, t.prefix, t.created_at, t.last_used_at, t.revoked_at,
			u.id, u.email, u.role, u.password_hash, u.disabled, u.created_at, u.updated_at, u.last_login_at
		FROM api_tokens t JOIN admin_users u ON u.id = t.user_id
		WHERE t.token_hash = ? AND t.revoked_at = 0 AND u.disabled = FALSE`, tokenHash).Scan(
		&tok.ID, &tok.UserID, &tok.Name, &tok.Role, &tok.Prefix, &tc, &tl, &tr,
		&u.ID, &u.Email, &u.Role, &u.PasswordHash, &u.Disabled, &uc, &uu, &ul)
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, AdminUser{}, ErrNotFound
	}
	if err != nil {
		return APIToken{}, AdminUser{}, fmt.Errorf("reading API token: %w", err)
	}
	tok.CreatedAt, tok.LastUsedAt, tok.RevokedAt = fromMicros(tc), fromMicros(tl), fromMicros(tr)
	u.CreatedAt, u.UpdatedAt, u.LastLoginAt = fromMicros(uc), fromMicros(uu), fromMicros(ul)
	return tok, u, nil
}

// TouchAPIToken records a use of a token.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	_, err := s.exec(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", micros(at), id)
	return err
}

// RevokeAPIToken revokes a token; revoking a revoked token is ErrNotFound.
func (s *Store) RevokeAPIToken(ctx context.Context, id int64, at time.Time) (APIToken, error) {
	n, err := s.exec(ctx, "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0", micros(at), id)
	if err != nil {
		return APIToken{}, err
	}
	if n == 0 {
		return APIToken{}, ErrNotFound
	}
	return s.APIToken(ctx, id)
}

// APITokens returns a user's tokens (every user's when userID is 0), newest first.
func (s *Store) APITokens(ctx context.Context, userID int64) ([]APIToken, error) {
	q := "SELECT " + apiTokenCols + " FROM api_tokens"
	var args []any
	if userID != 0 {
		q += " WHERE user_id = ?"
		args = append(args, userID)
	}
	r, err := s.query(ctx, q+" ORDER BY id DESC", args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []APIToken
	for r.Next() {
		t, err := scanAPIToken(r)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, r.Err()
}
