package config

import (
	"regexp"
	"strings"
	"testing"
)

const testSigningKey = "0123456789abcdef0123456789abcdef-signing"

func fullSecrets() Secrets {
	return Secrets{
		StripeSecretKey: "rk_test_51Habcdef0123456789", StripeWebhookSecrets: []string{"whsec_old0123456789", "whsec_new0123456789"},
		CircleAPIToken: "circle-token-0123456789", KitAPIKey: "kit-key-0123456789", KitOAuthToken: "kit-oauth-0123456789", SigningKey: testSigningKey,
		MetricsToken: "metrics-token-0123456789",
		Alerts:       AlertSecrets{SlackWebhookURL: "https://hooks.slack.com/services/T0/B0/abc", WebhookSecret: "alert-secret-0123456789", SMTPPassword: "smtp pw"},
		DatabaseURL:  "postgres://membersync:db-s3cretpw@db.internal/membersync",
	}
}

func printOf(t *testing.T, s Secrets, env string) Fingerprint {
	t.Helper()
	for _, f := range s.Fingerprints() {
		if f.Env == env {
			return f
		}
	}
	t.Fatalf("no fingerprint for %s", env)
	return Fingerprint{}
}

func TestFingerprints(t *testing.T) {
	s := fullSecrets()
	values := map[string][]string{
		EnvStripeSecretKey: {s.StripeSecretKey}, EnvStripeWebhookSecret: s.StripeWebhookSecrets, EnvCircleAPIToken: {s.CircleAPIToken},
		EnvKitAPIKey: {s.KitAPIKey}, EnvKitOAuthToken: {s.KitOAuthToken}, EnvSigningKey: {s.SigningKey}, EnvMetricsToken: {s.MetricsToken},
		EnvSlackWebhookURL: {s.Alerts.SlackWebhookURL}, EnvAlertWebhookSecret: {s.Alerts.WebhookSecret}, EnvSMTPPassword: {s.Alerts.SMTPPassword},
		EnvDatabaseURL: {"db-s3cretpw"},
	}
	hex8 := regexp.MustCompile(`^[0-9a-f]{8}$`)
	fps := s.Fingerprints()
	if len(fps) != len(values) {
		t.Fatalf("%d fingerprints, want one per secret (%d)", len(fps), len(values))
	}
	seen := map[string]string{}
	for _, f := range fps {
		vals := values[f.Env]
		if !f.Set || len(f.Prints) != len(vals) {
			t.Errorf("%s: %+v, want %d fingerprint(s)", f.Env, f, len(vals))
			continue
		}
		for i, p := range f.Prints {
			if !hex8.MatchString(p) {
				t.Errorf("%s: fingerprint %q is not 8 hex digits", f.Env, p)
			}
			if strings.Contains(vals[i], p) || strings.HasPrefix(p, vals[i][:min(len(vals[i]), 4)]) {
				t.Errorf("%s: fingerprint %q is a part of the secret", f.Env, p)
			}
			if other, dup := seen[p]; dup {
				t.Errorf("%s and %s share the fingerprint %s", f.Env, other, p)
			}
			seen[p] = f.Env
		}
		for _, v := range vals {
			if strings.Contains(f.String(), v) || strings.Contains(f.Short(), v) {
				t.Errorf("%s: %q shows the secret", f.Env, f.String())
			}
		}
	}

	// Stable, and the same on another machine that shares the signing key.
	again := fullSecrets()
	for i, f := range again.Fingerprints() {
		if f.String() != fps[i].String() {
			t.Errorf("%s: %q then %q; want a stable fingerprint", f.Env, fps[i], f)
		}
	}
	// Another value of one secret changes its fingerprint only.
	changed := fullSecrets()
	changed.KitAPIKey = "kit-key-0123456780"
	for i, f := range changed.Fingerprints() {
		if same := f.String() == fps[i].String(); same != (f.Env != EnvKitAPIKey) {
			t.Errorf("%s after changing KIT_API_KEY: %q, before %q", f.Env, f, fps[i])
		}
	}
	// Another signing key changes every fingerprint.
	rekeyed := fullSecrets()
	rekeyed.SigningKey = "another-signing-key-0123456789abcdef"
	for i, f := range rekeyed.Fingerprints() {
		if f.String() == fps[i].String() {
			t.Errorf("%s: the same fingerprint under another signing key", f.Env)
		}
	}
	// A secret's fingerprint is keyed by its name too: the same value under two names differs.
	twin := Secrets{SigningKey: testSigningKey, CircleAPIToken: "same-value-0123", KitAPIKey: "same-value-0123"}
	if c, k := printOf(t, twin, EnvCircleAPIToken), printOf(t, twin, EnvKitAPIKey); c.Prints[0] == k.Prints[0] {
		t.Errorf("the same value under two names has one fingerprint %s", c.Prints[0])
	}
}

func TestFingerprintWords(t *testing.T) {
	s := fullSecrets()
	if got := printOf(t, s, EnvStripeSecretKey).String(); !regexp.MustCompile(`^set \(test mode\), fingerprint [0-9a-f]{8}$`).MatchString(got) {
		t.Errorf("Stripe key: %q", got)
	}
	if got := printOf(t, s, EnvStripeWebhookSecret).String(); !regexp.MustCompile(`^2 set \(rotation\), fingerprints [0-9a-f]{8}, [0-9a-f]{8}$`).MatchString(got) {
		t.Errorf("webhook secrets: %q", got)
	}
	if got := printOf(t, Secrets{}, EnvKitAPIKey).String(); got != "not set" {
		t.Errorf("unset: %q", got)
	}
	noKey := Secrets{KitAPIKey: "kit-key-0123456789"}
	if f := printOf(t, noKey, EnvKitAPIKey); len(f.Prints) != 0 || f.String() != "set (no fingerprint: MEMBERSYNC_SIGNING_KEY is not set)" || f.Short() != "set" {
		t.Errorf("without a signing key: %+v %q", f, f)
	}
	short := Secrets{SigningKey: "too-short"}
	if f := printOf(t, short, EnvSigningKey); len(f.Prints) != 0 || !strings.Contains(f.String(), "shorter than 32") {
		t.Errorf("a short signing key: %q", f)
	}
	for dsn, want := range map[string]string{
		"":                               "not set",
		"postgres://u@h/db":              "set (no password)",
		"postgres://h/db?password=s3cr3": "set, fingerprint ",
	} {
		got := printOf(t, Secrets{SigningKey: testSigningKey, DatabaseURL: dsn}, EnvDatabaseURL).String()
		if !strings.HasPrefix(got, want) {
			t.Errorf("%s %q: %q, want %q…", EnvDatabaseURL, dsn, got, want)
		}
	}
}

func TestKeyHygiene(t *testing.T) {
	for key, want := range map[string]string{
		"":                                 "not set",
		"short-key":                        "shorter than 32",
		"0123456789012345678901234567890":  "shorter than 32",
		"01234567890123456789012345678901": "",
		"ééééééééééééééééééééééééééééééééé": "",
	} {
		got := Secrets{SigningKey: key}.SigningKeyProblem()
		if want == "" && got != "" || want != "" && (!strings.Contains(got, want) || !strings.Contains(got, "openssl rand -base64 32")) {
			t.Errorf("signing key of %d characters: %q, want %q", len(key), got, want)
		}
	}
	for key, want := range map[string]struct {
		mode         string
		unrestricted bool
	}{
		"sk_live_abc": {ModeLive, true}, "rk_live_abc": {ModeLive, false}, "sk_test_abc": {ModeTest, true},
		"rk_test_abc": {ModeTest, false}, "": {"", false}, "pk_live_abc": {"", false},
	} {
		s := Secrets{StripeSecretKey: key}
		if s.StripeMode() != want.mode || s.UnrestrictedStripeKey() != want.unrestricted {
			t.Errorf("%q: mode %q, unrestricted %v; want %q, %v", key, s.StripeMode(), s.UnrestrictedStripeKey(), want.mode, want.unrestricted)
		}
	}

	const plans = "plans:\n  - id: pro\n    stripe: {prices: [price_1]}\n    circle: {access_groups: [1]}\n"
	secrets := map[string]string{EnvStripeWebhookSecret: "whsec_abc", EnvCircleAPIToken: "c", EnvKitAPIKey: "k", EnvSigningKey: testSigningKey}
	for _, tt := range []struct {
		key, yaml string
		want      string // "" for no problem
	}{
		{"rk_live_abc", "", ""},
		{"rk_test_abc", "kit:\n  base_url: http://127.0.0.1:9000\n", ""},
		{"rk_live_abc", "kit:\n  base_url: http://127.0.0.1:9000\n", "a live-mode key with kit.base_url on a loopback host"},
		{"sk_live_abc", "stripe:\n  base_url: http://localhost:12111\n", "a live-mode key with stripe.base_url on a loopback host"},
		{"rk_live_abc", "circle:\n  base_url: https://[::1]:8443\n", "circle.base_url"},
	} {
		vars := map[string]string{EnvStripeSecretKey: tt.key}
		for k, v := range secrets {
			vars[k] = v
		}
		c, err := Parse([]byte(plans+tt.yaml), env(vars))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(c.RequireSecrets(), "\n")
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("%s with %q: %q, want %q", tt.key, tt.yaml, got, tt.want)
		}
	}
}
