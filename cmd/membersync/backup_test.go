package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/backup"
	"github.com/membersync/membersync/internal/store"
)

// TestBackupRestoreBesideServe runs a real serve process and sends it 1,000 signed webhooks; a
// backup taken during the burst holds every event acknowledged before it started and passes
// integrity_check; restore refuses while serve runs, replaces the database (keeping the old one)
// once serve stopped, and serve starts on the restored database and still knows the old events
// (a redelivery is a duplicate).
func TestBackupRestoreBesideServe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "membersync.db")
	cfg := filepath.Join(dir, "membersync.yaml")
	addr := freeAddr(t)
	writeConfig(t, cfg, "sqlite:"+db, addr)
	scheduled := filepath.Join(dir, "scheduled")
	appendFile(t, cfg, "backup:\n  dir: \""+scheduled+"\"\n  keep: 2\n")
	serve := startServe(t, cfg, addr)
	defer func() {
		serve.cmd.Process.Kill()
		serve.cmd.Wait()
	}()

	const total, backupAfter = 1000, 300
	var mu sync.Mutex
	var acked []string // guarded by mu
	reached := make(chan struct{})
	burst := make(chan error, 1)
	go func() {
		for i := range total {
			code, err := deliver(addr, crashEvent(i))
			if err != nil || code != http.StatusOK {
				burst <- errors.Join(err, errors.New("status "+strconv.Itoa(code)))
				return
			}
			mu.Lock()
			acked = append(acked, "evt_crash"+pad5(i))
			mu.Unlock()
			if i == backupAfter-1 {
				close(reached)
			}
		}
		burst <- nil
	}()
	<-reached
	mu.Lock()
	before := append([]string(nil), acked...)
	mu.Unlock()
	bk := filepath.Join(dir, "backups", "b.db")
	out, errOut, err := runCmd(t, nil, "backup", "--to", bk, "--config", cfg)
	if err != nil || !strings.Contains(out, "integrity ok") {
		t.Fatalf("backup beside serve: %v\n%s%s", err, out, errOut)
	}
	if err := <-burst; err != nil {
		t.Fatalf("a webhook was refused during the backup: %v\n%s", err, serve.logs)
	}
	t.Log(strings.TrimSpace(out))

	_, _, err = runCmd(t, nil, "restore", bk, "--force", "--config", cfg)
	var locked *store.ServeLockedError
	if !errors.As(err, &locked) || !strings.Contains(err.Error(), "restore refused: another membersync serve (pid "+strconv.Itoa(serve.cmd.Process.Pid)+")") {
		t.Fatalf("restore while serve runs: %v", err)
	}

	// The scheduled backup ran at start on the River leader (leader election takes a few seconds).
	files := pollFiles(t, 60*time.Second, func() []backup.File { f, _ := backup.List(scheduled); return f })
	if _, err := store.CheckBackup(context.Background(), files[0].Path); err != nil {
		t.Errorf("the scheduled backup: %v", err)
	}

	serve.cmd.Process.Signal(syscall.SIGTERM)
	if err := serve.cmd.Wait(); err != nil {
		t.Fatalf("serve did not stop cleanly: %v", err)
	}
	if _, _, err := runCmd(t, nil, "restore", bk, "--config", cfg); err == nil || !strings.Contains(err.Error(), "--force replaces it") {
		t.Fatalf("restore over data without --force: %v", err)
	}
	out, errOut, err = runCmd(t, nil, "restore", bk, "--force", "--config", cfg)
	if err != nil || !strings.Contains(out, "the previous database is kept at "+db+".replaced-") {
		t.Fatalf("restore: %v\n%s%s", err, out, errOut)
	}

	serve = startServe(t, cfg, addr)
	if code, err := deliver(addr, crashEvent(0)); err != nil || code != http.StatusOK {
		t.Errorf("redelivery to the restored database: %d, %v", code, err)
	}
	serve.cmd.Process.Signal(syscall.SIGTERM)
	if err := serve.cmd.Wait(); err != nil {
		t.Fatalf("serve on the restored database did not stop cleanly: %v\n%s", err, serve.logs)
	}

	st, err := store.Open(context.Background(), "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var check string
	if err := st.SQLDB().QueryRow("PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check of the restored database: %q, %v", check, err)
	}
	ids, err := st.EventIDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, id := range ids {
		have[id] = true
	}
	for _, id := range before {
		if !have[id] {
			t.Fatalf("%s was acknowledged before the backup started and is not in the restored database (%d events)", id, len(ids))
		}
	}
	if len(ids) >= total {
		t.Logf("the backup holds all %d events: the burst ended before the copy's snapshot", len(ids))
	}
}

func pad5(i int) string {
	s := strconv.Itoa(i)
	return strings.Repeat("0", 5-len(s)) + s
}

// TestBackupCommandRefusals: what the commands refuse before touching anything.
func TestBackupCommandRefusals(t *testing.T) {
	dir := t.TempDir()
	sqliteCfg := filepath.Join(dir, "sqlite.yaml")
	writeConfig(t, sqliteCfg, "sqlite:"+filepath.Join(dir, "none.db"), "127.0.0.1:0")
	pgCfg := filepath.Join(dir, "pg.yaml")
	writeConfig(t, pgCfg, "postgres://membersync@db.internal/membersync", "127.0.0.1:0")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no --to", []string{"backup", "--config", sqliteCfg}, "usage"},
		{"no database", []string{"backup", "--to", filepath.Join(dir, "b.db"), "--config", sqliteCfg}, "there is no database at " + filepath.Join(dir, "none.db")},
		{"backup on PostgreSQL", []string{"backup", "--to", filepath.Join(dir, "b.db"), "--config", pgCfg}, "use pg_dump"},
		{"restore on PostgreSQL", []string{"restore", filepath.Join(dir, "b.db"), "--config", pgCfg}, "use pg_dump"},
		{"restore without a file", []string{"restore", "--config", sqliteCfg}, "usage"},
		{"restore of a missing file", []string{"restore", filepath.Join(dir, "missing.db"), "--config", sqliteCfg}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, nil, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// pollFiles polls get until it returns something, up to limit: the scheduled job runs in another
// process, which offers nothing to wait on.
func pollFiles[T any](t *testing.T, limit time.Duration, get func() []T) []T {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if v := get(); len(v) > 0 {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing after %s", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
