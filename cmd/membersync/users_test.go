package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/admin"
	"github.com/membersync/membersync/internal/store"
)

// runCmdStdin is runCmd with standard input.
func runCmdStdin(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = run(context.Background(), args, func(string) string { return "" }, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func TestUsersCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := dir + "/m.yaml"
	db := "sqlite:" + dir + "/m.db"
	writeConfig(t, cfg, db, "127.0.0.1:0")
	users := func(args ...string) (string, string, error) {
		t.Helper()
		return runCmd(t, nil, append(append([]string{"users"}, args...), "--config", cfg)...)
	}
	openStore := func() *store.Store {
		t.Helper()
		st, err := store.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	passwordLine := regexp.MustCompile(`(?m)^password: (\S+)$`)

	// add prints a generated password once; the store keeps only its hash.
	out, _, err := users("add", "Founder@Example.com", "--role", "admin")
	m := passwordLine.FindStringSubmatch(out)
	if err != nil || m == nil || !strings.Contains(out, "added founder@example.com (admin)") {
		t.Fatalf("add: err %v, out %q", err, out)
	}
	st := openStore()
	u, err := st.AdminUserByEmail(context.Background(), "founder@example.com")
	if err != nil || u.Role != "admin" || !admin.VerifyPassword(u.PasswordHash, m[1]) || strings.Contains(u.PasswordHash, m[1]) {
		t.Fatalf("stored user: %+v, %v", u, err)
	}

	// --password-stdin reads the password and does not print it.
	out, _, err = runCmdStdin(t, "a-long-enough-password\n", "users", "add", "help@example.com", "--role", "support", "--password-stdin", "--config", cfg)
	if err != nil || strings.Contains(out, "a-long-enough-password") || passwordLine.MatchString(out) {
		t.Fatalf("add --password-stdin: err %v, out %q", err, out)
	}
	h, _ := st.AdminUserByEmail(context.Background(), "help@example.com")
	if !admin.VerifyPassword(h.PasswordHash, "a-long-enough-password") {
		t.Error("the password from stdin does not verify")
	}

	refusals := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  string
	}{
		{"no role", "", []string{"users", "add", "x@example.com"}, 2, "role must be"},
		{"bad role", "", []string{"users", "add", "x@example.com", "--role", "owner"}, 2, "role must be"},
		{"no email", "", []string{"users", "add", "--role", "viewer"}, 2, "Usage: membersync users add"},
		{"duplicate", "", []string{"users", "add", "founder@example.com", "--role", "viewer"}, 1, "exists already"},
		{"short stdin password", "short\n", []string{"users", "add", "y@example.com", "--role", "viewer", "--password-stdin"}, 1, "at least 12"},
		{"not an email", "", []string{"users", "add", "founder", "--role", "viewer"}, 1, "email address"},
		{"unknown user", "", []string{"users", "disable", "ghost@example.com"}, 1, "no user ghost@example.com"},
		{"unknown subcommand", "", []string{"users", "promote"}, 2, `unknown subcommand "promote"`},
		{"token without a name", "", []string{"users", "token", "create", "founder@example.com"}, 2, "--name is required"},
	}
	for _, r := range refusals {
		out, errOut, err := runCmdStdin(t, r.stdin, append(r.args, "--config", cfg)...)
		msg := errOut
		if err != nil {
			msg += err.Error()
		}
		if exitCode(err) != r.code || !strings.Contains(msg, r.want) {
			t.Errorf("%s: exit %d (want %d), out %q, message %q (want %q)", r.name, exitCode(err), r.code, out, msg, r.want)
		}
	}

	// token create prints the token once; it authenticates by its hash.
	out, _, err = users("token", "create", "help@example.com", "--name", "grafana", "--role", "viewer")
	tok := regexp.MustCompile(`mst_[A-Za-z0-9_-]+`).FindString(out)
	if err != nil || tok == "" || !strings.Contains(out, `"grafana" for help@example.com (viewer)`) {
		t.Fatalf("token create: err %v, out %q", err, out)
	}
	got, gu, err := st.APITokenByHash(context.Background(), admin.HashToken(tok))
	if err != nil || got.Role != "viewer" || gu.Email != "help@example.com" {
		t.Errorf("stored token: %+v %+v %v", got, gu, err)
	}
	out, _, _ = users("token", "list")
	if !strings.Contains(out, "grafana") || strings.Contains(out, tok) {
		t.Errorf("token list: %q", out)
	}

	// disable, list, reset-password.
	if out, _, err := users("disable", "help@example.com"); err != nil || !strings.Contains(out, "disabled help@example.com") {
		t.Errorf("disable: %v %q", err, out)
	}
	if _, _, err := st.APITokenByHash(context.Background(), admin.HashToken(tok)); err == nil {
		t.Error("the token of a disabled user still authenticates")
	}
	out, _, err = users("list")
	if err != nil || !regexp.MustCompile(`help@example.com\s+support\s+disabled`).MatchString(out) || !regexp.MustCompile(`founder@example.com\s+admin\s+active`).MatchString(out) {
		t.Errorf("list: %v %q", err, out)
	}
	out, _, err = users("reset-password", "founder@example.com")
	m = passwordLine.FindStringSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("reset-password: %v %q", err, out)
	}
	u, _ = st.AdminUserByEmail(context.Background(), "founder@example.com")
	if !admin.VerifyPassword(u.PasswordHash, m[1]) {
		t.Error("the new password does not verify")
	}
	if out, _, err := users("token", "revoke", "1"); err != nil || !strings.Contains(out, "revoked token 1") {
		t.Errorf("revoke: %v %q", err, out)
	}

	// Every change is in the audit log, by the command line.
	entries, err := st.Audit(context.Background(), store.AuditFilter{Actor: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); got != "token.revoke,user.reset_password,user.disable,token.create,user.add,user.add" {
		t.Errorf("audit: %s", got)
	}
}
