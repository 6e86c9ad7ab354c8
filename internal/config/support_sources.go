package config

import (
	"net"
	"strconv"
	"strings"
	"time"
)

// This file holds where support messages come from (support.imap, support.helpscout,
// support.zendesk, support.webhook): each is optional and off until configured; their secrets come
// from the environment only.

// Env names of the support sources' secrets.
const (
	EnvIMAPPassword           = "MEMBERSYNC_IMAP_PASSWORD"
	EnvHelpScoutWebhookSecret = "HELPSCOUT_WEBHOOK_SECRET"
	EnvHelpScoutAppID         = "HELPSCOUT_APP_ID"
	EnvHelpScoutAppSecret     = "HELPSCOUT_APP_SECRET"
	EnvZendeskWebhookSecret   = "ZENDESK_WEBHOOK_SECRET"
	EnvZendeskAPIToken        = "ZENDESK_API_TOKEN"
	EnvSupportWebhookSecret   = "MEMBERSYNC_SUPPORT_WEBHOOK_SECRET"
)

// Defaults and bounds of the support sources.
const (
	defaultIMAPMailbox          = "INBOX"
	defaultIMAPMaxPerPoll       = 50
	defaultIMAPMaxBodyBytes     = 256 << 10
	defaultIMAPInterval         = time.Minute
	defaultIMAPBackfill         = 28 * 24 * time.Hour
	defaultHelpScoutBaseURL     = "https://api.helpscout.net"
	minIMAPInterval             = 10 * time.Second
	maxIMAPMaxBodyBytes         = 10 << 20
	maxIMAPMaxPerPoll           = 1000
	helpScoutWebhookSecretLimit = 40 // Help Scout's secret key field takes up to 40 characters
)

// Security modes of support.imap.security.
const (
	IMAPSecurityTLS      = "tls"      // implicit TLS, port 993 (the default)
	IMAPSecurityStartTLS = "starttls" // STARTTLS on port 143
	IMAPSecurityNone     = "none"     // plain text: only to a loopback host (a local bridge, tests)
)

// SupportIMAP is the founder's support mailbox, read-only: membersync EXAMINEs it (never marks a
// message read) every Interval and reads the messages that arrived since the last UID it read.
// The password is MEMBERSYNC_IMAP_PASSWORD. Off without a host.
type SupportIMAP struct {
	Host string `yaml:"host"`
	// Port defaults to 993 with tls, 143 with starttls.
	Port int `yaml:"port"`
	// Security is tls (default), starttls, or none (a loopback host only).
	Security string `yaml:"security"`
	Username string `yaml:"username"`
	// Mailbox is the folder read, default INBOX.
	Mailbox string `yaml:"mailbox"`
	// Interval between polls, default 1m.
	Interval Duration `yaml:"interval"`
	// MaxPerPoll bounds the messages one poll reads (default 50); the rest wait for the next poll.
	MaxPerPoll int `yaml:"max_per_poll"`
	// MaxBodyBytes bounds what is read of one message (default 256 KiB); the rest is not fetched.
	MaxBodyBytes int `yaml:"max_body_bytes"`
	// Backfill is how far back the first poll reads (default 28 days, the weekly alert's four-week
	// window); older messages are never read.
	Backfill Duration `yaml:"backfill"`
}

// Enabled reports whether the mailbox is configured.
func (s SupportIMAP) Enabled() bool { return s.Host != "" }

// Addr is host:port.
func (s SupportIMAP) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// SupportHelpScout receives Help Scout's webhooks (HELPSCOUT_WEBHOOK_SECRET) at
// /support/helpscout and posts each diagnosis back as a private note through the Mailbox API 2.0
// with the OAuth app HELPSCOUT_APP_ID / HELPSCOUT_APP_SECRET (client credentials); without the app,
// no note is posted.
type SupportHelpScout struct {
	Enabled bool `yaml:"enabled"`
	// BaseURL is the Mailbox API base URL, default https://api.helpscout.net.
	BaseURL string `yaml:"base_url"`
}

// SupportZendesk receives Zendesk's signed webhooks (ZENDESK_WEBHOOK_SECRET) at /support/zendesk
// and posts each diagnosis back as a private comment with Email's API token (ZENDESK_API_TOKEN).
type SupportZendesk struct {
	Enabled bool `yaml:"enabled"`
	// Subdomain is the account's: acme for acme.zendesk.com.
	Subdomain string `yaml:"subdomain"`
	// Email is the agent the API token belongs to; the notes are written in their name.
	Email string `yaml:"email"`
	// BaseURL replaces https://{subdomain}.zendesk.com (a proxy, the tests' fake).
	BaseURL string `yaml:"base_url"`
}

// SupportWebhook receives messages from anything that can post JSON signed with
// MEMBERSYNC_SUPPORT_WEBHOOK_SECRET (a form, a chat widget, a mail parser) at /support/webhook.
type SupportWebhook struct {
	Enabled bool `yaml:"enabled"`
}

// SupportSecrets are the support sources' secrets, from the environment only.
type SupportSecrets struct {
	IMAPPassword           string // MEMBERSYNC_IMAP_PASSWORD
	HelpScoutWebhookSecret string // HELPSCOUT_WEBHOOK_SECRET
	HelpScoutAppID         string // HELPSCOUT_APP_ID
	HelpScoutAppSecret     string // HELPSCOUT_APP_SECRET
	ZendeskWebhookSecret   string // ZENDESK_WEBHOOK_SECRET
	ZendeskAPIToken        string // ZENDESK_API_TOKEN
	WebhookSecret          string // MEMBERSYNC_SUPPORT_WEBHOOK_SECRET
}

// supportSecretsFromEnv reads the support sources' secrets; SecretsFromEnv calls it.
func supportSecretsFromEnv(getenv func(string) string) SupportSecrets {
	return SupportSecrets{
		// A password may legitimately start or end with spaces.
		IMAPPassword:           strings.TrimRight(getenv(EnvIMAPPassword), "\r\n"),
		HelpScoutWebhookSecret: strings.TrimSpace(getenv(EnvHelpScoutWebhookSecret)),
		HelpScoutAppID:         strings.TrimSpace(getenv(EnvHelpScoutAppID)),
		HelpScoutAppSecret:     strings.TrimSpace(getenv(EnvHelpScoutAppSecret)),
		ZendeskWebhookSecret:   strings.TrimSpace(getenv(EnvZendeskWebhookSecret)),
		ZendeskAPIToken:        strings.TrimSpace(getenv(EnvZendeskAPIToken)),
		WebhookSecret:          strings.TrimSpace(getenv(EnvSupportWebhookSecret)),
	}
}

// fingerprints returns the fingerprints of the support secrets that are set, through one
// (Secrets.Fingerprints): the sources are optional, so an unset one is not listed as missing.
func (s SupportSecrets) fingerprints(one func(env string, values ...string) Fingerprint) []Fingerprint {
	var out []Fingerprint
	for _, e := range []struct{ env, v string }{
		{EnvIMAPPassword, s.IMAPPassword},
		{EnvHelpScoutWebhookSecret, s.HelpScoutWebhookSecret},
		{EnvHelpScoutAppSecret, s.HelpScoutAppSecret},
		{EnvZendeskWebhookSecret, s.ZendeskWebhookSecret},
		{EnvZendeskAPIToken, s.ZendeskAPIToken},
		{EnvSupportWebhookSecret, s.WebhookSecret},
	} {
		if e.v != "" {
			out = append(out, one(e.env, e.v))
		}
	}
	return out
}

// ZendeskBaseURL is support.zendesk.base_url, or https://{subdomain}.zendesk.com.
func (s SupportZendesk) ZendeskBaseURL() string {
	if s.BaseURL != "" {
		return s.BaseURL
	}
	if s.Subdomain == "" {
		return ""
	}
	return "https://" + s.Subdomain + ".zendesk.com"
}

// defaultSupportSources fills the support sources' unset ports, limits and intervals.
func (c *Config) defaultSupportSources() {
	m := &c.Support.IMAP
	if m.Security == "" {
		m.Security = IMAPSecurityTLS
	}
	if m.Port == 0 {
		m.Port = 993
		if m.Security != IMAPSecurityTLS {
			m.Port = 143
		}
	}
	if m.Mailbox == "" {
		m.Mailbox = defaultIMAPMailbox
	}
	if m.Interval == 0 {
		m.Interval = Duration(defaultIMAPInterval)
	}
	if m.MaxPerPoll == 0 {
		m.MaxPerPoll = defaultIMAPMaxPerPoll
	}
	if m.MaxBodyBytes == 0 {
		m.MaxBodyBytes = defaultIMAPMaxBodyBytes
	}
	if m.Backfill == 0 {
		m.Backfill = Duration(defaultIMAPBackfill)
	}
	if c.Support.HelpScout.BaseURL == "" {
		c.Support.HelpScout.BaseURL = defaultHelpScoutBaseURL
	}
	c.Support.HelpScout.BaseURL = strings.TrimRight(c.Support.HelpScout.BaseURL, "/")
	c.Support.Zendesk.BaseURL = strings.TrimRight(c.Support.Zendesk.BaseURL, "/")
}

// validateSupportSources checks each configured source and that its secrets are set: a source that
// cannot verify what it receives must not listen.
func (c *Config) validateSupportSources(p *Problems) {
	s, sec := c.Support, c.Secrets.Support
	if m := s.IMAP; m.Enabled() {
		switch m.Security {
		case IMAPSecurityTLS, IMAPSecurityStartTLS:
		case IMAPSecurityNone:
			if !LoopbackHost(m.Host) {
				p.add("support.imap.security: none sends the password in clear text; it is allowed only to a loopback host, not %q (use tls or starttls)", m.Host)
			}
		default:
			p.add("support.imap.security: %q must be tls (port 993), starttls (port 143) or none (loopback only)", m.Security)
		}
		if strings.ContainsAny(m.Host, "/: @") && net.ParseIP(m.Host) == nil {
			p.add("support.imap.host: %q should be a host name only, such as imap.fastmail.com (the port goes in support.imap.port)", m.Host)
		}
		if m.Port <= 0 || m.Port > 65535 {
			p.add("support.imap.port: %d is not a TCP port", m.Port)
		}
		if m.Username == "" {
			p.add("support.imap.username: required with support.imap.host (the mailbox's login)")
		}
		if sec.IMAPPassword == "" {
			p.add("%s: not set; support.imap needs the mailbox's password (an app password where the provider offers one)", EnvIMAPPassword)
		}
		if m.Interval < Duration(minIMAPInterval) {
			p.add("support.imap.interval: %s is too often (use %s or more)", m.Interval, minIMAPInterval)
		}
		if m.MaxPerPoll < 1 || m.MaxPerPoll > maxIMAPMaxPerPoll {
			p.add("support.imap.max_per_poll: %d must be between 1 and %d", m.MaxPerPoll, maxIMAPMaxPerPoll)
		}
		if m.MaxBodyBytes < 1024 || m.MaxBodyBytes > maxIMAPMaxBodyBytes {
			p.add("support.imap.max_body_bytes: %d must be between 1024 and %d", m.MaxBodyBytes, maxIMAPMaxBodyBytes)
		}
		if m.Backfill < 0 {
			p.add("support.imap.backfill: %s must not be negative", m.Backfill)
		}
	}
	if s.HelpScout.Enabled {
		p.checkSecureURL("support.helpscout.base_url", s.HelpScout.BaseURL)
		if sec.HelpScoutWebhookSecret == "" {
			p.add("%s: not set; support.helpscout needs the webhook's secret key (Help Scout → Manage → Apps → Webhooks)", EnvHelpScoutWebhookSecret)
		} else if len(sec.HelpScoutWebhookSecret) > helpScoutWebhookSecretLimit {
			p.add("%s: is longer than the %d characters Help Scout's secret key field takes", EnvHelpScoutWebhookSecret, helpScoutWebhookSecretLimit)
		}
		if (sec.HelpScoutAppID == "") != (sec.HelpScoutAppSecret == "") {
			p.add("%s and %s: set both (the OAuth app that posts the notes) or neither (no notes)", EnvHelpScoutAppID, EnvHelpScoutAppSecret)
		}
	}
	if z := s.Zendesk; z.Enabled {
		if z.Subdomain == "" && z.BaseURL == "" {
			p.add("support.zendesk.subdomain: required with support.zendesk.enabled (acme for acme.zendesk.com)")
		}
		if z.Subdomain != "" && !validSubdomain(z.Subdomain) {
			p.add("support.zendesk.subdomain: %q should be the account's subdomain only, such as acme for acme.zendesk.com", z.Subdomain)
		}
		if z.BaseURL != "" {
			p.checkSecureURL("support.zendesk.base_url", z.BaseURL)
		}
		if sec.ZendeskWebhookSecret == "" {
			p.add("%s: not set; support.zendesk needs the webhook's signing secret (Admin Center → Apps and integrations → Webhooks → the webhook → Reveal secret)", EnvZendeskWebhookSecret)
		}
		if (z.Email == "") != (sec.ZendeskAPIToken == "") {
			p.add("support.zendesk.email and %s: set both (the agent whose API token posts the notes) or neither (no notes)", EnvZendeskAPIToken)
		}
	}
	if s.Webhook.Enabled && sec.WebhookSecret == "" {
		p.add("%s: not set; support.webhook needs the secret the sender signs with (32 random characters or more)", EnvSupportWebhookSecret)
	}
}

// validSubdomain reports whether s is one DNS label.
func validSubdomain(s string) bool {
	if s == "" || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// addSupportEgress adds the support sources' hosts to the allowlist (EgressPolicies): the Help
// Scout and Zendesk APIs when their notes are configured, the IMAP server when it is.
func (c *Config) addSupportEgress(addURL func(component, key, raw string), addHost func(component, key, host string, port int)) {
	s := c.Support
	if s.HelpScout.Enabled {
		addURL(EgressHelpScout, "support.helpscout.base_url", s.HelpScout.BaseURL)
	} else {
		addURL(EgressHelpScout, "support.helpscout.base_url", "")
	}
	key := "support.zendesk.subdomain"
	if s.Zendesk.BaseURL != "" {
		key = "support.zendesk.base_url"
	}
	if s.Zendesk.Enabled {
		addURL(EgressZendesk, key, s.Zendesk.ZendeskBaseURL())
	} else {
		addURL(EgressZendesk, key, "")
	}
	if s.IMAP.Enabled() {
		addHost(EgressIMAP, "support.imap.host", s.IMAP.Host, s.IMAP.Port)
	} else {
		addHost(EgressIMAP, "support.imap.host", "", 0)
	}
}
