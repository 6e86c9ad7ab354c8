package config

import (
	"strings"
)

// This file holds the triage of support messages (internal/support): what is stored, the keyword
// rules, the baseline week of the acceptance check and the spike alert's factor. Where messages
// come from is support_sources.go.

// DefaultSupportSpikeFactor is support.spike_factor when unset: the support_spike alert fires
// when this week's access or billing messages are more than twice the trailing four weeks' median.
const DefaultSupportSpikeFactor = 2.0

// maxSupportPhrases bounds the custom phrases, which every message is matched against.
const maxSupportPhrases = 500

// SupportRules are custom keyword rules per category, added to the built-in ones (English,
// Spanish, French, German, Portuguese) or, with replace_defaults, used alone. A phrase matches on
// word boundaries after folding case, accents and apostrophes; "refund*" matches any word starting
// "refund"; "paid & no access" needs both parts anywhere in the message.
type SupportRules struct {
	ReplaceDefaults bool     `yaml:"replace_defaults"`
	Access          []string `yaml:"access"`
	WelcomeEmail    []string `yaml:"welcome_email"`
	Billing         []string `yaml:"billing"`
	Refund          []string `yaml:"refund"`
}

// ByCategory returns the custom phrases keyed by category name (as support.NewRules takes them).
func (r SupportRules) ByCategory() map[string][]string {
	return map[string][]string{"access": r.Access, "welcome_email": r.WelcomeEmail, "billing": r.Billing, "refund": r.Refund}
}

func (c *Config) defaultSupport() {
	if c.Support.SpikeFactor == 0 {
		c.Support.SpikeFactor = DefaultSupportSpikeFactor
	}
}

func (c *Config) validateSupport(p *Problems) {
	s := c.Support
	if s.SpikeFactor != 0 && (s.SpikeFactor < 1 || s.SpikeFactor > 100) { // 0: the default
		p.add("support.spike_factor: %v must be at least 1 and at most 100, such as 2 (alert above twice the usual volume)", s.SpikeFactor)
	}
	if s.Baseline < 0 {
		p.add("support.baseline: %d must be the number of access-related messages in the week before membersync went live (0 or unset: measured)", s.Baseline)
	}
	n := 0
	byCat := s.Rules.ByCategory()
	for _, cat := range []string{"access", "welcome_email", "billing", "refund"} { // in the file's order
		for i, ph := range byCat[cat] {
			n++
			if strings.Trim(ph, " \t&*") == "" {
				p.add("support.rules.%s[%d]: the phrase is empty", cat, i)
				continue
			}
			for part := range strings.SplitSeq(ph, "&") {
				if strings.TrimSpace(part) == "" || strings.Trim(part, " \t*") == "" {
					p.add("support.rules.%s[%d]: %q has an empty part around \"&\"", cat, i, ph)
					break
				}
			}
			if len(ph) > 200 {
				p.add("support.rules.%s[%d]: the phrase is longer than 200 characters", cat, i)
			}
		}
	}
	if n > maxSupportPhrases {
		p.add("support.rules: %d phrases; at most %d (each message is matched against every phrase)", n, maxSupportPhrases)
	}
	if s.Rules.ReplaceDefaults && n == 0 {
		p.add("support.rules.replace_defaults: true with no phrases would classify every message as other; add phrases or drop replace_defaults")
	}
}
