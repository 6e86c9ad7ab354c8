package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/store"
)

// TestMain lets tests run this test binary as the membersync command (for crash tests of a real
// process): with MEMBERSYNC_RUN_MAIN=1 it runs main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("MEMBERSYNC_RUN_MAIN") == "1" {
		os.Args = append([]string{"membersync"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runCmd(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

func TestUsage(t *testing.T) {
	out, _, err := runCmd(t, nil, "help")
	if err != nil || !strings.Contains(out, "serve") || !strings.Contains(out, "migrate") {
		t.Errorf("help: err %v, out %q", err, out)
	}
	_, errOut, err := runCmd(t, nil, "frobnicate")
	if exitCode(err) != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", exitCode(err), errOut)
	}
	_, errOut, err = runCmd(t, nil, "serve", "-h")
	if err != nil || !strings.Contains(errOut, "Examples:") || !strings.Contains(errOut, "-config") {
		t.Errorf("serve -h: err %v, stderr %q", err, errOut)
	}
	out, _, err = runCmd(t, nil, "version")
	if err != nil || !strings.HasPrefix(out, "membersync ") {
		t.Errorf("version: err %v, out %q", err, out)
	}
}

func TestServeRefusesMissingSecrets(t *testing.T) {
	_, _, err := runCmd(t, nil, "serve", "--config", "../../membersync.example.yaml")
	if err == nil || !strings.Contains(err.Error(), "STRIPE_WEBHOOK_SECRET: not set") {
		t.Errorf("got %v, want the missing secrets listed", err)
	}
}

func TestMigrate(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/m.yaml"
	writeConfig(t, cfg, "sqlite:"+dir+"/m.db", "127.0.0.1:0")
	ms, err := store.Migrations(store.SQLite)
	if err != nil {
		t.Fatal(err)
	}
	n := len(ms)
	out, _, err := runCmd(t, nil, "migrate", "--config", cfg)
	if err != nil || !strings.Contains(out, fmt.Sprintf("applied %d migration(s); sqlite schema is at version %d", n, n)) {
		t.Fatalf("first migrate: err %v, out %q", err, out)
	}
	out, _, err = runCmd(t, nil, "migrate", "--config", cfg)
	if err != nil || !strings.Contains(out, fmt.Sprintf("schema is current (version %d)", n)) {
		t.Errorf("second migrate: err %v, out %q", err, out)
	}
}

func writeConfig(t testing.TB, path, dbURL, listen string) {
	t.Helper()
	y := "listen: \"" + listen + "\"\ndatabase_url: \"" + dbURL + "\"\nlog_format: json\nplans:\n  - id: pro\n    stripe: {prices: [price_pro]}\n    circle: {access_groups: [1]}\n"
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
}

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }
