package config

import (
	"strings"
	"testing"
	"time"
)

// TestSupportSources: each source is off until configured, takes its defaults, refuses to listen
// without the secret that verifies what it receives, and adds its host to the egress allowlist.
func TestSupportSources(t *testing.T) {
	t.Parallel()
	const plans = `
plans:
  - id: pro
    stripe: {prices: [price_1]}
    circle: {access_groups: [1]}
`
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		problem string // a substring of the one problem wanted; empty means valid
		check   func(t *testing.T, c *Config)
	}{
		{name: "off by default", yaml: plans, check: func(t *testing.T, c *Config) {
			if c.Support.IMAP.Enabled() || c.Support.HelpScout.Enabled || c.Support.Zendesk.Enabled || c.Support.Webhook.Enabled {
				t.Fatalf("a source is on without configuration: %+v", c.Support)
			}
			if p := c.EgressPolicies()[EgressHelpScout]; p == nil || len(p.Hosts) != 0 {
				t.Fatalf("help scout allowlist = %+v, want empty", p)
			}
		}},
		{name: "imap defaults", yaml: "support: {imap: {host: imap.example.com, username: s@example.com}}\n" + plans,
			env: map[string]string{EnvIMAPPassword: " pass word \n"}, check: func(t *testing.T, c *Config) {
				m := c.Support.IMAP
				if m.Port != 993 || m.Security != IMAPSecurityTLS || m.Mailbox != "INBOX" || m.Interval.D() != time.Minute ||
					m.MaxPerPoll != 50 || m.MaxBodyBytes != 256<<10 || c.Secrets.Support.IMAPPassword != " pass word " {
					t.Fatalf("imap = %+v, password %q", m, c.Secrets.Support.IMAPPassword)
				}
				hosts := c.EgressPolicies()[EgressIMAP].Hosts
				if len(hosts) != 1 || hosts[0].String() != "imap.example.com:993" {
					t.Fatalf("imap allowlist = %+v", hosts)
				}
			}},
		{name: "imap starttls port", yaml: "support: {imap: {host: imap.example.com, username: u, security: starttls}}\n" + plans,
			env: map[string]string{EnvIMAPPassword: "p"}, check: func(t *testing.T, c *Config) {
				if c.Support.IMAP.Port != 143 {
					t.Fatalf("port %d, want 143", c.Support.IMAP.Port)
				}
			}},
		{name: "imap without password", yaml: "support: {imap: {host: imap.example.com, username: u}}\n" + plans, problem: EnvIMAPPassword},
		{name: "imap plain text off loopback", yaml: "support: {imap: {host: imap.example.com, username: u, security: none}}\n" + plans,
			env: map[string]string{EnvIMAPPassword: "p"}, problem: "loopback"},
		{name: "imap too often", yaml: "support: {imap: {host: imap.example.com, username: u, interval: 1s}}\n" + plans,
			env: map[string]string{EnvIMAPPassword: "p"}, problem: "support.imap.interval"},
		{name: "help scout without secret", yaml: "support: {helpscout: {enabled: true}}\n" + plans, problem: EnvHelpScoutWebhookSecret},
		{name: "help scout app half set", yaml: "support: {helpscout: {enabled: true}}\n" + plans,
			env: map[string]string{EnvHelpScoutWebhookSecret: "s", EnvHelpScoutAppID: "id"}, problem: EnvHelpScoutAppSecret},
		{name: "help scout", yaml: "support: {helpscout: {enabled: true}}\n" + plans,
			env: map[string]string{EnvHelpScoutWebhookSecret: "s", EnvHelpScoutAppID: "id", EnvHelpScoutAppSecret: "sec"}, check: func(t *testing.T, c *Config) {
				hosts := c.EgressPolicies()[EgressHelpScout].Hosts
				if len(hosts) != 1 || hosts[0].String() != "api.helpscout.net:443" {
					t.Fatalf("help scout allowlist = %+v", hosts)
				}
			}},
		{name: "zendesk", yaml: "support: {zendesk: {enabled: true, subdomain: acme, email: a@example.com}}\n" + plans,
			env: map[string]string{EnvZendeskWebhookSecret: "s", EnvZendeskAPIToken: "t"}, check: func(t *testing.T, c *Config) {
				hosts := c.EgressPolicies()[EgressZendesk].Hosts
				if len(hosts) != 1 || hosts[0].String() != "acme.zendesk.com:443" {
					t.Fatalf("zendesk allowlist = %+v", hosts)
				}
			}},
		{name: "zendesk bad subdomain", yaml: "support: {zendesk: {enabled: true, subdomain: acme.zendesk.com}}\n" + plans,
			env: map[string]string{EnvZendeskWebhookSecret: "s"}, problem: "support.zendesk.subdomain"},
		{name: "zendesk token without email", yaml: "support: {zendesk: {enabled: true, subdomain: acme}}\n" + plans,
			env: map[string]string{EnvZendeskWebhookSecret: "s", EnvZendeskAPIToken: "t"}, problem: "support.zendesk.email"},
		{name: "webhook without secret", yaml: "support: {webhook: {enabled: true}}\n" + plans, problem: EnvSupportWebhookSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml), env(tt.env))
			if tt.problem == "" {
				if err != nil {
					t.Fatal(err)
				}
				tt.check(t, c)
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.problem) {
				t.Fatalf("error %v, want one naming %q", err, tt.problem)
			}
		})
	}
}

// TestSupportSecretsFingerprinted: the support secrets are fingerprinted, never shown.
func TestSupportSecretsFingerprinted(t *testing.T) {
	s := SecretsFromEnv(env(map[string]string{EnvSigningKey: strings.Repeat("k", 40), EnvZendeskAPIToken: "zd-token-value"}))
	for _, f := range s.Fingerprints() {
		if f.Env == EnvZendeskAPIToken {
			if !f.Set || len(f.Prints) != 1 || strings.Contains(f.String(), "zd-token-value") {
				t.Fatalf("fingerprint = %+v", f)
			}
			return
		}
	}
	t.Fatalf("%s has no fingerprint", EnvZendeskAPIToken)
}
