package config

import (
	"strconv"
	"strings"
	"testing"
)

const uptimePlans = `
plans:
  - id: pro
    stripe: {prices: [price_1]}
    circle: {access_groups: [1]}
`

func TestUptimeDefaultsAndIncludes(t *testing.T) {
	yaml := `
public_url: https://members.example.com/
circle: {community_url: "https://club.example.com"}
uptime:
  include_public_url: true
  include_checkout_success: true
  include_community_url: true
  targets:
    - name: home
      url: https://example.com/
    - name: shop
      url: https://shop.example.com/buy
      interval: 5m
      timeout: 3s
      expect_status: "2xx,301"
      body_contains: Buy now
      tls_days_warn: -1
` + uptimePlans
	c, err := Parse([]byte(yaml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	u := c.Uptime
	if u.FailuresBeforeAlert != 3 || u.RecoveriesBeforeResolve != 2 || u.FlapWindow != 10 || u.FlapChanges != 4 {
		t.Errorf("damping defaults %+v", u)
	}
	var got []string
	for _, tg := range u.Targets {
		got = append(got, strings.Join([]string{tg.Name, tg.URL, tg.Interval.D().String(), tg.Timeout.D().String(), tg.ExpectStatus.String(),
			tg.BodyContains, strconv.Itoa(tg.TLSDaysWarn), tg.Source}, " | "))
	}
	want := []string{
		"home | https://example.com/ | 1m0s | 10s | 200 |  | 14 | uptime.targets[0]",
		"shop | https://shop.example.com/buy | 5m0s | 3s | 2xx,301 | Buy now | -1 | uptime.targets[1]",
		`membersync | https://members.example.com/healthz | 1m0s | 10s | 200 | "ok" | 14 | uptime.include_public_url`,
		"checkout-success | https://members.example.com/welcome | 5m0s | 10s | 404 | We could not find this checkout | 14 | uptime.include_checkout_success",
		"community | https://club.example.com | 1m0s | 10s | 2xx |  | 14 | uptime.include_community_url",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("targets:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Applying the defaults again adds nothing.
	c.defaultUptime()
	if len(c.Uptime.Targets) != len(want) {
		t.Errorf("%d targets after a second pass", len(c.Uptime.Targets))
	}
	if s := u.Targets[1].ExpectStatus; !s.Match(204) || !s.Match(301) || s.Match(302) || s.Match(404) {
		t.Errorf("2xx,301 matches wrongly")
	}
}

func TestUptimeProblems(t *testing.T) {
	for _, tc := range []struct {
		name, uptime, want string
	}{
		{"plain http", "targets: [{name: home, url: \"http://example.com/\"}]",
			`uptime.targets[0].url: "http://example.com/" is plain http; probe the https address members use`},
		{"loopback http is fine", "targets: [{name: home, url: \"http://127.0.0.1:8080/\"}]", ""},
		{"not a URL", "targets: [{name: home, url: \"example.com\"}]", `uptime.targets[0].url: "example.com" is not an http(s) URL`},
		{"credentials", "targets: [{name: home, url: \"https://u:p@example.com/\"}]", "carries a user name or password"},
		{"bad name", "targets: [{name: Home Page, url: \"https://example.com/\"}]", `uptime.targets[0].name: "Home Page" should be 1 to 40 lowercase`},
		{"duplicate", "targets: [{name: home, url: \"https://a.example.com/\"}, {name: home, url: \"https://b.example.com/\"}]",
			`uptime.targets[1].name: "home" is already the name of uptime.targets[0]`},
		{"interval", "targets: [{name: home, url: \"https://example.com/\", interval: 30s}]", "uptime.targets[0].interval: 30s is shorter than 1m"},
		{"timeout", "targets: [{name: home, url: \"https://example.com/\", timeout: 45s}]", "uptime.targets[0].timeout: 45s is outside 1ms..30s"},
		{"timeout over interval", "targets: [{name: home, url: \"https://example.com/\", interval: 1m, timeout: 1m}]", "is outside 1ms..30s"},
		{"status", "targets: [{name: home, url: \"https://example.com/\", expect_status: \"ok\"}]", `"ok" is not a status code`},
		{"community without url", "include_community_url: true", "uptime.include_community_url: circle.community_url is not set"},
		{"plain public url", "include_public_url: true", ""}, // the default public_url is loopback
		{"damping", "failures_before_alert: 0\nflap_changes: 12", "uptime.flap_changes: 12 is outside 2..9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			b.WriteString("uptime:\n")
			for _, l := range strings.Split(tc.uptime, "\n") {
				b.WriteString("  " + l + "\n")
			}
			_, err := Parse([]byte(b.String()+uptimePlans), func(string) string { return "" })
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("unexpected problems: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("got %v, want a problem containing %q", err, tc.want)
			}
		})
	}
}

func TestParseStatusSet(t *testing.T) {
	s, err := ParseStatusSet("200, 3xx")
	if err != nil || !s.Match(200) || !s.Match(308) || s.Match(201) || s.String() != "3xx,200" {
		t.Errorf("%+v %v", s, err)
	}
	for _, bad := range []string{"", "abc", "99", "600", "6xx"} {
		if _, err := ParseStatusSet(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
