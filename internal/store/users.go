package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file holds the admin users (the operators of the admin UI and JSON API): their roles,
// passwords and sign-ins.

// AdminUser is an operator of the admin UI and JSON API.
type AdminUser struct {
	ID           int64
	Email        string // normalized
	Role         string // admin | support | viewer
	PasswordHash string // argon2id, PHC string format
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastLoginAt  time.Time
}

const adminUserCols = "id, email, role, password_hash, disabled, created_at, updated_at, last_login_at"

func scanAdminUser(r row) (AdminUser, error) {
	var u AdminUser
	var c, up, ll int64
	err := r.Scan(&u.ID, &u.Email, &u.Role, &u.PasswordHash, &u.Disabled, &c, &up, &ll)
	u.CreatedAt, u.UpdatedAt, u.LastLoginAt = fromMicros(c), fromMicros(up), fromMicros(ll)
	return u, err
}

// CreateAdminUser adds an operator. It fails with ErrConflict when the email is taken.
func (s *Store) CreateAdminUser(ctx context.Context, email, role, passwordHash string) (AdminUser, error) {
	now := micros(s.now())
	var id int64
	err := s.queryRow(ctx, `INSERT INTO admin_users (email, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id`,
		email, role, passwordHash, now, now).Scan(&id)
	if err != nil {
		if isUniqueViolation(err) {
			return AdminUser{}, ErrConflict
		}
		return AdminUser{}, fmt.Errorf("creating admin user: %w", err)
	}
	return s.AdminUser(ctx, id)
}

// AdminUser returns one operator by id.
func (s *Store) AdminUser(ctx context.Context, id int64) (AdminUser, error) {
	u, err := scanAdminUser(s.queryRow(ctx, "SELECT "+adminUserCols+" FROM admin_users WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return AdminUser{}, ErrNotFound
	}
	return u, err
}

// AdminUserByEmail returns one operator by normalized email.
func (s *Store) AdminUserByEmail(ctx context.Context, email string) (AdminUser, error) {
	u, err := scanAdminUser(s.queryRow(ctx, "SELECT "+adminUserCols+" FROM admin_users WHERE email = ?", email))
	if errors.Is(err, sql.ErrNoRows) {
		return AdminUser{}, ErrNotFound
	}
	return u, err
}

// AdminUsers returns every operator, by email.
func (s *Store) AdminUsers(ctx context.Context) ([]AdminUser, error) {
	r, err := s.query(ctx, "SELECT "+adminUserCols+" FROM admin_users ORDER BY email")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []AdminUser
	for r.Next() {
		u, err := scanAdminUser(r)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, r.Err()
}

// SetAdminUserDisabled disables or enables an operator. Disabling ends their sessions; their API
// tokens stop working while they are disabled.
func (s *Store) SetAdminUserDisabled(ctx context.Context, id int64, disabled bool) error {
	return s.InTx(ctx, func(tx *Tx) error {
		n, err := tx.exec(ctx, "UPDATE admin_users SET disabled = ?, updated_at = ? WHERE id = ?", disabled, micros(s.now()), id)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		if disabled {
			_, err = tx.exec(ctx, "DELETE FROM admin_sessions WHERE user_id = ?", id)
		}
		return err
	})
}

// SetAdminUserRole changes an operator's role. Their tokens keep their own role but never act above
// the user's.
func (s *Store) SetAdminUserRole(ctx context.Context, id int64, role string) error {
	n, err := s.exec(ctx, "UPDATE admin_users SET role = ?, updated_at = ? WHERE id = ?", role, micros(s.now()), id)
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}

// SetAdminPassword replaces an operator's password hash and ends their sessions.
func (s *Store) SetAdminPassword(ctx context.Context, id int64, passwordHash string) error {
	return s.InTx(ctx, func(tx *Tx) error {
		n, err := tx.exec(ctx, "UPDATE admin_users SET password_hash = ?, updated_at = ? WHERE id = ?", passwordHash, micros(s.now()), id)
		if err != nil {
			return err
		}
		if n == 0 {
			return ErrNotFound
		}
		_, err = tx.exec(ctx, "DELETE FROM admin_sessions WHERE user_id = ?", id)
		return err
	})
}

// RecordAdminLogin notes a successful sign-in.
func (s *Store) RecordAdminLogin(ctx context.Context, id int64, at time.Time) error {
	_, err := s.exec(ctx, "UPDATE admin_users SET last_login_at = ? WHERE id = ?", micros(at), id)
	return err
}
