package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membersync/membersync/internal/browsertest"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/history"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

const (
	oldWebhookSecret = "whsec_OLDhistorysecret1"
	newWebhookSecret = "whsec_NEWhistorysecret2"
)

// recordDeploys records a deploy history ending at the fixture's clock (12:00): the first start at
// 07:00, one at 11:30 that rotated STRIPE_WEBHOOK_SECRET and moved public_url, restarts at 11:40 and
// 11:50; then bad signatures from 11:32, as the webhook handler counts them.
func recordDeploys(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	now := f.clock.Now().Truncate(time.Minute) // refusals are counted per minute
	cfg := testConfig()
	cfg.DatabaseURL = "sqlite:membersync.db"
	cfg.Secrets.SigningKey = "history-signing-key-0123456789abcdef"
	cfg.Secrets.StripeWebhookSecrets = []string{oldWebhookSecret}
	build := history.Build{Version: "v1.4.0", Revision: "0a1b2c3d4e5f"}
	record := func(at time.Time) {
		t.Helper()
		if _, err := history.Record(ctx, f.st, history.Take(cfg, "", build, "web-1/4242", at)); err != nil {
			t.Fatal(err)
		}
	}
	record(now.Add(-5 * time.Hour))
	cfg.Secrets.StripeWebhookSecrets = []string{newWebhookSecret}
	cfg.PublicURL = "https://club.example.com"
	record(now.Add(-30 * time.Minute))
	record(now.Add(-20 * time.Minute))
	record(now.Add(-10 * time.Minute))
	if err := f.st.AddWebhookRefusals(ctx, []store.WebhookRefusals{
		{Minute: now.Add(-28 * time.Minute), Code: "bad_signature", Count: 40},
		{Minute: now.Add(-5 * time.Minute), Code: "bad_signature", Count: 12},
	}); err != nil {
		t.Fatal(err)
	}
}

// TestHistoryTimeline reads Settings → History and GET /api/v1/history as a viewer: the rotation
// is named with its fingerprints and never a value, the two restarts fold into one row, and a
// malformed limit is refused.
func TestHistoryTimeline(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			f := newFixture(t, d)
			c := f.login(RoleViewer)
			if resp, body := c.get("/admin/settings/history"); resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="history-empty"`) {
				t.Errorf("empty history: %d %.300s", resp.StatusCode, body)
			}
			recordDeploys(t, f)
			resp, body := c.get("/admin/settings/history")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("history page: %d %.300s", resp.StatusCode, body)
			}
			for _, want := range []string{`id="history-timeline"`, "STRIPE_WEBHOOK_SECRET", "changed (fingerprint ", "public_url",
				"https://members.example.com → https://club.example.com", "2 restarts", "first recorded", "v1.4.0 (0a1b2c3)", "web-1/4242"} {
				if !strings.Contains(body, want) {
					t.Errorf("history page lacks %q", want)
				}
			}
			if n := strings.Count(body, "<tr class=\"history-"); n != 3 {
				t.Errorf("timeline rows: %d, want 3 (change, 2 restarts folded, first)", n)
			}
			for _, secret := range []string{oldWebhookSecret, newWebhookSecret, "history-signing-key"} {
				if strings.Contains(body, secret) {
					t.Errorf("history page shows the secret %q", secret)
				}
			}

			resp, body = c.get("/api/v1/history?limit=3")
			var got historyJSON
			if err := json.Unmarshal([]byte(body), &got); resp.StatusCode != http.StatusOK || err != nil {
				t.Fatalf("API: %d %v %.300s", resp.StatusCode, err, body)
			}
			if len(got.Starts) != 3 || !got.Starts[0].Restart() || got.Starts[2].Deltas[0].Key != config.EnvStripeWebhookSecret {
				t.Errorf("API starts: %+v", got.Starts)
			}
			if strings.Contains(body, oldWebhookSecret) || strings.Contains(body, newWebhookSecret) {
				t.Error("API shows a secret")
			}
			for _, bad := range []string{"0", "abc", "1001"} {
				if resp, body := c.get("/api/v1/history?limit=" + bad); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "bad_limit") {
					t.Errorf("limit=%s: %d %.200s, want 400 bad_limit", bad, resp.StatusCode, body)
				}
			}
			if _, body := c.get("/admin/settings"); !strings.Contains(body, `href="/admin/settings/history"`) {
				t.Error("settings page does not link to the history")
			}
		})
	}
}

// TestOverviewNamesWhatChanged shows the overview after the rotation: the "what changed?" banner
// names the start that preceded the bad signatures (and the fixture's failing sync, which began
// after it too), and each chart marks the four starts.
func TestOverviewNamesWhatChanged(t *testing.T) {
	f := newFixture(t, store.SQLite)
	c := f.login(RoleViewer)
	if _, body := c.get("/admin"); strings.Contains(body, `id="what-changed"`) || strings.Contains(body, "start-marker") {
		t.Error("overview without a history shows what changed or start markers")
	}
	recordDeploys(t, f)
	_, body := c.get("/admin")
	want := "Bad signatures began 2 min after the start at 11:30 UTC, which changed STRIPE_WEBHOOK_SECRET and public_url."
	if !strings.Contains(body, `id="what-changed"`) || !strings.Contains(body, want) {
		t.Errorf("overview lacks the what-changed banner %q", want)
	}
	if n := strings.Count(body, `class="start-marker"`); n != 4*3 {
		t.Errorf("start markers: %d, want 4 starts on each of 3 charts", n)
	}
	if !strings.Contains(body, "<title>"+f.clock.Now().Add(-30*time.Minute).UTC().Format("2006-01-02 15:04")+" start v1.4.0 (0a1b2c3): STRIPE_WEBHOOK_SECRET changed") {
		t.Error("the change's marker does not carry its summary as its title")
	}
	var api overviewJSON
	_, raw := c.get("/api/v1/overview")
	if err := json.Unmarshal([]byte(raw), &api); err != nil || api.WhatChanged == nil || len(api.WhatChanged.Lines) != 2 || api.WhatChanged.Lines[0] != want ||
		!strings.HasPrefix(api.WhatChanged.Lines[1], "Failing syncs began ") {
		t.Errorf("API what_changed: %+v (%v)", api.WhatChanged, err)
	}
}

// TestBrowserHistory opens Settings → History from the settings page at a desktop's and a phone's
// width and saves a screenshot of the timeline.
func TestBrowserHistory(t *testing.T) {
	for _, vp := range []struct {
		name string
		size browsertest.Viewport
	}{{"desktop", browsertest.Desktop}, {"phone", browsertest.Phone}} {
		t.Run(vp.name, func(t *testing.T) {
			f := newFixture(t, store.SQLite)
			recordDeploys(t, f)
			b := &browser{t: t, ctx: browsertest.New(t, vp.size), base: f.srv.URL, phone: vp.size == browsertest.Phone}
			b.signIn(RoleViewer)
			b.do(chromedp.Navigate(b.base+"/admin/settings"), chromedp.WaitVisible(chromedp.CSS("#history-link")),
				chromedp.Click(chromedp.CSS("#history-link")),
				chromedp.WaitVisible(chromedp.CSS("#history-timeline")))
			if got := b.text("#history-timeline"); !strings.Contains(got, "STRIPE_WEBHOOK_SECRET") || !strings.Contains(got, "2 restarts") {
				t.Errorf("timeline text: %s", got)
			}
			b.shot("history-timeline-" + vp.name)
			b.do(chromedp.Navigate(b.base+"/admin"), chromedp.WaitVisible(chromedp.CSS("#what-changed")))
			if got := b.text("#what-changed"); !strings.Contains(got, "which changed STRIPE_WEBHOOK_SECRET") {
				t.Errorf("what changed: %s", got)
			}
			b.shot("overview-what-changed-" + vp.name)
		})
	}
}
