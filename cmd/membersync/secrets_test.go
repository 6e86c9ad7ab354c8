package main

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
)

// serveSecrets are every secret serve needs except the signing key; the base URLs stay the real
// providers', which serve does not call before it listens.
func serveSecrets() map[string]string {
	return map[string]string{config.EnvStripeSecretKey: "rk_test_servetest", config.EnvStripeWebhookSecret: "whsec_servetest0123456789",
		config.EnvCircleAPIToken: "circle-token", config.EnvKitAPIKey: "kit-key"}
}

// TestServeRefusesWithoutASigningKey: serve does not start without MEMBERSYNC_SIGNING_KEY, or with
// one shorter than 32 characters, and says how to make one; the real process exits with status 1.
func TestServeRefusesWithoutASigningKey(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/m.yaml"
	writeConfig(t, cfg, "sqlite:"+dir+"/m.db", "127.0.0.1:0")
	for key, want := range map[string]string{"": config.EnvSigningKey + ": not set", "only-31-characters-long-0123456": config.EnvSigningKey + ": shorter than 32 characters"} {
		vars := serveSecrets()
		vars[config.EnvSigningKey] = key
		_, _, err := runCmd(t, vars, "serve", "--config", cfg)
		if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "openssl rand -base64 32") {
			t.Errorf("signing key of %d characters: exit %d, %v; want %q and how to make a key", len(key), exitCode(err), err, want)
		}
	}
	if _, err := os.Stat(dir + "/m.db"); err == nil {
		t.Error("serve created the database before refusing")
	}

	cmd := exec.Command(os.Args[0], "serve", "--config", cfg)
	cmd.Env = []string{"MEMBERSYNC_RUN_MAIN=1", "PATH=" + os.Getenv("PATH")}
	for k, v := range serveSecrets() {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "membersync: config: MEMBERSYNC_SIGNING_KEY: not set") {
		t.Errorf("membersync serve without a signing key: %v, stderr %q; want exit status 1 and the reason", err, stderr.String())
	}
}

// TestServeRefusesTheOtherStripeMode: a database first served in live mode is never served with a
// test-mode key (and the reverse); serve logs each secret by its fingerprint first, and warns about
// a database file others can read.
func TestServeRefusesTheOtherStripeMode(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := dir + "/m.db"
	cfg := dir + "/m.yaml"
	writeConfig(t, cfg, "sqlite:"+db, "127.0.0.1:0")
	st, err := store.Open(ctx, "sqlite:"+db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordStripeMode(ctx, config.ModeLive); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if err := os.Chmod(db, 0o644); err != nil {
		t.Fatal(err)
	}
	vars := serveSecrets()
	vars[config.EnvSigningKey] = "serve-test-signing-key-0123456789abcdef"
	_, logs, err := runCmd(t, vars, "serve", "--config", cfg)
	want := "this database was run with a live-mode Stripe key; this key is test mode: keep test and live data in separate databases"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), config.EnvDatabaseURL) {
		t.Fatalf("a test key on a live database: %v; want %q", err, want)
	}
	if !regexp.MustCompile(`"msg":"secrets loaded \(keyed fingerprints\)","STRIPE_SECRET_KEY":"[0-9a-f]{8}","STRIPE_WEBHOOK_SECRET":"[0-9a-f]{8}",.*"MEMBERSYNC_SIGNING_KEY":"[0-9a-f]{8}","MEMBERSYNC_METRICS_TOKEN":"not set"`).MatchString(logs) {
		t.Errorf("serve did not log the secrets' fingerprints:\n%s", logs)
	}
	for _, v := range vars {
		if strings.Contains(logs, v) {
			t.Errorf("serve logged a secret (%.6s…)", v)
		}
	}
	if !strings.Contains(logs, "database files are not private") || !strings.Contains(logs, "chmod 600 "+db) {
		t.Errorf("serve did not warn about the 0644 database:\n%s", logs)
	}
}

// TestCheckSecrets: check lists every secret by its fingerprint and never by its value, warns about
// a full secret key with the permissions of a restricted one, fails on a short signing key and on
// a key of the other Stripe mode than the database's, and warns about database files others can read.
func TestCheckSecrets(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ctx := context.Background()
	if mode, ok, err := w.store.StripeMode(ctx); err != nil || !ok || mode != config.ModeTest {
		t.Fatalf("after serve started: recorded mode %q, %v, %v; want test", mode, ok, err)
	}
	out, _, err := runCmd(t, w.env(), "check", "--config", w.cfgFile())
	if err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	for _, want := range []string{
		`STRIPE_SECRET_KEY +set \(test mode\), fingerprint [0-9a-f]{8}\n`,
		`STRIPE_WEBHOOK_SECRET +set, fingerprint [0-9a-f]{8}\n`,
		`CIRCLE_API_TOKEN +set, fingerprint [0-9a-f]{8}\n`,
		`MEMBERSYNC_SIGNING_KEY +set, fingerprint [0-9a-f]{8}\n`,
		`MEMBERSYNC_SMTP_PASSWORD +not set\n`,
		`stripe key  WARN STRIPE_SECRET_KEY is a full secret key \(sk_test_…\)`,
		`create a restricted key \(rk_test_…\)`,
		`Subscriptions +Read `,
		`database    ok   sqlite; served in Stripe test mode`,
	} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("check output lacks %s:\n%s", want, out)
		}
	}
	for k, v := range w.env() {
		if len(v) >= 6 && strings.Contains(out, v) {
			t.Errorf("check printed %s", k)
		}
	}
	if strings.Contains(out, "database    WARN") {
		t.Errorf("check warns about the private database:\n%s", out)
	}

	short := maps.Clone(w.env())
	short[config.EnvSigningKey] = "short-key"
	out, _, err = runCmd(t, short, "check", "--config", w.cfgFile())
	if exitCode(err) != 1 || !strings.Contains(out, "secrets     FAIL") || !strings.Contains(out, "shorter than 32 characters") {
		t.Errorf("a short signing key: exit %d\n%s", exitCode(err), out)
	}

	_, path, _ := config.ParseDatabaseURL(w.cfg.DatabaseURL)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCmd(t, w.env(), "check", "--config", w.cfgFile())
	if err != nil || !strings.Contains(out, "database    WARN "+path+" is readable by group and others (mode 0644)") {
		t.Errorf("a 0644 database: %v\n%s", err, out)
	}

	// Another database, first served in live mode: the test key is refused there.
	live := t.TempDir() + "/live.db"
	st, err := store.Open(ctx, "sqlite:"+live)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RecordStripeMode(ctx, config.ModeLive); err != nil {
		t.Fatal(err)
	}
	st.Close()
	liveEnv := maps.Clone(w.env())
	liveEnv[config.EnvDatabaseURL] = "sqlite:" + live
	out, _, err = runCmd(t, liveEnv, "check", "--config", w.cfgFile())
	if exitCode(err) != 1 || !strings.Contains(out, "database    FAIL this database was run with a live-mode Stripe key; this key is test mode") {
		t.Errorf("a test key on a live database: exit %d\n%s", exitCode(err), out)
	}
}
