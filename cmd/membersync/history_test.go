package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/demo"
	"github.com/membersync/membersync/internal/history"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// runServeFor runs serve on cfgPath with env until the returned stop is called, and returns its
// base URL. Its clock is the fake Stripe's, as in the demo.
func runServeFor(t *testing.T, dw *demo.World, cfgPath string, env map[string]string) (base string, stop func()) {
	t.Helper()
	cfg, err := config.Load(cfgPath, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), serveOptions{configPath: cfgPath, ready: ready,
			app: appOptions{now: dw.Stripe.Now, retryBase: 20 * time.Millisecond, rateLimitSnooze: 200 * time.Millisecond}})
	}()
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return base, stop
}

// TestRestartWithChangedWebhookSecretNamesIt is the founder's "it stopped after the deploy": serve
// runs and takes a signed event; it is restarted with another STRIPE_WEBHOOK_SECRET than the
// endpoint's signing secret; the next events, signed with the endpoint's (old) secret, are refused,
// Stripe holds them as undelivered, and the webhook-failures alert says which start changed what.
// `membersync history` prints both starts.
func TestRestartWithChangedWebhookSecretNamesIt(t *testing.T) {
	ctx := context.Background()
	dw := demo.NewWorld(demo.Options{})
	t.Cleanup(dw.Close)
	cfgPath := filepath.Join(t.TempDir(), "membersync.yaml")
	if err := os.WriteFile(cfgPath, []byte(dw.ConfigYAML("127.0.0.1:0", "http://localhost:0", storetest.URL(t, store.SQLite))), 0o600); err != nil {
		t.Fatal(err)
	}
	env := dw.Env("", "history-test-signing-key-0123456789abcdef")
	endpointSecret := env[config.EnvStripeWebhookSecret]

	base, stop := runServeFor(t, dw, cfgPath, env)
	dw.Stripe.CreateCustomer("first@example.com", "First")
	if err := dw.Deliver(ctx, base+"/webhooks/stripe", stripetest.DeliveryOptions{}); err != nil {
		t.Fatalf("delivery before the restart: %v", err)
	}
	stop()

	// The deploy: STRIPE_WEBHOOK_SECRET now holds another value than the endpoint's signing secret.
	dw.Stripe.Advance(time.Minute)
	changed := map[string]string{}
	for k, v := range env {
		changed[k] = v
	}
	changed[config.EnvStripeWebhookSecret] = "whsec_pastedthewrongone0123456789"
	base, _ = runServeFor(t, dw, cfgPath, changed)

	// Two minutes and a little on: event times are whole seconds.
	dw.Stripe.Advance(2*time.Minute + 2*time.Second)
	before := len(dw.Stripe.Events())
	dw.Stripe.CreateCustomer("ada@example.com", "Ada")
	dw.Stripe.CreateCustomer("bob@example.com", "Bob")
	var bodies []stripetest.EventJSON
	for _, e := range dw.Stripe.Events()[before:] {
		bodies = append(bodies, e.JSON)
	}
	for _, r := range dw.Stripe.Deliver(ctx, base+"/webhooks/stripe", bodies, stripetest.DeliveryOptions{Secret: endpointSecret}) {
		if r.Err != nil || r.Status != http.StatusBadRequest {
			t.Fatalf("delivery of %s signed with the endpoint's secret after the restart: %d %v, want 400", r.EventID, r.Status, r.Err)
		}
	}

	cfg, err := config.Load(cfgPath, func(k string) string { return changed[k] })
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	starts, err := history.List(ctx, st, 10)
	if err != nil || len(starts) != 2 {
		t.Fatalf("recorded starts: %+v %v, want 2", starts, err)
	}
	restart := starts[0]
	if len(restart.Deltas) != 1 || restart.Deltas[0].Key != config.EnvStripeWebhookSecret || restart.Deltas[0].Kind != history.Changed || restart.ConfigDigest == "" {
		t.Fatalf("the restart's changes: %+v", restart)
	}

	// The alert evaluation, as the periodic job runs it, ten minutes on: Stripe still holds both
	// events as undelivered.
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
	ev := &alert.Evaluator{Store: st, Config: cfg.Alerts, PublicURL: "https://members.example.com",
		Notifiers:   []alert.Notifier{&alert.Webhook{URL: rcv.URL, Secret: "0123456789abcdef", Client: &http.Client{}}},
		Stripe:      billing.NewReader(billing.Config{SecretKey: dw.Stripe.SecretKey(), BaseURL: dw.Stripe.URL, Now: dw.Stripe.Now}),
		WhatChanged: whatChanged(st),
		Now:         func() time.Time { return dw.Stripe.Now().Add(11 * time.Minute) }}
	if err := ev.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	var fired *alert.Message
	for i := range msgs {
		if msgs[i].AlertID == alert.RuleWebhookFailures && msgs[i].Status == alert.StatusFiring {
			fired = &msgs[i]
		}
	}
	if fired == nil {
		t.Fatalf("no webhook_failures alert fired; messages: %+v", msgs)
	}
	want := "What changed: Undelivered webhooks began 2 min after the start at " + restart.At.UTC().Format("15:04 UTC") + ", which changed STRIPE_WEBHOOK_SECRET."
	if !strings.Contains(fired.Detail, want) {
		t.Errorf("alert detail:\n%s\nlacks %q", fired.Detail, want)
	}
	if strings.Contains(fired.Detail, "whsec_") {
		t.Errorf("alert detail carries a secret: %s", fired.Detail)
	}
	t.Logf("%s: %s", fired.Title, fired.Detail)

	out, _, err := runCmd(t, changed, "history", "--config", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], ": STRIPE_WEBHOOK_SECRET changed") || !strings.Contains(lines[1], "first recorded start") {
		t.Errorf("membersync history:\n%s", out)
	}
	out, _, err = runCmd(t, changed, "history", "--config", cfgPath, "--json", "--limit", "1")
	var got []history.Start
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || len(got) != 1 || got[0].ID != restart.ID {
		t.Errorf("membersync history --json --limit 1: %v %s", err, out)
	}
	if _, _, err := runCmd(t, changed, "history", "--config", cfgPath, "--limit", "0"); exitCode(err) != 2 {
		t.Errorf("--limit 0: exit %d, want 2", exitCode(err))
	}
}

// TestHistoryCommandFoldsRestarts prints a history of a first start, a change and three restarts:
// the restarts come as one line, and an empty history says what records one.
func TestHistoryCommandFoldsRestarts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "m.yaml")
	writeConfig(t, cfgPath, "sqlite:"+filepath.Join(dir, "m.db"), "127.0.0.1:0")
	if _, _, err := runCmd(t, nil, "migrate", "--config", cfgPath); err != nil {
		t.Fatal(err)
	}
	if out, _, err := runCmd(t, nil, "history", "--config", cfgPath); err != nil || !strings.Contains(out, "no serve start recorded yet") {
		t.Errorf("empty history: %v %q", err, out)
	}
	env := map[string]string{config.EnvSigningKey: "history-cli-signing-key-0123456789abcdef", config.EnvStripeWebhookSecret: "whsec_one1234567890"}
	cfg, err := config.Load(cfgPath, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	build := history.Build{Version: "v2.0.0", Revision: "feedfacecafe"}
	t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
	record := func(at time.Time) {
		t.Helper()
		if _, err := history.Record(ctx, st, history.Take(cfg, cfgPath, build, "h/1", at)); err != nil {
			t.Fatal(err)
		}
	}
	record(t0)
	cfg.Plans = append(cfg.Plans, config.Plan{ID: "vip", Circle: config.PlanCircle{AccessGroups: []int64{2}}})
	record(t0.Add(time.Hour))
	for i := range 3 {
		record(t0.Add(2*time.Hour + time.Duration(i)*time.Minute))
	}
	out, _, err := runCmd(t, nil, "history", "--config", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-12-06 11:02 restart v2.0.0 (feedfac), nothing changed (3 restarts since 2026-12-06 11:00)\n" +
		"2026-12-06 10:00 start v2.0.0 (feedfac): plans[vip] added\n" +
		"2026-12-06 09:00 first recorded start v2.0.0 (feedfac)\n"
	if out != want {
		t.Errorf("membersync history:\n%s\nwant:\n%s", out, want)
	}
}
