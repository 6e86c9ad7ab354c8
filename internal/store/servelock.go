package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/membersync/membersync/internal/config"
)

// This file holds the serve lock: SQLite serves one instance, so a second `membersync serve` on the
// same database file is refused while the first runs. The CLI commands (check, trace, resync, …)
// take no lock and keep working beside serve.

// ServeLock is the lock one serve process holds on its SQLite database: an advisory lock (flock) on
// the file "<database>-serve.lock" beside it, which holds the process id. The operating system
// releases it when the process ends, however it ends, so a crash leaves no stale lock. The file
// itself stays: removing it could let two processes lock two different files.
type ServeLock struct {
	f *os.File // nil when nothing is locked
	// Warning says why nothing could be locked on this system; empty otherwise.
	Warning string
}

// ServeLockedError is the refusal of a second serve on a SQLite database.
type ServeLockedError struct {
	// Database is the database file, as an absolute path when it can be made one.
	Database string
	// PID is the process holding the lock; 0 when it could not be read.
	PID int
}

func (e *ServeLockedError) Error() string {
	who := "another membersync serve"
	if e.PID > 0 {
		who += fmt.Sprintf(" (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s is using %s; SQLite serves one instance: stop it, or use PostgreSQL (%s) to run several",
		who, e.Database, config.EnvDatabaseURL)
}

// ServeLockPath returns the lock file of the SQLite database at path.
func ServeLockPath(path string) string { return path + "-serve.lock" }

// LockServe takes the serve lock of the database named by databaseURL (a config database URL), or
// returns a *ServeLockedError naming the serve process that holds it. PostgreSQL, which serves
// several instances, and SQLite databases that are not a plain file (":memory:", a URI) need no
// lock: the lock returned then holds nothing. The lock file is created 0600, in a folder created
// 0700 if missing, as the database's own. Close releases the lock.
func LockServe(databaseURL string) (*ServeLock, error) {
	dialect, path, err := config.ParseDatabaseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	if dialect != SQLite || path == "" || strings.HasPrefix(path, ":") || strings.ContainsAny(path, "?") {
		return &ServeLock{}, nil
	}
	if err := mkdirPrivate(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("creating the folder of %s: %w", path, err)
	}
	return lockServe(path)
}

// Close releases the lock; closing a lock that holds nothing, or a nil one, does nothing.
func (l *ServeLock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	f := l.f
	l.f = nil
	// Forget the process id before unlocking, so that nobody names a process that is gone.
	return errors.Join(f.Truncate(0), f.Close())
}

// lockedBy returns the error naming the process recorded in the lock file of path.
func lockedBy(path string) error {
	e := &ServeLockedError{Database: path}
	if abs, err := filepath.Abs(path); err == nil {
		e.Database = abs
	}
	if b, err := os.ReadFile(ServeLockPath(path)); err == nil {
		fmt.Sscanf(strings.TrimSpace(string(b)), "%d", &e.PID)
	}
	return e
}
