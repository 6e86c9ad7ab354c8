package main

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/drift"
)

// runDirect runs a command function with the world's secrets, as the binary would.
func runDirect(t *testing.T, w *world, cmd func(context.Context, env, []string) error, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	vars := w.env()
	e := env{getenv: func(k string) string { return vars[k] }, stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	err := cmd(context.Background(), e, append([]string{"--config", w.cfgFile()}, args...))
	if err != nil {
		t.Logf("stderr: %s", errb.String())
	}
	return out.String(), err
}

func TestE2EReconcileRepairsHandEdits(t *testing.T) {
	w := newWorld(t, worldOptions{})
	const ada, bea = "ada@example.com", "bea@example.com"
	for _, email := range []string{ada, bea} {
		w.stripe.Subscribe(w.stripe.CreateCustomer(email, ""), w.proPrice, 0)
	}
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	if !slices.Contains(w.access(ada), w.proGroup) {
		t.Fatal("no access after payment")
	}
	// Behind membersync's back: an admin removes Ada from the group; someone tags Bea canceled.
	if err := w.circle.RemoveFromGroupDirect(w.proGroup, ada); err != nil {
		t.Fatal(err)
	}
	if err := w.kit.TagDirect(w.tagCanceled, bea); err != nil {
		t.Fatal(err)
	}

	out, err := runDirect(t, w, cmdReconcile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"paid_no_access", ada, "extra_tag", bea, "2 drifted", "Dry run: nothing changed"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if slices.Contains(w.access(ada), w.proGroup) {
		t.Fatal("a dry run changed Circle")
	}

	out, err = runDirect(t, w, cmdReconcile, "--repair")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Queued a sync of 2 people") {
		t.Errorf("repair output:\n%s", out)
	}
	w.settle()
	if !slices.Contains(w.access(ada), w.proGroup) {
		t.Error("Ada's access was not restored")
	}
	if slices.Contains(w.kit.TagsOf(bea), w.tagCanceled) {
		t.Error("Bea's extra tag was not removed")
	}

	out, err = runDirect(t, w, cmdReconcile, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep drift.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output: %v\n%s", err, out)
	}
	if rep.Drifted != 0 || len(rep.Differences) != 0 || rep.People != 2 {
		t.Errorf("after the repair: %d people, %d drifted, differences %+v", rep.People, rep.Drifted, rep.Differences)
	}
	w.noDuplicates()
}

func TestE2EBackfillRecoversLostWebhooks(t *testing.T) {
	w := newWorld(t, worldOptions{})
	const cy = "cy@example.com"
	w.stripe.Subscribe(w.stripe.CreateCustomer(cy, ""), w.proPrice, 0)
	w.skip() // every webhook lost

	out, err := runDirect(t, w, cmdBackfill, "--since", "24h", "--dry-run")
	if err != nil || !strings.Contains(out, "Nothing was stored") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if n, _ := w.store.PeopleCount(context.Background()); n != 0 {
		t.Fatalf("a dry run created %d people", n)
	}
	out, err = runDirect(t, w, cmdBackfill, "--since", "24h")
	if err != nil || !strings.Contains(out, "Complete.") {
		t.Fatalf("backfill: %v\n%s", err, out)
	}
	w.settle()
	if !slices.Contains(w.access(cy), w.proGroup) {
		t.Error("no access after the backfill")
	}
	out, err = runDirect(t, w, cmdBackfill, "--since", "24h")
	if err != nil || !strings.Contains(out, " 0 new (") {
		t.Errorf("second backfill: %v\n%s", err, out)
	}
	out, err = runDirect(t, w, cmdBackfill, "--check")
	if err != nil || !strings.Contains(out, "Webhook endpoint: OK") {
		t.Errorf("--check: %v\n%s", err, out)
	}
}

func TestE2EReconcileFromStripe(t *testing.T) {
	w := newWorld(t, worldOptions{})
	const dee = "dee@example.com"
	cus := w.stripe.CreateCustomer(dee, "")
	w.stripe.Subscribe(cus, w.proPrice, 0)
	w.skip() // subscribed before membersync was installed

	out, err := runDirect(t, w, cmdReconcile, "--from-stripe")
	if err != nil || !strings.Contains(out, cus) || !strings.Contains(out, "1 unknown") {
		t.Fatalf("--from-stripe: %v\n%s", err, out)
	}
	out, err = runDirect(t, w, cmdReconcile, "--from-stripe", "--repair")
	if err != nil || !strings.Contains(out, "Brought 1 customers under management") {
		t.Fatalf("--from-stripe --repair: %v\n%s", err, out)
	}
	w.settle()
	if !slices.Contains(w.access(dee), w.proGroup) {
		t.Error("no access after --from-stripe --repair")
	}
}

func TestProgress(t *testing.T) {
	tests := []struct {
		name  string
		tty   bool
		total int
		n     int
		want  []string // substrings, in order
		lines int      // lines written
	}{
		{name: "plain, known total: a line per tenth", total: 20, n: 20, want: []string{"circle: 1/20 pages\n", "circle: 2/20 pages\n", "circle: 20/20 pages\n"}, lines: 11},
		{name: "plain, unknown total: first and last", total: 0, n: 5, want: []string{"circle: 1 pages\n", "circle: 5 pages\n"}, lines: 2},
		{name: "terminal: one redrawn bar", tty: true, total: 4, n: 4, want: []string{"\rcircle   [#######", "] 1/4 pages", "\rcircle   [##############################] 4/4 pages", "\n"}, lines: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := newProgress(&buf)
			p.tty = tt.tty
			now := time.Unix(0, 0)
			p.now = func() time.Time { return now }
			for i := 1; i <= tt.n; i++ {
				p.update("circle", i, tt.total, "pages")
			}
			p.finish()
			out := buf.String()
			rest := out
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%q", w, out)
				}
				rest = rest[i+len(w):]
			}
			if got := strings.Count(out, "\n"); got != tt.lines {
				t.Errorf("%d lines, want %d:\n%q", got, tt.lines, out)
			}
		})
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is a terminal")
	}
}
