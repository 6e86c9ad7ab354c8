package store

// This file holds the Store and its transactions, and the dialect seam: rebind, the two connection
// kinds, and the query helpers every other file uses.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/membersync/membersync/internal/config"
)

// Dialects.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// ErrUnavailable wraps failures to reach or commit to the database: callers answer 503.
var ErrUnavailable = errors.New("database unavailable")

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Store is the database. Exactly one of sqlDB and pool is set, by dialect.
type Store struct {
	dialect string
	sqlDB   *sql.DB       // SQLite
	pool    *pgxpool.Pool // PostgreSQL
	// Now is the clock for timestamps written by the store.
	Now func() time.Time
}

// Open connects to the database named by a config database URL ("sqlite:PATH" or "postgres://…").
// It does not migrate; call Migrate.
func Open(ctx context.Context, databaseURL string) (*Store, error) {
	dialect, dsn, err := config.ParseDatabaseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	s := &Store{dialect: dialect, Now: time.Now}
	switch dialect {
	case SQLite:
		// WAL lets readers run beside the writer; synchronous=FULL makes a commit durable before the
		// webhook is acknowledged (group commit amortizes the fsync); secure_delete=FAST zeroes freed
		// cells in the pages it writes anyway, so an erased email does not linger in the file (no
		// extra I/O); one connection because SQLite
		// allows one writer and River's SQLite driver asks for it.
		if err := createPrivate(dsn); err != nil {
			return nil, fmt.Errorf("opening sqlite %s: %w", dsn, err)
		}
		q := "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_pragma=secure_delete(FAST)&_txlock=immediate"
		db, err := sql.Open("sqlite", "file:"+dsn+q)
		if err != nil {
			return nil, fmt.Errorf("opening sqlite %s: %w", dsn, err)
		}
		db.SetMaxOpenConns(1)
		db.SetConnMaxIdleTime(0)
		db.SetConnMaxLifetime(0)
		if err := db.PingContext(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("opening sqlite %s: %w", dsn, err)
		}
		s.sqlDB = db
	case Postgres:
		cfg, err := pgxpool.ParseConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("parsing postgres URL: %w", err)
		}
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("connecting to postgres: %w", err)
		}
		if err := pool.Ping(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("connecting to postgres %s: %w", cfg.ConnConfig.Host, err)
		}
		s.pool = pool
	}
	return s, nil
}

// createPrivate creates a new SQLite database file readable by its owner only (0600, whatever the
// umask): it holds emails, billing snapshots and the journal. SQLite creates the WAL and
// shared-memory files with the database file's permissions, so they follow. Missing folders on the
// way are created 0700. An existing file or folder is left as the operator set it (serve and check
// warn when others can read it); a path that is not a plain file (":memory:", a URI) is left alone.
func createPrivate(path string) error {
	if path == "" || strings.HasPrefix(path, ":") || strings.ContainsAny(path, "?") {
		return nil
	}
	if err := mkdirPrivate(filepath.Dir(path)); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil { // O_CREATE's mode is narrowed by the umask, never widened; be explicit
		f.Close()
		return err
	}
	return f.Close()
}

// mkdirPrivate creates dir and its missing parents 0700, whatever the umask; existing ones are
// left alone.
func mkdirPrivate(dir string) error {
	if _, err := os.Stat(dir); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := mkdirPrivate(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// Dialect returns SQLite or Postgres.
func (s *Store) Dialect() string { return s.dialect }

// SQLDB returns the SQLite connection (nil on PostgreSQL), for River's SQLite driver.
func (s *Store) SQLDB() *sql.DB { return s.sqlDB }

// Pool returns the PostgreSQL pool (nil on SQLite), for River's pgx driver.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close releases the connections.
func (s *Store) Close() error {
	if s.pool != nil {
		s.pool.Close()
		return nil
	}
	return s.sqlDB.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if s.pool != nil {
		return s.pool.Ping(ctx)
	}
	return s.sqlDB.PingContext(ctx)
}

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Tx is a database transaction of either dialect. The queue inserts its jobs through the same Tx
// (SQL for SQLite, PGX for PostgreSQL) so that a job exists exactly when the rows it is about do.
type Tx struct {
	s     *Store
	sqlTx *sql.Tx
	pgTx  pgx.Tx
	// stmts caches SQLite statements prepared in this transaction (pgx caches its own): a batch of
	// events runs the same few statements hundreds of times.
	stmts map[string]*sql.Stmt
}

func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := tx.stmts[query]; ok {
		return st, nil
	}
	st, err := tx.sqlTx.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if tx.stmts == nil {
		tx.stmts = map[string]*sql.Stmt{}
	}
	tx.stmts[query] = st
	return st, nil
}

func (tx *Tx) closeStmts() {
	for _, st := range tx.stmts {
		_ = st.Close()
	}
	tx.stmts = nil
}

// SQL returns the SQLite transaction, or nil on PostgreSQL.
func (tx *Tx) SQL() *sql.Tx { return tx.sqlTx }

// PGX returns the PostgreSQL transaction, or nil on SQLite.
func (tx *Tx) PGX() pgx.Tx { return tx.pgTx }

// InTx runs fn in a transaction and commits when fn returns nil. A failure to begin or commit wraps
// ErrUnavailable.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	tx := &Tx{s: s}
	if s.pool != nil {
		t, err := s.pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("%w: begin: %v", ErrUnavailable, err)
		}
		tx.pgTx = t
		if err := fn(tx); err != nil {
			_ = t.Rollback(context.WithoutCancel(ctx))
			return err
		}
		if err := t.Commit(ctx); err != nil {
			return fmt.Errorf("%w: commit: %v", ErrUnavailable, err)
		}
		return nil
	}
	t, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: begin: %v", ErrUnavailable, err)
	}
	tx.sqlTx = t
	err = fn(tx)
	tx.closeStmts()
	if err != nil {
		_ = t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("%w: commit: %v", ErrUnavailable, err)
	}
	return nil
}

// q is what both a Store and a Tx offer to the queries in this package.
type q interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	query(ctx context.Context, query string, args ...any) (rows, error)
	queryRow(ctx context.Context, query string, args ...any) row
}

type row interface{ Scan(dest ...any) error }

type rows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
	Close()
}

func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	if s.pool != nil {
		tag, err := s.pool.Exec(ctx, rebind(query), args...)
		return tag.RowsAffected(), err
	}
	return sqlExec(s.sqlDB.ExecContext(ctx, query, args...))
}

func (s *Store) query(ctx context.Context, query string, args ...any) (rows, error) {
	if s.pool != nil {
		return s.pool.Query(ctx, rebind(query), args...)
	}
	r, err := s.sqlDB.QueryContext(ctx, query, args...)
	return sqlRows{r}, err
}

func (s *Store) queryRow(ctx context.Context, query string, args ...any) row {
	if s.pool != nil {
		return pgRow{s.pool.QueryRow(ctx, rebind(query), args...)}
	}
	return s.sqlDB.QueryRowContext(ctx, query, args...)
}

func (tx *Tx) exec(ctx context.Context, query string, args ...any) (int64, error) {
	if tx.pgTx != nil {
		tag, err := tx.pgTx.Exec(ctx, rebind(query), args...)
		return tag.RowsAffected(), err
	}
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return 0, err
	}
	return sqlExec(st.ExecContext(ctx, args...))
}

func (tx *Tx) query(ctx context.Context, query string, args ...any) (rows, error) {
	if tx.pgTx != nil {
		return tx.pgTx.Query(ctx, rebind(query), args...)
	}
	r, err := tx.sqlTx.QueryContext(ctx, query, args...)
	return sqlRows{r}, err
}

func (tx *Tx) queryRow(ctx context.Context, query string, args ...any) row {
	if tx.pgTx != nil {
		return pgRow{tx.pgTx.QueryRow(ctx, rebind(query), args...)}
	}
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

func sqlExec(r sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

type sqlRows struct{ *sql.Rows }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (r sqlRows) Close() { _ = r.Rows.Close() }

// pgRow maps pgx's no-rows error to database/sql's so callers check one sentinel.
type pgRow struct{ r pgx.Row }

func (r pgRow) Scan(dest ...any) error {
	err := r.r.Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sql.ErrNoRows
	}
	return err
}

// rebind turns ? placeholders into PostgreSQL's $1, $2, …. Queries in this package never hold a
// literal question mark.
func rebind(query string) string {
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// IsUnavailable reports whether err means the database could not be reached or could not commit,
// as opposed to a bad query: the caller answers 503 and the sender retries.
func IsUnavailable(err error) bool {
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08 connection exceptions, 53 insufficient resources, 57 operator intervention.
		return strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "53") || strings.HasPrefix(pgErr.Code, "57")
	}
	return pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
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
