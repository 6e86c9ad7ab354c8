package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// ingest3K stores one invoice.paid event with a Stripe-sized payload, as the webhook inbox does (one
// transaction per delivery).
func ingest3K(ctx context.Context, st *store.Store, id, customer string) error {
	return st.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.IngestEvent(ctx, store.Event{ID: id, Type: "invoice.paid", CustomerID: customer, Actionable: true,
			Created: time.Unix(1_780_000_000, 0), APIVersion: "2025-03-31.basil", Payload: stripePayload(id, customer, 3000)})
		return err
	})
}

// openSQLite opens a migrated SQLite store at path, closed at cleanup.
func openSQLite(t *testing.T, path string) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestBackupDuringBurst: a backup taken while 1,000 events are being ingested holds every event
// acknowledged before it started, passes integrity_check, restores, and serves (opens, migrates,
// reads an event, takes a new one).
func TestBackupDuringBurst(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openSQLite(t, filepath.Join(dir, "live.db"))

	const total, backupAfter = 1000, 300
	var mu sync.Mutex
	var acked []string // guarded by mu
	reached := make(chan struct{})
	burstErr := make(chan error, 1)
	go func() {
		for i := range total {
			id := fmt.Sprintf("evt_burst_%04d", i)
			if err := ingest3K(ctx, st, id, fmt.Sprintf("cus_%03d", i%250)); err != nil {
				burstErr <- err
				return
			}
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
			if i == backupAfter-1 {
				close(reached)
			}
		}
		burstErr <- nil
	}()

	<-reached
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	dst := filepath.Join(dir, "backups", "membersync.db")
	info, err := st.Backup(ctx, dst, false)
	mu.Lock()
	after := len(acked)
	mu.Unlock()
	if err != nil {
		t.Fatalf("backup during the burst: %v", err)
	}
	if err := <-burstErr; err != nil {
		t.Fatalf("the burst failed beside the backup: %v", err)
	}
	t.Logf("backup of %d events (%d bytes) taken while the burst went from %d to %d events", info.Events, info.Bytes, len(before), after)

	if info.Events < int64(len(before)) || info.Events > total {
		t.Errorf("backup holds %d events; %d were acknowledged before it started, %d in all", info.Events, len(before), total)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %04o, want 0600", fi.Mode().Perm())
	}
	if _, known, _ := st.SchemaVersion(ctx); info.SchemaVersion != known {
		t.Errorf("backup schema version %d, want %d", info.SchemaVersion, known)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, "backups", "*")); len(leftovers) != 1 {
		t.Errorf("the backup folder holds %v, want the backup alone (no temporary, -wal or -shm file)", leftovers)
	}

	// Restore it in place of another database and serve from it.
	target := filepath.Join(dir, "restored", "membersync.db")
	res, err := store.Restore(ctx, "sqlite:"+target, dst, store.RestoreOptions{})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if res.Replaced != "" || len(res.Migrated) != 0 {
		t.Errorf("restore into nothing: replaced %q, migrated %v", res.Replaced, res.Migrated)
	}
	restored := openSQLite(t, target)
	if ok := integrityOK(t, target); !ok {
		t.Error("the restored database fails integrity_check")
	}
	ids, err := restored.EventIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, id := range ids {
		have[id] = true
	}
	for _, id := range before {
		if !have[id] {
			t.Fatalf("event %s, acknowledged before the backup started, is missing from the restore (%d events restored)", id, len(ids))
		}
	}
	ev, err := restored.Event(ctx, before[len(before)-1])
	if err != nil || len(ev.Payload) < 2000 || ev.State != store.EventQueued {
		t.Errorf("reading an event from the restored database: %+v (payload %d bytes), %v", ev.ID, len(ev.Payload), err)
	}
	if err := ingest3K(ctx, restored, "evt_after_restore", "cus_new"); err != nil {
		t.Errorf("ingesting into the restored database: %v", err)
	}
}

// integrityOK runs PRAGMA integrity_check on the SQLite file at path.
func integrityOK(t *testing.T, path string) bool {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var res string
	if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil {
		t.Fatal(err)
	}
	return res == "ok"
}

// TestBackupRefusesToOverwrite: an existing file is kept unless overwrite is asked; the database
// itself is never a target.
func TestBackupRefusesToOverwrite(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	st := openSQLite(t, live)
	dst := filepath.Join(dir, "b.db")
	if err := os.WriteFile(dst, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Backup(ctx, dst, false); !errors.Is(err, store.ErrBackupExists) {
		t.Fatalf("backup over an existing file: %v, want ErrBackupExists", err)
	}
	if b, _ := os.ReadFile(dst); string(b) != "precious" {
		t.Fatal("the existing file was changed")
	}
	if _, err := st.Backup(ctx, dst, true); err != nil {
		t.Fatalf("backup with overwrite: %v", err)
	}
	if _, err := store.CheckBackup(ctx, dst); err != nil {
		t.Errorf("the overwritten file is not a backup: %v", err)
	}
	if _, err := st.Backup(ctx, live, true); err == nil || !strings.Contains(err.Error(), "database itself") {
		t.Errorf("backup onto the database itself: %v", err)
	}
}

// TestRestoreRefusals: restore refuses while serve holds the lock, a file that is not a whole
// membersync database, a schema newer than this binary's, and a database with data unless told to
// replace it; none of the refusals touches the live database.
func TestRestoreRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	liveURL := "sqlite:" + live
	st := openSQLite(t, live)
	for i := range 200 {
		if err := ingest3K(ctx, st, fmt.Sprintf("evt_%d", i), "cus_1"); err != nil {
			t.Fatal(err)
		}
	}
	good := filepath.Join(dir, "good.db")
	if _, err := st.Backup(ctx, good, false); err != nil {
		t.Fatal(err)
	}
	if err := ingest3K(ctx, st, "evt_live_only", "cus_1"); err != nil {
		t.Fatal(err)
	}

	corrupt := copyFile(t, good, filepath.Join(dir, "corrupt.db"))
	garbage := []byte(strings.Repeat("\xde\xad\xbe\xef", 1024))
	f, err := os.OpenFile(corrupt, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, page := range []int64{3, 7, 20, 40} {
		if _, err := f.WriteAt(garbage, page*4096); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()

	newer := copyFile(t, good, filepath.Join(dir, "newer.db"))
	_, known, _ := st.SchemaVersion(ctx)
	execFile(t, newer, fmt.Sprintf("INSERT INTO membersync_migrations (version, name, applied_at) VALUES (%d, 'from_the_future', 0)", known+1))

	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(dir, "foreign.db")
	execFile(t, foreign, "CREATE TABLE t (x INTEGER)")

	lock, err := store.LockServe(liveURL)
	if err != nil {
		t.Fatal(err)
	}
	var locked *store.ServeLockedError
	if _, err := store.Restore(ctx, liveURL, good, store.RestoreOptions{Replace: true}); !errors.As(err, &locked) {
		t.Errorf("restore while serve holds the lock: %v, want a ServeLockedError", err)
	} else if !strings.HasPrefix(err.Error(), "restore refused: another membersync serve") {
		t.Errorf("refusal reads %q", err)
	}
	lock.Close()

	for _, tc := range []struct {
		name, file, want string
		replace          bool
	}{
		{"corrupt", corrupt, "integrity check", true},
		{"newer schema", newer, fmt.Sprintf("its schema is at version %d and this membersync knows up to %d", known+1, known), true},
		{"not a database", notDB, "not a SQLite database", true},
		{"not membersync's", foreign, "no membersync migration ledger", true},
		{"missing", filepath.Join(dir, "nope.db"), "no such file", true},
		{"live data without replace", good, "already holds a database: --force replaces it", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := store.Restore(ctx, liveURL, tc.file, store.RestoreOptions{Replace: tc.replace})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
			if _, err := st.Event(ctx, "evt_live_only"); err != nil {
				t.Errorf("the live database lost its data: %v", err)
			}
		})
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".live.db.*")); len(leftovers) > 0 {
		t.Errorf("refused restores left temporary files: %v", leftovers)
	}

	if _, err := store.Restore(ctx, "postgres://membersync@db.internal/membersync", good, store.RestoreOptions{}); !errors.Is(err, store.ErrPostgresBackup) {
		t.Errorf("restore on PostgreSQL: %v, want ErrPostgresBackup", err)
	}
}

// TestRestoreReplaces: restoring over a database with data keeps the old one (WAL folded in) beside
// it, and the restored database is the backup's, not mixed with the old WAL.
func TestRestoreReplaces(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	live := filepath.Join(dir, "live.db")
	st := openSQLite(t, live)
	if err := ingest3K(ctx, st, "evt_in_backup", "cus_1"); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "b.db")
	if _, err := st.Backup(ctx, backup, false); err != nil {
		t.Fatal(err)
	}
	if err := ingest3K(ctx, st, "evt_after_backup", "cus_1"); err != nil {
		t.Fatal(err)
	}
	st.Close() // serve stopped (a clean stop; a crash would leave a -wal, which is moved along)

	at := time.Date(2026, 12, 6, 18, 40, 0, 0, time.UTC)
	res, err := store.Restore(ctx, "sqlite:"+live, backup, store.RestoreOptions{Replace: true, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if want := live + ".replaced-20261206T184000Z"; res.Replaced != want {
		t.Errorf("replaced kept at %q, want %q", res.Replaced, want)
	}
	for _, c := range []struct {
		path      string
		has, lost string
	}{
		{live, "evt_in_backup", "evt_after_backup"},
		{res.Replaced, "evt_after_backup", ""},
	} {
		db := openSQLite(t, c.path)
		if _, err := db.Event(ctx, c.has); err != nil {
			t.Errorf("%s: %s: %v", filepath.Base(c.path), c.has, err)
		}
		if c.lost != "" {
			if _, err := db.Event(ctx, c.lost); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s holds %s, which came after the backup: %v", filepath.Base(c.path), c.lost, err)
			}
		}
		fi, err := os.Stat(c.path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", filepath.Base(c.path), fi.Mode().Perm(), err)
		}
	}
}

func copyFile(t *testing.T, src, dst string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

func execFile(t *testing.T, path, query string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query); err != nil {
		t.Fatal(err)
	}
}

// TestBackupPostgres: PostgreSQL backups are refused with directions to its own tools.
func TestBackupPostgres(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		if dialect != store.Postgres {
			continue
		}
		st := storetest.Open(t, dialect)
		if _, err := st.Backup(context.Background(), filepath.Join(t.TempDir(), "b.db"), false); !errors.Is(err, store.ErrPostgresBackup) ||
			!strings.Contains(err.Error(), "pg_dump") {
			t.Errorf("backup on PostgreSQL: %v", err)
		}
	}
}
