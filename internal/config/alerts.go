package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Env names of the alert notifiers' secrets.
const (
	EnvSlackWebhookURL    = "MEMBERSYNC_SLACK_WEBHOOK_URL"
	EnvAlertWebhookSecret = "MEMBERSYNC_ALERT_WEBHOOK_SECRET"
	EnvSMTPPassword       = "MEMBERSYNC_SMTP_PASSWORD"
)

// Alert defaults, from the seed's bar: a founder hears about a problem quickly, once, and again only
// while it lasts.
const (
	DefaultAlertRepeat          = 4 * time.Hour
	DefaultAlertTimeout         = 10 * time.Second
	DefaultWebhookFailureWindow = 5 * time.Minute
	DefaultWebhookPendingFor    = 10 * time.Minute
	DefaultCircleFailureWindow  = time.Hour
	DefaultCircleFailureMax     = 3
	DefaultReviewAge            = time.Hour
	DefaultConvergeWindow       = 15 * time.Minute
	DefaultConvergeP95          = 2 * time.Second
	DefaultWebhookSilence       = 2 * time.Hour
	// DefaultCircleQuotaThreshold is the share of Circle's monthly quota, used or projected, that
	// fires the circle_quota alert.
	DefaultCircleQuotaThreshold = 0.8
	DefaultSMTPPort             = 587
)

// DefaultRefusalCodes are the webhook refusal codes of deliveries Stripe may have signed or sent that
// membersync could not take (a wrong signing secret, a skewed clock, the other Stripe mode, the
// database down), as opposed to unsigned noise from scanners (missing_signature,
// malformed_signature). Refusals no longer alert: anyone can post a wrong signature.
var DefaultRefusalCodes = []string{"bad_signature", "too_old", "livemode_mismatch", "unavailable"}

// AlertsConfig holds the alert rules and where alerts are sent. Every rule is on by default with the
// thresholds below; `disabled: true` turns one off. The notifiers' secrets come from the environment
// (AlertSecrets).
type AlertsConfig struct {
	// Repeat is how often a firing alert is sent again while it holds; default 4h.
	Repeat Duration `yaml:"repeat"`
	// Timeout bounds each notifier's delivery of one message; default 10s.
	Timeout Duration `yaml:"timeout"`

	WebhookFailures WebhookFailuresRule `yaml:"webhook_failures"`
	CircleFailures  CircleFailuresRule  `yaml:"circle_failures"`
	ReviewAge       ReviewAgeRule       `yaml:"review_age"`
	Credentials     CredentialsRule     `yaml:"credentials"`
	ConvergeP95     ConvergeRule        `yaml:"converge_p95"`
	WebhookSilence  SilenceRule         `yaml:"webhook_silence"`
	CircleQuota     CircleQuotaRule     `yaml:"circle_quota"`
	// Backup, Uptime and SupportSpike have their settings under backup:, uptime: and support:;
	// here they can only be turned off.
	Backup       SwitchRule `yaml:"backup"`
	Uptime       SwitchRule `yaml:"uptime"`
	SupportSpike SwitchRule `yaml:"support_spike"`

	Slack   SlackNotifier   `yaml:"slack"`
	Webhook WebhookNotifier `yaml:"webhook"`
	Email   EmailNotifier   `yaml:"email"`
}

// WebhookFailuresRule fires on Stripe's own record of undelivered events: events the Events API
// still holds as pending (pending_webhooks above 0) PendingFor after they were created. Deliveries
// membersync refused locally (bad signatures and the like) do not fire it, since a stranger can
// cause those; the admin overview shows them.
type WebhookFailuresRule struct {
	Disabled bool `yaml:"disabled"`
	// PendingFor is how long Stripe must have failed to deliver an event before it counts: Stripe
	// retries with backoff, so a moment's failure is not yet news. Default 10m.
	PendingFor Duration `yaml:"pending_for"`
	// Threshold is how many undelivered events fire it; default 1 (any).
	Threshold int `yaml:"threshold"`
	// Window is accepted for older configuration files and ignored: it bounded the local refusals
	// the rule used to count.
	Window Duration `yaml:"window"`
	// Codes is accepted for older configuration files and ignored: the refusal codes the rule used
	// to count.
	Codes []string `yaml:"codes"`
}

// CircleFailuresRule fires when more than Max syncs failed on Circle calls in the window.
type CircleFailuresRule struct {
	Disabled bool `yaml:"disabled"`
	// Window is how far back failures count; default 1h.
	Window Duration `yaml:"window"`
	// Max is how many failures are tolerated; one more fires it. Default 3.
	Max int `yaml:"max"`
}

// ReviewAgeRule fires when a review item has been open longer than OlderThan.
type ReviewAgeRule struct {
	Disabled bool `yaml:"disabled"`
	// OlderThan is how long an item may wait for a person; default 1h.
	OlderThan Duration `yaml:"older_than"`
}

// CredentialsRule fires as soon as a provider rejects membersync's credentials.
type CredentialsRule struct {
	Disabled bool `yaml:"disabled"`
}

// ConvergeRule fires when the 95th percentile of time to converge (event received → every action
// confirmed) over the window is above Threshold.
type ConvergeRule struct {
	Disabled bool `yaml:"disabled"`
	// Window is how far back events count; default 15m.
	Window Duration `yaml:"window"`
	// Threshold is the p95 not to exceed; default 2s.
	Threshold Duration `yaml:"threshold"`
	// MinEvents is how many events the window needs before the rule judges; default 1.
	MinEvents int `yaml:"min_events"`
}

// SilenceRule fires when no webhook arrived for After while Stripe's Events API shows newer events:
// the endpoint is silently broken.
type SilenceRule struct {
	Disabled bool `yaml:"disabled"`
	// After is how long without a webhook makes membersync ask Stripe; default 2h.
	After Duration `yaml:"after"`
}

// SwitchRule is a rule whose only setting here is whether it is off.
type SwitchRule struct {
	Disabled bool `yaml:"disabled"`
}

// CircleQuotaRule fires when Circle's monthly request quota (circle.monthly_quota) is used, or
// projected to be used by the month's end at the pace so far, to Threshold or beyond.
type CircleQuotaRule struct {
	Disabled bool `yaml:"disabled"`
	// Threshold is the share of the quota that fires it, above 0 and at most 1; default 0.8.
	Threshold float64 `yaml:"threshold"`
}

// SlackNotifier posts to a Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat, …).
// The webhook URL is a secret: MEMBERSYNC_SLACK_WEBHOOK_URL.
type SlackNotifier struct {
	Enabled bool `yaml:"enabled"`
}

// WebhookNotifier posts JSON to URL, signed with MEMBERSYNC_ALERT_WEBHOOK_SECRET the way Stripe signs
// its webhooks (header Membersync-Signature: t=UNIX,v1=HEX).
type WebhookNotifier struct {
	// URL receives the alerts; empty disables the notifier.
	URL string `yaml:"url"`
}

// EmailNotifier sends mail over SMTP with STARTTLS (never in the clear). The password, when the
// server wants one, is MEMBERSYNC_SMTP_PASSWORD.
type EmailNotifier struct {
	// Host is the SMTP server; empty disables the notifier.
	Host string `yaml:"host"`
	// Port is the submission port; default 587.
	Port int `yaml:"port"`
	// Username authenticates (PLAIN, after STARTTLS); empty sends without authentication.
	Username string   `yaml:"username"`
	From     string   `yaml:"from"`
	To       []string `yaml:"to"`
}

// AlertSecrets are the notifiers' credentials, read only from the environment.
type AlertSecrets struct {
	SlackWebhookURL string // MEMBERSYNC_SLACK_WEBHOOK_URL
	WebhookSecret   string // MEMBERSYNC_ALERT_WEBHOOK_SECRET
	SMTPPassword    string // MEMBERSYNC_SMTP_PASSWORD
}

// alertSecretsFromEnv reads the notifiers' secrets; SecretsFromEnv calls it.
func alertSecretsFromEnv(getenv func(string) string) AlertSecrets {
	return AlertSecrets{
		SlackWebhookURL: strings.TrimSpace(getenv(EnvSlackWebhookURL)),
		WebhookSecret:   strings.TrimSpace(getenv(EnvAlertWebhookSecret)),
		// A password may legitimately start or end with spaces.
		SMTPPassword: strings.TrimRight(getenv(EnvSMTPPassword), "\r\n"),
	}
}

// applyDefaults fills every unset threshold, window and port.
func (a *AlertsConfig) applyDefaults() {
	def := func(d *Duration, v time.Duration) {
		if *d == 0 {
			*d = Duration(v)
		}
	}
	def(&a.Repeat, DefaultAlertRepeat)
	def(&a.Timeout, DefaultAlertTimeout)
	def(&a.WebhookFailures.Window, DefaultWebhookFailureWindow)
	def(&a.WebhookFailures.PendingFor, DefaultWebhookPendingFor)
	if a.WebhookFailures.Threshold == 0 {
		a.WebhookFailures.Threshold = 1
	}
	if len(a.WebhookFailures.Codes) == 0 {
		a.WebhookFailures.Codes = append([]string(nil), DefaultRefusalCodes...)
	}
	def(&a.CircleFailures.Window, DefaultCircleFailureWindow)
	if a.CircleFailures.Max == 0 {
		a.CircleFailures.Max = DefaultCircleFailureMax
	}
	def(&a.ReviewAge.OlderThan, DefaultReviewAge)
	def(&a.ConvergeP95.Window, DefaultConvergeWindow)
	def(&a.ConvergeP95.Threshold, DefaultConvergeP95)
	if a.ConvergeP95.MinEvents == 0 {
		a.ConvergeP95.MinEvents = 1
	}
	def(&a.WebhookSilence.After, DefaultWebhookSilence)
	if a.CircleQuota.Threshold == 0 {
		a.CircleQuota.Threshold = DefaultCircleQuotaThreshold
	}
	a.Webhook.URL = strings.TrimSpace(a.Webhook.URL)
	a.Email.Host = strings.TrimSpace(a.Email.Host)
	if a.Email.Host != "" && a.Email.Port == 0 {
		a.Email.Port = DefaultSMTPPort
	}
}

var refusalCode = regexp.MustCompile(`^[a-z_]{1,32}$`)

// validate returns every problem with the alerts section; path is its key ("alerts").
func (a *AlertsConfig) validate(path string) Problems {
	var p Problems
	add := func(key, format string, args ...any) {
		p = append(p, join(path, key)+": "+fmt.Sprintf(format, args...))
	}
	a.validateRules(add)
	a.Webhook.validate(add)
	a.Email.validate(add)
	return p
}

// addFunc adds a problem with the key under the section being validated.
type addFunc func(key, format string, args ...any)

// validateRules checks the delivery settings and the rules' windows and thresholds.
func (a *AlertsConfig) validateRules(add addFunc) {
	positive := func(key string, d Duration) {
		if d < 0 {
			add(key, "must be a positive duration such as 5m or 2h")
		}
	}
	positive("repeat", a.Repeat)
	if a.Repeat > 0 && a.Repeat.D() < time.Minute {
		add("repeat", "%s is shorter than the one-minute evaluation; use 1m or more", a.Repeat.D())
	}
	positive("timeout", a.Timeout)
	if a.Timeout.D() > time.Minute {
		add("timeout", "%s is too long: a notifier gets at most 1m (alerts are evaluated every minute)", a.Timeout.D())
	}
	positive("webhook_failures.window", a.WebhookFailures.Window)
	positive("webhook_failures.pending_for", a.WebhookFailures.PendingFor)
	if a.WebhookFailures.PendingFor > 0 && a.WebhookFailures.PendingFor.D() < time.Minute {
		add("webhook_failures.pending_for", "%s is too short: Stripe retries with backoff; use a few minutes (default 10m)", a.WebhookFailures.PendingFor.D())
	}
	if a.WebhookFailures.PendingFor.D() >= 72*time.Hour {
		add("webhook_failures.pending_for", "%s is too long: Stripe stops retrying after 3 days; use a few minutes (default 10m)", a.WebhookFailures.PendingFor.D())
	}
	if a.WebhookFailures.Threshold < 0 {
		add("webhook_failures.threshold", "must be 1 or more")
	}
	for i, c := range a.WebhookFailures.Codes {
		if !refusalCode.MatchString(c) {
			add(fmt.Sprintf("webhook_failures.codes[%d]", i), "%q is not a refusal code (such as bad_signature or unavailable)", c)
		}
	}
	positive("circle_failures.window", a.CircleFailures.Window)
	if a.CircleFailures.Max < 0 {
		add("circle_failures.max", "must not be negative")
	}
	positive("review_age.older_than", a.ReviewAge.OlderThan)
	positive("converge_p95.window", a.ConvergeP95.Window)
	positive("converge_p95.threshold", a.ConvergeP95.Threshold)
	if a.ConvergeP95.MinEvents < 0 {
		add("converge_p95.min_events", "must not be negative")
	}
	positive("webhook_silence.after", a.WebhookSilence.After)
	if t := a.CircleQuota.Threshold; !(t > 0 && t <= 1) {
		add("circle_quota.threshold", "%v must be a share of the quota above 0 and at most 1, such as 0.8 (80 %%)", t)
	}
}

// validate checks the webhook notifier's URL.
func (w WebhookNotifier) validate(add addFunc) {
	if w.URL == "" {
		return
	}
	u, err := url.Parse(w.URL)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		add("webhook.url", "%q is not an http(s) URL", w.URL)
	case u.User != nil:
		add("webhook.url", "must not carry credentials; the body is signed with %s instead", EnvAlertWebhookSecret)
	case u.Scheme == "http" && !LoopbackHost(u.Hostname()):
		add("webhook.url", "%q is plain http: alerts would cross the network in clear text; use https (http is allowed only to a loopback host)", w.URL)
	}
}

// validate checks the email notifier: its server, sender and recipients, or that nothing but the
// server is set without it.
func (e EmailNotifier) validate(add addFunc) {
	if e.Host == "" {
		if e.From != "" || len(e.To) > 0 || e.Username != "" {
			add("email.host", "set the SMTP server to send alerts by email (or remove the email section)")
		}
		return
	}
	if strings.ContainsAny(e.Host, " /:") {
		add("email.host", "%q should be a host name only (the port goes in email.port)", e.Host)
	}
	if e.Port < 1 || e.Port > 65535 {
		add("email.port", "%d is not a TCP port", e.Port)
	}
	if e.Port == 465 {
		add("email.port", "465 is implicit TLS; membersync uses STARTTLS, usually on port 587")
	}
	if !validAddress(e.From) {
		add("email.from", "%q is not an email address", e.From)
	}
	if len(e.To) == 0 {
		add("email.to", "name at least one recipient")
	}
	for i, t := range e.To {
		if !validAddress(t) {
			add(fmt.Sprintf("email.to[%d]", i), "%q is not an email address", t)
		}
	}
	if strings.ContainsAny(e.Username, "\r\n") {
		add("email.username", "must be one line")
	}
}

func validAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s && !strings.ContainsAny(s, "\r\n")
}

// RequireSecrets reports the notifier secrets that the configured notifiers need and that are
// missing or malformed (serve and `membersync alerts test` check them). It never repeats a value.
func (a *AlertsConfig) RequireSecrets(s AlertSecrets) Problems {
	var p Problems
	if a.Slack.Enabled {
		u, err := url.Parse(s.SlackWebhookURL)
		switch {
		case s.SlackWebhookURL == "":
			p = append(p, EnvSlackWebhookURL+": not set; alerts.slack is enabled: create an incoming webhook in Slack and put its URL here")
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
			p = append(p, EnvSlackWebhookURL+": is not an http(s) URL (https://hooks.slack.com/services/…)")
		case u.Scheme == "http" && !LoopbackHost(u.Hostname()):
			p = append(p, EnvSlackWebhookURL+": is plain http: the alerts would cross the network in clear text; use the https URL Slack gives (https://hooks.slack.com/services/…)")
		}
	}
	if a.Webhook.URL != "" && len(s.WebhookSecret) < 16 {
		p = append(p, EnvAlertWebhookSecret+": set a random string of 16 or more characters; alerts.webhook.url receives alerts signed with it")
	}
	if a.Email.Host != "" && a.Email.Username != "" && s.SMTPPassword == "" {
		p = append(p, EnvSMTPPassword+": not set; alerts.email.username needs the SMTP password")
	}
	return p
}

// SMTPAddr returns host:port of the email notifier.
func (e EmailNotifier) SMTPAddr() string {
	return net.JoinHostPort(e.Host, strconv.Itoa(e.Port))
}
