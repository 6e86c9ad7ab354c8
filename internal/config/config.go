// Package config owns membersync's configuration: the YAML file (listen address, public URL, database,
// provider base URLs, plan mapping, alert rules) and the secrets, which come only from the environment.
// A Config is loaded once at start and passed down; nothing reads it from a global.
package config

import "github.com/membersync/membersync/internal/plan"

// Config is the whole configuration of one membersync instance.
type Config struct {
	// Listen is the address the HTTP server binds, such as ":8080".
	Listen string `yaml:"listen"`
	// PublicURL is the externally visible base URL (used in links, status pages, alerts).
	PublicURL string `yaml:"public_url"`
	// DatabaseURL is "sqlite:PATH" (default "sqlite:membersync.db") or "postgres://…". The YAML's
	// may not carry a password; MEMBERSYNC_DATABASE_URL, when set, replaces it and may. Show it
	// through RedactURL.
	DatabaseURL string `yaml:"database_url"`
	// TrustedProxies are the CIDRs of the reverse proxies in front of membersync (empty by default).
	// Only a request whose TCP peer is in one of them has its client address read from
	// Forwarded / X-Forwarded-For / CF-Connecting-IP; every other request is counted by its peer.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// LogFormat is "json" (default) or "text".
	LogFormat string `yaml:"log_format"`
	// Support is how customers reach a person (shown on status pages).
	Support Support `yaml:"support"`

	Stripe StripeConfig `yaml:"stripe"`
	Circle CircleConfig `yaml:"circle"`
	Kit    KitConfig    `yaml:"kit"`

	// Plans map Stripe prices/products to Circle access and Kit lifecycle tags.
	Plans []Plan `yaml:"plans"`

	// Metrics says where /metrics is served.
	Metrics MetricsConfig `yaml:"metrics"`

	// Alerts are the alert rules and where alerts are sent.
	Alerts AlertsConfig `yaml:"alerts"`

	// Reconcile schedules the drift sweep.
	Reconcile ReconcileConfig `yaml:"reconcile"`

	// Doctor schedules the launch-readiness audit inside serve.
	Doctor DoctorConfig `yaml:"doctor"`

	// Mail is the SMTP server that emails customers their status links ("email me my link").
	Mail MailConfig `yaml:"mail"`

	// Egress tunes the outbound allowlist (see package egress).
	Egress EgressConfig `yaml:"egress"`

	// Retention says how long what grows with traffic is kept (payloads, provider calls, …).
	Retention RetentionConfig `yaml:"retention"`

	// Backup schedules local backups of the SQLite database (off unless backup.dir is set).
	Backup BackupConfig `yaml:"backup"`

	// Erasure configures forgetting a person (GDPR Art. 17); see erasure.go.
	Erasure ErasureConfig `yaml:"erasure"`

	// Uptime lists the pages probed from outside for the site-health section and the uptime alert.
	Uptime UptimeConfig `yaml:"uptime"`

	// Secrets are read from the environment by Load, never from YAML.
	Secrets Secrets `yaml:"-"`
}

// MetricsConfig places the Prometheus endpoint: on its own listen address (for a scraper on a
// private network), or on the main one behind the bearer token MEMBERSYNC_METRICS_TOKEN.
type MetricsConfig struct {
	Listen string `yaml:"listen"`
}

// MailConfig is the SMTP server that sends customers their status links, over STARTTLS. The
// password, when the server wants one, is MEMBERSYNC_SMTP_PASSWORD. Unset, the server of
// alerts.email is used when that is set; with neither, the status pages do not offer the email.
type MailConfig struct {
	Host string `yaml:"host"`
	// Port is the submission port; default 587.
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	// From is the sender customers see, such as members@example.com.
	From string `yaml:"from"`
}

// Support is the human contact shown to customers when something needs a person.
type Support struct {
	Email string `yaml:"email"`
	URL   string `yaml:"url"`
	// KeepBodies, Rules, Baseline and SpikeFactor tune the triage of support messages (support.go).
	KeepBodies  bool         `yaml:"keep_bodies"`
	Rules       SupportRules `yaml:"rules"`
	Baseline    int          `yaml:"baseline"`
	SpikeFactor float64      `yaml:"spike_factor"`
	// IMAP, HelpScout, Zendesk and Webhook are where support messages come from (support_sources.go).
	IMAP      SupportIMAP      `yaml:"imap"`
	HelpScout SupportHelpScout `yaml:"helpscout"`
	Zendesk   SupportZendesk   `yaml:"zendesk"`
	Webhook   SupportWebhook   `yaml:"webhook"`
}

// StripeConfig holds the non-secret Stripe settings.
type StripeConfig struct {
	// BaseURL is the Stripe API base URL, default https://api.stripe.com.
	BaseURL string `yaml:"base_url"`
	// BillingPortal enables the "update payment method" button on status pages.
	BillingPortal bool `yaml:"billing_portal"`
	// RequestsPerMinute is the budget of Stripe calls, default 1200 (20 a second, under the
	// sandbox's 25); on PostgreSQL every instance shares it.
	RequestsPerMinute int `yaml:"requests_per_minute"`
}

// CircleConfig holds the non-secret Circle settings.
type CircleConfig struct {
	// BaseURL is the Circle Admin API base URL, default https://app.circle.so.
	BaseURL string `yaml:"base_url"`
	// CommunityURL is where members enter the community (the "Enter the community" button).
	CommunityURL string `yaml:"community_url"`
	// SkipInvitation creates members without Circle's invitation email.
	SkipInvitation bool `yaml:"skip_invitation"`
	// RequestsPerMinute throttles the client; default 300 (Circle allows 2,000 per 5 min per IP).
	RequestsPerMinute int `yaml:"requests_per_minute"`
	// MonthlyQuota is the plan's Admin API monthly request quota (Business: 5,000).
	MonthlyQuota int `yaml:"monthly_quota"`
}

// KitConfig holds the non-secret Kit settings.
type KitConfig struct {
	// BaseURL is the Kit API base URL, default https://api.kit.com.
	BaseURL string `yaml:"base_url"`
	// RequestsPerMinute throttles the client; default 100 with an API key (Kit allows 120 per 60 s
	// per key), 500 with KIT_OAUTH_TOKEN (Kit allows 600 per 60 s per OAuth token).
	RequestsPerMinute int `yaml:"requests_per_minute"`
	// Onboarding says who enrolls the plans' onboarding sequences: "api" (default; membersync adds
	// the subscriber once Circle confirmed access) or "automation" (a Kit automation rule "Tag added"
	// on the plan's active tag subscribes to the sequence; membersync never calls the sequence
	// endpoint for onboarding, which saves one Kit call per new purchase).
	Onboarding string `yaml:"onboarding"`
	// TagFirst reaches a buyer membersync has not linked to a Kit subscriber yet by tagging first and
	// creating the subscriber only when Kit does not know the email: one call instead of two for a
	// buyer already on the list, three instead of two for one who is not.
	TagFirst bool `yaml:"tag_first"`
}

// Plan is one product the founder sells and what it grants; the type lives in package plan, which
// does no I/O, so that entitlement can take it without depending on this loader.
type Plan = plan.Plan

// PlanStripe lists the Stripe ids that map to a plan.
type PlanStripe = plan.Stripe

// PlanCircle lists the Circle access groups a plan grants.
type PlanCircle = plan.Circle

// PlanKit lists the Kit tags per lifecycle stage and the sequences a plan manages.
type PlanKit = plan.Kit

// Secrets are the credentials, read only from environment variables.
type Secrets struct {
	StripeSecretKey string // STRIPE_SECRET_KEY
	// StripeWebhookSecrets has one or more whsec_ values (comma-separated during rotation).
	StripeWebhookSecrets []string // STRIPE_WEBHOOK_SECRET
	CircleAPIToken       string   // CIRCLE_API_TOKEN
	KitAPIKey            string   // KIT_API_KEY
	// KitOAuthToken, when set, is used instead of KitAPIKey: the access token of an OAuth app the
	// founder authorized for their own Kit account (600 requests per 60 s instead of 120). Kit's
	// access tokens expire; membersync does not refresh them.
	KitOAuthToken string // KIT_OAUTH_TOKEN
	// SigningKey keys the HMAC of status links and of email hashes in logs.
	SigningKey string // MEMBERSYNC_SIGNING_KEY
	// MetricsToken guards /metrics on the main listener.
	MetricsToken string // MEMBERSYNC_METRICS_TOKEN
	// Alerts are the notifiers' secrets (MEMBERSYNC_SLACK_WEBHOOK_URL, MEMBERSYNC_ALERT_WEBHOOK_SECRET,
	// MEMBERSYNC_SMTP_PASSWORD).
	Alerts AlertSecrets
	// Support are the support sources' secrets (MEMBERSYNC_IMAP_PASSWORD, HELPSCOUT_*, ZENDESK_*, …).
	Support SupportSecrets
	// DatabaseURL, when set, replaces the config's database_url (Load copies it there): the only
	// place a database password may be written.
	DatabaseURL string // MEMBERSYNC_DATABASE_URL
}

// ReconcileConfig schedules the drift sweep (membersync reconcile) inside serve.
type ReconcileConfig struct {
	// Interval between sweeps, default 24h.
	Interval Duration `yaml:"interval"`
	// MaxQuotaShare is the largest share of Circle's monthly quota sweeps may spend, default 0.2.
	MaxQuotaShare float64 `yaml:"max_quota_share"`
	// AlertThreshold is how many drifted people make an alert, default 10.
	AlertThreshold int `yaml:"alert_threshold"`
	// DryRun makes scheduled sweeps report without repairing.
	DryRun bool `yaml:"dry_run"`
	// UnknownMembers says what a repairing sweep does with a stranger (a member of a managed access
	// group, or a subscriber with a managed tag, with no entitlement and no comp): UnknownReport
	// (the default) opens a review item, UnknownRemove removes them through the journaled sync.
	UnknownMembers string `yaml:"unknown_members"`
}

// The values of reconcile.unknown_members.
const (
	UnknownReport = "report"
	UnknownRemove = "remove"
)

// DoctorConfig schedules membersync doctor inside serve; off without a domain.
type DoctorConfig struct {
	Domain        string   `yaml:"domain"`
	WWW           bool     `yaml:"www"`
	DKIMSelectors []string `yaml:"dkim_selectors"`
	// Interval between audits, default 24h.
	Interval Duration `yaml:"interval"`
}

// Duration is a time.Duration that reads from YAML as "72h", "30m" or "lifetime" (zero).
type Duration = plan.Duration

// CustomerMail returns the SMTP server for customer email: Mail when its host is set, else the
// alerts' email server (with its sender); ok is false when neither is configured.
func (c *Config) CustomerMail() (m MailConfig, ok bool) {
	switch {
	case c.Mail.Host != "":
		m = c.Mail
	case c.Alerts.Email.Host != "":
		m = MailConfig{Host: c.Alerts.Email.Host, Port: c.Alerts.Email.Port, Username: c.Alerts.Email.Username, From: c.Alerts.Email.From}
	default:
		return MailConfig{}, false
	}
	if m.Port == 0 {
		m.Port = DefaultSMTPPort
	}
	return m, true
}
