package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/provider"
)

// connCheck is one provider's verdict.
type connCheck struct {
	Name    string
	OK      bool
	Message string
	Fix     string
}

// checkConnections calls each provider once (plus one list to check the plan mapping's ids) and
// says what works and what to fix.
func checkConnections(ctx context.Context, a *app) []connCheck {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []connCheck

	stripe := connCheck{Name: "Stripe"}
	if ev, ok, err := a.billing.LatestEvent(ctx); err != nil {
		stripe.Message, stripe.Fix = explain(err), fixFor("Stripe", err)
	} else {
		stripe.OK = true
		stripe.Message = "the key reads events"
		if ok {
			stripe.Message += fmt.Sprintf(" (newest %s, %s)", ev.Type, ev.Created.UTC().Format(time.RFC3339))
		}
		if ok && ev.Livemode != a.cfg.Secrets.Livemode() {
			stripe.OK, stripe.Fix = false, "the key's mode and the account's newest event disagree (test vs live): use the key of the same mode as the webhook endpoint"
		}
	}
	out = append(out, stripe)

	circle := connCheck{Name: "Circle"}
	if groups, err := a.circle.AccessGroups(ctx); err != nil {
		circle.Message, circle.Fix = explain(err), fixFor("Circle", err)
	} else {
		var ids []int64
		for _, g := range groups {
			ids = append(ids, g.ID)
		}
		var missing []string
		for _, p := range a.cfg.Plans {
			for _, g := range p.Circle.AccessGroups {
				if !slices.Contains(ids, g) {
					missing = append(missing, fmt.Sprintf("plan %s: access group %d", p.ID, g))
				}
			}
		}
		circle.OK = len(missing) == 0
		circle.Message = fmt.Sprintf("the token lists %d access groups", len(groups))
		if !circle.OK {
			circle.Fix = "these access groups do not exist in the community: " + strings.Join(missing, "; ")
		}
	}
	out = append(out, circle)

	kit := connCheck{Name: "Kit"}
	if tags, err := a.kit.Tags(ctx); err != nil {
		kit.Message, kit.Fix = explain(err), fixFor("Kit", err)
	} else {
		var ids []int64
		for _, t := range tags {
			ids = append(ids, t.ID)
		}
		var missing []string
		for _, p := range a.cfg.Plans {
			for stage, t := range p.Kit.Tags {
				if !slices.Contains(ids, t) {
					missing = append(missing, fmt.Sprintf("plan %s: tag %d (%s)", p.ID, t, stage))
				}
			}
		}
		slices.Sort(missing)
		kit.OK = len(missing) == 0
		kit.Message = fmt.Sprintf("the key lists %d tags", len(tags))
		if !kit.OK {
			kit.Fix = "these tags do not exist in Kit: " + strings.Join(missing, "; ")
		}
	}
	return append(out, kit)
}

// explain words err for the check's output (provider.Explain, without the call's name).
func explain(err error) string {
	_, msg := provider.Explain(err)
	return msg
}

func fixFor(name string, err error) string {
	switch provider.KindOf(err) {
	case provider.Config:
		return map[string]string{
			"Stripe": "check STRIPE_SECRET_KEY and the restricted key's permissions (README: Stripe key)",
			"Circle": "check CIRCLE_API_TOKEN (an Admin V2 token) and that the plan includes the Admin API",
			"Kit":    "check KIT_API_KEY (a v4 API key)",
		}[name]
	case provider.Transient, provider.RateLimited:
		return "the provider did not answer well; check " + strings.ToLower(name) + ".base_url and try again"
	}
	return "check " + strings.ToLower(name) + ".base_url in the config"
}

func cmdCheck(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "check [flags]",
		"Validate the config and the secrets, then reach each provider once and check that the access\ngroups and tags the plans name exist. Exit status 1 when something needs fixing.",
		"  membersync check --config /etc/membersync.yaml")
	cfgPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "config      ok   "+configPathOf(e, *cfgPath))
	if probs := cfg.RequireSecrets(); len(probs) > 0 {
		fmt.Fprintf(e.stdout, "secrets     FAIL %d problem(s):\n", len(probs))
		for _, p := range probs {
			fmt.Fprintln(e.stdout, "              - "+p)
		}
	} else {
		fmt.Fprintln(e.stdout, "secrets     ok   every secret serve needs is set")
	}
	a, err := newApp(ctx, cfg, newLogger(e.stderr, cfg.LogFormat), appOptions{})
	if err != nil {
		return err
	}
	defer a.close()
	failed := len(cfg.RequireSecrets()) > 0
	for _, c := range checkConnections(ctx, a) {
		verdict := "ok  "
		if !c.OK {
			verdict, failed = "FAIL", true
		}
		fmt.Fprintf(e.stdout, "%-11s %s %s\n", strings.ToLower(c.Name), verdict, c.Message)
		if c.Fix != "" {
			fmt.Fprintf(e.stdout, "              fix: %s\n", c.Fix)
		}
	}
	if failed {
		return &exitError{1, errors.New("check found problems (see above)")}
	}
	return nil
}

func configPathOf(e env, flagValue string) string {
	return config.Path(flagValue, e.getenv)
}
