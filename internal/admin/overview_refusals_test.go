package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestOverviewShowsRefusalsAsInformation shows the last hour's refused webhook deliveries on the
// overview as one line of information, never among the concerns: a stranger can cause them.
func TestOverviewShowsRefusalsAsInformation(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	c := f.login(RoleViewer)
	if _, page := c.get("/admin"); strings.Contains(page, `id="refusals"`) {
		t.Errorf("overview shows refusals before any")
	}
	now := f.clock.Now()
	if err := f.st.AddWebhookRefusals(context.Background(), []store.WebhookRefusals{
		{Minute: now.Add(-50 * time.Minute), Code: "bad_signature", Count: 30},
		{Minute: now.Add(-time.Minute), Code: "bad_signature", Count: 10},
		{Minute: now, Code: "too_old", Count: 2},
		{Minute: now.Add(-2 * time.Hour), Code: "bad_signature", Count: 500}, // outside the hour
	}); err != nil {
		t.Fatal(err)
	}
	_, page := c.get("/admin")
	want := "42 refused webhook deliveries in the last hour (bad signature: 40, too old: 2) — usually a stranger probing, or a rotated secret"
	if !strings.Contains(page, want) {
		t.Errorf("overview lacks %q", want)
	}
	concerns := page
	if i := strings.Index(page, `id="health"`); i >= 0 {
		concerns = page[i:]
		if j := strings.Index(concerns, "</div>"); j >= 0 {
			concerns = concerns[:j]
		}
	}
	if strings.Contains(concerns, "refused") {
		t.Errorf("refusals became a concern: %s", concerns)
	}
	resp, body := c.get("/api/v1/overview")
	for _, w := range []string{`"total": 42`, `"codes": "bad signature: 40, too old: 2"`} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, w) {
			t.Errorf("overview JSON lacks %s: %d %s", w, resp.StatusCode, body)
		}
	}
}

// TestOverviewShowsWhyNotReady: /readyz tells strangers one word; the operators see why.
func TestOverviewShowsWhyNotReady(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	c := f.login(RoleViewer)
	if _, page := c.get("/admin"); strings.Contains(page, `id="not-ready"`) {
		t.Errorf("overview shows a readiness failure before any")
	}
	failedAt := f.clock.Now().Add(-time.Minute)
	f.h.ready = func() (error, time.Time) {
		return errors.New("database: write probe: database or disk is full (13)"), failedAt
	}
	_, page := c.get("/admin")
	if !strings.Contains(page, "database or disk is full") || !strings.Contains(page, `id="not-ready"`) {
		t.Errorf("overview does not say why the instance was not ready:\n%s", page)
	}
	if _, body := c.get("/api/v1/overview"); !strings.Contains(body, `"not_ready"`) || !strings.Contains(body, "disk is full") {
		t.Errorf("overview JSON lacks not_ready: %s", body)
	}
}
