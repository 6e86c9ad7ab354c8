package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/demo"
)

// TestDemoIsACLISandbox runs the demo (one scenario, then idle), loads the config and secrets it
// wrote the way its printed shell line does (MEMBERSYNC_CONFIG and demo.env), and drives the CLI
// against the running demo: every command must exit 0.
func TestDemoIsACLISandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := filepath.Join(t.TempDir(), "demo data")
	out := &lockedBuffer{}
	demoCtx, stopDemo := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- run(demoCtx, []string{"demo", "--speed", "50", "--scenario", "new-subscriber", "--listen", "127.0.0.1:0", "--data", dir},
			func(string) string { return "" }, strings.NewReader(""), out, &lockedBuffer{})
	}()
	defer func() {
		stopDemo()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	for !strings.Contains(out.String(), "membersync keeps running") {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("demo stopped: %v\n%s", err, out.String())
		case <-ctx.Done():
			t.Fatalf("demo did not settle:\n%s", out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if want := demoUseLine(dir); !strings.Contains(out.String(), want) {
		t.Errorf("demo output lacks the shell line %q:\n%s", want, out.String())
	}
	if !strings.Contains(out.String(), "(ada@example.com)") {
		t.Errorf("demo output lacks ada's status link:\n%s", out.String())
	}

	vars, err := readEnvFile(filepath.Join(dir, demoEnvFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{config.EnvStripeSecretKey, config.EnvCircleAPIToken, config.EnvKitAPIKey, config.EnvSigningKey, config.EnvMetricsToken} {
		if vars[k] == "" {
			t.Errorf("demo.env lacks %s", k)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, demoEnvFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("demo.env: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
	vars["MEMBERSYNC_CONFIG"] = filepath.Join(dir, "membersync.yaml")
	cli := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(ctx, args, func(k string) string { return vars[k] }, strings.NewReader(""), &stdout, &stderr)
		if err != nil {
			t.Errorf("%s: exit %d: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), exitCode(err), err, stdout.String(), stderr.String())
		}
		return stdout.String()
	}
	if got := cli("trace", "ada@example.com"); !strings.Contains(got, "ada") {
		t.Errorf("trace shows no journey:\n%s", got)
	}
	rows, err := csv.NewReader(strings.NewReader(cli("status-link", "--all"))).ReadAll()
	if err != nil || len(rows) != 2 || rows[1][0] != "ada@example.com" || !strings.Contains(rows[1][1], "/status/") {
		t.Errorf("status-link --all: %v %q", err, rows)
	}
	cli("reconcile")
	cli("backfill", "--since", "1h", "--dry-run")
	cli("users", "list")
	cli("alerts", "list")
	cli("resync", "ada@example.com")
}

// TestDemoDataFolder checks that a demo without --data removes its temporary folder at exit, and
// that a second run in a kept --data folder reuses the saved signing key.
func TestDemoDataFolder(t *testing.T) {
	runDemo := func(args ...string) string {
		t.Helper()
		var out, errb lockedBuffer
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		err := run(ctx, append([]string{"demo", "--no-scenarios", "--exit", "--listen", "127.0.0.1:0"}, args...),
			func(string) string { return "" }, strings.NewReader(""), &out, &errb)
		if err != nil {
			t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errb.String())
		}
		return out.String()
	}
	m := regexp.MustCompile(`Data +(\S+) `).FindStringSubmatch(runDemo())
	if m == nil {
		t.Fatal("demo printed no data folder")
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("temporary data folder %s still exists after exit (%v)", m[1], err)
	}

	dir := t.TempDir()
	runDemo("--data", dir)
	first, err := readEnvFile(filepath.Join(dir, demoEnvFile))
	if err != nil {
		t.Fatal(err)
	}
	runDemo("--data", dir)
	second, err := readEnvFile(filepath.Join(dir, demoEnvFile))
	if err != nil {
		t.Fatal(err)
	}
	if first[config.EnvSigningKey] == "" || first[config.EnvSigningKey] != second[config.EnvSigningKey] ||
		first[config.EnvMetricsToken] != second[config.EnvMetricsToken] {
		t.Errorf("a kept data folder does not keep the generated secrets: %v then %v", first, second)
	}
}

func TestDemoHelpListsScenarios(t *testing.T) {
	_, errOut, err := runCmd(t, nil, "demo", "-h")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range demo.Scenarios() {
		if !strings.Contains(errOut, s.Name) || !strings.Contains(errOut, s.Title) {
			t.Errorf("demo -h lacks scenario %s", s.Name)
		}
	}
}

func TestEnvFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.env")
	in := map[string]string{"A": "plain_value-1", "B": "with space", "C": "it's", "D": ""}
	if err := writeEnvFile(path, in); err != nil {
		t.Fatal(err)
	}
	got, err := readEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range in {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
