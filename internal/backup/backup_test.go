package backup_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/backup"
	"github.com/membersync/membersync/internal/store"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "membersync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

func names(files []backup.File) []string {
	var out []string
	for _, f := range files {
		out = append(out, filepath.Base(f.Path))
	}
	return out
}

// TestRotateKeepsN: rotation keeps the newest N backups by the time in their names, removes
// interrupted backups' temporary files a day old, and never touches anything else.
func TestRotateKeepsN(t *testing.T) {
	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	for _, keep := range []int{1, 3, 7, 12} {
		dir := t.TempDir()
		var all []string
		for i := range 10 {
			name := backup.Name(now.Add(-time.Duration(i) * 24 * time.Hour))
			all = append(all, name)
			if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		others := []string{"membersync.db", "membersync-latest.db", "notes.txt", "membersync-20260101T000000Z.db.bak"}
		for _, o := range others {
			if err := os.WriteFile(filepath.Join(dir, o), []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		staleTemp := filepath.Join(dir, "."+backup.Name(now.Add(-48*time.Hour))+".backup-0a1b2c")
		freshTemp := filepath.Join(dir, "."+backup.Name(now)+".backup-3d4e5f")
		for _, p := range []string{staleTemp, freshTemp} {
			if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		old := now.Add(-25 * time.Hour)
		if err := os.Chtimes(staleTemp, old, old); err != nil {
			t.Fatal(err)
		}

		removed, err := backup.Rotate(dir, keep, now)
		if err != nil {
			t.Fatal(err)
		}
		files, err := backup.List(dir)
		if err != nil {
			t.Fatal(err)
		}
		want := all[:min(keep, len(all))]
		if got := names(files); !slices.Equal(got, want) {
			t.Errorf("keep %d: kept %v, want %v", keep, got, want)
		}
		if n := max(len(all)-keep, 0) + 1; len(removed) != n {
			t.Errorf("keep %d: removed %d files, want %d", keep, len(removed), n)
		}
		for _, p := range append(others, filepath.Base(freshTemp)) {
			if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
				t.Errorf("keep %d: %s was touched: %v", keep, p, err)
			}
		}
		if _, err := os.Stat(staleTemp); !os.IsNotExist(err) {
			t.Errorf("keep %d: a day-old temporary file stayed", keep)
		}
	}
}

// TestScheduler: a backup is taken at start and then once the newest is an interval old (a
// restart in between takes none), the folder keeps N, and a failure is recorded until a backup
// succeeds.
func TestScheduler(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	dir := filepath.Join(t.TempDir(), "backups")
	now := time.Date(2026, 12, 6, 3, 0, 0, 0, time.UTC)
	s := &backup.Scheduler{Store: st, Dir: dir, Interval: 24 * time.Hour, Keep: 2, Now: func() time.Time { return now }}

	steps := []struct {
		after time.Duration
		taken bool
		kept  int
	}{
		{0, true, 1},              // at start: none yet
		{time.Hour, false, 1},     // the next tick, or a restart
		{23 * time.Hour, true, 2}, // an interval (less the slack) after the first
		{24 * time.Hour, true, 2}, // and again; the oldest goes
		{30 * time.Minute, false, 2},
	}
	for i, step := range steps {
		now = now.Add(step.after)
		info, err := s.Run(ctx)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if taken := info.Path != ""; taken != step.taken {
			t.Errorf("step %d (+%s): backup taken %v, want %v", i, step.after, taken, step.taken)
		}
		if taken := info.Path != ""; taken && filepath.Base(info.Path) != backup.Name(now) {
			t.Errorf("step %d: backup %s, want it named %s", i, info.Path, backup.Name(now))
		}
		files, _ := backup.List(dir)
		if len(files) != step.kept {
			t.Errorf("step %d: %d backups kept (%v), want %d", i, len(files), names(files), step.kept)
		}
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("backup folder: %v, %v; want mode 0700", fi.Mode().Perm(), err)
	}

	ok, failed, err := st.BackupRuns(ctx)
	if err != nil || ok.At.IsZero() || !failed.At.IsZero() || ok.Bytes == 0 {
		t.Fatalf("after backups: ok %+v, failed %+v, %v", ok, failed, err)
	}

	// The folder turns into a file: the next backup fails and is recorded.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("in the way"), 0o600); err != nil {
		t.Fatal(err)
	}
	now = now.Add(25 * time.Hour)
	if _, err := s.Run(ctx); err == nil || !strings.Contains(err.Error(), "scheduled backup into "+dir) {
		t.Fatalf("backup into a file: %v", err)
	}
	if ok2, failed, _ := st.BackupRuns(ctx); !failed.At.Equal(now) || failed.Err == "" || !ok2.At.Equal(ok.At) {
		t.Errorf("after a failure: ok %+v, failed %+v", ok2, failed)
	}
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	if _, err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, failed, _ := st.BackupRuns(ctx); !ok.At.After(failed.At) {
		t.Errorf("a success after the failure is not the latest: ok %+v, failed %+v", ok, failed)
	}
}
