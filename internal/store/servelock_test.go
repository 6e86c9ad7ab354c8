//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/store"
)

// TestServeLock: a second serve lock on one SQLite file is refused with the holder's pid and what
// to do; the lock is released on Close; the database itself stays open to other commands.
func TestServeLock(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	url := "sqlite:data/membersync.db" // relative, in a folder that does not exist yet
	first, err := store.LockServe(url)
	if err != nil {
		t.Fatalf("first lock: %v", err)
	}
	lockFile := filepath.Join(dir, "data", "membersync.db-serve.lock")
	fi, err := os.Stat(lockFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("lock file mode %04o, want 0600", fi.Mode().Perm())
	}
	if b, _ := os.ReadFile(lockFile); strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want this pid %d", b, os.Getpid())
	}

	second, err := store.LockServe("sqlite://data/membersync.db")
	var locked *store.ServeLockedError
	if !errors.As(err, &locked) || second != nil {
		t.Fatalf("second lock: got %v, %v; want a ServeLockedError", second, err)
	}
	want := "another membersync serve (pid " + strconv.Itoa(os.Getpid()) + ") is using " + filepath.Join(dir, "data", "membersync.db") +
		"; SQLite serves one instance: stop it, or use PostgreSQL (MEMBERSYNC_DATABASE_URL) to run several"
	if err.Error() != want {
		t.Errorf("refusal:\n got %q\nwant %q", err, want)
	}

	// Other commands open the database beside serve.
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("opening the database while serve holds its lock: %v", err)
	}
	st.Close()

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(lockFile); len(b) != 0 {
		t.Errorf("released lock file still names a process: %q", b)
	}
	third, err := store.LockServe(url)
	if err != nil {
		t.Fatalf("lock after Close: %v", err)
	}
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
	if err := third.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestServeLockNotNeeded: PostgreSQL serves several instances, and an in-memory SQLite database is
// no file to share: no lock, no refusal.
func TestServeLockNotNeeded(t *testing.T) {
	for _, url := range []string{"postgres://membersync@db.internal/membersync", "sqlite::memory:"} {
		for range 2 {
			l, err := store.LockServe(url)
			if err != nil || l == nil || l.Warning != "" {
				t.Fatalf("%s: got %+v, %v; want an empty lock", url, l, err)
			}
			defer l.Close()
		}
	}
	if _, err := store.LockServe("mysql://x"); err == nil {
		t.Error("an unknown database URL was accepted")
	}
}
