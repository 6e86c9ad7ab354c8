package store_test

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/membersync/membersync/internal/store"
)

// TestSQLitePermissionWarnings: files others may read, and a folder others may write, are named
// with the chmod that fixes them; private files and other databases are not.
func TestSQLitePermissionWarnings(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir() + "/data"
	if err := os.Mkdir(dir, 0o755); err != nil { // 0755 under umask 022: others may list, not write
		t.Fatal(err)
	}
	db := dir + "/membersync.db"
	write := func(path string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, nil, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	if got := store.SQLitePermissionWarnings("sqlite:" + db); len(got) != 0 {
		t.Errorf("no files yet: %v", got)
	}
	if err := os.WriteFile(db, nil, 0o644); err != nil { // as a shell's touch or cp would, under umask 022
		t.Fatal(err)
	}
	if fi, _ := os.Stat(db); fi.Mode().Perm() != 0o644 {
		t.Fatalf("the file was created %o, want 644 under umask 022", fi.Mode().Perm())
	}
	got := store.SQLitePermissionWarnings("sqlite:" + db)
	if len(got) != 1 || !strings.Contains(got[0], "membersync.db is readable by group and others (mode 0644)") || !strings.Contains(got[0], "chmod 600 "+db) {
		t.Errorf("a 0644 database: %q", got)
	}
	write(db+"-wal", 0o640)
	write(db+"-shm", 0o602)
	got = store.SQLitePermissionWarnings("sqlite://" + db)
	if len(got) != 3 || !strings.Contains(got[1], "-wal is readable by group") || !strings.Contains(got[2], "-shm is writable by others") {
		t.Errorf("with a 0640 WAL and a 0602 shm: %q", got)
	}
	for _, f := range []string{db, db + "-wal", db + "-shm"} {
		write(f, 0o600)
	}
	if got := store.SQLitePermissionWarnings("sqlite:" + db); len(got) != 0 {
		t.Errorf("private files in a 0755 folder: %v, want none", got)
	}
	if err := os.Chmod(dir, 0o775); err != nil {
		t.Fatal(err)
	}
	got = store.SQLitePermissionWarnings("sqlite:" + db)
	if len(got) != 1 || !strings.Contains(got[0], "writable by group (mode 0775)") || !strings.Contains(got[0], "chmod go-w "+dir) {
		t.Errorf("a group-writable folder: %q", got)
	}
	for _, other := range []string{"postgres://u@h/db", "sqlite::memory:", "nonsense"} {
		if got := store.SQLitePermissionWarnings(other); got != nil {
			t.Errorf("%s: %v, want nothing to inspect", other, got)
		}
	}
}
