package config

import (
	"net/url"
	"strings"
)

// MinSigningKeyLen is the shortest MEMBERSYNC_SIGNING_KEY accepted: it signs status links and keys
// the email hashes in the logs, so it must not be guessable.
const MinSigningKeyLen = 32

// Stripe key modes, as StripeMode returns them and as the database records them.
const (
	ModeLive = "live"
	ModeTest = "test"
)

// SigningKeyProblem says what is wrong with MEMBERSYNC_SIGNING_KEY (unset, or shorter than
// MinSigningKeyLen characters), or returns "" when it will do. serve, check and status-link refuse
// to go on with a problem: without a key, emails in the logs would be hashed without a secret.
func (s Secrets) SigningKeyProblem() string {
	const how = "set 32 or more random characters, for example the output of `openssl rand -base64 32`, and keep it: status links signed with it stop working when it changes"
	switch {
	case s.SigningKey == "":
		return EnvSigningKey + ": not set; it signs status links and keys the email hashes in the logs: " + how
	case len([]rune(s.SigningKey)) < MinSigningKeyLen:
		return EnvSigningKey + ": shorter than 32 characters, too easy to guess: " + how
	}
	return ""
}

// StripeMode returns ModeLive or ModeTest from the Stripe key's prefix, or "" when no key (or no
// Stripe key) is set.
func (s Secrets) StripeMode() string {
	switch {
	case s.Livemode():
		return ModeLive
	case strings.HasPrefix(s.StripeSecretKey, "sk_test_"), strings.HasPrefix(s.StripeSecretKey, "rk_test_"):
		return ModeTest
	}
	return ""
}

// UnrestrictedStripeKey reports whether STRIPE_SECRET_KEY is a full secret key (sk_live_…,
// sk_test_…), which can do anything on the account, rather than a restricted key (rk_…) limited to
// what membersync reads.
func (s Secrets) UnrestrictedStripeKey() bool {
	return strings.HasPrefix(s.StripeSecretKey, "sk_live_") || strings.HasPrefix(s.StripeSecretKey, "sk_test_")
}

// liveKeyProblems refuses a live-mode Stripe key next to a provider base URL on a loopback host:
// that is where the fakes run, and live billing must never meet a fake (or a fake's data a live
// account).
func (c *Config) liveKeyProblems() Problems {
	if !c.Secrets.Livemode() {
		return nil
	}
	var p Problems
	for _, b := range []struct{ key, url string }{
		{"stripe.base_url", c.Stripe.BaseURL}, {"circle.base_url", c.Circle.BaseURL}, {"kit.base_url", c.Kit.BaseURL},
	} {
		if u, err := url.Parse(b.url); err == nil && LoopbackHost(u.Hostname()) {
			p = append(p, EnvStripeSecretKey+": a live-mode key with "+b.key+" on a loopback host ("+b.url+
				"), where the fakes run: use a test-mode key (sk_test_…/rk_test_…) with the fakes, or point "+b.key+" at the real service")
		}
	}
	return p
}

// The providers whose credentials MissingKeys checks.
const (
	ProviderStripe = "stripe"
	ProviderCircle = "circle"
	ProviderKit    = "kit"
)

// MissingKeys returns the environment variables, among the credentials of the named providers,
// that are not set: a command lists them and stops rather than call a provider with an empty key.
// Kit is satisfied by KIT_API_KEY or KIT_OAUTH_TOKEN and is listed as the former.
func (s Secrets) MissingKeys(providers ...string) []string {
	var out []string
	for _, p := range providers {
		switch {
		case p == ProviderStripe && s.StripeSecretKey == "":
			out = append(out, EnvStripeSecretKey)
		case p == ProviderCircle && s.CircleAPIToken == "":
			out = append(out, EnvCircleAPIToken)
		case p == ProviderKit && s.KitAPIKey == "" && s.KitOAuthToken == "":
			out = append(out, EnvKitAPIKey)
		}
	}
	return out
}
