package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/status"
	"github.com/membersync/membersync/internal/store"
)

func statusLinkCmd(t *testing.T, vars map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{getenv: func(k string) string { return vars[k] }, stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}
	err = cmdStatusLink(context.Background(), e, args)
	return out.String(), errb.String(), err
}

func TestStatusLink(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath := dir + "/m.yaml"
	writeConfig(t, cfgPath, "sqlite:"+dir+"/m.db", "127.0.0.1:0")
	st, err := store.Open(ctx, "sqlite:"+dir+"/m.db")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var ada int64
	for _, c := range []string{"cus_ada", "cus_noemail"} {
		err := st.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.IngestEvent(ctx, store.Event{ID: "evt_" + c, Type: "customer.created", CustomerID: c,
				Created: time.Now(), Actionable: true, Payload: []byte(`{}`)})
			if c == "cus_ada" {
				ada = res.PersonID
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetIdentity(ctx, ada, "ada@example.com", "Ada"); err != nil {
		t.Fatal(err)
	}
	key := "cli-test-signing-key-0123456789abcdef"
	vars := map[string]string{config.EnvSigningKey: key}
	token := func(t *testing.T, link string) string {
		t.Helper()
		prefix := "http://127.0.0.1:0/status/"
		if !strings.HasPrefix(link, prefix) {
			t.Fatalf("link %q does not start with %s", link, prefix)
		}
		return strings.TrimPrefix(link, prefix)
	}

	t.Run("one person", func(t *testing.T) {
		for _, args := range [][]string{
			{"--config", cfgPath, "ada@example.com"},
			{"--config", cfgPath, "Ada@Example.com", "--ttl", "48h"}, // flags after the argument, as documented
			{"--config", cfgPath, "--ttl", "48h", "cus_ada"},
		} {
			out, errOut, err := statusLinkCmd(t, vars, "", args...)
			if err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			if !strings.Contains(errOut, "only work on this machine") {
				t.Errorf("%v: no warning about the local public_url: %q", args, errOut)
			}
			tok := token(t, strings.TrimSpace(out))
			if pid, err := status.ParseToken([]byte(key), tok, time.Now()); err != nil || pid != ada {
				t.Errorf("%v: the link names %d (%v), want %d", args, pid, err, ada)
			}
			ttl := 720 * time.Hour
			if strings.Contains(strings.Join(args, " "), "48h") {
				ttl = 48 * time.Hour
			}
			if _, err := status.ParseToken([]byte(key), tok, time.Now().Add(ttl+time.Minute)); err == nil {
				t.Errorf("%v: the link still works after its ttl", args)
			}
		}
	})

	t.Run("refusals", func(t *testing.T) {
		cases := []struct {
			vars map[string]string
			args []string
			want string
		}{
			{vars, []string{"--config", cfgPath, "nobody@example.com"}, "no person with email"},
			{vars, []string{"--config", cfgPath, "--ttl", "0s", "ada@example.com"}, "--ttl"},
			{vars, []string{"--config", cfgPath, "--ttl", "10000h", "ada@example.com"}, "--ttl"},
			{nil, []string{"--config", cfgPath, "ada@example.com"}, config.EnvSigningKey},
			{map[string]string{config.EnvSigningKey: "short-signing-key"}, []string{"--config", cfgPath, "ada@example.com"}, "shorter than 32 characters"},
			{vars, []string{"--config", cfgPath}, "usage"},
			{vars, []string{"--config", cfgPath, "--all", "ada@example.com"}, "usage"},
		}
		for _, c := range cases {
			out, _, err := statusLinkCmd(t, c.vars, "", c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: err %v, want one about %q", c.args, err, c.want)
			}
			if out != "" {
				t.Errorf("%v: printed %q on refusal", c.args, out)
			}
		}
	})

	t.Run("all", func(t *testing.T) {
		out, _, err := statusLinkCmd(t, vars, "", "--config", cfgPath, "--all")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0][0] != "email" || rows[0][1] != "status_link" || rows[1][0] != "ada@example.com" {
			t.Fatalf("CSV = %v, want the header and ada only (the other person has no email yet)", rows)
		}
		if pid, err := status.ParseToken([]byte(key), token(t, rows[1][1]), time.Now()); err != nil || pid != ada {
			t.Errorf("the CSV link names %d (%v), want %d", pid, err, ada)
		}
	})

	t.Run("stdin", func(t *testing.T) {
		out, errOut, err := statusLinkCmd(t, vars, "email\nada@example.com\n\ncus_noemail\nnobody@example.com\n", "--config", cfgPath, "-")
		if err == nil || !strings.Contains(err.Error(), "2 line(s) skipped") {
			t.Errorf("err %v, want 2 lines skipped", err)
		}
		if !strings.Contains(errOut, "line 4: skipped") || !strings.Contains(errOut, "line 5: skipped") {
			t.Errorf("stderr does not name the skipped lines: %q", errOut)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) != 2 || rows[1][0] != "ada@example.com" {
			t.Errorf("CSV = %v (%v), want the header and ada", rows, err)
		}
	})
}
