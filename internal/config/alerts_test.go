package config

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func parseAlerts(t *testing.T, src string) AlertsConfig {
	t.Helper()
	var a AlertsConfig
	dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
	dec.KnownFields(true)
	if err := dec.Decode(&a); err != nil && src != "" {
		t.Fatalf("decoding %q: %v", src, err)
	}
	a.applyDefaults()
	return a
}

func TestAlertDefaults(t *testing.T) {
	a := parseAlerts(t, "")
	tests := []struct {
		name      string
		got, want any
	}{
		{"repeat", a.Repeat.D(), 4 * time.Hour},
		{"timeout", a.Timeout.D(), 10 * time.Second},
		{"webhook failures window", a.WebhookFailures.Window.D(), 5 * time.Minute},
		{"webhook failures threshold", a.WebhookFailures.Threshold, 1},
		{"webhook failure codes", strings.Join(a.WebhookFailures.Codes, ","), "bad_signature,too_old,livemode_mismatch,unavailable"},
		{"circle failures window", a.CircleFailures.Window.D(), time.Hour},
		{"circle failures max", a.CircleFailures.Max, 3},
		{"review age", a.ReviewAge.OlderThan.D(), time.Hour},
		{"converge window", a.ConvergeP95.Window.D(), 15 * time.Minute},
		{"converge threshold", a.ConvergeP95.Threshold.D(), 2 * time.Second},
		{"converge min events", a.ConvergeP95.MinEvents, 1},
		{"silence", a.WebhookSilence.After.D(), 2 * time.Hour},
		{"circle quota threshold", a.CircleQuota.Threshold, 0.8},
		{"no notifier", a.Slack.Enabled || a.Webhook.URL != "" || a.Email.Host != "", false},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if p := a.validate("alerts"); len(p) != 0 {
		t.Errorf("defaults do not validate: %v", p)
	}
	if p := a.RequireSecrets(AlertSecrets{}); len(p) != 0 {
		t.Errorf("no notifier needs no secret: %v", p)
	}
}

func TestAlertConfigParses(t *testing.T) {
	a := parseAlerts(t, `
repeat: 2h
circle_failures: {max: 10, window: 30m}
review_age: {older_than: 1d}
credentials: {disabled: true}
webhook_silence: {after: 6h}
circle_quota: {threshold: 0.9}
slack: {enabled: true}
webhook: {url: "https://ops.example.com/hooks/membersync"}
email:
  host: smtp.example.com
  username: alerts@example.com
  from: alerts@example.com
  to: [founder@example.com]
`)
	if a.Repeat.D() != 2*time.Hour || a.CircleFailures.Max != 10 || a.CircleFailures.Window.D() != 30*time.Minute ||
		a.ReviewAge.OlderThan.D() != 24*time.Hour || !a.Credentials.Disabled || a.WebhookSilence.After.D() != 6*time.Hour ||
		a.CircleQuota.Threshold != 0.9 {
		t.Errorf("parsed %+v", a)
	}
	if a.Email.Port != 587 || a.Email.SMTPAddr() != "smtp.example.com:587" {
		t.Errorf("email port: got %d (%s), want the 587 default", a.Email.Port, a.Email.SMTPAddr())
	}
	if p := a.validate("alerts"); len(p) != 0 {
		t.Errorf("validate: %v", p)
	}
	env := map[string]string{
		EnvSlackWebhookURL:    " https://hooks.slack.com/services/T/B/X ",
		EnvAlertWebhookSecret: "0123456789abcdef0123",
		EnvSMTPPassword:       " pass with spaces \n",
	}
	s := alertSecretsFromEnv(func(k string) string { return env[k] })
	if s.SlackWebhookURL != "https://hooks.slack.com/services/T/B/X" || s.SMTPPassword != " pass with spaces " {
		t.Errorf("secrets from env: %+v", s)
	}
	if p := a.RequireSecrets(s); len(p) != 0 {
		t.Errorf("RequireSecrets with every secret: %v", p)
	}
}

func TestAlertProblems(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"unknown rule key", "circle_failures: {maxx: 3}\n", []string{"field maxx not found"}},
		{"negative durations", "repeat: -1h\nreview_age: {older_than: -5m}\n", []string{"alerts.repeat: must be a positive duration", "alerts.review_age.older_than: must be a positive duration"}},
		{"repeat under a minute", "repeat: 30s\n", []string{"alerts.repeat: 30s is shorter than the one-minute evaluation"}},
		{"timeout too long", "timeout: 5m\n", []string{"alerts.timeout: 5m0s is too long"}},
		{"bad refusal code", "webhook_failures: {codes: [Bad-Signature]}\n", []string{`alerts.webhook_failures.codes[0]: "Bad-Signature" is not a refusal code`}},
		{"webhook URL", "webhook: {url: \"ftp://x\"}\n", []string{`alerts.webhook.url: "ftp://x" is not an http(s) URL`}},
		{"webhook URL with credentials", "webhook: {url: \"https://u:p@x.example.com/\"}\n", []string{"alerts.webhook.url: must not carry credentials"}},
		{"email without host", "email: {to: [a@example.com]}\n", []string{"alerts.email.host: set the SMTP server"}},
		{"email every problem", "email: {host: \"smtp.example.com:25\", port: 465, from: nobody, to: [\"x@example.com\\r\\nBcc: y@example.com\"]}\n", []string{
			"alerts.email.host: \"smtp.example.com:25\" should be a host name only",
			"alerts.email.port: 465 is implicit TLS",
			`alerts.email.from: "nobody" is not an email address`,
			"alerts.email.to[0]:",
		}},
		{"circle quota threshold over 1", "circle_quota: {threshold: 80}\n", []string{"alerts.circle_quota.threshold: 80 must be a share of the quota above 0 and at most 1"}},
		{"circle quota threshold negative", "circle_quota: {threshold: -0.5}\n", []string{"alerts.circle_quota.threshold: -0.5 must be"}},
		{"email without recipients", "email: {host: smtp.example.com, from: a@example.com}\n", []string{"alerts.email.to: name at least one recipient"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a AlertsConfig
			dec := yaml.NewDecoder(bytes.NewReader([]byte(tt.yaml)))
			dec.KnownFields(true)
			var got string
			if err := dec.Decode(&a); err != nil {
				got = err.Error()
			} else {
				a.applyDefaults()
				got = a.validate("alerts").Error()
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems %q lack %q", got, w)
				}
			}
		})
	}
}

func TestAlertSecretsRequired(t *testing.T) {
	a := parseAlerts(t, "slack: {enabled: true}\nwebhook: {url: \"https://ops.example.com/h\"}\nemail: {host: smtp.example.com, username: u, from: a@example.com, to: [b@example.com]}\n")
	tests := []struct {
		name    string
		secrets AlertSecrets
		want    []string
	}{
		{"none set", AlertSecrets{}, []string{EnvSlackWebhookURL + ": not set", EnvAlertWebhookSecret + ": set a random string", EnvSMTPPassword + ": not set"}},
		{"malformed", AlertSecrets{SlackWebhookURL: "hooks.slack.com/services/Xq9zz", WebhookSecret: "shortXq9", SMTPPassword: "p"},
			[]string{EnvSlackWebhookURL + ": is not an http(s) URL", EnvAlertWebhookSecret + ": set a random string"}},
		{"plain http", AlertSecrets{SlackWebhookURL: "http://hooks.slack.com/services/Xq9zz", WebhookSecret: "0123456789abcdef", SMTPPassword: "p"},
			[]string{EnvSlackWebhookURL + ": is plain http"}},
		{"loopback http", AlertSecrets{SlackWebhookURL: "http://127.0.0.1:9/services/Xq9zz", WebhookSecret: "0123456789abcdef", SMTPPassword: "p"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := a.RequireSecrets(tt.secrets)
			got := p.Error()
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("problems %q lack %q", got, w)
				}
			}
			if len(p) != len(tt.want) {
				t.Errorf("got %d problems, want %d: %v", len(p), len(tt.want), p)
			}
			if strings.Contains(got, "Xq9zz") || (tt.secrets.WebhookSecret != "" && strings.Contains(got, tt.secrets.WebhookSecret)) {
				t.Errorf("problems %q repeat a secret", got)
			}
		})
	}
}
