package admin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membersync/membersync/internal/browsertest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/support"
)

// seedSupportWeeks ingests eight weeks of support messages, access-related ones falling after
// go-live, as the sources would.
func (f *fixture) seedSupportWeeks() {
	f.t.Helper()
	tr := &support.Triage{Store: f.st, Now: f.clock.Now, Plans: testConfig().Plans}
	bodies := map[string]string{
		support.CategoryAccess: "I paid but I can't log in", support.CategoryWelcomeEmail: "I didn't receive the welcome email",
		support.CategoryBilling: "I was charged twice", support.CategoryRefund: "refund please", support.CategoryOther: "thanks for the session",
	}
	weeks := []map[string]int{ // oldest first; the last is this week
		{"access": 14, "welcome_email": 6, "billing": 3, "refund": 1, "other": 2},
		{"access": 12, "welcome_email": 5, "billing": 4, "other": 3},
		{"access": 8, "welcome_email": 3, "billing": 2, "refund": 1, "other": 2},
		{"access": 5, "welcome_email": 2, "billing": 3, "other": 1},
		{"access": 4, "welcome_email": 1, "billing": 2, "refund": 1, "other": 2},
		{"access": 3, "welcome_email": 1, "billing": 3, "other": 1},
		{"access": 2, "welcome_email": 1, "billing": 2, "refund": 1, "other": 2},
		{"access": 2, "welcome_email": 1, "billing": 1, "other": 1},
	}
	n := 0
	for i, w := range weeks {
		at := f.clock.Now().Add(-time.Duration(len(weeks)-1-i)*7*24*time.Hour - time.Hour)
		for cat, k := range w {
			for range k {
				n++
				if _, err := tr.Ingest(context.Background(), support.Message{Source: support.SourceIMAP, ExternalID: fmt.Sprintf("INBOX/1/%d", n),
					From: fmt.Sprintf("c%d@example.org", n), Body: bodies[cat], ReceivedAt: at}); err != nil {
					f.t.Fatal(err)
				}
			}
		}
	}
	if _, err := tr.Ingest(context.Background(), support.Message{Source: support.SourceHelpScout, ExternalID: "42/1", TicketRef: "42",
		From: "ada@example.com", Body: "I paid but I can't log in"}); err != nil {
		f.t.Fatal(err)
	}
}

// TestBrowserSupport shows the weekly chart and the acceptance tile on the overview and the
// Support page, at a desktop's and a phone's width, and saves screenshots of both.
func TestBrowserSupport(t *testing.T) {
	for _, vp := range []struct {
		name string
		size browsertest.Viewport
	}{{"desktop", browsertest.Desktop}, {"phone", browsertest.Phone}} {
		t.Run(vp.name, func(t *testing.T) {
			f := newFixture(t, store.SQLite, func(d *Deps) { d.Config.Support.Baseline = 40 })
			f.seedSupportWeeks()
			b := &browser{t: t, ctx: browsertest.New(t, vp.size), base: f.srv.URL, phone: vp.size == browsertest.Phone}
			b.signIn(RoleSupport)

			b.do(chromedp.Navigate(b.base+"/admin"), chromedp.WaitVisible(chromedp.CSS("#overview-support")))
			tile := b.text("#overview-support #support-acceptance")
			for _, want := range []string{"4", "vs 40", "−90%", "target met"} {
				if !strings.Contains(tile, want) {
					t.Errorf("acceptance tile %q lacks %q", tile, want)
				}
			}
			if n := b.count("#overview-support rect.seg"); n < 30 {
				t.Errorf("the weekly chart draws %d segments, want one per week and category (over 30)", n)
			}
			b.do(chromedp.ScrollIntoView(chromedp.CSS("#support-head")))
			b.shot("support-overview-" + vp.name)

			b.do(chromedp.Navigate(b.base+"/admin/support"), chromedp.WaitVisible(chromedp.CSS("#support-messages")))
			if got := b.text("#support-messages article:first-child"); !strings.Contains(got, "ada@example.com") || !strings.Contains(got, "Suggested:") {
				t.Errorf("the newest message card: %q", got)
			}
			b.shot("support-page-" + vp.name)
		})
	}
}
