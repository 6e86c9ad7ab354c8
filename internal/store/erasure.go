package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/identity"
)

// This file holds the erasure of a person (GDPR Art. 17, "membersync forget"): BeginErasure marks
// the person erasing and writes the tombstone; the person's next sync converges them to no access;
// FinishErasure then removes every copy of their email and name in one transaction. The state
// column (people.erasure: '' → erasing → erased) makes the steps resumable: nothing is lost if the
// process stops between them, and running them again finishes the work.

// Erasure states of a person (people.erasure) and of a tombstone (erasures.state).
const (
	Erasing = "erasing" // marked: the sync converges them to no access, then the scrub runs
	Erased  = "erased"  // scrubbed: only the tombstone, the dedup ids and scrubbed rows remain
)

// Redacted replaces an erased email wherever free text held it.
const Redacted = "[erased]"

// ErrErased is returned when the person asked for is already erased.
var ErrErased = errors.New("already erased")

// Erasure is the tombstone of an erased (or erasing) person: never the email, only its keyed hash,
// the person's Stripe customer ids (kept so that dedup and "this customer was erased" work), who
// asked and why.
type Erasure struct {
	ID          int64
	PersonID    int64
	EmailHash   string // hex HMAC-SHA256 of the normalized email (EmailHash); '' when none was known
	CustomerIDs []string
	Reason      string // the email cut out
	By          string
	LocalOnly   bool // Circle and Kit were left as they are
	State       string
	RequestedAt time.Time
	ErasedAt    time.Time
}

// EraseRequest asks for a person's erasure.
type EraseRequest struct {
	PersonID  int64
	Reason    string // required
	By        string // the operator, "cli (NAME)" or "stripe"
	LocalOnly bool
	// Key keys the email's hash in the tombstone (config.Secrets.ErasureKey).
	Key []byte
}

// EmailHash is the keyed hash a tombstone keeps of an email: HMAC-SHA256 of the normalized
// address, hex. Without the key nobody can test guesses against it; with it, the operator can
// answer "was this address erased?" (ErasuresByEmail).
func EmailHash(key []byte, email string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(identity.NormalizeEmail(email)))
	return hex.EncodeToString(m.Sum(nil))
}

// RedactEmail replaces every case-insensitive occurrence of email in s with Redacted.
func RedactEmail(s, email string) string {
	if email == "" || s == "" {
		return s
	}
	return regexp.MustCompile(`(?i)`+regexp.QuoteMeta(email)).ReplaceAllLiteralString(s, Redacted)
}

// ErasureState returns the person's erasure state: "", Erasing or Erased.
func (s *Store) ErasureState(ctx context.Context, personID int64) (string, error) {
	var st string
	err := s.queryRow(ctx, "SELECT erasure FROM people WHERE id = ?", personID).Scan(&st)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return st, err
}

// BeginErasure marks the person erasing and writes the tombstone and the audit entry "erased by …
// because …" (without the email), in tx. It is idempotent: a person already erasing returns their
// open tombstone; an erased one ErrErased. The caller triggers the sync in the same tx (unless the
// erasure is local only, when it calls FinishErasure after the commit).
func (tx *Tx) BeginErasure(ctx context.Context, r EraseRequest) (Erasure, error) {
	var email, state string
	err := tx.queryRow(ctx, "SELECT email, erasure FROM people WHERE id = ?", r.PersonID).Scan(&email, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return Erasure{}, ErrNotFound
	}
	if err != nil {
		return Erasure{}, fmt.Errorf("reading person %d: %w", r.PersonID, err)
	}
	switch state {
	case Erased:
		e, err := tx.latestErasure(ctx, r.PersonID)
		if err != nil {
			return Erasure{}, err
		}
		return e, ErrErased
	case Erasing:
		return tx.latestErasure(ctx, r.PersonID)
	}
	customers, err := tx.customersOf(ctx, r.PersonID)
	if err != nil {
		return Erasure{}, err
	}
	e := Erasure{PersonID: r.PersonID, CustomerIDs: customers, Reason: RedactEmail(strings.TrimSpace(r.Reason), email),
		By: r.By, LocalOnly: r.LocalOnly, State: Erasing, RequestedAt: tx.s.now()}
	if email != "" {
		e.EmailHash = EmailHash(r.Key, email)
	}
	if err := tx.queryRow(ctx, `INSERT INTO erasures (person_id, email_hash, customer_ids, reason, requested_by, local_only, state, requested_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, e.PersonID, e.EmailHash, strings.Join(customers, ","), e.Reason, e.By, e.LocalOnly,
		Erasing, micros(e.RequestedAt)).Scan(&e.ID); err != nil {
		return Erasure{}, fmt.Errorf("writing the tombstone: %w", err)
	}
	if _, err := tx.exec(ctx, "UPDATE people SET erasure = ?, updated_at = ? WHERE id = ?", Erasing, micros(e.RequestedAt), r.PersonID); err != nil {
		return Erasure{}, fmt.Errorf("marking person %d erasing: %w", r.PersonID, err)
	}
	mode := "Circle and Kit access removed first"
	if r.LocalOnly {
		mode = "local only: Circle and Kit left as they are"
	}
	after := fmt.Sprintf(`{"erasure":%d,"customers":%q,"local_only":%t}`, e.ID, strings.Join(customers, ","), r.LocalOnly)
	if _, err := tx.exec(ctx, `INSERT INTO audit_log (at, actor, action, target, person_id, before_json, after_json, note)
		VALUES (?, ?, ?, ?, ?, '', ?, ?)`, micros(e.RequestedAt), e.By, "person.forget", fmt.Sprintf("person:%d", r.PersonID), r.PersonID,
		after, fmt.Sprintf("erased by %s because %s (%s)", e.By, e.Reason, mode)); err != nil {
		return Erasure{}, fmt.Errorf("writing audit log: %w", err)
	}
	return e, nil
}

func (tx *Tx) customersOf(ctx context.Context, personID int64) ([]string, error) {
	r, err := tx.query(ctx, "SELECT id FROM customers WHERE person_id = ? ORDER BY id", personID)
	if err != nil {
		return nil, fmt.Errorf("reading customers of person %d: %w", personID, err)
	}
	defer r.Close()
	var out []string
	for r.Next() {
		var id string
		if err := r.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, r.Err()
}

const erasureCols = "id, person_id, email_hash, customer_ids, reason, requested_by, local_only, state, requested_at, erased_at"

func scanErasure(r interface{ Scan(...any) error }) (Erasure, error) {
	var e Erasure
	var customers string
	var req, done int64
	if err := r.Scan(&e.ID, &e.PersonID, &e.EmailHash, &customers, &e.Reason, &e.By, &e.LocalOnly, &e.State, &req, &done); err != nil {
		return Erasure{}, err
	}
	if customers != "" {
		e.CustomerIDs = strings.Split(customers, ",")
	}
	e.RequestedAt, e.ErasedAt = fromMicros(req), fromMicros(done)
	return e, nil
}

func (tx *Tx) latestErasure(ctx context.Context, personID int64) (Erasure, error) {
	e, err := scanErasure(tx.queryRow(ctx, "SELECT "+erasureCols+" FROM erasures WHERE person_id = ? ORDER BY id DESC LIMIT 1", personID))
	if errors.Is(err, sql.ErrNoRows) {
		return Erasure{}, ErrNotFound
	}
	return e, err
}

// LatestErasure returns the person's most recent tombstone, or ErrNotFound.
func (s *Store) LatestErasure(ctx context.Context, personID int64) (Erasure, error) {
	e, err := scanErasure(s.queryRow(ctx, "SELECT "+erasureCols+" FROM erasures WHERE person_id = ? ORDER BY id DESC LIMIT 1", personID))
	if errors.Is(err, sql.ErrNoRows) {
		return Erasure{}, ErrNotFound
	}
	return e, err
}

// ErasuresByEmail returns the tombstones of an email (by its keyed hash), newest first: how an
// operator answers "did you erase me?" without keeping the address.
func (s *Store) ErasuresByEmail(ctx context.Context, key []byte, email string) ([]Erasure, error) {
	r, err := s.query(ctx, "SELECT "+erasureCols+" FROM erasures WHERE email_hash = ? ORDER BY id DESC", EmailHash(key, email))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []Erasure
	for r.Next() {
		e, err := scanErasure(r)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, r.Err()
}

// FinishErasure scrubs an erasing person in one transaction and marks them (and their tombstone)
// erased. It removes their email and name, the payloads of their events (the event rows and ids
// stay: they are the dedup key), their journal's targets and details, billing snapshot, desired
// state, applied grants, comps, plan index, status checkouts' emails and support messages; then it cuts the email
// out of every other text column of every table (review items, other comps' reasons, alert and
// drift reports, job errors, …) and out of the audit log's free text through audit_redactions.
// Operators' own accounts (admin_users, sessions, tokens, login failures) are not touched.
//
// On SQLite the scrub runs with secure_delete on, so that the bytes of deleted and rewritten cells are
// zeroed, and the write-ahead log is then checkpointed and truncated (best effort: another process
// reading an old snapshot keeps it until the next checkpoint), so that the email is gone from the
// files too. PostgreSQL keeps old row versions until (auto)vacuum reclaims them.
func (s *Store) FinishErasure(ctx context.Context, personID int64) (Erasure, error) {
	if s.sqlDB == nil {
		return s.finishErasure(ctx, personID)
	}
	var prev int
	if err := s.sqlDB.QueryRowContext(ctx, "PRAGMA secure_delete").Scan(&prev); err != nil {
		return Erasure{}, fmt.Errorf("reading secure_delete: %w", err)
	}
	// One connection (Open): the pragma holds for the scrub's transaction.
	if _, err := s.sqlDB.ExecContext(ctx, "PRAGMA secure_delete = 1"); err != nil {
		return Erasure{}, fmt.Errorf("setting secure_delete: %w", err)
	}
	out, err := s.finishErasure(ctx, personID)
	_, _ = s.sqlDB.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf("PRAGMA secure_delete = %d", prev))
	if err == nil {
		var busy, frames, done int
		_ = s.sqlDB.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &frames, &done)
	}
	return out, err
}

func (s *Store) finishErasure(ctx context.Context, personID int64) (Erasure, error) {
	var out Erasure
	err := s.InTx(ctx, func(tx *Tx) error {
		var email, state string
		err := tx.queryRow(ctx, "SELECT email, erasure FROM people WHERE id = ?", personID).Scan(&email, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("reading person %d: %w", personID, err)
		}
		e, err := tx.latestErasure(ctx, personID)
		if err != nil {
			return fmt.Errorf("the tombstone of person %d: %w", personID, err)
		}
		out = e
		switch state {
		case Erased:
			return ErrErased
		case Erasing:
		default:
			return fmt.Errorf("person %d is not being erased (begin the erasure first)", personID)
		}
		customers, err := tx.customersOf(ctx, personID)
		if err != nil {
			return err
		}
		now := micros(s.now())
		cols, err := tx.textColumns(ctx)
		if err != nil {
			return fmt.Errorf("listing text columns: %w", err)
		}
		if err := tx.scrubPerson(ctx, personID, customers, cols, now); err != nil {
			return err
		}
		if email != "" {
			if err := tx.sweepEmail(ctx, cols, identity.NormalizeEmail(email), e.ID, now); err != nil {
				return err
			}
		}
		if _, err := tx.exec(ctx, "UPDATE erasures SET state = ?, erased_at = ? WHERE id = ?", Erased, now, e.ID); err != nil {
			return err
		}
		out.State, out.ErasedAt = Erased, fromMicros(now)
		return nil
	})
	return out, err
}

// scrubStmt is one statement of scrubPerson, named for its error.
type scrubStmt struct {
	what, query string
	args        []any
}

// scrubPerson clears the rows that belong to the person. The lease is left alone: the sync that
// runs the scrub holds it and releases it after.
func (tx *Tx) scrubPerson(ctx context.Context, personID int64, customers []string, cols []sweepColumn, now int64) error {
	stmts := []scrubStmt{
		{"the person", `UPDATE people SET email = '', name = '', desired = '', billing = '', sync_error = '',
			circle_member_id = 0, kit_subscriber_id = 0, next_change = 0, erasure = ?, updated_at = ? WHERE id = ?`, []any{Erased, now, personID}},
		{"customers", "UPDATE customers SET email = '' WHERE person_id = ?", []any{personID}},
		{"event payloads", "UPDATE stripe_events SET payload = '' WHERE person_id = ?", []any{personID}},
		{"the journal", "UPDATE journal SET target = '', detail = '' WHERE person_id = ?", []any{personID}},
		{"applied grants", "DELETE FROM applied WHERE person_id = ?", []any{personID}},
		{"comps", "DELETE FROM comps WHERE person_id = ?", []any{personID}},
		{"plans index", "DELETE FROM person_plans WHERE person_id = ?", []any{personID}},
		{"access index", "DELETE FROM person_access WHERE person_id = ?", []any{personID}},
		{"status checkouts", "UPDATE status_checkouts SET email = '' WHERE person_id = ?", []any{personID}},
	}
	for _, c := range customers {
		// Events of the customer not linked to the person (unresolved, ignored types) too.
		stmts = append(stmts,
			scrubStmt{"event payloads", "UPDATE stripe_events SET payload = '' WHERE customer_id = ?", []any{c}},
			scrubStmt{"status checkouts", "UPDATE status_checkouts SET email = '' WHERE customer_id = ?", []any{c}})
	}
	if slices.ContainsFunc(cols, func(c sweepColumn) bool { return c.table == "support_messages" && c.column == "body" }) {
		// Support messages (when the support inbox is in use) are the person's own words.
		stmts = append(stmts, scrubStmt{"support messages", "UPDATE support_messages SET sender_email = '', subject = '', body = '' WHERE person_id = ?", []any{personID}})
	}
	for _, st := range stmts {
		if _, err := tx.exec(ctx, st.query, st.args...); err != nil {
			return fmt.Errorf("scrubbing %s of person %d: %w", st.what, personID, err)
		}
	}
	return nil
}

// sweepSkip are the tables the sweep leaves alone: the tombstones, the audit log (redacted through
// audit_redactions instead), the operators' own accounts, and the migration ledgers.
var sweepSkip = []string{"erasures", "audit_log", "audit_redactions", "admin_users", "admin_sessions", "api_tokens",
	"login_failures", "membersync_migrations", "river_migration"}

// sweepColumn is one text-like column of a table.
type sweepColumn struct {
	table, column, sqlType string
}

// sweepEmail cuts email out of every text column of every table but sweepSkip, then out of the
// audit log's free text (recording each redaction first, as the append-only trigger requires).
func (tx *Tx) sweepEmail(ctx context.Context, cols []sweepColumn, email string, erasureID, now int64) error {
	pattern := "%" + likeEscape(strings.ToLower(email)) + "%"
	for _, c := range cols {
		if slices.Contains(sweepSkip, c.table) {
			continue
		}
		if err := tx.redactColumn(ctx, c, email, pattern); err != nil {
			return fmt.Errorf("scrubbing %s.%s: %w", c.table, c.column, err)
		}
	}
	return tx.redactAudit(ctx, email, pattern, erasureID, now)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// textColumns lists the text-like columns of every table: from sqlite_master and table_info on
// SQLite (rowid tables only: the WITHOUT ROWID ones hold ids and stages), from
// information_schema on PostgreSQL.
func (tx *Tx) textColumns(ctx context.Context) ([]sweepColumn, error) {
	var out []sweepColumn
	if tx.pgTx != nil {
		r, err := tx.query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
			WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'json', 'jsonb', 'bytea')
			ORDER BY table_name, ordinal_position`)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		for r.Next() {
			var c sweepColumn
			if err := r.Scan(&c.table, &c.column, &c.sqlType); err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, r.Err()
	}
	r, err := tx.query(ctx, `SELECT t.name, c.name, UPPER(c.type) FROM pragma_table_list t, pragma_table_info(t.name) c
		WHERE t.schema = 'main' AND t.type = 'table' AND t.wr = 0 AND t.name NOT LIKE 'sqlite_%' ORDER BY t.name, c.cid`)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	for r.Next() {
		var c sweepColumn
		if err := r.Scan(&c.table, &c.column, &c.sqlType); err != nil {
			return nil, err
		}
		// SQLite's affinity rules: INT means integer, REAL/FLOA/DOUB real; everything else can hold text.
		if strings.Contains(c.sqlType, "INT") || strings.Contains(c.sqlType, "REAL") || strings.Contains(c.sqlType, "FLOA") ||
			strings.Contains(c.sqlType, "DOUB") || c.sqlType == "BOOLEAN" {
			continue
		}
		out = append(out, c)
	}
	return out, r.Err()
}

// redactColumn rewrites the rows of one column that hold email.
func (tx *Tx) redactColumn(ctx context.Context, c sweepColumn, email, pattern string) error {
	t, col := quoteIdent(c.table), quoteIdent(c.column)
	sel := "SELECT rowid, CAST(" + col + " AS TEXT) FROM " + t + " WHERE LOWER(CAST(" + col + ` AS TEXT)) LIKE ? ESCAPE '\'`
	upd := "UPDATE " + t + " SET " + col + " = ? WHERE rowid = ?"
	if tx.pgTx != nil {
		cast := "text"
		if c.sqlType == "json" || c.sqlType == "jsonb" || c.sqlType == "bytea" {
			cast = c.sqlType
		}
		sel = "SELECT ctid::text, " + col + "::text FROM " + t + " WHERE LOWER(" + col + `::text) LIKE ? ESCAPE '\'`
		upd = "UPDATE " + t + " SET " + col + " = CAST(CAST(? AS text) AS " + cast + ") WHERE ctid = CAST(CAST(? AS text) AS tid)"
		if c.sqlType == "bytea" {
			upd = "UPDATE " + t + " SET " + col + " = convert_to(CAST(? AS text), 'UTF8') WHERE ctid = CAST(CAST(? AS text) AS tid)"
		}
	}
	type hit struct {
		key any
		val string
	}
	var hits []hit
	r, err := tx.query(ctx, sel, pattern)
	if err != nil {
		return err
	}
	for r.Next() {
		var h hit
		var k string
		var id int64
		if tx.pgTx != nil {
			err = r.Scan(&k, &h.val)
			h.key = k
		} else {
			err = r.Scan(&id, &h.val)
			h.key = id
		}
		if err != nil {
			r.Close()
			return err
		}
		hits = append(hits, h)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	for _, h := range hits {
		if _, err := tx.exec(ctx, upd, RedactEmail(h.val, email), h.key); err != nil {
			return err
		}
	}
	return nil
}

// redactAudit cuts email out of the audit log's free text. Each entry changed gets its
// audit_redactions row first: the append-only trigger allows exactly those rows' target, before,
// after and note to change.
func (tx *Tx) redactAudit(ctx context.Context, email, pattern string, erasureID, now int64) error {
	r, err := tx.query(ctx, `SELECT id, target, before_json, after_json, note FROM audit_log
		WHERE LOWER(target) LIKE ? ESCAPE '\' OR LOWER(before_json) LIKE ? ESCAPE '\' OR LOWER(after_json) LIKE ? ESCAPE '\' OR LOWER(note) LIKE ? ESCAPE '\'`,
		pattern, pattern, pattern, pattern)
	if err != nil {
		return fmt.Errorf("reading the audit log: %w", err)
	}
	var hits []AuditEntry
	for r.Next() {
		var e AuditEntry
		if err := r.Scan(&e.ID, &e.Target, &e.Before, &e.After, &e.Note); err != nil {
			r.Close()
			return err
		}
		hits = append(hits, e)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return err
	}
	for _, e := range hits {
		if _, err := tx.exec(ctx, "INSERT INTO audit_redactions (audit_id, erasure_id, at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", e.ID, erasureID, now); err != nil {
			return fmt.Errorf("recording the audit redaction: %w", err)
		}
		if _, err := tx.exec(ctx, "UPDATE audit_log SET target = ?, before_json = ?, after_json = ?, note = ? WHERE id = ?",
			RedactEmail(e.Target, email), RedactEmail(e.Before, email), RedactEmail(e.After, email), RedactEmail(e.Note, email), e.ID); err != nil {
			return fmt.Errorf("redacting audit entry %d: %w", e.ID, err)
		}
	}
	return nil
}

// ReviveErased clears an erased person's mark when a later event shows Stripe still has their
// customer: they are managed again from what Stripe holds now, like a new person. The tombstone
// stays.
func (s *Store) ReviveErased(ctx context.Context, personID int64) error {
	_, err := s.exec(ctx, "UPDATE people SET erasure = '', updated_at = ? WHERE id = ? AND erasure = ?", micros(s.now()), personID, Erased)
	return err
}

// IgnoreErasedEvents stores the events of an erased person whose customer Stripe no longer has as
// ignored, their payloads dropped: the ids stay for dedup.
func (s *Store) IgnoreErasedEvents(ctx context.Context, personID int64, eventIDs []string) error {
	return s.InTx(ctx, func(tx *Tx) error {
		for _, id := range eventIDs {
			if _, err := tx.exec(ctx, "UPDATE stripe_events SET state = ?, payload = '' WHERE id = ? AND person_id = ?", EventIgnored, id, personID); err != nil {
				return fmt.Errorf("ignoring event %s: %w", id, err)
			}
		}
		return nil
	})
}
