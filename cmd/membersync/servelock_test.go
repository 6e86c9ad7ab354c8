package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecondServeOnSQLiteRefused runs two real serve processes on one SQLite file: the second is
// refused with the first's pid and what to do, while CLI commands keep working beside the first;
// once the first has stopped, a serve starts again.
func TestSecondServeOnSQLiteRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	dir := t.TempDir()
	db := filepath.Join(dir, "membersync.db")
	cfg1, cfg2 := filepath.Join(dir, "one.yaml"), filepath.Join(dir, "two.yaml")
	addr1, addr2 := freeAddr(t), freeAddr(t)
	writeConfig(t, cfg1, "sqlite:"+db, addr1)
	writeConfig(t, cfg2, "sqlite:"+db, addr2)

	first := startServe(t, cfg1, addr1)
	defer func() {
		first.cmd.Process.Kill()
		first.cmd.Wait()
	}()

	// The refused serve exits at once; the deadline only keeps a broken guard from hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	second := exec.CommandContext(ctx, os.Args[0], "serve", "--config", cfg2)
	second.Env = first.cmd.Env
	var stderr bytes.Buffer
	second.Stderr = &stderr
	err := second.Run()
	want := "membersync: another membersync serve (pid " + strconv.Itoa(first.cmd.Process.Pid) + ") is using " + db +
		"; SQLite serves one instance: stop it, or use PostgreSQL (MEMBERSYNC_DATABASE_URL) to run several"
	if err == nil || !strings.Contains(stderr.String(), want) {
		t.Fatalf("second serve: %v\nstderr: %s\nwant: %s", err, stderr.String(), want)
	}

	if out, _, err := runCmd(t, nil, "migrate", "--config", cfg2); err != nil || !strings.Contains(out, "schema is current") {
		t.Errorf("migrate beside serve: %v %q", err, out)
	}

	first.cmd.Process.Signal(syscall.SIGTERM)
	if err := first.cmd.Wait(); err != nil {
		t.Fatalf("first serve did not stop cleanly: %v\n%s", err, first.logs)
	}
	again := startServe(t, cfg2, addr2)
	again.cmd.Process.Signal(syscall.SIGTERM)
	again.cmd.Wait()
}
