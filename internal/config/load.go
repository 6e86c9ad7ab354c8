package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/membersync/membersync/internal/clientip"
	"github.com/membersync/membersync/internal/plan"
)

// DefaultPath is the config file read when neither --config nor MEMBERSYNC_CONFIG names one.
const DefaultPath = "membersync.yaml"

// DefaultGracePeriod is a plan's grace period when the config gives none.
const DefaultGracePeriod = 72 * time.Hour

// maxConfigSize bounds the config file read.
const maxConfigSize = 1 << 20

// Problems is every problem found in a configuration, each naming its key path and what to do.
type Problems []string

func (p Problems) Error() string {
	if len(p) == 1 {
		return "config: " + p[0]
	}
	return fmt.Sprintf("config: %d problems:\n  - %s", len(p), strings.Join(p, "\n  - "))
}

// Env names of the secrets.
const (
	EnvStripeSecretKey     = "STRIPE_SECRET_KEY"
	EnvStripeWebhookSecret = "STRIPE_WEBHOOK_SECRET"
	EnvCircleAPIToken      = "CIRCLE_API_TOKEN"
	EnvKitAPIKey           = "KIT_API_KEY"
	EnvKitOAuthToken       = "KIT_OAUTH_TOKEN"
	EnvSigningKey          = "MEMBERSYNC_SIGNING_KEY"
	EnvMetricsToken        = "MEMBERSYNC_METRICS_TOKEN"
)

// Path returns the config file to read: the flag value, else MEMBERSYNC_CONFIG, else DefaultPath.
func Path(flagValue string, getenv func(string) string) string {
	if flagValue != "" {
		return flagValue
	}
	if p := getenv("MEMBERSYNC_CONFIG"); p != "" {
		return p
	}
	return DefaultPath
}

// Load reads the YAML file at path and the secrets from getenv, fills defaults and validates the
// whole configuration. The error, when the file is readable, is a Problems listing every problem.
func Load(path string, getenv func(string) string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w (pass --config FILE or set MEMBERSYNC_CONFIG; see membersync.example.yaml)", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: reading %s: %w", path, err)
	}
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("config: %s is larger than %d bytes", path, maxConfigSize)
	}
	return parseNamed(path, b, getenv)
}

// Parse is Load for YAML already in memory; its problems name lines ("line 12: …") but no file.
func Parse(b []byte, getenv func(string) string) (*Config, error) {
	return parseNamed("", b, getenv)
}

// parseNamed reads the YAML b, from the file name (for the messages; "" for none), reporting in one
// Problems every secret written into it, every unknown key (with the nearest known one), every value
// of the wrong type and every validation problem, each as `name:line: key.path: what is wrong`.
func parseNamed(name string, b []byte, getenv func(string) string) (*Config, error) {
	fc := newFileCheck(name)
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := 0
		if m := linePrefix.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = linePrefix.ReplaceAllString(msg, "")
		}
		fc.probs = append(fc.probs, located{line: line, msg: "the file is not valid YAML: " + msg})
		return nil, fc.problems()
	}
	fc.findSecrets(&root, "")
	fc.walk(&root, reflect.TypeFor[Config](), "")
	var c Config
	if err := root.Decode(&c); err != nil {
		// walk replaced every value it refused by a null; what the decoder still refuses is
		// reported as it words it, with its line.
		var te *yaml.TypeError
		errs := []string{err.Error()}
		if errors.As(err, &te) {
			errs = te.Errors
		}
		for _, e := range errs {
			e = strings.TrimPrefix(e, "yaml: ")
			line := 0
			if m := linePrefix.FindStringSubmatch(e); m != nil {
				line, _ = strconv.Atoi(m[1])
				e = linePrefix.ReplaceAllString(e, "")
			}
			fc.probs = append(fc.probs, located{line: line, msg: e})
		}
		return nil, fc.problems()
	}
	c.Secrets = SecretsFromEnv(getenv)
	if c.Secrets.DatabaseURL != "" {
		c.DatabaseURL = c.Secrets.DatabaseURL
	}
	c.applyDefaults()
	fc.addValidation(c.Validate())
	if len(fc.probs) > 0 {
		return nil, fc.problems()
	}
	return &c, nil
}

// SecretsFromEnv reads the secrets from the environment.
func SecretsFromEnv(getenv func(string) string) Secrets {
	s := Secrets{
		StripeSecretKey: strings.TrimSpace(getenv(EnvStripeSecretKey)),
		CircleAPIToken:  strings.TrimSpace(getenv(EnvCircleAPIToken)),
		KitAPIKey:       strings.TrimSpace(getenv(EnvKitAPIKey)),
		KitOAuthToken:   strings.TrimSpace(getenv(EnvKitOAuthToken)),
		SigningKey:      strings.TrimSpace(getenv(EnvSigningKey)),
		MetricsToken:    strings.TrimSpace(getenv(EnvMetricsToken)),
		Alerts:          alertSecretsFromEnv(getenv),
		Support:         supportSecretsFromEnv(getenv),
		DatabaseURL:     strings.TrimSpace(getenv(EnvDatabaseURL)),
	}
	for _, w := range strings.Split(getenv(EnvStripeWebhookSecret), ",") {
		if w = strings.TrimSpace(w); w != "" {
			s.StripeWebhookSecrets = append(s.StripeWebhookSecrets, w)
		}
	}
	return s
}

// secretKeys are YAML keys that must never hold a value: the env var to use instead.
var secretKeys = map[string]string{
	"stripe_secret_key": EnvStripeSecretKey, "secret_key": EnvStripeSecretKey, "api_secret_key": EnvStripeSecretKey,
	"webhook_secret": EnvStripeWebhookSecret, "stripe_webhook_secret": EnvStripeWebhookSecret, "signing_secret": EnvStripeWebhookSecret,
	"circle_api_token": EnvCircleAPIToken, "api_token": EnvCircleAPIToken, "token": EnvCircleAPIToken,
	"kit_api_key": EnvKitAPIKey, "api_key": EnvKitAPIKey, "api_secret": EnvKitAPIKey,
	"kit_oauth_token": EnvKitOAuthToken, "oauth_token": EnvKitOAuthToken, "access_token": EnvKitOAuthToken, "refresh_token": EnvKitOAuthToken,
	"signing_key": EnvSigningKey, "password": "an environment variable",
}

var secretValue = regexp.MustCompile(`^(sk|rk)_(live|test)_[0-9A-Za-z]{8,}|^whsec_[0-9A-Za-z]{8,}`)

// findSecrets walks the YAML tree and reports every secret written into the file.
func (fc *fileCheck) findSecrets(n *yaml.Node, path string) {
	if fc.budget--; fc.budget < 0 {
		return
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			fc.findSecrets(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if _, seen := fc.lines[p]; !seen {
				fc.lines[p] = k.Line
			}
			if p == "database_url" && v.Kind == yaml.ScalarNode {
				if what := dsnCredentials(v.Value); what != "" {
					fc.report(k.Line, p, "%s: carries %s; a database password does not belong in the config file: remove it (and change it if the file was shared) and set the whole URL in %s in the environment", p, what, EnvDatabaseURL)
				}
				continue
			}
			if env, ok := secretKeys[strings.ToLower(k.Value)]; ok && v.Kind == yaml.ScalarNode && v.Value != "" {
				fc.report(k.Line, p, "%s: secrets do not belong in the config file; remove it and set %s in the environment", p, env)
				continue
			}
			fc.findSecrets(v, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			fc.findSecrets(c, fmt.Sprintf("%s[%d]", path, i))
		}
	case yaml.ScalarNode:
		if secretValue.MatchString(n.Value) {
			env := EnvStripeSecretKey
			if strings.HasPrefix(n.Value, "whsec_") {
				env = EnvStripeWebhookSecret
			}
			fc.report(n.Line, path, "%s: holds what looks like a Stripe secret; remove it from the file (and rotate it if the file was shared) and set %s in the environment", path, env)
		}
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (c *Config) applyDefaults() {
	c.Alerts.applyDefaults()
	c.defaultSupportSources()
	c.defaultSupport()
	c.defaultRetention()
	c.defaultBackup()
	if c.Reconcile.Interval == 0 {
		c.Reconcile.Interval = Duration(24 * time.Hour)
	}
	if c.Reconcile.MaxQuotaShare == 0 {
		c.Reconcile.MaxQuotaShare = 0.2
	}
	if c.Reconcile.AlertThreshold == 0 {
		c.Reconcile.AlertThreshold = 10
	}
	if c.Reconcile.UnknownMembers == "" {
		c.Reconcile.UnknownMembers = UnknownReport
	}
	if c.Doctor.Interval == 0 {
		c.Doctor.Interval = Duration(24 * time.Hour)
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + strings.Replace(c.Listen, "0.0.0.0", "localhost", 1)
		if strings.HasPrefix(c.Listen, ":") {
			c.PublicURL = "http://localhost" + c.Listen
		}
	}
	c.PublicURL = strings.TrimRight(c.PublicURL, "/")
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:membersync.db"
	}
	if c.LogFormat == "" {
		c.LogFormat = "json"
	}
	if c.Stripe.BaseURL == "" {
		c.Stripe.BaseURL = "https://api.stripe.com"
	}
	if c.Circle.BaseURL == "" {
		c.Circle.BaseURL = "https://app.circle.so"
	}
	if c.Circle.RequestsPerMinute == 0 {
		c.Circle.RequestsPerMinute = 300
	}
	if c.Circle.MonthlyQuota == 0 {
		c.Circle.MonthlyQuota = 5000
	}
	if c.Kit.BaseURL == "" {
		c.Kit.BaseURL = "https://api.kit.com"
	}
	if c.Kit.RequestsPerMinute == 0 {
		c.Kit.RequestsPerMinute = 100
		if c.Secrets.KitOAuthToken != "" {
			c.Kit.RequestsPerMinute = 500 // Kit allows an OAuth token 600 per 60 s
		}
	}
	if c.Kit.Onboarding == "" {
		c.Kit.Onboarding = KitOnboardingAPI
	}
	for _, u := range []*string{&c.Stripe.BaseURL, &c.Circle.BaseURL, &c.Kit.BaseURL} {
		*u = strings.TrimRight(*u, "/")
	}
	for i := range c.Plans {
		if c.Plans[i].GracePeriod == 0 {
			c.Plans[i].GracePeriod = Duration(DefaultGracePeriod)
		}
		if c.Plans[i].Name == "" {
			c.Plans[i].Name = c.Plans[i].ID
		}
	}
	c.defaultUptime()
}

// Stages are the lifecycle stages a plan's Kit tags may name.
var Stages = []string{"trialing", "active", "canceling", "past_due", "grace_expired", "canceled", "refunded", "disputed", "expired", "incomplete", "paused", "unpaid"}

var (
	planID    = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,39}$`)
	priceID   = regexp.MustCompile(`^price_[0-9A-Za-z_]+$`)
	productID = regexp.MustCompile(`^prod_[0-9A-Za-z_]+$`)
)

// Validate returns every problem with the configuration (nil when there is none). It does not check
// secrets that only some commands need; see RequireSecrets.
func (c *Config) Validate() Problems {
	var p Problems
	c.validateAddresses(&p)
	c.validateServer(&p)
	c.validateRates(&p)
	validatePlans(&p, c.Plans)
	c.validateKit(&p)
	c.validateSchedules(&p)
	c.Egress.validate(&p)
	c.validateUptime(&p)
	c.validateSupportSources(&p)
	c.validateSupport(&p)
	c.validateRetention(&p)
	c.validateBackup(&p)
	p = append(p, c.Alerts.validate("alerts")...)
	return p
}

// add appends one problem.
func (p *Problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// checkURL adds a problem when v, the value of key, is not an http(s) URL or, when allowPath is
// false, has a path; and when it has a query or a fragment.
func (p *Problems) checkURL(key, v string, allowPath bool) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.add("%s: %q is not an http(s) URL", key, v)
		return
	}
	if u.RawQuery != "" || u.Fragment != "" || (!allowPath && u.Path != "") {
		p.add("%s: %q should be a base URL without a query or fragment", key, v)
	}
}

// checkSecureURL is checkURL for a URL membersync sends credentials to: it must be https, except
// to a loopback host (the fakes, a local proxy), where plain http cannot leave the machine.
func (p *Problems) checkSecureURL(key, v string) {
	before := len(*p)
	p.checkURL(key, v, true)
	if len(*p) > before {
		return
	}
	if u, _ := url.Parse(v); u.Scheme == "http" && !LoopbackHost(u.Hostname()) {
		p.add("%s: %q is plain http: the credentials it is sent would cross the network in clear text; use https (http is allowed only to a loopback host such as 127.0.0.1)", key, v)
	}
}

// LoopbackHost reports whether host (a name or an address, without a port) is this machine:
// localhost, 127.0.0.0/8 or ::1.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validateAddresses checks where membersync listens and the URLs it calls or shows.
func (c *Config) validateAddresses(p *Problems) {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		p.add("listen: %q is not host:port (for example \":8080\" or \"127.0.0.1:8080\")", c.Listen)
	}
	p.checkURL("public_url", c.PublicURL, true)
	p.checkSecureURL("stripe.base_url", c.Stripe.BaseURL)
	p.checkSecureURL("circle.base_url", c.Circle.BaseURL)
	p.checkSecureURL("kit.base_url", c.Kit.BaseURL)
	if c.Circle.CommunityURL != "" {
		p.checkURL("circle.community_url", c.Circle.CommunityURL, true)
	}
	if c.Support.URL != "" {
		p.checkURL("support.url", c.Support.URL, true)
	}
	if c.Support.Email != "" && !strings.Contains(c.Support.Email, "@") {
		p.add("support.email: %q is not an email address", c.Support.Email)
	}
}

// validateServer checks the database, the metrics listener, the customer mail server, the trusted
// proxies and the log format.
func (c *Config) validateServer(p *Problems) {
	if _, _, err := ParseDatabaseURL(c.DatabaseURL); err != nil {
		key := "database_url"
		if c.Secrets.DatabaseURL != "" {
			key = EnvDatabaseURL
		}
		p.add("%s: %v", key, err)
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			p.add("metrics.listen: %q is not host:port", c.Metrics.Listen)
		}
	}
	if c.Mail.Host != "" && !strings.Contains(c.Mail.From, "@") {
		p.add("mail.from: %q is not an email address (the sender customers see, such as members@example.com)", c.Mail.From)
	}
	if c.Mail.Port < 0 || c.Mail.Port > 65535 {
		p.add("mail.port: %d is not a port", c.Mail.Port)
	}
	for i, cidr := range c.TrustedProxies {
		if _, err := clientip.ParsePrefix(cidr); err != nil {
			p.add("trusted_proxies[%d]: %v", i, err)
		}
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		p.add("log_format: %q must be json or text", c.LogFormat)
	}
}

// validateRates checks the providers' request rates. A rate above a provider's documented limit is
// allowed only toward a loopback base_url: a fake on this machine, whose limits the launch-day
// benchmark scales by the same factor as membersync's rates.
func (c *Config) validateRates(p *Problems) {
	if c.Stripe.RequestsPerMinute < 0 || (c.Stripe.RequestsPerMinute > 6000 && !loopbackURL(c.Stripe.BaseURL)) {
		p.add("stripe.requests_per_minute: %d is outside 1..6000 (Stripe allows 100 requests per second live, 25 in a sandbox; more is allowed only when stripe.base_url is a loopback host, a fake)", c.Stripe.RequestsPerMinute)
	}
	if c.Circle.RequestsPerMinute < 0 {
		p.add("circle.requests_per_minute: must be positive")
	}
	kitMax, kitWhy := 120, "Kit allows 120 requests per minute per API key, 600 per OAuth token ("+EnvKitOAuthToken+")"
	if c.Secrets.KitOAuthToken != "" {
		kitMax, kitWhy = 600, "Kit allows 600 requests per minute per OAuth token"
	}
	if c.Kit.RequestsPerMinute < 0 || (c.Kit.RequestsPerMinute > kitMax && !loopbackURL(c.Kit.BaseURL)) {
		p.add("kit.requests_per_minute: %d is outside 1..%d (%s; more is allowed only when kit.base_url is a loopback host, a fake)", c.Kit.RequestsPerMinute, kitMax, kitWhy)
	}
}

// loopbackURL reports whether the URL's host is this machine (LoopbackHost).
func loopbackURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && LoopbackHost(u.Hostname())
}

// validatePlans checks the plan mapping: at least one plan, unique ids, each Stripe price and
// product buying one plan, and each plan's Circle and Kit ids and durations.
func validatePlans(p *Problems, plans []Plan) {
	if len(plans) == 0 {
		p.add("plans: at least one plan is needed (map a Stripe price or product to Circle access groups)")
	}
	ids := map[string]int{}
	priceOwner := map[string]string{}
	productOwner := map[string]string{}
	for i, pl := range plans {
		key := fmt.Sprintf("plans[%d]", i)
		if !planID.MatchString(pl.ID) {
			p.add("%s.id: %q must be 1-40 lowercase letters, digits, '-' or '_'", key, pl.ID)
		} else if j, dup := ids[pl.ID]; dup {
			p.add("%s.id: %q is already the id of plans[%d]", key, pl.ID, j)
		} else {
			ids[pl.ID] = i
		}
		validatePlanStripe(p, key, pl, priceOwner, productOwner)
		validatePlanGrants(p, key, pl)
	}
}

// validatePlanStripe checks the prices and products of pl, the plan at key, recording in
// priceOwner and productOwner the plan each one buys.
func validatePlanStripe(p *Problems, key string, pl Plan, priceOwner, productOwner map[string]string) {
	if len(pl.Stripe.Prices) == 0 && len(pl.Stripe.Products) == 0 {
		p.add("%s.stripe: name at least one price (price_…) or product (prod_…) that buys this plan", key)
	}
	for j, v := range pl.Stripe.Prices {
		k := fmt.Sprintf("%s.stripe.prices[%d]", key, j)
		switch {
		case !priceID.MatchString(v):
			p.add("%s: %q is not a Stripe price id (price_…)", k, v)
		case priceOwner[v] != "":
			p.add("%s: %q already maps to plan %q; a price buys one plan", k, v, priceOwner[v])
		default:
			priceOwner[v] = pl.ID
		}
	}
	for j, v := range pl.Stripe.Products {
		k := fmt.Sprintf("%s.stripe.products[%d]", key, j)
		switch {
		case !productID.MatchString(v):
			p.add("%s: %q is not a Stripe product id (prod_…)", k, v)
		case productOwner[v] != "":
			p.add("%s: %q already maps to plan %q; a product buys one plan", k, v, productOwner[v])
		default:
			productOwner[v] = pl.ID
		}
	}
}

// validatePlanGrants checks what pl, the plan at key, grants: its Circle access groups, its Kit
// tags and sequences, and its grace period and access duration.
func validatePlanGrants(p *Problems, key string, pl Plan) {
	if len(pl.Circle.AccessGroups) == 0 {
		p.add("%s.circle.access_groups: name at least one Circle access group id this plan grants", key)
	}
	for j, g := range pl.Circle.AccessGroups {
		if g <= 0 {
			p.add("%s.circle.access_groups[%d]: %d is not a Circle access group id (a positive number)", key, j, g)
		}
	}
	stages := make([]string, 0, len(pl.Kit.Tags))
	for s := range pl.Kit.Tags {
		stages = append(stages, s)
	}
	sort.Strings(stages)
	for _, s := range stages {
		if !validStage(s) {
			hint := ""
			if near := nearest(s, Stages); near != "" {
				hint = " (did you mean " + near + "?)"
			}
			p.add("%s.kit.tags.%s: unknown lifecycle stage%s; use one of %s", key, s, hint, strings.Join(Stages, ", "))
		}
		if pl.Kit.Tags[s] <= 0 {
			p.add("%s.kit.tags.%s: %d is not a Kit tag id (a positive number)", key, s, pl.Kit.Tags[s])
		}
	}
	if pl.Kit.OnboardingSequence < 0 {
		p.add("%s.kit.onboarding_sequence: must be a Kit sequence id", key)
	}
	if pl.Kit.RetentionSequence < 0 {
		p.add("%s.kit.retention_sequence: must be a Kit sequence id", key)
	}
	if pl.GracePeriod < 0 {
		p.add("%s.grace_period: must not be negative", key)
	}
	if pl.AccessDuration < 0 {
		p.add("%s.access_duration: must not be negative (use \"lifetime\")", key)
	}
}

// validateSchedules checks the drift sweep's and the doctor's schedules.
func (c *Config) validateSchedules(p *Problems) {
	if c.Reconcile.Interval < Duration(time.Hour) {
		p.add("reconcile.interval: %s is too often; sweeps list every managed group and tag (use 1h or more)", c.Reconcile.Interval)
	}
	if c.Reconcile.MaxQuotaShare <= 0 || c.Reconcile.MaxQuotaShare > 1 {
		p.add("reconcile.max_quota_share: %v must be in (0, 1]", c.Reconcile.MaxQuotaShare)
	}
	if u := c.Reconcile.UnknownMembers; u != UnknownReport && u != UnknownRemove {
		p.add("reconcile.unknown_members: %q must be %q (open a review item for each stranger) or %q (remove them through the sync)", u, UnknownReport, UnknownRemove)
	}
	if c.Doctor.Interval < Duration(time.Hour) {
		p.add("doctor.interval: %s is too often (use 1h or more)", c.Doctor.Interval)
	}
}

func validStage(s string) bool {
	for _, v := range Stages {
		if v == s {
			return true
		}
	}
	return false
}

// RequireSecrets reports the secrets that serve needs and that are missing or malformed: among them
// a MEMBERSYNC_SIGNING_KEY shorter than 32 characters (Secrets.SigningKeyProblem), and a live-mode
// Stripe key with a provider base URL on a loopback host, where the fakes run.
func (c *Config) RequireSecrets() Problems {
	var p Problems
	s := c.Secrets
	switch {
	case s.StripeSecretKey == "":
		p = append(p, EnvStripeSecretKey+": not set; use a restricted key (rk_live_… or rk_test_…) with the permissions listed in the README")
	case !stripeKey.MatchString(s.StripeSecretKey):
		p = append(p, EnvStripeSecretKey+": does not look like a Stripe secret or restricted key (sk_live_…, rk_live_…, sk_test_…, rk_test_…)")
	}
	if len(s.StripeWebhookSecrets) == 0 {
		p = append(p, EnvStripeWebhookSecret+": not set; copy the endpoint's signing secret (whsec_…) from the Stripe dashboard, comma-separated during rotation")
	}
	for i, w := range s.StripeWebhookSecrets {
		if !strings.HasPrefix(w, "whsec_") {
			p = append(p, fmt.Sprintf("%s: value %d does not start with whsec_", EnvStripeWebhookSecret, i+1))
		}
	}
	if s.CircleAPIToken == "" {
		p = append(p, EnvCircleAPIToken+": not set; create an Admin V2 token in Circle (Developers → Tokens)")
	}
	if s.KitAPIKey == "" && s.KitOAuthToken == "" {
		p = append(p, EnvKitAPIKey+": not set; create a v4 API key in Kit (Settings → Developer), or set "+EnvKitOAuthToken)
	}
	if msg := s.SigningKeyProblem(); msg != "" {
		p = append(p, msg)
	}
	p = append(p, c.liveKeyProblems()...)
	p = append(p, c.Alerts.RequireSecrets(s.Alerts)...)
	return p
}

var stripeKey = regexp.MustCompile(`^(sk|rk)_(live|test)_[0-9A-Za-z]+$`)

// Livemode reports whether the Stripe key is a live-mode key; events must match it.
func (s Secrets) Livemode() bool {
	return strings.HasPrefix(s.StripeSecretKey, "sk_live_") || strings.HasPrefix(s.StripeSecretKey, "rk_live_")
}

// ParseDatabaseURL returns the dialect ("sqlite" or "postgres") and the driver's data source.
// "sqlite:PATH" and "sqlite://PATH" name a file; "postgres://…" and "postgresql://…" a server.
func ParseDatabaseURL(u string) (dialect, dsn string, err error) {
	switch {
	case strings.HasPrefix(u, "postgres://"), strings.HasPrefix(u, "postgresql://"):
		if _, err := url.Parse(u); err != nil {
			return "", "", fmt.Errorf("%q is not a valid PostgreSQL URL", RedactURL(u))
		}
		return "postgres", u, nil
	case strings.HasPrefix(u, "sqlite://"):
		u = strings.TrimPrefix(u, "sqlite://")
	case strings.HasPrefix(u, "sqlite:"):
		u = strings.TrimPrefix(u, "sqlite:")
	default:
		return "", "", fmt.Errorf("%q: use sqlite:PATH (the default) or postgres://user@host/db", RedactURL(u))
	}
	if u == "" {
		return "", "", errors.New("sqlite: needs a file path, such as sqlite:membersync.db")
	}
	return "sqlite", u, nil
}

// ParseDuration reads "72h", "30m", "3d" (days) or "lifetime" (zero).
func ParseDuration(s string) (time.Duration, error) { return plan.ParseDuration(s) }
