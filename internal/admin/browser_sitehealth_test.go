package admin

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/membersync/membersync/internal/browsertest"
	"github.com/membersync/membersync/internal/store"
)

// TestBrowserSiteHealth shows the overview's site-health section at a desktop's and a phone's
// width — a target up, one down with its certificate close to expiry, one not probed yet, and the
// latest launch audit — and saves a screenshot of it.
func TestBrowserSiteHealth(t *testing.T) {
	for _, vp := range []struct {
		name string
		size browsertest.Viewport
	}{{"desktop", browsertest.Desktop}, {"phone", browsertest.Phone}} {
		t.Run(vp.name, func(t *testing.T) {
			f := newFixture(t, store.SQLite, siteHealthConfig)
			seedSiteHealth(t, f)
			b := &browser{t: t, ctx: browsertest.New(t, vp.size), base: f.srv.URL, phone: vp.size == browsertest.Phone}
			b.signIn(RoleViewer)
			// #site-health-targets is only on an overview that has uptime targets.
			b.do(chromedp.Navigate(b.base+"/admin"), chromedp.WaitVisible(chromedp.CSS("#site-health-targets")),
				chromedp.ScrollIntoView(chromedp.CSS("#site-health")))
			if got := b.text("#uptime-community"); !strings.Contains(got, "down since") || !strings.Contains(got, "502 Bad Gateway") {
				t.Errorf("community: %q", got)
			}
			if got := b.text("#uptime-home"); !strings.Contains(got, "24h 97.92 %") {
				t.Errorf("home: %q", got)
			}
			if n := b.count("#uptime-home svg rect"); n != 24 {
				t.Errorf("home's chart has %d bars, want 24", n)
			}
			if got := b.text("#site-health-doctor"); !strings.Contains(got, "1 fail · 2 warn") {
				t.Errorf("doctor: %q", got)
			}
			b.shot("overview-site-health")
		})
	}
}
