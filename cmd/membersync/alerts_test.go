package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
)

func alertsConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	path := dir + "/a.yaml"
	writeConfig(t, path, "sqlite:"+dir+"/a.db", "127.0.0.1:0")
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("public_url: https://members.example.com\n" + extra); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestAlertsTest(t *testing.T) {
	var mu sync.Mutex
	got := map[string][]byte{}
	var sig string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path] = b
		if s := r.Header.Get(alert.SignatureHeader); s != "" {
			sig = s
		}
		mu.Unlock()
	}))
	defer srv.Close()
	down := httptest.NewServer(http.NotFoundHandler())
	downAddr := strings.TrimPrefix(down.URL, "http://")
	down.Close()
	host, port, _ := strings.Cut(downAddr, ":")

	const secret = "alert-webhook-secret-0123456789"
	env := map[string]string{
		"MEMBERSYNC_SLACK_WEBHOOK_URL":    srv.URL + "/services/T1/B1/Xq9slack",
		"MEMBERSYNC_ALERT_WEBHOOK_SECRET": secret,
	}
	cfg := alertsConfig(t, t.TempDir(), "alerts:\n  timeout: 2s\n  slack: {enabled: true}\n  webhook: {url: \""+srv.URL+"/ops\"}\n"+
		"  email: {host: \""+host+"\", port: "+port+", from: alerts@example.com, to: [founder@example.com]}\n")

	out, errOut, err := runCmd(t, env, "alerts", "test", "--config", cfg)
	t.Logf("alerts test:\n%s", out)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "1 of 3 notifiers failed") {
		t.Errorf("exit %d, err %v; want 1 with one notifier failed (stderr %q)", exitCode(err), err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("output %q: want one line per notifier", out)
	}
	for i, want := range []struct{ prefix, status string }{
		{"slack", "  ok"},
		{"webhook", "  ok"},
		{"email", "FAILED: connecting to the SMTP server"},
	} {
		if !strings.HasPrefix(lines[i], want.prefix) || !strings.Contains(lines[i], want.status) {
			t.Errorf("line %d %q: want %s … %s", i, lines[i], want.prefix, want.status)
		}
	}
	if strings.Contains(out+errOut, "Xq9slack") || strings.Contains(out+errOut, secret) {
		t.Errorf("output reveals a secret:\n%s%s", out, errOut)
	}
	mu.Lock()
	defer mu.Unlock()
	var slack map[string]string
	if err := json.Unmarshal(got["/services/T1/B1/Xq9slack"], &slack); err != nil || !strings.Contains(slack["text"], "*TEST: membersync can reach you*") ||
		!strings.Contains(slack["text"], "<https://members.example.com/admin|Open in membersync>") {
		t.Errorf("Slack got %q (%v)", slack["text"], err)
	}
	if err := webhook.ValidatePayload(got["/ops"], sig, secret); err != nil {
		t.Errorf("webhook signature: %v", err)
	}
}

func TestAlertsTestNeedsANotifier(t *testing.T) {
	tests := []struct {
		name  string
		extra string
		want  string
	}{
		{"none configured", "", "no notifier is configured"},
		{"slack without its URL", "alerts:\n  slack: {enabled: true}\n", "MEMBERSYNC_SLACK_WEBHOOK_URL: not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCmd(t, nil, "alerts", "test", "--config", alertsConfig(t, t.TempDir(), tt.extra))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestAlertsList(t *testing.T) {
	dir := t.TempDir()
	cfg := alertsConfig(t, dir, "")
	if _, _, err := runCmd(t, nil, "migrate", "--config", cfg); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, nil, "alerts", "list", "--config", cfg)
	if err != nil || strings.TrimSpace(out) != "no alerts firing" {
		t.Fatalf("empty: err %v, out %q", err, out)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+dir+"/a.db")
	if err != nil {
		t.Fatal(err)
	}
	since := time.Now().Add(-42 * time.Minute)
	a := store.AlertState{ID: "credentials:circle", Rule: "credentials", Firing: true, Since: since, LastSent: since, Sent: 1,
		Title: "Circle rejected membersync's credentials", Detail: "3 syncs stopped.", Link: "https://members.example.com/admin/review", Affected: 3}
	if _, err := st.SaveAlertState(ctx, &a); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendAlertNotification(ctx, store.AlertNotification{AlertID: a.ID, Rule: a.Rule, At: since, Status: "firing", Title: a.Title,
		Results: "slack=ok email=failed: connecting to the SMTP server", Delivered: true}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, _, err = runCmd(t, nil, "alerts", "list", "--config", cfg, "--history", "5")
	t.Logf("alerts list:\n%s", out)
	for _, want := range []string{"1 alert firing:", "credentials:circle  since ", "(42m)  3 affected  notified 1×", "Circle rejected membersync's credentials",
		"https://members.example.com/admin/review", "last 1 message(s):", "firing  credentials:circle", "slack=ok email=failed"} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("alerts list (err %v) lacks %q", err, want)
		}
	}
	if _, errOut, err := runCmd(t, nil, "alerts", "frob"); exitCode(err) != 2 || !strings.Contains(errOut, `unknown subcommand "frob"`) {
		t.Errorf("unknown subcommand: exit %d, stderr %q", exitCode(err), errOut)
	}
}

// TestE2EAlertsOnARealCircleOutage evaluates the alert rules over what serve journals during a
// Circle outage: the Circle-failures alert fires with the person, and resolves after the heal.
func TestE2EAlertsOnARealCircleOutage(t *testing.T) {
	w := newWorld(t, worldOptions{})
	var mu sync.Mutex
	var msgs []alert.Message
	rcv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		var m alert.Message
		_ = json.NewDecoder(r.Body).Decode(&m)
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	}))
	defer rcv.Close()
	take := func(id string) []alert.Message {
		mu.Lock()
		defer mu.Unlock()
		var out []alert.Message
		for _, m := range msgs {
			if m.AlertID == id {
				out = append(out, m)
			}
		}
		msgs = nil
		return out
	}
	var now time.Time
	ev := &alert.Evaluator{Store: w.store, Config: w.cfg.Alerts, PublicURL: "https://members.example.com",
		Notifiers: []alert.Notifier{&alert.Webhook{URL: rcv.URL, Secret: "0123456789abcdef", Client: &http.Client{}}},
		Now:       func() time.Time { return now }}
	ctx := context.Background()

	cus := w.stripe.CreateCustomer("dan@example.com", "Dan")
	_, charge := w.stripe.Purchase(cus, w.coursePrice)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	w.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
	w.stripe.Refund(charge, 19900)
	w.deliver(stripetest.DeliveryOptions{})
	waitFor(t, "four syncs failing on Circle", func() bool {
		st, err := w.store.CircleSyncFailures(ctx, time.Now().Add(-time.Hour))
		return err == nil && st.Syncs > 3
	})
	now = time.Now()
	if err := ev.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	got := take(alert.RuleCircleFailures)
	pid, _ := w.store.PersonIDByEmail(ctx, "dan@example.com")
	if len(got) != 1 || got[0].Status != alert.StatusFiring || got[0].Affected != 1 ||
		got[0].Link != "https://members.example.com/admin/people/"+strconv.FormatInt(pid, 10) || !strings.Contains(got[0].Detail, "HTTP 503") {
		t.Fatalf("circle_failures messages: %+v, want one firing about person %d with the 503", got, pid)
	}
	t.Logf("%s: %s — %s", got[0].Status, got[0].Title, got[0].Detail)

	w.circle.Faults.Heal()
	w.settle()
	now = time.Now().Add(61 * time.Minute)
	if err := ev.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := take(alert.RuleCircleFailures); len(got) != 1 || got[0].Status != alert.StatusResolved {
		t.Errorf("after the heal: %+v, want one resolved message", got)
	}
}
