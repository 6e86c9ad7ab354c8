package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// dbHits scans every column of every table (River's included), each cast to text, for needle,
// case-insensitively, and returns "table.column" for each hit. It is independent of the store's
// sweep, so that a copy the sweep misses fails the test.
func dbHits(t *testing.T, st *store.Store, needle string) []string {
	t.Helper()
	ctx := context.Background()
	needle = strings.ToLower(needle)
	var cols [][2]string
	var count func(table, col string) int
	if st.Dialect() == store.Postgres {
		rows, err := st.Pool().Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var c [2]string
			if err := rows.Scan(&c[0], &c[1]); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, c)
		}
		rows.Close()
		count = func(table, col string) (n int) {
			q := fmt.Sprintf(`SELECT COUNT(*) FROM %q WHERE strpos(LOWER(%q::text), $1) > 0`, table, col)
			if err := st.Pool().QueryRow(ctx, q, needle).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return n
		}
	} else {
		rows, err := st.SQLDB().QueryContext(ctx, `SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
			WHERE m.type = 'table' ORDER BY m.name, c.cid`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var c [2]string
			if err := rows.Scan(&c[0], &c[1]); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, c)
		}
		rows.Close()
		count = func(table, col string) (n int) {
			q := fmt.Sprintf(`SELECT COUNT(*) FROM %q WHERE instr(LOWER(CAST(%q AS TEXT)), ?) > 0`, table, col)
			if err := st.SQLDB().QueryRowContext(ctx, q, needle).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return n
		}
	}
	if !slices.ContainsFunc(cols, func(c [2]string) bool { return c[0] == "river_job" }) || len(cols) < 50 {
		t.Fatalf("the scan sees %d columns and no river_job: it is broken", len(cols))
	}
	var hits []string
	for _, c := range cols {
		if count(c[0], c[1]) > 0 {
			hits = append(hits, c[0]+"."+c[1])
		}
	}
	return hits
}

// apiToken adds an operator with role and returns an API token of theirs.
func apiToken(t *testing.T, w *world, email, role string) string {
	t.Helper()
	if _, _, err := runCmd(t, w.env(), "users", "add", email, "--role", role, "--config", w.cfgFile()); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, w.env(), "users", "token", "create", email, "--name", "e2e", "--config", w.cfgFile())
	tok := regexp.MustCompile(`mst_[A-Za-z0-9_-]+`).FindString(out)
	if err != nil || tok == "" {
		t.Fatal(err, out)
	}
	return tok
}

func apiCall(t *testing.T, w *world, tok, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, w.url+path, rd)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestE2EForget runs a demo-like journey (a subscriber, a course buyer, an operator's resync by
// email through the API), then forgets the subscriber: by default through the sync (Circle access
// and Kit tags removed), or --local-only (Circle and Kit untouched). Every table and column is then
// scanned for the email. A later event for the erased customer is managed again while Stripe has
// them, and stored as ignored once Stripe deleted them.
func TestE2EForget(t *testing.T) {
	for _, d := range storetest.Dialects() {
		for _, localOnly := range []bool{false, true} {
			name := d + "/sync"
			if localOnly {
				name = d + "/local-only"
			}
			t.Run(name, func(t *testing.T) { testForget(t, d, localOnly) })
		}
	}
}

func testForget(t *testing.T, dialect string, localOnly bool) {
	ctx := context.Background()
	w := newWorld(t, worldOptions{dialect: dialect})
	const display = "Ada.Lovelace@Example.com"
	email := identity.NormalizeEmail(display)
	ada := w.stripe.CreateCustomer(display, "Ada Lovelace")
	w.stripe.Subscribe(ada, w.proPrice, 0)
	bob := w.stripe.CreateCustomer("bob@example.com", "Bob Byron")
	w.stripe.Purchase(bob, w.coursePrice)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	if got := w.access(email); !slices.Equal(got, []int64{w.proGroup}) {
		t.Fatalf("before: Circle access %v, want [%d]", got, w.proGroup)
	}
	// An operator resyncs Ada by email: the audit log holds her email.
	tok := apiToken(t, w, "ops@example.com", "support")
	if code, body := apiCall(t, w, tok, "POST", "/api/v1/resync", map[string]string{"who": display, "note": "asked by " + email}); code != 202 && code != 200 {
		t.Fatalf("resync by email: %d %s", code, body)
	}
	w.settle()
	before := dbHits(t, w.store, email)
	for _, want := range []string{"people.email", "stripe_events.payload", "applied.email", "people.billing", "audit_log.after_json"} {
		if !slices.Contains(before, want) {
			t.Errorf("before forget the email is not in %s (found in %v): the journey is not the one this test means", want, before)
		}
	}
	pid, err := w.store.PersonIDByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}

	args := []string{"forget", "--config", w.cfgFile(), display, "--reason", "Art. 17 request from " + display + ", ticket 4411", "--by", "dana"}
	if localOnly {
		args = append(args, "--local-only")
	}
	out, errOut, err := runCmd(t, w.env(), args...)
	if err != nil {
		t.Fatalf("forget: %v\n%s%s", err, out, errOut)
	}
	w.settle()
	if state, err := w.store.ErasureState(ctx, pid); state != store.Erased || err != nil {
		t.Fatalf("after forget: state %q, %v; output %q", state, err, out)
	}

	if hits := dbHits(t, w.store, email); len(hits) != 0 {
		t.Errorf("the email is still in %v", hits)
	}
	if hits := dbHits(t, w.store, "Lovelace"); len(hits) != 0 {
		t.Errorf("the name is still in %v", hits)
	}
	if hits := dbHits(t, w.store, "bob@example.com"); !slices.Contains(hits, "people.email") {
		t.Errorf("Bob's email is left only in %v: the erasure touched another person", hits)
	}
	if got := w.access("bob@example.com"); !slices.Equal(got, []int64{w.courseGroup}) {
		t.Errorf("Bob's Circle access %v, want [%d]", got, w.courseGroup)
	}
	// Circle and Kit: removed through the sync, or left alone with --local-only.
	access, tags := w.access(email), w.kit.TagsOf(email)
	if localOnly {
		if !slices.Equal(access, []int64{w.proGroup}) || !slices.Equal(tags, []int64{w.tagActive}) {
			t.Errorf("--local-only touched Circle or Kit: access %v, tags %v", access, tags)
		}
	} else if len(access) != 0 || len(tags) != 0 {
		t.Errorf("after forget: Circle access %v, Kit tags %v; want none", access, tags)
	}

	// The tombstone: found by the email's keyed hash, with the customer and the reason sans email.
	tomb, err := w.store.ErasuresByEmail(ctx, w.cfg.Secrets.ErasureKey(), display)
	if err != nil || len(tomb) != 1 {
		t.Fatalf("tombstones: %+v, %v", tomb, err)
	}
	if e := tomb[0]; e.PersonID != pid || !slices.Equal(e.CustomerIDs, []string{ada}) || e.By != "cli (dana)" || e.LocalOnly != localOnly ||
		e.Reason != "Art. 17 request from "+store.Redacted+", ticket 4411" {
		t.Errorf("tombstone = %+v", e)
	}
	audit, err := w.store.Audit(ctx, store.AuditFilter{Action: "person.forget"})
	if err != nil || len(audit) != 1 || !strings.HasPrefix(audit[0].Note, "erased by cli (dana) because Art. 17 request from "+store.Redacted) {
		t.Errorf("audit entry: %+v, %v", audit, err)
	}
	// Forget again: the tombstone answers, by email and by customer.
	for _, who := range []string{display, ada} {
		out, _, err := runCmd(t, w.env(), "forget", "--config", w.cfgFile(), who, "--reason", "again")
		if err != nil || !strings.Contains(out, "erased") || !strings.Contains(out, "cli (dana)") || strings.Contains(strings.ToLower(out), email) {
			t.Errorf("forget %s again: %q, %v", who, out, err)
		}
	}

	if !localOnly {
		// Stripe still has Ada: a later purchase is managed again, like a new person.
		w.stripe.Purchase(ada, w.coursePrice)
		w.deliver(stripetest.DeliveryOptions{})
		w.settle()
		if got := w.access(email); !slices.Contains(got, w.courseGroup) {
			t.Errorf("a later purchase by the erased customer: access %v, want the course group", got)
		}
		if state, _ := w.store.ErasureState(ctx, pid); state != "" {
			t.Errorf("after a later purchase: state %q, want managed again", state)
		}
		return
	}
	// Stripe deletes Ada: its events are stored as ignored and bring nothing back.
	n, _ := w.store.EventCounts(ctx)
	w.stripe.DeleteCustomer(ada)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	after, _ := w.store.EventCounts(ctx)
	if after[store.EventIgnored] < n[store.EventIgnored]+2 {
		t.Errorf("events for the deleted, erased customer: counts %v then %v, want two more ignored", n, after)
	}
	if hits := dbHits(t, w.store, email); len(hits) != 0 {
		t.Errorf("after the customer's deletion the email is back in %v", hits)
	}
	if state, _ := w.store.ErasureState(ctx, pid); state != store.Erased {
		t.Errorf("after the customer's deletion: state %q, want erased", state)
	}
}

// TestE2EForgetOnCustomerDeleted: with erasure.on_customer_deleted, deleting the customer in Stripe
// erases the person as forget would.
func TestE2EForgetOnCustomerDeleted(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, worldOptions{yaml: "erasure:\n  on_customer_deleted: true\n"})
	email := "grace@example.com"
	cus := w.stripe.CreateCustomer(email, "Grace Hopper")
	w.stripe.Subscribe(cus, w.proPrice, 0)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	pid, err := w.store.PersonIDByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	w.stripe.DeleteCustomer(cus)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	if state, _ := w.store.ErasureState(ctx, pid); state != store.Erased {
		t.Fatalf("state after customer.deleted: %q, want erased", state)
	}
	if hits := dbHits(t, w.store, email); len(hits) != 0 {
		t.Errorf("the email is still in %v", hits)
	}
	if got, tags := w.access(email), w.kit.TagsOf(email); len(got) != 0 || len(tags) != 0 {
		t.Errorf("Circle access %v, Kit tags %v; want none", got, tags)
	}
	e, err := w.store.LatestErasure(ctx, pid)
	if err != nil || e.Reason != "customer.deleted in Stripe" || e.By != "stripe" {
		t.Errorf("tombstone = %+v, %v", e, err)
	}
}

func TestForgetUsage(t *testing.T) {
	_, _, err := runCmd(t, nil, "forget", "ada@example.com")
	if err == nil || !strings.Contains(err.Error(), "--reason") {
		t.Errorf("forget without --reason: %v", err)
	}
	_, _, err = runCmd(t, nil, "forget", "--reason", "x")
	if exitCode(err) != 2 {
		t.Errorf("forget without a person: exit %d (%v), want 2", exitCode(err), err)
	}
	_, errOut, err := runCmd(t, nil, "forget", "-h")
	if err != nil || !strings.Contains(errOut, "--local-only") || !strings.Contains(errOut, "Examples:") {
		t.Errorf("forget -h: %v %q", err, errOut)
	}
}

func TestReorderFlags(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"a@b.c", "--reason", "r", "--local-only"}, []string{"--reason", "r", "--local-only", "a@b.c"}},
		{[]string{"--reason=r", "a@b.c", "--by", "x"}, []string{"--reason=r", "--by", "x", "a@b.c"}},
		{[]string{"--local-only", "a@b.c"}, []string{"--local-only", "a@b.c"}},
		{[]string{"--", "-odd"}, []string{"-odd"}},
	} {
		if got := reorderFlags(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("reorderFlags(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
