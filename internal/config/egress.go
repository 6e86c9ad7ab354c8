package config

import (
	"net"
	"strconv"
	"strings"

	"github.com/membersync/membersync/internal/egress"
)

// EgressConfig tunes the outbound allowlist. The hosts themselves come from the keys that name them
// (stripe.base_url, circle.base_url, kit.base_url, alerts.*, mail.host): nothing else is reachable.
type EgressConfig struct {
	// PrivateHosts are configured host names allowed to resolve to private, loopback or link-local
	// addresses (an internal relay, a mail server on the founder's network). Empty by default: a
	// provider's name that resolves inside the network is refused.
	PrivateHosts []string `yaml:"private_hosts"`
}

// Egress components: each gets its own allowlist.
const (
	EgressStripe = "stripe"
	EgressCircle = "circle"
	EgressKit    = "kit"
	EgressAlerts = "alerts"
	EgressMail   = "mail"
	// EgressHelpScout, EgressZendesk and EgressIMAP are the support sources (support_sources.go).
	EgressHelpScout = "helpscout"
	EgressZendesk   = "zendesk"
	EgressIMAP      = "imap"
)

// EgressPolicies returns the allowlist of each component that calls out: Stripe (the API, the
// billing portal sessions included), Circle, Kit, the alert notifiers and customer mail. A URL the
// config has already validated cannot fail here; a malformed one (a secret's URL not yet checked)
// is left out, so it can reach nothing.
func (c *Config) EgressPolicies() map[string]*egress.Policy {
	private := c.Egress.PrivateHosts
	out := map[string]*egress.Policy{}
	addURL := func(component, key, raw string) {
		p := out[component]
		if p == nil {
			p = &egress.Policy{Component: component}
			out[component] = p
		}
		if raw == "" {
			return
		}
		if h, err := egress.HostFromURL(key, raw, private); err == nil {
			p.Hosts = append(p.Hosts, h)
		}
	}
	addHost := func(component, key, host string, port int) {
		addURL(component, key, "")
		if host != "" {
			out[component].Hosts = append(out[component].Hosts, egress.NewHost(key, host, strconv.Itoa(port), private))
		}
	}
	addURL(EgressStripe, "stripe.base_url", c.Stripe.BaseURL)
	addURL(EgressCircle, "circle.base_url", c.Circle.BaseURL)
	addURL(EgressKit, "kit.base_url", c.Kit.BaseURL)
	addURL(EgressAlerts, "alerts.webhook.url", c.Alerts.Webhook.URL)
	if c.Alerts.Slack.Enabled {
		addURL(EgressAlerts, EnvSlackWebhookURL, c.Secrets.Alerts.SlackWebhookURL)
	}
	addHost(EgressAlerts, "alerts.email.host", c.Alerts.Email.Host, c.Alerts.Email.Port)
	if m, ok := c.CustomerMail(); ok {
		key := "mail.host"
		if c.Mail.Host == "" {
			key = "alerts.email.host"
		}
		addHost(EgressMail, key, m.Host, m.Port)
	} else {
		addHost(EgressMail, "mail.host", "", 0)
	}
	c.addSupportEgress(addURL, addHost)
	return out
}

// validate checks the private hosts are bare host names.
func (e EgressConfig) validate(p *Problems) {
	for i, h := range e.PrivateHosts {
		if h == "" || strings.ContainsAny(h, "/@ \t") || (strings.Contains(h, ":") && net.ParseIP(h) == nil) {
			p.add("egress.private_hosts[%d]: %q should be a host name or an address only, such as relay.internal or 10.0.0.5 (no scheme, port or path)", i, h)
		}
	}
}
