package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file holds what the operator surface stores and reads: admin users, their server-side
// sessions and API tokens, the append-only audit log, sign-in throttling, and the queries behind the
// admin pages (people search, the event list, the overview figures).

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

// AuditEntry is one admin action in the append-only audit log.
type AuditEntry struct {
	ID       int64
	At       time.Time
	Actor    string // the operator's email, "… (token NAME)" for an API token, or "cli"
	Action   string // such as person.resync, review.resolve, event.replay, user.add
	Target   string // such as person:12, review:7, event:evt_…, user:ops@example.com
	PersonID int64  // the person the action is about, 0 when none
	Before   string // JSON of the state before, "" when none
	After    string // JSON of the state after, "" when none
	Note     string
}

// AppendAudit records an admin action; At defaults to the store's clock.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	err := s.queryRow(ctx, `INSERT INTO audit_log (at, actor, action, target, person_id, before_json, after_json, note)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, micros(e.At), e.Actor, e.Action, e.Target, e.PersonID, e.Before, e.After, e.Note).Scan(&e.ID)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("writing audit log: %w", err)
	}
	return e, nil
}

// AuditFilter narrows the audit log; zero fields match everything.
type AuditFilter struct {
	Actor    string // substring
	Action   string // exact
	Target   string // substring
	PersonID int64
	Since    time.Time // inclusive
	Until    time.Time // exclusive
	BeforeID int64     // paging: entries older than this id
	Limit    int       // default 100
}

// Audit returns audit entries matching f, newest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := "SELECT id, at, actor, action, target, person_id, before_json, after_json, note FROM audit_log WHERE 1 = 1"
	var args []any
	if f.Actor != "" {
		q += ` AND LOWER(actor) LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscape(strings.ToLower(f.Actor))+"%")
	}
	if f.Action != "" {
		q += " AND action = ?"
		args = append(args, f.Action)
	}
	if f.Target != "" {
		q += ` AND target LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscape(f.Target)+"%")
	}
	if f.PersonID != 0 {
		q += " AND person_id = ?"
		args = append(args, f.PersonID)
	}
	if !f.Since.IsZero() {
		q += " AND at >= ?"
		args = append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		q += " AND at < ?"
		args = append(args, micros(f.Until))
	}
	if f.BeforeID > 0 {
		q += " AND id < ?"
		args = append(args, f.BeforeID)
	}
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", limitOr(f.Limit, 100))
	r, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []AuditEntry
	for r.Next() {
		var e AuditEntry
		var at int64
		if err := r.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.PersonID, &e.Before, &e.After, &e.Note); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, r.Err()
}

// AuditActions returns the distinct actions in the audit log (for the filter).
func (s *Store) AuditActions(ctx context.Context) ([]string, error) {
	return s.textColumn(ctx, "SELECT DISTINCT action FROM audit_log ORDER BY action LIMIT 200")
}

// LoginCount is what the sign-in throttle knows of one key (an account, an address): how many
// attempts it has in the window and when the oldest and the latest of them were.
type LoginCount struct {
	Key    string
	N      int
	Oldest time.Time // zero when N is 0
	Latest time.Time // zero when N is 0
}

// ReserveLoginAttempt admits a sign-in attempt before its password is checked. In one transaction,
// serialized against every other reservation, it prunes attempts older than since, counts each
// key's attempts since that instant and asks admit; when admit says yes it records an attempt at at
// against every key and returns the ids of those rows (for ReleaseLoginAttempt), else nil. Because
// the count and the record are one step, concurrent attempts cannot all pass a limit that each
// alone would see as not yet reached.
func (s *Store) ReserveLoginAttempt(ctx context.Context, keys []string, since, at time.Time, admit func([]LoginCount) bool) ([]int64, error) {
	var ids []int64
	err := s.InTx(ctx, func(tx *Tx) error {
		ids = nil
		// SQLite transactions begin IMMEDIATE, which already serializes writers; PostgreSQL needs
		// a lock that conflicts with itself (and with the deletes of ClearLoginFailures).
		if s.dialect == Postgres {
			if _, err := tx.exec(ctx, "LOCK TABLE login_failures IN SHARE ROW EXCLUSIVE MODE"); err != nil {
				return fmt.Errorf("locking the sign-in throttle: %w", err)
			}
		}
		if _, err := tx.exec(ctx, "DELETE FROM login_failures WHERE at < ?", micros(since)); err != nil {
			return fmt.Errorf("pruning sign-in attempts: %w", err)
		}
		counts := make([]LoginCount, len(keys))
		for i, k := range keys {
			var first, last int64
			err := tx.queryRow(ctx, "SELECT COUNT(*), COALESCE(MIN(at), 0), COALESCE(MAX(at), 0) FROM login_failures WHERE key = ? AND at >= ?",
				k, micros(since)).Scan(&counts[i].N, &first, &last)
			if err != nil {
				return fmt.Errorf("counting sign-in attempts: %w", err)
			}
			counts[i].Key, counts[i].Oldest, counts[i].Latest = k, fromMicros(first), fromMicros(last)
		}
		if !admit(counts) {
			return nil
		}
		for _, k := range keys {
			var id int64
			if err := tx.queryRow(ctx, "INSERT INTO login_failures (key, at) VALUES (?, ?) RETURNING id", k, micros(at)).Scan(&id); err != nil {
				return fmt.Errorf("recording a sign-in attempt: %w", err)
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// ReleaseLoginAttempt forgets attempts recorded by ReserveLoginAttempt (one that succeeded, or one
// that was never checked).
func (s *Store) ReleaseLoginAttempt(ctx context.Context, ids []int64) error {
	for _, id := range ids {
		if _, err := s.exec(ctx, "DELETE FROM login_failures WHERE id = ?", id); err != nil {
			return fmt.Errorf("releasing a sign-in attempt: %w", err)
		}
	}
	return nil
}

// LoginFailures returns how many sign-in attempts (reserved and not released: failures and
// checks under way) key has since the instant, and the oldest of them.
func (s *Store) LoginFailures(ctx context.Context, key string, since time.Time) (n int, oldest time.Time, err error) {
	var first int64
	err = s.queryRow(ctx, "SELECT COUNT(*), COALESCE(MIN(at), 0) FROM login_failures WHERE key = ? AND at >= ?", key, micros(since)).Scan(&n, &first)
	return n, fromMicros(first), err
}

// ClearLoginFailures forgets the failures of a key (an account after a successful sign-in or a
// password reset).
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "DELETE FROM login_failures WHERE key = ?", key)
	return err
}

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

// EventFilter narrows the event list; zero fields match everything.
type EventFilter struct {
	Type   string
	State  string    // queued | unresolved | ignored | processed | …
	Since  time.Time // received at or after
	Until  time.Time // received before
	Cursor string    // from EventPage.Next: continue after that event
	Limit  int       // default 50
}

// EventPage is one page of events, newest first, without payloads.
type EventPage struct {
	Events []Event
	// Next is the cursor of the following (older) page, "" on the last page.
	Next string
}

// ErrBadCursor is a malformed paging cursor.
var ErrBadCursor = errors.New("bad cursor")

// EventsPage lists stored events matching f, newest first.
func (s *Store) EventsPage(ctx context.Context, f EventFilter) (EventPage, error) {
	q := "SELECT id, type, customer_id, person_id, created, livemode, api_version, received_at, source, state FROM stripe_events WHERE 1 = 1"
	var args []any
	if f.Type != "" {
		q += " AND type = ?"
		args = append(args, f.Type)
	}
	if f.State != "" {
		q += " AND state = ?"
		args = append(args, f.State)
	}
	if !f.Since.IsZero() {
		q += " AND received_at >= ?"
		args = append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		q += " AND received_at < ?"
		args = append(args, micros(f.Until))
	}
	if f.Cursor != "" {
		us, id, ok := strings.Cut(f.Cursor, ":")
		at, err := strconv.ParseInt(us, 10, 64)
		if !ok || err != nil || id == "" {
			return EventPage{}, ErrBadCursor
		}
		q += " AND (received_at < ? OR (received_at = ? AND id < ?))"
		args = append(args, at, at, id)
	}
	limit := limitOr(f.Limit, 50)
	q += fmt.Sprintf(" ORDER BY received_at DESC, id DESC LIMIT %d", limit+1)
	r, err := s.query(ctx, q, args...)
	if err != nil {
		return EventPage{}, fmt.Errorf("listing events: %w", err)
	}
	defer r.Close()
	var page EventPage
	for r.Next() {
		var ev Event
		var created, received int64
		if err := r.Scan(&ev.ID, &ev.Type, &ev.CustomerID, &ev.PersonID, &created, &ev.Livemode, &ev.APIVersion, &received, &ev.Source, &ev.State); err != nil {
			return EventPage{}, err
		}
		ev.Created, ev.ReceivedAt = time.Unix(created, 0).UTC(), fromMicros(received)
		page.Events = append(page.Events, ev)
	}
	if err := r.Err(); err != nil {
		return EventPage{}, err
	}
	if len(page.Events) > limit {
		page.Events = page.Events[:limit]
		last := page.Events[limit-1]
		page.Next = strconv.FormatInt(micros(last.ReceivedAt), 10) + ":" + last.ID
	}
	return page, nil
}

// EventTypes returns the distinct event types stored (for the filter).
func (s *Store) EventTypes(ctx context.Context) ([]string, error) {
	return s.textColumn(ctx, "SELECT DISTINCT type FROM stripe_events ORDER BY type LIMIT 200")
}

// Overview is the health of the instance at a glance.
type Overview struct {
	Now           time.Time
	LastWebhookAt time.Time // zero when none was ever received
	EventsHour    int
	EventsDay     int
	FailuresHour  int // syncs that failed or must retry
	FailuresDay   int
	SyncsDay      int // syncs that completed
	// Hours are the last 24 hours, oldest first; the last one is the current (partial) hour.
	Hours []HourStats
	// Jobs by River state: available (ready to run), running, retryable, scheduled.
	JobsAvailable int
	JobsRunning   int
	JobsRetryable int
	JobsScheduled int
	// OldestAvailable is when the oldest job ready to run became ready; zero when none waits.
	OldestAvailable time.Time
	OpenReviews     int
	People          int
	PeoplePending   int // people whose last sync does not cover their last trigger
}

// HourStats is one hour of the overview charts.
type HourStats struct {
	Start    time.Time
	Events   int
	Failures int
	Syncs    int
	AvgSync  time.Duration // mean duration of completed syncs
	MaxSync  time.Duration
	// Converged counts the events whose every action was confirmed in the hour; AvgConverge and
	// MaxConverge are their times from receipt to converged.
	Converged   int
	AvgConverge time.Duration
	MaxConverge time.Duration
}

// Sync journal results the overview counts (kind "sync", action "sync").
const (
	syncDone   = "('converged', 'blocked')"
	syncFailed = "('retry', 'failed')"
)

// Overview computes the overview figures as of now.
func (s *Store) Overview(ctx context.Context, now time.Time) (Overview, error) {
	o := Overview{Now: now}
	hourAgo, dayAgo := micros(now.Add(-time.Hour)), micros(now.Add(-24*time.Hour))
	var last int64
	if err := s.queryRow(ctx, "SELECT COALESCE(MAX(received_at), 0) FROM stripe_events WHERE source = 'webhook'").Scan(&last); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	o.LastWebhookAt = fromMicros(last)
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM stripe_events WHERE received_at >= ?", hourAgo).Scan(&o.EventsHour); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM stripe_events WHERE received_at >= ?", dayAgo).Scan(&o.EventsDay); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	failed := "SELECT COUNT(*) FROM journal WHERE kind = 'sync' AND action = 'sync' AND result IN " + syncFailed + " AND at >= ?"
	if err := s.queryRow(ctx, failed, hourAgo).Scan(&o.FailuresHour); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	if err := s.queryRow(ctx, failed, dayAgo).Scan(&o.FailuresDay); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM review_items WHERE status = 'open'").Scan(&o.OpenReviews); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	if err := s.queryRow(ctx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN synced_generation < generation THEN 1 ELSE 0 END), 0) FROM people").Scan(&o.People, &o.PeoplePending); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	if err := s.overviewHours(ctx, &o); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	for _, h := range o.Hours {
		o.SyncsDay += h.Syncs
	}
	if err := s.overviewJobs(ctx, &o); err != nil {
		return o, fmt.Errorf("overview: %w", err)
	}
	return o, nil
}

func (s *Store) overviewHours(ctx context.Context, o *Overview) error {
	start := o.Now.Truncate(time.Hour).Add(-23 * time.Hour)
	o.Hours = make([]HourStats, 24)
	for i := range o.Hours {
		o.Hours[i].Start = start.Add(time.Duration(i) * time.Hour)
	}
	from := micros(start)
	const hour = int64(time.Hour / time.Microsecond)
	bucket := func(b int64) *HourStats {
		if b < 0 || b >= 24 {
			return nil
		}
		return &o.Hours[b]
	}
	r, err := s.query(ctx, fmt.Sprintf("SELECT (received_at - ?) / %d AS b, COUNT(*) FROM stripe_events WHERE received_at >= ? GROUP BY b", hour), from, from)
	if err != nil {
		return err
	}
	for r.Next() {
		var b int64
		var n int
		if err := r.Scan(&b, &n); err != nil {
			r.Close()
			return err
		}
		if h := bucket(b); h != nil {
			h.Events = n
		}
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	r, err = s.query(ctx, fmt.Sprintf(`SELECT (converged_at - ?) / %d AS b, COUNT(*),
			CAST(COALESCE(SUM(converged_at - received_at), 0) AS BIGINT), COALESCE(MAX(converged_at - received_at), 0)
		FROM stripe_events WHERE converged_at >= ? GROUP BY b`, hour), from, from)
	if err != nil {
		return err
	}
	for r.Next() {
		var b, sum, mx int64
		var n int
		if err := r.Scan(&b, &n, &sum, &mx); err != nil {
			r.Close()
			return err
		}
		if h := bucket(b); h != nil && n > 0 {
			h.Converged, h.MaxConverge = n, time.Duration(mx)*time.Microsecond
			h.AvgConverge = time.Duration(sum/int64(n)) * time.Microsecond
		}
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	r, err = s.query(ctx, fmt.Sprintf(`SELECT (at - ?) / %d AS b,
			SUM(CASE WHEN result IN %s THEN 1 ELSE 0 END),
			SUM(CASE WHEN result IN %s THEN 1 ELSE 0 END),
			CAST(COALESCE(SUM(CASE WHEN result IN %s THEN duration_us ELSE 0 END), 0) AS BIGINT),
			COALESCE(MAX(CASE WHEN result IN %s THEN duration_us ELSE 0 END), 0)
		FROM journal WHERE kind = 'sync' AND action = 'sync' AND at >= ? GROUP BY b`, hour, syncFailed, syncDone, syncDone, syncDone), from, from)
	if err != nil {
		return err
	}
	defer r.Close()
	for r.Next() {
		var b, sum, mx int64
		var failures, syncs int
		if err := r.Scan(&b, &failures, &syncs, &sum, &mx); err != nil {
			return err
		}
		h := bucket(b)
		if h == nil {
			continue
		}
		h.Failures, h.Syncs, h.MaxSync = failures, syncs, time.Duration(mx)*time.Microsecond
		if syncs > 0 {
			h.AvgSync = time.Duration(sum/int64(syncs)) * time.Microsecond
		}
	}
	return r.Err()
}

func (s *Store) overviewJobs(ctx context.Context, o *Overview) error {
	r, err := s.query(ctx, "SELECT state, COUNT(*) FROM river_job WHERE state IN ('available', 'running', 'retryable', 'scheduled') GROUP BY state")
	if err != nil {
		return err
	}
	for r.Next() {
		var st string
		var n int
		if err := r.Scan(&st, &n); err != nil {
			r.Close()
			return err
		}
		switch st {
		case "available":
			o.JobsAvailable = n
		case "running":
			o.JobsRunning = n
		case "retryable":
			o.JobsRetryable = n
		case "scheduled":
			o.JobsScheduled = n
		}
	}
	r.Close()
	if err := r.Err(); err != nil || o.JobsAvailable == 0 {
		return err
	}
	// River keeps timestamps as timestamptz on PostgreSQL and as UTC text on SQLite.
	q := "SELECT CAST(strftime('%s', MIN(scheduled_at)) AS INTEGER) FROM river_job WHERE state = 'available'"
	if s.dialect == Postgres {
		q = "SELECT CAST(EXTRACT(EPOCH FROM MIN(scheduled_at)) AS BIGINT) FROM river_job WHERE state = 'available'"
	}
	var sec sql.NullInt64
	if err := s.queryRow(ctx, q).Scan(&sec); err != nil {
		return err
	}
	if sec.Valid {
		o.OldestAvailable = time.Unix(sec.Int64, 0).UTC()
	}
	return nil
}

// textColumn runs a query returning one text column.
func (s *Store) textColumn(ctx context.Context, query string, args ...any) ([]string, error) {
	r, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var v string
		if err := r.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, r.Err()
}

// likeEscape escapes LIKE's wildcards with a backslash (the queries say ESCAPE '\').
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

func limitOr(limit, def int) int {
	if limit <= 0 {
		return def
	}
	return min(limit, 1000)
}
