package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"testing"
)

// TestRestoreMigratesOlderBackup: a backup written by an older membersync (schema version 15 here)
// is migrated to this binary's schema before it replaces anything, and its data stays.
func TestRestoreMigratesOlderBackup(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	old := filepath.Join(dir, "old.db")
	const oldVersion = 15
	ms, err := Migrations(SQLite)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+old)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ledgerDDL); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:oldVersion] {
		for _, stmt := range splitStatements(m.SQL) {
			if _, err := db.Exec(stmt); err != nil {
				t.Fatalf("migration %d: %v", m.Version, err)
			}
		}
		if _, err := db.Exec("INSERT INTO membersync_migrations (version, name, applied_at) VALUES (?, ?, 0)", m.Version, m.Name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`INSERT INTO stripe_events (id, type, created, received_at, state, payload) VALUES ('evt_old', 'invoice.paid', 1, 1, 'ignored', '{}')`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	target := filepath.Join(dir, "live", "membersync.db")
	res, err := Restore(ctx, "sqlite:"+target, old, RestoreOptions{})
	if err != nil {
		t.Fatalf("restore of a version %d backup: %v", oldVersion, err)
	}
	var want []int
	for v := oldVersion + 1; v <= len(ms); v++ {
		want = append(want, v)
	}
	if res.Backup.SchemaVersion != oldVersion || !slices.Equal(res.Migrated, want) {
		t.Errorf("restore: backup version %d, migrated %v; want %d and %v", res.Backup.SchemaVersion, res.Migrated, oldVersion, want)
	}
	st, err := Open(ctx, "sqlite:"+target)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if applied, known, err := st.SchemaVersion(ctx); err != nil || applied != known {
		t.Errorf("restored schema at %d of %d: %v", applied, known, err)
	}
	if _, err := st.Event(ctx, "evt_old"); err != nil {
		t.Errorf("the backup's event after migrating: %v", err)
	}
}
