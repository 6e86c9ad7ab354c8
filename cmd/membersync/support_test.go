package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/support/sources"
	"github.com/membersync/membersync/internal/support/sources/helpscouttest"
	"github.com/membersync/membersync/internal/support/sources/zendesktest"
	"github.com/membersync/membersync/internal/web"
)

// TestSupportSourcesWiring: serve mounts only the configured support webhooks, and schedules the
// mailbox poll and the note job only for the configured sources.
// supportApp builds the part of an app the support sources use, from yaml and env.
func supportApp(t *testing.T, yaml string, env map[string]string) *app {
	t.Helper()
	const plans = "plans:\n  - id: pro\n    stripe: {prices: [price_1]}\n    circle: {access_groups: [1]}\n"
	yaml = "database_url: sqlite:" + t.TempDir() + "/m.db\n" + yaml + plans
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	st, err := openDB(context.Background(), cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &app{cfg: cfg, log: slog.New(slog.DiscardHandler), store: st, egress: cfg.EgressPolicies(), names: catalog.NewCached(st)}
}

// TestSupportChecks: check tries each configured support source once (here the help desks'
// fakes) and names a wrong credential, and adds nothing when no source is configured (the mailbox's
// check is internal/support/sources TestIMAPCheck, against a real IMAP server).
func TestSupportChecks(t *testing.T) {
	if got := supportApp(t, "", nil).supportChecks(context.Background()); len(got) != 0 {
		t.Fatalf("checks without a configured source: %+v", got)
	}
	hs := helpscouttest.New(helpscouttest.Options{})
	defer hs.Close()
	zd := zendesktest.New(zendesktest.Options{})
	defer zd.Close()
	yaml := "support:\n  helpscout: {enabled: true, base_url: \"" + hs.URL + "\"}\n" +
		"  zendesk: {enabled: true, email: " + zendesktest.DefaultEmail + ", base_url: \"" + zd.URL + "\"}\n"
	env := map[string]string{config.EnvHelpScoutWebhookSecret: "h", config.EnvHelpScoutAppID: helpscouttest.DefaultAppID,
		config.EnvHelpScoutAppSecret: helpscouttest.DefaultAppSecret, config.EnvZendeskWebhookSecret: "z", config.EnvZendeskAPIToken: "wrong"}
	got := supportApp(t, yaml, env).supportChecks(context.Background())
	byName := map[string]connCheck{}
	for _, c := range got {
		byName[c.Name] = c
	}
	if c := byName["Help Scout"]; !c.OK {
		t.Errorf("Help Scout: %+v, want ok", c)
	}
	if c := byName["Zendesk"]; c.OK || !strings.Contains(c.Message, "ZENDESK_API_TOKEN") {
		t.Errorf("Zendesk with a wrong token: %+v, want a failure naming ZENDESK_API_TOKEN", c)
	}
	if len(got) != 2 {
		t.Errorf("%d checks, want 2: %+v", len(got), got)
	}
}

func TestSupportSourcesWiring(t *testing.T) {
	build := supportApp

	a := build(t, "", nil)
	if m := a.supportMounts(a.log, nil); m != nil {
		t.Fatalf("mounts without a configured source: %v", m)
	}
	var opts queue.Options
	a.scheduleSupport(&opts)
	if len(opts.PeriodicJobs) != 0 || opts.Workers != nil {
		t.Fatalf("jobs scheduled without a configured source: %d", len(opts.PeriodicJobs))
	}

	a = build(t, "support:\n  webhook: {enabled: true}\n  imap: {host: imap.example.com, username: u}\n  helpscout: {enabled: true}\n",
		map[string]string{config.EnvSupportWebhookSecret: "s3cret-s3cret-s3cret", config.EnvIMAPPassword: "p", config.EnvHelpScoutWebhookSecret: "h"})
	a.scheduleSupport(&opts)
	if len(opts.PeriodicJobs) != 2 || opts.Workers == nil {
		t.Fatalf("%d periodic jobs, want the poll and the notes", len(opts.PeriodicJobs))
	}
	srv := httptest.NewServer((&web.Server{Mounts: a.supportMounts(a.log, nil)}).Routes())
	defer srv.Close()
	body := []byte(`{"id":"w-1","from":"ana@example.com","body":"I paid but I can't log in"}`)
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/support/webhook", bytes.NewReader(body))
	req.Header.Set(sources.WebhookSignatureHeader, alert.Sign("s3cret-s3cret-s3cret", time.Now(), body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signed webhook: %d, want 200", resp.StatusCode)
	}
	for path, want := range map[string]int{"/support/helpscout": 401, "/support/zendesk": 404} {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("POST %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
}
