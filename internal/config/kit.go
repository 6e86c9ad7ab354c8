package config

// Who enrolls the plans' onboarding sequences (kit.onboarding). The values are those of
// kit.OnboardingAPI and kit.OnboardingAutomation.
const (
	// KitOnboardingAPI: membersync adds the subscriber to the sequence, once, after the Circle grant.
	KitOnboardingAPI = "api"
	// KitOnboardingAutomation: a Kit automation rule on the plan's active tag ("Tag added" →
	// "Subscribe to a sequence") enrolls it; membersync never calls the sequence endpoint for it.
	KitOnboardingAutomation = "automation"
)

// validateKit checks kit.onboarding: api or automation. With automation, each plan that names an
// onboarding sequence must map its active tag, the tag whose addition starts the founder's Kit rule:
// membersync applies it only once Circle confirmed access, so the email still follows access.
func (c *Config) validateKit(p *Problems) {
	switch c.Kit.Onboarding {
	case KitOnboardingAPI:
	case KitOnboardingAutomation:
		for i, pl := range c.Plans {
			if pl.Kit.OnboardingSequence > 0 && pl.Kit.Tags["active"] <= 0 {
				p.add("plans[%d].kit.tags.active: kit.onboarding is automation, so a Kit rule on this plan's active tag must start onboarding sequence %d; map the active tag", i, pl.Kit.OnboardingSequence)
			}
		}
	default:
		p.add("kit.onboarding: %q must be api (membersync enrolls onboarding sequences) or automation (a Kit rule on each plan's active tag does)", c.Kit.Onboarding)
	}
}
