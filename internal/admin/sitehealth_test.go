package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/uptime"
)

// siteHealthConfig adds three uptime targets and a scheduled audit to the test config.
func siteHealthConfig(d *Deps) {
	c := testConfig()
	c.Doctor.Domain = "example.com"
	for _, t := range []config.UptimeTarget{
		{Name: "home", URL: "https://example.com/"},
		{Name: "community", URL: "https://community.example.com/", ExpectStatus: config.StatusSet{Classes: []int{2}}},
		{Name: "checkout-success", URL: "https://members.example.com/welcome", ExpectStatus: config.StatusSet{Codes: []int{404}}},
	} {
		t.Interval, t.Timeout, t.TLSDaysWarn = config.Duration(time.Minute), config.Duration(10*time.Second), 14
		c.Uptime.Targets = append(c.Uptime.Targets, t)
	}
	d.Config = c
}

// seedSiteHealth records 26 hours of probes, one every 10 minutes, through the uptime damping as
// the job would: home failed three probes in a row 5 hours ago (141 of the last 24 h's 144
// probes up, 153 of 156 in all); community failed its last three probes (down since 30 minutes ago) and its
// certificate has 9 days left; checkout-success was never probed. The audit ran 3 hours ago.
func seedSiteHealth(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	now := f.clock.Now()
	damp := uptime.DampingOf(config.UptimeConfig{})
	for _, tg := range f.h.cfg.Uptime.Targets[:2] {
		var prev store.UptimeState
		for i := range 156 {
			at := now.Add(-26*time.Hour + time.Duration(i)*10*time.Minute)
			r := store.UptimeResult{Target: tg.Name, At: at, OK: true, Status: 200, Latency: time.Duration(100+i%7*10) * time.Millisecond, TLSDays: 60}
			switch {
			case tg.Name == "home" && i >= 126 && i <= 128:
				r.OK, r.Status, r.Reason = false, 503, "answered 503 Service Unavailable, expected 200"
			case tg.Name == "community" && now.Sub(at) < 35*time.Minute:
				r.OK, r.Status, r.Reason = false, 502, "answered 502 Bad Gateway, expected 2xx"
			}
			if tg.Name == "community" {
				r.TLSDays = 9
			}
			next := damp.Next(prev, tg, r)
			if err := f.st.RecordUptime(ctx, r, next); err != nil {
				t.Fatal(err)
			}
			prev = next
		}
	}
	if err := uptime.Rollup(ctx, f.st, now); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SaveDoctorReport(ctx, store.DoctorReport{At: now.Add(-3 * time.Hour), Domain: "example.com", Fails: 1, Warns: 2,
		Failing: []string{"headers: HSTS — no Strict-Transport-Security header"}, JSON: "{}"}); err != nil {
		t.Fatal(err)
	}
}

func TestOverviewSiteHealth(t *testing.T) {
	f := newFixture(t, store.SQLite, siteHealthConfig)
	seedSiteHealth(t, f)
	c := f.login(RoleViewer)
	resp, page := c.get("/admin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("overview: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`id="site-health"`,
		`id="uptime-home" data-state="up"`, "24h 97.92 %", "7d 98.08 %", "30d 98.08 %",
		`id="uptime-community" data-state="down"`, "down since Mar 1 11:30", "answered 502 Bad Gateway, expected 2xx", "TLS 9 days left", "renew soon",
		`id="uptime-checkout-success" data-state="pending"`, "not probed yet",
		`id="site-health-doctor"`, "1 fail · 2 warn", "headers: HSTS — no Strict-Transport-Security header",
		"community is down since Mar 1 11:30: answered 502 Bad Gateway, expected 2xx", // a concern in the banner
		"the TLS certificate of community expires in 9 days",
		"07:00: 3 of 6 probes up (50 %)", // home's bar for the hour of the failures
	} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if n := strings.Count(page, `fill="#3aa374"`); n < 40 {
		t.Errorf("%d green bars, want most of home's and community's 24", n)
	}

	resp, body := c.get("/api/v1/overview")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("api overview: %d %s", resp.StatusCode, body)
	}
	var out struct {
		SiteHealth struct {
			Targets []struct {
				Name        string     `json:"name"`
				State       string     `json:"state"`
				Since       *time.Time `json:"since"`
				TLSDaysLeft *int       `json:"tls_days_left"`
				TLSWarn     bool       `json:"tls_warn"`
				Uptime      []struct {
					Window  string   `json:"window"`
					Percent *float64 `json:"percent"`
					OK      int      `json:"ok"`
					Total   int      `json:"total"`
				} `json:"uptime"`
				Hours []json.RawMessage `json:"hours"`
			} `json:"targets"`
			Doctor *struct {
				Domain string `json:"domain"`
				Fails  int    `json:"fails"`
			} `json:"doctor"`
		} `json:"site_health"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	ts := out.SiteHealth.Targets
	if len(ts) != 3 || ts[0].Name != "home" || ts[1].Name != "community" || ts[2].Name != "checkout-success" {
		t.Fatalf("targets %+v", ts)
	}
	home := ts[0]
	if home.State != "up" || home.Uptime[0].OK != 141 || home.Uptime[0].Total != 144 || home.Uptime[2].OK != 153 || home.Uptime[2].Total != 156 ||
		*home.Uptime[0].Percent != 100*141.0/144.0 || len(home.Hours) != 24 {
		t.Errorf("home: state %s, uptime %+v, %d hours", home.State, home.Uptime, len(home.Hours))
	}
	if cm := ts[1]; cm.State != "down" || cm.Since == nil || cm.Since.UTC().Format("15:04") != "11:30" || cm.TLSDaysLeft == nil || *cm.TLSDaysLeft != 9 || !cm.TLSWarn {
		t.Errorf("community: state %s since %v, TLS %v warn %v", cm.State, cm.Since, cm.TLSDaysLeft, cm.TLSWarn)
	}
	if p := ts[2]; p.State != "pending" || p.Uptime[0].Percent != nil {
		t.Errorf("checkout-success %+v", p)
	}
	if d := out.SiteHealth.Doctor; d == nil || d.Domain != "example.com" || d.Fails != 1 {
		t.Errorf("doctor %+v", d)
	}
}

// TestOverviewSiteHealthEmpty: without uptime targets the section says how to add them.
func TestOverviewSiteHealthEmpty(t *testing.T) {
	f := newFixture(t, store.SQLite)
	_, page := f.login(RoleViewer).get("/admin")
	for _, want := range []string{`id="site-health-none"`, "not scheduled: set doctor.domain in the config"} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
}
