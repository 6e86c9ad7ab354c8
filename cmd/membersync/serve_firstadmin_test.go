package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeFirstStartPrintsUsersAdd starts serve on an empty database: it prints the exact command
// that creates the first admin account; once an account exists, a start prints nothing of the kind.
func TestServeFirstStartPrintsUsersAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts serve twice")
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "membersync.yaml")
	addr := freeAddr(t)
	writeConfig(t, cfgPath, "sqlite:"+filepath.Join(dir, "membersync.db"), addr)
	env := map[string]string{"STRIPE_SECRET_KEY": "sk_test_first", "STRIPE_WEBHOOK_SECRET": "whsec_first",
		"CIRCLE_API_TOKEN": "x", "KIT_API_KEY": "x", "MEMBERSYNC_SIGNING_KEY": "first-admin-test-signing-key-0123456789"}

	serveOnce := func() string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stderr := &lockedBuffer{}
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"serve", "--config", cfgPath}, func(k string) string { return env[k] },
				strings.NewReader(""), &lockedBuffer{}, stderr)
		}()
		for {
			if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					break
				}
			}
			select {
			case err := <-done:
				t.Fatalf("serve stopped: %v\n%s", err, stderr.String())
			case <-ctx.Done():
				t.Fatalf("serve did not become ready:\n%s", stderr.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("serve: %v\n%s", err, stderr.String())
		}
		return stderr.String()
	}

	want := "  membersync users add you@example.com --role admin --config " + cfgPath + "\n"
	if got := serveOnce(); !strings.Contains(got, "No admin account yet") || !strings.Contains(got, want) {
		t.Fatalf("first start does not print %q:\n%s", want, got)
	}
	if _, errOut, err := runCmd(t, env, "users", "add", "founder@example.com", "--role", "admin", "--config", cfgPath); err != nil {
		t.Fatalf("users add: %v\n%s", err, errOut)
	}
	if got := serveOnce(); strings.Contains(got, "No admin account yet") {
		t.Errorf("start with an admin account still asks for one:\n%s", got)
	}
}
