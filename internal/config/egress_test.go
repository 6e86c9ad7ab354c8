package config

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// The example config's allowlist: each component reaches only the hosts its keys name. This is
// the list the README documents.
func TestEgressPoliciesOfTheExample(t *testing.T) {
	b, err := os.ReadFile("../../membersync.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvSlackWebhookURL: "https://hooks.slack.com/services/T/B/X"}
	c, err := Parse(b, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for name, p := range c.EgressPolicies() {
		for _, h := range p.Hosts {
			got[name] = append(got[name], h.String()+" "+h.Key)
		}
		slices.Sort(got[name])
	}
	for name, hosts := range got {
		t.Logf("%s: %s", name, strings.Join(hosts, "; "))
	}
	want := map[string][]string{
		EgressStripe: {"api.stripe.com:443 stripe.base_url"},
		EgressCircle: {"app.circle.so:443 circle.base_url"},
		EgressKit:    {"api.kit.com:443 kit.base_url"},
	}
	for name, w := range want {
		if !slices.Equal(got[name], w) {
			t.Errorf("%s: %v, want %v", name, got[name], w)
		}
	}
	for _, name := range []string{EgressAlerts, EgressMail} {
		if _, ok := got[name]; !ok && c.EgressPolicies()[name] == nil {
			t.Errorf("no policy for %s", name)
		}
	}
}

func TestEgressPolicyHosts(t *testing.T) {
	yaml := `
circle: {base_url: "http://127.0.0.1:9100"}
alerts:
  slack: {enabled: true}
  webhook: {url: "https://ops.internal/alerts"}
  email: {host: smtp.example.com, port: 2525, from: a@example.com, to: [b@example.com]}
egress:
  private_hosts: [ops.internal]
plans:
  - id: pro
    stripe: {prices: [price_1]}
    circle: {access_groups: [1]}
`
	env := map[string]string{EnvSlackWebhookURL: "https://hooks.slack.com/services/T/B/X"}
	c, err := Parse([]byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	pols := c.EgressPolicies()
	circle := pols[EgressCircle].Hosts
	if len(circle) != 1 || !circle[0].Private || !circle[0].PlainHTTP {
		t.Errorf("circle %+v", circle)
	}
	var alerts []string
	for _, h := range pols[EgressAlerts].Hosts {
		alerts = append(alerts, h.String()+" "+h.Key+map[bool]string{true: " private"}[h.Private])
	}
	slices.Sort(alerts)
	want := []string{"hooks.slack.com:443 " + EnvSlackWebhookURL, "ops.internal:443 alerts.webhook.url private", "smtp.example.com:2525 alerts.email.host"}
	if !slices.Equal(alerts, want) {
		t.Errorf("alerts %v, want %v", alerts, want)
	}
	// Customer mail falls back to the alerts' SMTP server, and says which key names it.
	if m := pols[EgressMail].Hosts; len(m) != 1 || m[0].String() != "smtp.example.com:2525" || m[0].Key != "alerts.email.host" {
		t.Errorf("mail %+v", m)
	}
}

func TestEgressPrivateHostsValidated(t *testing.T) {
	_, err := Parse([]byte("egress: {private_hosts: [\"https://x.internal\", \"x:25\", \"10.0.0.5\", \"::1\", relay.internal]}\n"), func(string) string { return "" })
	got := err.Error()
	for _, want := range []string{"egress.private_hosts[0]", "egress.private_hosts[1]"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
	for _, bad := range []string{"[2]", "[3]", "[4]"} {
		if strings.Contains(got, "egress.private_hosts"+bad) {
			t.Errorf("%q refuses a valid entry %s", got, bad)
		}
	}
}
