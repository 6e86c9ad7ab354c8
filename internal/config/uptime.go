package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Uptime defaults: a probe a minute, and an alert after three failures in a row (about three
// minutes down), resolved after two successes, as most uptime checkers do out of the box.
const (
	DefaultUptimeInterval            = time.Minute
	DefaultUptimeTimeout             = 10 * time.Second
	DefaultUptimeTLSDaysWarn         = 14
	DefaultUptimeFailuresBeforeAlert = 3
	DefaultUptimeRecoveries          = 2
	DefaultUptimeFlapWindow          = 10
	DefaultUptimeFlapChanges         = 4
	// MaxUptimeTimeout bounds one probe: the uptime job runs once a minute.
	MaxUptimeTimeout = 30 * time.Second
	// MaxUptimeTargets bounds the probes one job makes.
	MaxUptimeTargets = 50
)

// Names of the targets the include_* switches add.
const (
	UptimePublicName    = "membersync"
	UptimeCheckoutName  = "checkout-success"
	UptimeCommunityName = "community"
)

// UptimeConfig lists the pages membersync probes from outside, once a minute at most, on one
// instance (the River leader): the founder's home page, the Circle community, membersync's own
// public URL. Every check is optional; with no target nothing runs.
type UptimeConfig struct {
	Targets []UptimeTarget `yaml:"targets"`
	// IncludePublicURL adds the target "membersync": <public_url>/healthz, reached from outside
	// through the public URL (DNS, TLS and the reverse proxy included), expecting {"status":"ok"}.
	IncludePublicURL bool `yaml:"include_public_url"`
	// IncludeCheckoutSuccess adds the target "checkout-success": <public_url>/welcome, the page
	// Stripe Checkout sends buyers to, every 5 minutes. Without a session id it answers 404 "We
	// could not find this checkout", which proves the status pages render; each probe counts as
	// one unknown session id against the server's own address (the limit is 20 per 10 minutes).
	IncludeCheckoutSuccess bool `yaml:"include_checkout_success"`
	// IncludeCommunityURL adds the target "community": circle.community_url, expecting 2xx.
	IncludeCommunityURL bool `yaml:"include_community_url"`
	// FailuresBeforeAlert is how many probes in a row must fail before the uptime alert fires;
	// default 3.
	FailuresBeforeAlert int `yaml:"failures_before_alert"`
	// RecoveriesBeforeResolve is how many probes in a row must succeed before it resolves; default 2.
	RecoveriesBeforeResolve int `yaml:"recoveries_before_resolve"`
	// FlapWindow is how many of the latest probes the flap damping looks at; default 10.
	FlapWindow int `yaml:"flap_window"`
	// FlapChanges is how many changes between up and down within FlapWindow make a target
	// flapping: it then alerts once, and stays firing until it is steady again; default 4.
	FlapChanges int `yaml:"flap_changes"`
}

// UptimeTarget is one page probed with GET.
type UptimeTarget struct {
	// Name identifies the target in alerts and on the overview: lowercase letters, digits, - and _.
	Name string `yaml:"name"`
	// URL is probed with GET; https, or http to a loopback host only. Redirects are not followed:
	// a 301 is the answer (list it in expect_status, or probe where it points).
	URL string `yaml:"url"`
	// Interval is how often it is probed; default 1m, at least 1m.
	Interval Duration `yaml:"interval"`
	// Timeout bounds one probe (connection, TLS, headers and body); default 10s, at most 30s.
	Timeout Duration `yaml:"timeout"`
	// ExpectStatus is the status codes that count as up: 200 (default), "2xx", or "200,301".
	ExpectStatus StatusSet `yaml:"expect_status"`
	// BodyContains, when set, must appear in the first MiB of the body.
	BodyContains string `yaml:"body_contains"`
	// TLSDaysWarn alerts when the served certificate expires in fewer days; default 14, -1 never.
	TLSDaysWarn int `yaml:"tls_days_warn"`

	// Source is the configuration key that defined the target: "uptime.targets[2]" or
	// "uptime.include_public_url".
	Source string `yaml:"-"`
}

// StatusSet is the HTTP status codes a target may answer: exact codes and classes ("2xx").
type StatusSet struct {
	Codes   []int
	Classes []int // 2 for 2xx
}

// UnmarshalYAML reads 200, "2xx" or "200,204,3xx".
func (s *StatusSet) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseStatusSet(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = v
	return nil
}

// ParseStatusSet reads "200", "2xx" or "200,204,3xx" (commas or spaces between).
func ParseStatusSet(v string) (StatusSet, error) {
	var s StatusSet
	for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' }) {
		if len(f) == 3 && strings.EqualFold(f[1:], "xx") && f[0] >= '1' && f[0] <= '5' {
			s.Classes = append(s.Classes, int(f[0]-'0'))
			continue
		}
		c, err := strconv.Atoi(f)
		if err != nil || c < 100 || c > 599 {
			return StatusSet{}, fmt.Errorf("%q is not a status code: use 200, \"2xx\" or \"200,301\"", f)
		}
		s.Codes = append(s.Codes, c)
	}
	if len(s.Codes)+len(s.Classes) == 0 {
		return StatusSet{}, fmt.Errorf("%q names no status code: use 200, \"2xx\" or \"200,301\"", v)
	}
	return s, nil
}

// Empty reports whether no code is set (the default, 200, applies).
func (s StatusSet) Empty() bool { return len(s.Codes)+len(s.Classes) == 0 }

// Match reports whether code is in the set.
func (s StatusSet) Match(code int) bool {
	for _, c := range s.Codes {
		if c == code {
			return true
		}
	}
	for _, c := range s.Classes {
		if code/100 == c {
			return true
		}
	}
	return false
}

// String is the set as configured: "200" or "2xx,301".
func (s StatusSet) String() string {
	var parts []string
	for _, c := range s.Classes {
		parts = append(parts, strconv.Itoa(c)+"xx")
	}
	for _, c := range s.Codes {
		parts = append(parts, strconv.Itoa(c))
	}
	return strings.Join(parts, ",")
}

// defaultUptime adds the targets the include_* switches ask for (once, however often it runs)
// and fills every unset setting.
func (c *Config) defaultUptime() {
	u := &c.Uptime
	has := func(src string) bool {
		for _, t := range u.Targets {
			if t.Source == src {
				return true
			}
		}
		return false
	}
	for i := range u.Targets {
		if u.Targets[i].Source == "" {
			u.Targets[i].Source = fmt.Sprintf("uptime.targets[%d]", i)
		}
	}
	base := strings.TrimRight(c.PublicURL, "/")
	if u.IncludePublicURL && !has("uptime.include_public_url") {
		u.Targets = append(u.Targets, UptimeTarget{Name: UptimePublicName, URL: base + "/healthz", BodyContains: `"ok"`,
			Source: "uptime.include_public_url"})
	}
	if u.IncludeCheckoutSuccess && !has("uptime.include_checkout_success") {
		// Every 5 minutes: each probe counts as one unknown session id against this server's own
		// address on the status pages' limiter (20 per 10 minutes).
		u.Targets = append(u.Targets, UptimeTarget{Name: UptimeCheckoutName, URL: base + "/welcome", ExpectStatus: StatusSet{Codes: []int{404}},
			BodyContains: "We could not find this checkout", Interval: Duration(5 * time.Minute), Source: "uptime.include_checkout_success"})
	}
	if u.IncludeCommunityURL && !has("uptime.include_community_url") {
		u.Targets = append(u.Targets, UptimeTarget{Name: UptimeCommunityName, URL: c.Circle.CommunityURL, ExpectStatus: StatusSet{Classes: []int{2}},
			Source: "uptime.include_community_url"})
	}
	for i := range u.Targets {
		t := &u.Targets[i]
		if t.Interval == 0 {
			t.Interval = Duration(DefaultUptimeInterval)
		}
		if t.Timeout == 0 {
			t.Timeout = Duration(DefaultUptimeTimeout)
		}
		if t.ExpectStatus.Empty() {
			t.ExpectStatus = StatusSet{Codes: []int{200}}
		}
		if t.TLSDaysWarn == 0 {
			t.TLSDaysWarn = DefaultUptimeTLSDaysWarn
		}
	}
	if u.FailuresBeforeAlert == 0 {
		u.FailuresBeforeAlert = DefaultUptimeFailuresBeforeAlert
	}
	if u.RecoveriesBeforeResolve == 0 {
		u.RecoveriesBeforeResolve = DefaultUptimeRecoveries
	}
	if u.FlapWindow == 0 {
		u.FlapWindow = DefaultUptimeFlapWindow
	}
	if u.FlapChanges == 0 {
		u.FlapChanges = DefaultUptimeFlapChanges
	}
}

var uptimeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)

// validateUptime checks the targets: names unique and short, URLs https (http only to a loopback
// host, as for every URL membersync calls), timeouts under the interval and the damping sane.
func (c *Config) validateUptime(p *Problems) {
	u := c.Uptime
	if len(u.Targets) > MaxUptimeTargets {
		p.add("uptime.targets: %d targets; at most %d are probed", len(u.Targets), MaxUptimeTargets)
	}
	seen := map[string]string{}
	for _, t := range u.Targets {
		key := t.Source
		if key == "" {
			key = "uptime.targets"
		}
		field := func(f string) string {
			if strings.HasPrefix(key, "uptime.include_") {
				return key // the switch is what the founder wrote
			}
			return key + "." + f
		}
		switch {
		case !uptimeName.MatchString(t.Name):
			p.add("%s: %q should be 1 to 40 lowercase letters, digits, - or _, starting with a letter or digit (it names the target in alerts)", field("name"), t.Name)
		case seen[t.Name] != "":
			p.add("%s: %q is already the name of %s; give each target its own name", field("name"), t.Name, seen[t.Name])
		default:
			seen[t.Name] = key
		}
		if key == "uptime.include_community_url" && t.URL == "" {
			p.add("%s: circle.community_url is not set: set it, or list the community page under uptime.targets", key)
		} else {
			checkProbeURL(p, field("url"), t.URL)
		}
		if t.Interval.D() < DefaultUptimeInterval {
			p.add("%s: %s is shorter than 1m: the uptime job runs once a minute", field("interval"), t.Interval.D())
		}
		switch to := t.Timeout.D(); {
		case to <= 0 || to > MaxUptimeTimeout:
			p.add("%s: %s is outside 1ms..%s", field("timeout"), to, MaxUptimeTimeout)
		case to >= t.Interval.D():
			p.add("%s: %s is not shorter than the interval %s", field("timeout"), to, t.Interval.D())
		}
		if t.TLSDaysWarn < -1 || t.TLSDaysWarn > 365 {
			p.add("%s: %d is outside -1..365 (-1 never warns)", field("tls_days_warn"), t.TLSDaysWarn)
		}
		if len(t.BodyContains) > 1024 {
			p.add("%s: %d characters; at most 1024", field("body_contains"), len(t.BodyContains))
		}
	}
	if u.FailuresBeforeAlert < 1 || u.FailuresBeforeAlert > 60 {
		p.add("uptime.failures_before_alert: %d is outside 1..60", u.FailuresBeforeAlert)
	}
	if u.RecoveriesBeforeResolve < 1 || u.RecoveriesBeforeResolve > 60 {
		p.add("uptime.recoveries_before_resolve: %d is outside 1..60", u.RecoveriesBeforeResolve)
	}
	if u.FlapWindow < 3 || u.FlapWindow > 60 {
		p.add("uptime.flap_window: %d is outside 3..60 probes", u.FlapWindow)
	}
	if u.FlapChanges < 2 || u.FlapChanges >= u.FlapWindow {
		p.add("uptime.flap_changes: %d is outside 2..%d (fewer than uptime.flap_window)", u.FlapChanges, u.FlapWindow-1)
	}
}

// checkProbeURL refuses a probe URL that is not http(s), carries credentials or a fragment, or is
// plain http to a host other than loopback: a page probed over plain http proves nothing about
// what members see, and crosses the network in clear.
func checkProbeURL(p *Problems, key, v string) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("%s: %q is not an http(s) URL", key, v)
		return
	}
	if u.User != nil {
		p.add("%s: %q carries a user name or password; probes send no credentials", key, v)
	}
	if u.Fragment != "" {
		p.add("%s: %q has a #fragment, which is never sent; remove it", key, v)
	}
	if u.Scheme == "http" && !LoopbackHost(u.Hostname()) {
		p.add("%s: %q is plain http; probe the https address members use (http is allowed only to a loopback host such as 127.0.0.1)", key, v)
	}
}
