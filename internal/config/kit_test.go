package config

import (
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/kit"
)

// TestKitOptions: kit.onboarding (api by default, or automation with an active tag on every plan
// that names an onboarding sequence), and KIT_OAUTH_TOKEN, which raises the default and the limit
// of kit.requests_per_minute to Kit's OAuth figures and replaces KIT_API_KEY.
func TestKitOptions(t *testing.T) {
	t.Parallel()
	const plans = `
plans:
  - id: pro
    stripe: {prices: [price_1]}
    circle: {access_groups: [1]}
    kit: {tags: {active: 2001}, onboarding_sequence: 3001}
  - id: course
    stripe: {prices: [price_2]}
    circle: {access_groups: [2]}
    kit: {tags: {refunded: 2012}, onboarding_sequence: 3002}
`
	const planWithActive = `
plans:
  - id: pro
    stripe: {prices: [price_1]}
    circle: {access_groups: [1]}
    kit: {tags: {active: 2001, trialing: 2001}, onboarding_sequence: 3001}
`
	oauth := map[string]string{EnvKitOAuthToken: "kit-oauth-token"}
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		problem string // a substring of the one problem wanted; empty means valid
		check   func(t *testing.T, c *Config)
	}{
		{name: "defaults", yaml: plans, check: func(t *testing.T, c *Config) {
			if c.Kit.Onboarding != KitOnboardingAPI || c.Kit.TagFirst || c.Kit.RequestsPerMinute != 100 {
				t.Errorf("kit %+v, want onboarding api, no tag_first, 100 requests a minute", c.Kit)
			}
		}},
		{name: "automation needs the active tag", yaml: plans + "kit: {onboarding: automation}",
			problem: "plans[1].kit.tags.active: kit.onboarding is automation"},
		{name: "automation with the active tag", yaml: planWithActive + "kit: {onboarding: automation, tag_first: true}",
			check: func(t *testing.T, c *Config) {
				if c.Kit.Onboarding != KitOnboardingAutomation || !c.Kit.TagFirst {
					t.Errorf("kit %+v", c.Kit)
				}
			}},
		{name: "unknown onboarding", yaml: plans + "kit: {onboarding: zapier}", problem: `kit.onboarding: "zapier" must be api`},
		{name: "oauth default rate", yaml: plans, env: oauth, check: func(t *testing.T, c *Config) {
			if c.Kit.RequestsPerMinute != 500 || c.Secrets.KitOAuthToken != "kit-oauth-token" {
				t.Errorf("requests per minute %d, token set %v; want 500 and the token", c.Kit.RequestsPerMinute, c.Secrets.KitOAuthToken != "")
			}
			if p := c.RequireSecrets(); strings.Contains(strings.Join(p, "\n"), "KIT_") {
				t.Errorf("KIT_OAUTH_TOKEN alone is a Kit credential: %v", p)
			}
		}},
		{name: "oauth at its limit", yaml: plans + "kit: {requests_per_minute: 600}", env: oauth},
		{name: "oauth above its limit", yaml: plans + "kit: {requests_per_minute: 601}", env: oauth, problem: "kit.requests_per_minute: 601 is outside 1..600"},
		{name: "an API key's limit without the token", yaml: plans + "kit: {requests_per_minute: 500}", problem: "600 per OAuth token (KIT_OAUTH_TOKEN)"},
		{name: "the token in the file", yaml: plans + "kit: {oauth_token: abc}", problem: "KIT_OAUTH_TOKEN"},
		{name: "a refresh token in the file", yaml: plans + "kit: {refresh_token: abc}", problem: "KIT_OAUTH_TOKEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.yaml+"\n"), env(tt.env))
			switch {
			case tt.problem == "" && err != nil:
				t.Fatalf("got %v, want a valid config", err)
			case tt.problem != "" && err == nil:
				t.Fatalf("got no error, want %q", tt.problem)
			case tt.problem != "" && !strings.Contains(err.Error(), tt.problem):
				t.Fatalf("error %q\ndoes not contain %q", err, tt.problem)
			}
			if tt.check != nil && err == nil {
				tt.check(t, c)
			}
		})
	}
	if KitOnboardingAPI != kit.OnboardingAPI || KitOnboardingAutomation != kit.OnboardingAutomation {
		t.Error("kit.onboarding's values must be the kit package's, which the wiring passes through")
	}
}

func TestMissingKitCredential(t *testing.T) {
	t.Parallel()
	c := &Config{}
	p := strings.Join(c.RequireSecrets(), "\n")
	if !strings.Contains(p, "KIT_API_KEY: not set") || !strings.Contains(p, "or set KIT_OAUTH_TOKEN") {
		t.Errorf("problems %q, want KIT_API_KEY named with KIT_OAUTH_TOKEN as the alternative", p)
	}
}
