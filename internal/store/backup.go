package store

// This file holds backups and restores of the SQLite database: a consistent online copy taken
// while serve writes (VACUUM INTO on a connection of its own), the check of a copy (integrity and
// schema version), and the restore that swaps a checked copy in while no serve runs. PostgreSQL
// has its own tools for both (pg_dump, point-in-time recovery); membersync does not imitate them.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/config"
)

// ErrPostgresBackup is the refusal to back up or restore a PostgreSQL database: its own tools do it
// better (a dump any server version reads, or continuous archiving with point-in-time recovery).
var ErrPostgresBackup = errors.New("membersync backs up SQLite only; on PostgreSQL use pg_dump --format=custom (restore with pg_restore) " +
	"or continuous archiving with point-in-time recovery (your provider's backups, pgBackRest, WAL-G): see the README's Backups section")

// ErrBackupExists is the refusal to overwrite a file without being told to.
var ErrBackupExists = errors.New("file exists")

// BackupInfo describes a backup file that passed its check.
type BackupInfo struct {
	Path string
	// Bytes is the file's size.
	Bytes int64
	// SchemaVersion is the newest membersync migration the copy holds.
	SchemaVersion int
	// Events is how many Stripe events the copy holds.
	Events int64
}

// BackupCheckError says why a file is not a usable backup.
type BackupCheckError struct {
	Path   string
	Reason string
}

func (e *BackupCheckError) Error() string {
	return fmt.Sprintf("%s is not a usable membersync backup: %s", e.Path, e.Reason)
}

// Backup writes a consistent copy of the SQLite database to dst while the database stays in use:
// VACUUM INTO reads one snapshot (every transaction committed before it started, none after) on a
// connection of its own, so the store's single connection, and serve's writes, do not wait for it
// (in WAL mode a reader does not block the writer). The copy is written to a temporary file beside
// dst (0600), synced, checked (CheckBackup) and only then renamed to dst, so that dst is either a
// whole checked backup or absent. An existing dst is refused with ErrBackupExists unless overwrite.
func (s *Store) Backup(ctx context.Context, dst string, overwrite bool) (BackupInfo, error) {
	if s.dialect != SQLite {
		return BackupInfo{}, ErrPostgresBackup
	}
	src, err := s.filePath(ctx)
	if err != nil {
		return BackupInfo{}, err
	}
	if !overwrite {
		if _, err := os.Lstat(dst); err == nil {
			return BackupInfo{}, fmt.Errorf("%s: %w (--force replaces it)", dst, ErrBackupExists)
		}
	}
	if abs, err := filepath.Abs(dst); err == nil && sameFile(abs, src) {
		return BackupInfo{}, fmt.Errorf("%s is the database itself: back up to another file", dst)
	}
	if err := mkdirPrivate(filepath.Dir(dst)); err != nil {
		return BackupInfo{}, fmt.Errorf("creating the folder of %s: %w", dst, err)
	}
	tmp, err := privateTemp(dst, "backup")
	if err != nil {
		return BackupInfo{}, err
	}
	defer removeDB(tmp) // a no-op once renamed
	if err := vacuumInto(ctx, src, tmp); err != nil {
		return BackupInfo{}, err
	}
	info, err := CheckBackup(ctx, tmp)
	if err != nil {
		return BackupInfo{}, err
	}
	if err := syncFile(tmp); err != nil {
		return BackupInfo{}, err
	}
	if overwrite {
		err = os.Rename(tmp, dst)
	} else {
		// A link fails when dst appeared meanwhile, where a rename would replace it.
		if err = os.Link(tmp, dst); err == nil {
			err = os.Remove(tmp)
		} else if errors.Is(err, fs.ErrExist) {
			err = fmt.Errorf("%s: %w (--force replaces it)", dst, ErrBackupExists)
		}
	}
	if err != nil {
		return BackupInfo{}, fmt.Errorf("writing %s: %w", dst, err)
	}
	syncDir(filepath.Dir(dst))
	info.Path = dst
	return info, nil
}

// filePath returns the SQLite database's file, from the connection itself.
func (s *Store) filePath(ctx context.Context) (string, error) {
	r, err := s.sqlDB.QueryContext(ctx, "PRAGMA database_list")
	if err != nil {
		return "", fmt.Errorf("reading the database's file name: %w", err)
	}
	defer r.Close()
	for r.Next() {
		var seq int
		var name, file string
		if err := r.Scan(&seq, &name, &file); err != nil {
			return "", err
		}
		if name == "main" {
			if file == "" {
				return "", errors.New("this SQLite database is in memory: there is no file to back up")
			}
			return file, nil
		}
	}
	if err := r.Err(); err != nil {
		return "", err
	}
	return "", errors.New("the SQLite connection names no main database")
}

// vacuumInto copies the database at src into the empty file dst on a connection of its own.
func vacuumInto(ctx context.Context, src, dst string) error {
	db, err := openSQLite(src)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		return fmt.Errorf("copying the database: %w", err)
	}
	return nil
}

// openSQLite opens one connection to a SQLite file, waiting up to 10 s for a lock as the store does.
func openSQLite(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// CheckBackup checks that the SQLite file at path is a whole membersync database: PRAGMA
// integrity_check answers "ok", and its migration ledger names its schema version. It also turns
// the file's journal mode to DELETE, so that the file is complete on its own (no -wal beside it):
// call it on a copy, never on a live database. A failed check is a *BackupCheckError.
func CheckBackup(ctx context.Context, path string) (BackupInfo, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return BackupInfo{}, err
	}
	bad := func(format string, args ...any) (BackupInfo, error) {
		return BackupInfo{}, &BackupCheckError{Path: path, Reason: fmt.Sprintf(format, args...)}
	}
	if !fi.Mode().IsRegular() {
		return bad("not a regular file")
	}
	header := make([]byte, 16)
	if f, err := os.Open(path); err != nil {
		return BackupInfo{}, err
	} else {
		_, err = io.ReadFull(f, header)
		f.Close()
		if err != nil || string(header) != "SQLite format 3\x00" {
			return bad("not a SQLite database")
		}
	}
	db, err := openSQLite(path)
	if err != nil {
		return BackupInfo{}, err
	}
	defer db.Close()
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode); err != nil {
		return bad("it cannot be read (%v)", err)
	}
	r, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return bad("the integrity check could not run (%v)", err)
	}
	var problems []string
	for r.Next() {
		var line string
		if err := r.Scan(&line); err != nil {
			r.Close()
			return bad("the integrity check could not run (%v)", err)
		}
		problems = append(problems, line)
	}
	err = r.Err()
	r.Close()
	if err != nil {
		return bad("the integrity check could not finish (%v)", err)
	}
	if len(problems) != 1 || problems[0] != "ok" {
		if len(problems) > 3 {
			problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
		}
		return bad("the integrity check failed: %s", strings.Join(problems, "; "))
	}
	info := BackupInfo{Path: path, Bytes: fi.Size()}
	if err := db.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM membersync_migrations").Scan(&info.SchemaVersion); err != nil || info.SchemaVersion == 0 {
		return bad("it holds no membersync migration ledger (is it a membersync database?)")
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM stripe_events").Scan(&info.Events); err != nil {
		return bad("it holds no Stripe events table (%v)", err)
	}
	return info, nil
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// Replace allows replacing a database that holds data; without it such a database is refused.
	Replace bool
	// Now names the replaced file; nil means time.Now.
	Now func() time.Time
}

// RestoreResult is what Restore did.
type RestoreResult struct {
	// Backup is the restored file as checked, before migrating.
	Backup BackupInfo
	// Database is the database file now holding the backup.
	Database string
	// Replaced is where the previous database was moved, "" when there was none.
	Replaced string
	// Migrated lists the migrations applied to bring the backup to this binary's schema.
	Migrated []int
}

// Restore replaces the SQLite database named by databaseURL with the backup at src. It holds the
// serve lock throughout, so it refuses (a *ServeLockedError) while serve runs, and no serve starts
// halfway. The backup is copied beside the database (0600), checked (CheckBackup), refused when
// its schema is newer than this binary knows, migrated when older (a migration that fails leaves
// the database untouched), then renamed into place. The previous database is not deleted: its WAL
// is checkpointed into it and it is moved to "<database>.replaced-<UTC time>" (with a -wal file
// if one remained), so that the new database never meets the old one's WAL.
func Restore(ctx context.Context, databaseURL, src string, opts RestoreOptions) (RestoreResult, error) {
	dialect, dbPath, err := config.ParseDatabaseURL(databaseURL)
	if err != nil {
		return RestoreResult{}, err
	}
	if dialect != SQLite {
		return RestoreResult{}, ErrPostgresBackup
	}
	if dbPath == "" || strings.HasPrefix(dbPath, ":") || strings.ContainsAny(dbPath, "?") {
		return RestoreResult{}, fmt.Errorf("the database %q is not a plain file: there is nothing to restore into", dbPath)
	}
	lock, err := LockServe(databaseURL)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("restore refused: %w", err)
	}
	defer lock.Close()
	if abs, err := filepath.Abs(src); err == nil && sameFile(abs, dbPath) {
		return RestoreResult{}, fmt.Errorf("%s is the database itself: restore from a backup file", src)
	}

	res := RestoreResult{Database: dbPath}
	tmp, err := privateTemp(dbPath, "restore")
	if err != nil {
		return res, err
	}
	defer removeDB(tmp)
	if err := copyInto(src, tmp); err != nil {
		return res, err
	}
	if res.Backup, err = CheckBackup(ctx, tmp); err != nil {
		var ce *BackupCheckError
		if errors.As(err, &ce) {
			ce.Path = src
		}
		return res, err
	}
	res.Backup.Path = src
	ms, err := Migrations(SQLite)
	if err != nil {
		return res, err
	}
	if res.Backup.SchemaVersion > len(ms) {
		return res, &BackupCheckError{Path: src, Reason: fmt.Sprintf(
			"its schema is at version %d and this membersync knows up to %d: restore it with the membersync version that wrote it (or a newer one)",
			res.Backup.SchemaVersion, len(ms))}
	}
	if res.Backup.SchemaVersion < len(ms) {
		if res.Migrated, err = migrateFile(ctx, tmp); err != nil {
			return res, fmt.Errorf("migrating the backup to this version's schema (the database was not touched): %w", err)
		}
	}
	if err := syncFile(tmp); err != nil {
		return res, err
	}

	hasData, err := holdsData(ctx, dbPath)
	if err != nil {
		return res, err
	}
	if hasData && !opts.Replace {
		return res, fmt.Errorf("%s already holds a database: --force replaces it (it is kept as %s.replaced-<time>)", dbPath, filepath.Base(dbPath))
	}
	if hasData {
		now := time.Now
		if opts.Now != nil {
			now = opts.Now
		}
		if res.Replaced, err = moveAside(ctx, dbPath, now()); err != nil {
			return res, err
		}
	} else {
		removeDB(dbPath) // an empty file, or none: nothing to keep
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return res, fmt.Errorf("moving the restored database into place: %w (the previous database is at %s)", err, res.Replaced)
	}
	syncDir(filepath.Dir(dbPath))
	return res, nil
}

// migrateFile applies this binary's migrations to the SQLite file at path.
func migrateFile(ctx context.Context, path string) ([]int, error) {
	st, err := Open(ctx, "sqlite:"+path)
	if err != nil {
		return nil, err
	}
	applied, err := st.Migrate(ctx)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return applied, err
	}
	// Migrate ran in WAL mode: fold the WAL back so that the file is whole on its own.
	db, err := openSQLite(path)
	if err != nil {
		return applied, err
	}
	defer db.Close()
	var mode string
	return applied, db.QueryRowContext(ctx, "PRAGMA journal_mode=DELETE").Scan(&mode)
}

// holdsData reports whether the file at path exists and is not empty (its -wal counts).
func holdsData(ctx context.Context, path string) (bool, error) {
	for _, p := range []string{path, path + "-wal"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return false, err
		}
		if fi.Size() > 0 {
			return true, nil
		}
	}
	return false, nil
}

// moveAside checkpoints the database at path (so its file holds every committed transaction) and
// moves it, and any -wal left, to path.replaced-<time>; the -shm index is removed (SQLite rebuilds it).
func moveAside(ctx context.Context, path string, now time.Time) (string, error) {
	db, err := openSQLite(path)
	if err != nil {
		return "", err
	}
	// A database too damaged to checkpoint is moved as it is, its -wal with it: nothing is lost.
	var busy, logFrames, done int
	err = db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &done)
	db.Close()
	if err == nil && busy != 0 {
		return "", fmt.Errorf("the current database %s is in use by another process (a membersync command?): stop it and retry", path)
	}
	aside := path + ".replaced-" + now.UTC().Format("20060102T150405Z")
	if _, err := os.Lstat(aside); err == nil {
		return "", fmt.Errorf("%s exists: wait a second and retry", aside)
	}
	if err := os.Rename(path, aside); err != nil {
		return "", fmt.Errorf("moving the current database aside: %w", err)
	}
	if err := os.Rename(path+"-wal", aside+"-wal"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return aside, fmt.Errorf("moving the current database's WAL aside: %w", err)
	}
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return aside, err
	}
	return aside, nil
}

// privateTemp reserves an empty 0600 file beside path, named after it.
func privateTemp(path, what string) (string, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+"."+what+"-"+hex.EncodeToString(b))
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("creating a temporary file beside %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(name)
		return "", err
	}
	return name, f.Close()
}

// copyInto copies the file src into the existing file dst.
func copyInto(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Close()
}

// removeDB removes a SQLite file and its -wal, -shm and -journal companions, if present.
func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		_ = os.Remove(path + suffix)
	}
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return f.Close()
}

// syncDir makes a rename in dir durable; a system that cannot sync a folder is left to its own way.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// sameFile reports whether two paths name one file (false when either is missing).
func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// BackupRun is the outcome of one scheduled backup, kept so that the alert rules and the admin
// pages can tell whether backups work.
type BackupRun struct {
	At    time.Time `json:"at"`
	Path  string    `json:"path,omitempty"`
	Bytes int64     `json:"bytes,omitempty"`
	// Err is why the backup failed; empty for a backup that succeeded.
	Err string `json:"error,omitempty"`
}

// The instance_settings keys of the last backup that succeeded and the last that failed.
const (
	settingBackupOK     = "backup_last_ok"
	settingBackupFailed = "backup_last_failed"
)

// RecordBackupRun records r as the last backup that succeeded, or failed when r.Err is set.
func (s *Store) RecordBackupRun(ctx context.Context, r BackupRun) error {
	key := settingBackupOK
	if r.Err != "" {
		key = settingBackupFailed
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO instance_settings (key, value, updated_at) VALUES (?, ?, ?)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`, key, string(b), micros(s.now()))
	if err != nil {
		return fmt.Errorf("recording the backup: %w", err)
	}
	return nil
}

// BackupRuns returns the last scheduled backup that succeeded and the last that failed (zero At
// when there was none).
func (s *Store) BackupRuns(ctx context.Context) (ok, failed BackupRun, err error) {
	for _, x := range []struct {
		key string
		run *BackupRun
	}{{settingBackupOK, &ok}, {settingBackupFailed, &failed}} {
		var v string
		err := s.queryRow(ctx, "SELECT value FROM instance_settings WHERE key = ?", x.key).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return ok, failed, fmt.Errorf("reading the last backups: %w", err)
		}
		if err := json.Unmarshal([]byte(v), x.run); err != nil {
			return ok, failed, fmt.Errorf("reading the last backups: %s: %w", x.key, err)
		}
	}
	return ok, failed, nil
}
