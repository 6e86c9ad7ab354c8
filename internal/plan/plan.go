// Package plan owns the plan mapping's types: what a product the founder sells is bought with in
// Stripe and grants in Circle and Kit, and the Duration the config file writes its periods in. It does
// no I/O, so that the pure rule in entitlement can take a Plan without depending on the config loader;
// config reads plans from YAML into these types (config.Plan is an alias of Plan).
package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Plan is one product the founder sells and what it grants.
type Plan struct {
	// ID is a short stable identifier ("pro"), used in the journal and metrics.
	ID string `yaml:"id"`
	// Name is shown to customers and operators.
	Name string `yaml:"name"`
	// Stripe names the prices and/or products that buy this plan.
	Stripe Stripe `yaml:"stripe"`
	// Circle names the access groups this plan grants.
	Circle Circle `yaml:"circle"`
	// Kit names the lifecycle tags and sequences this plan manages.
	Kit Kit `yaml:"kit"`
	// GracePeriod is how long a past_due subscription keeps access, counted from the first failed
	// payment of the current dunning run. Default 72h.
	GracePeriod Duration `yaml:"grace_period"`
	// AccessDuration is how long a one-time purchase grants access; zero means lifetime.
	AccessDuration Duration `yaml:"access_duration"`
	// RevokeOnPartialRefund makes any refund (not only a full one) revoke a one-time purchase.
	RevokeOnPartialRefund bool `yaml:"revoke_on_partial_refund"`
}

// Stripe lists the Stripe ids that map to a plan.
type Stripe struct {
	Prices   []string `yaml:"prices"`
	Products []string `yaml:"products"`
}

// Circle lists the Circle access groups a plan grants.
type Circle struct {
	AccessGroups []int64 `yaml:"access_groups"`
}

// Kit lists the Kit tags per lifecycle stage and the sequences a plan manages.
type Kit struct {
	// Tags maps a lifecycle stage (active, trialing, canceling, past_due, canceled, refunded, disputed,
	// expired, grace_expired) to the Kit tag id that marks it. Every tag named here is managed.
	Tags map[string]int64 `yaml:"tags"`
	// OnboardingSequence is enrolled once, after the Circle grant for the plan is confirmed.
	OnboardingSequence int64 `yaml:"onboarding_sequence"`
	// RetentionSequence is enrolled once when the plan is canceled or set to cancel.
	RetentionSequence int64 `yaml:"retention_sequence"`
}

// Duration is a time.Duration that reads from YAML as "72h", "30m" or "lifetime" (zero).
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML reads "72h", "30m", "3d" (days) or "lifetime" (zero).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads "72h", "30m", "3d" (days) or "lifetime" (zero).
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "lifetime" || s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration (use 72h, 30d or lifetime)", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (use 72h, 30d or lifetime)", s)
	}
	return v, nil
}

// String formats d the way the config file writes it.
func (d Duration) String() string {
	if d == 0 {
		return "lifetime"
	}
	if time.Duration(d)%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", time.Duration(d)/(24*time.Hour))
	}
	return time.Duration(d).String()
}
