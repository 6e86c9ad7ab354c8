package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../../membersync.example.yaml", env(nil))
	if err != nil {
		t.Fatalf("example config: %v", err)
	}
	if got, want := len(c.Plans), 2; got != want {
		t.Fatalf("plans: got %d, want %d", got, want)
	}
	if got, want := c.Plans[0].GracePeriod.D(), 72*time.Hour; got != want {
		t.Errorf("grace: got %v, want %v", got, want)
	}
	if got := c.Plans[1].AccessDuration; got != 0 {
		t.Errorf("lifetime access: got %v, want 0", got)
	}
	if got := c.Reconcile.UnknownMembers; got != UnknownReport {
		t.Errorf("reconcile.unknown_members: got %q, want %q", got, UnknownReport)
	}
	for v, want := range map[string]string{"": UnknownReport, UnknownReport: UnknownReport, UnknownRemove: UnknownRemove} {
		src := "plans:\n  - id: pro\n    stripe: {prices: [price_1]}\n    circle: {access_groups: [1]}\nreconcile:\n  unknown_members: " + v + "\n"
		c, err := Parse([]byte(src), env(nil))
		if err != nil || c.Reconcile.UnknownMembers != want {
			t.Errorf("unknown_members %q: %v, got %q, want %q", v, err, c.Reconcile.UnknownMembers, want)
		}
	}
}

func TestParseProblems(t *testing.T) {
	base := `
plans:
  - id: pro
    stripe: {prices: [price_1]}
    circle: {access_groups: [1]}
`
	tests := []struct {
		name string
		yaml string
		want []string // substrings, each must appear
	}{
		{"bad price id", strings.Replace(base, "price_1", "prce_1", 1), []string{`plans[0].stripe.prices[0]: "prce_1" is not a Stripe price id (price_…)`}},
		{"no plans", "listen: \":8080\"\n", []string{"plans: at least one plan"}},
		{"secret key in yaml", base + "stripe:\n  secret_key: sk_live_abcdefghijkl\n", []string{"stripe.secret_key: secrets do not belong in the config file", "STRIPE_SECRET_KEY"}},
		{"webhook secret value anywhere", base + "support:\n  url: whsec_abcdefghijklmnop\n", []string{"support.url", "STRIPE_WEBHOOK_SECRET"}},
		{"kit api key", base + "kit:\n  api_key: abc\n", []string{"kit.api_key", "KIT_API_KEY"}},
		{"unknown key", base + "lisen: x\n", []string{"line 6: lisen: unknown key (did you mean listen?)"}},
		{"every problem at once", `
listen: nope
database_url: mysql://x
plans:
  - id: Pro!
    stripe: {prices: [x], products: [y]}
    circle: {access_groups: [0]}
    kit: {tags: {happy: 5}}
  - id: b
    stripe: {prices: [price_a]}
    circle: {access_groups: [2]}
  - id: c
    stripe: {prices: [price_a]}
    circle: {access_groups: [3]}
`, []string{
			`listen: "nope" is not host:port`,
			"database_url:",
			`plans[0].id: "Pro!"`,
			`plans[0].stripe.prices[0]: "x" is not a Stripe price id`,
			`plans[0].stripe.products[0]: "y" is not a Stripe product id`,
			"plans[0].circle.access_groups[0]: 0 is not",
			"plans[0].kit.tags.happy: unknown lifecycle stage",
			`plans[2].stripe.prices[0]: "price_a" already maps to plan "b"`,
		}},
		{"bad duration", base + "    grace_period: soon\n", []string{`"soon" is not a duration`}},
		{"kit rate above limit", base + "kit:\n  requests_per_minute: 500\n", []string{"kit.requests_per_minute: 500 is outside 1..120"}},
		{"provider over plain http to another host", base + "circle:\n  base_url: http://203.0.113.5\n", []string{`circle.base_url: "http://203.0.113.5" is plain http`}},
		{"stripe over plain http by name", base + "stripe:\n  base_url: http://stripe-proxy.internal\n", []string{"stripe.base_url", "plain http"}},
		{"unknown_members misspelt", base + "reconcile:\n  unknown_members: delete\n", []string{`reconcile.unknown_members: "delete" must be "report"`, `or "remove"`}},
		{"alerts over plain http", base + "alerts:\n  webhook: {url: \"http://ops.example.com/hook\"}\n", []string{"webhook.url", "plain http"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), env(nil))
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestSecretsFromEnv(t *testing.T) {
	c, err := Parse([]byte("plans:\n  - id: a\n    stripe: {prices: [price_1]}\n    circle: {access_groups: [1]}\n"), env(map[string]string{
		EnvStripeSecretKey:     "rk_live_abc",
		EnvStripeWebhookSecret: " whsec_old , whsec_new ,",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(c.Secrets.StripeWebhookSecrets, "|"), "whsec_old|whsec_new"; got != want {
		t.Errorf("webhook secrets: got %q, want %q", got, want)
	}
	if !c.Secrets.Livemode() {
		t.Error("rk_live_ key: want livemode")
	}
	probs := c.RequireSecrets()
	if len(probs) != 3 { // Circle, Kit and the signing key missing
		t.Errorf("RequireSecrets: got %v, want the Circle, Kit and signing key problems", probs)
	}
}

func TestParseDatabaseURL(t *testing.T) {
	tests := []struct{ in, dialect, dsn string }{
		{"sqlite:data/m.db", "sqlite", "data/m.db"},
		{"sqlite:///abs/m.db", "sqlite", "/abs/m.db"},
		{"postgres://u@h/db", "postgres", "postgres://u@h/db"},
		{"postgresql://u@h/db?sslmode=disable", "postgres", "postgresql://u@h/db?sslmode=disable"},
	}
	for _, tt := range tests {
		d, dsn, err := ParseDatabaseURL(tt.in)
		if err != nil || d != tt.dialect || dsn != tt.dsn {
			t.Errorf("ParseDatabaseURL(%q) = %q, %q, %v; want %q, %q", tt.in, d, dsn, err, tt.dialect, tt.dsn)
		}
	}
	for _, bad := range []string{"", "mysql://x", "sqlite:"} {
		if _, _, err := ParseDatabaseURL(bad); err == nil {
			t.Errorf("ParseDatabaseURL(%q): want an error", bad)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(t.TempDir()+"/nope.yaml", env(nil))
	if err == nil || !strings.Contains(err.Error(), "--config") {
		t.Fatalf("got %v, want an error telling how to name the file", err)
	}
	if _, statErr := os.Stat("nope.yaml"); statErr == nil {
		t.Fatal("Load created a file")
	}
}

func TestDurationString(t *testing.T) {
	for in, want := range map[string]string{"72h": "3d", "lifetime": "lifetime", "90m": "1h30m0s", "30d": "30d"} {
		d, err := ParseDuration(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Duration(d).String(); got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
}

// TestPlainHTTPOnlyToLoopback: the fakes and a local proxy may be plain http; nothing else that is
// sent credentials may.
func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	for _, host := range []string{"127.0.0.1:9000", "localhost:9000", "[::1]:9000", "127.5.6.7"} {
		yaml := "plans:\n  - id: pro\n    stripe: {prices: [price_1]}\n    circle: {access_groups: [1]}\n" +
			"stripe:\n  base_url: http://" + host + "\ncircle:\n  base_url: http://" + host + "\nkit:\n  base_url: http://" + host + "\n"
		if _, err := Parse([]byte(yaml), env(nil)); err != nil && strings.Contains(err.Error(), "plain http") {
			t.Errorf("http://%s refused: %v", host, err)
		}
	}
}
