package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/egress"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/store"
)

// connCheck is one provider's verdict.
type connCheck struct {
	Name    string
	OK      bool
	Message string
	Fix     string
}

// checkConnections calls each provider once (plus one list to check the plan mapping's ids) and
// says what works and what to fix. A provider whose key is not set is not called.
func checkConnections(ctx context.Context, a *app) []connCheck {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out []connCheck

	stripe := connCheck{Name: "Stripe"}
	if !stripe.skipUnset(a.cfg.Secrets, config.ProviderStripe) {
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
	}
	out = append(out, stripe)

	circle := connCheck{Name: "Circle"}
	if !circle.skipUnset(a.cfg.Secrets, config.ProviderCircle) {
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
	}
	out = append(out, circle)

	kit := connCheck{Name: "Kit"}
	if !kit.skipUnset(a.cfg.Secrets, config.ProviderKit) {
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
	}
	out = append(out, kit)
	return append(out, a.supportChecks(ctx)...)
}

// requireKeys refuses command, before any call, when a key of the providers it calls is not set:
// membersync never calls a provider with an empty key.
func requireKeys(cfg *config.Config, command string, providers ...string) error {
	missing := cfg.Secrets.MissingKeys(providers...)
	if len(missing) == 0 {
		return nil
	}
	for i, m := range missing {
		if m == config.EnvKitAPIKey {
			missing[i] += " (or " + config.EnvKitOAuthToken + ")"
		}
	}
	return &exitError{1, fmt.Errorf("%s: not set in the environment: %s; nothing was called (membersync check lists every secret and where to get it)",
		command, strings.Join(missing, ", "))}
}

// skipUnset fails c without a call when provider's key is not set, and reports whether it did:
// membersync never calls a provider with an empty key.
func (c *connCheck) skipUnset(s config.Secrets, provider string) bool {
	missing := s.MissingKeys(provider)
	if len(missing) == 0 {
		return false
	}
	c.Message = "not called: " + missing[0] + " is not set"
	c.Fix = "set " + missing[0] + " in the environment (see secrets above)"
	return true
}

// explain words err for the check's output (provider.Explain, without the call's name), with the
// cause of a call that got no answer: check's own calls carry no email, so the cause is safe to show.
func explain(err error) string {
	_, msg := provider.Explain(err)
	if c := transportCause(err); c != "" {
		msg += ": " + c
	}
	return msg
}

// transportCause names why a call got no answer (the name did not resolve, the connection was
// refused, it timed out), or "" for a call that was answered or refused by the allowlist.
func transportCause(err error) string {
	var (
		dnsErr *net.DNSError
		opErr  *net.OpError
	)
	switch {
	case provider.KindOf(err) != provider.Transient:
		return ""
	case errors.As(err, &dnsErr):
		return "cannot resolve " + dnsErr.Name
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return "no answer in time"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return "cannot connect: " + opErr.Err.Error()
	}
	return ""
}

func fixFor(name string, err error) string {
	if re := egress.Refused(err); re != nil {
		return "the outbound allowlist refused it: change " + re.Key + " (README: outbound connections)"
	}
	switch provider.KindOf(err) {
	case provider.Config:
		return map[string]string{
			"Stripe": "check STRIPE_SECRET_KEY and the restricted key's permissions (README: Stripe key)",
			"Circle": "check CIRCLE_API_TOKEN (an Admin V2 token) and that the plan includes the Admin API",
			"Kit":    "check KIT_API_KEY (a v4 API key), or KIT_OAUTH_TOKEN when it is set (it expires: set a fresh one)",
		}[name]
	case provider.Transient, provider.RateLimited:
		return "the provider did not answer well; check " + strings.ToLower(name) + ".base_url and try again"
	}
	return "check " + strings.ToLower(name) + ".base_url in the config"
}

func cmdCheck(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "check [flags]",
		`Validate the config and the secrets, then reach each provider once and check that the access
groups and tags the plans name exist; then refresh the cached names of every access group, tag,
sequence and price (the admin, trace and alerts show them). Each secret is listed by its keyed
fingerprint (never by its value), so that two machines sharing MEMBERSYNC_SIGNING_KEY can be
compared. Warns about a full Stripe secret key (use a restricted one) and about database files
others can read, and prints the outbound allowlist: the only hosts each component may connect to (README: outbound connections); fails on a
MEMBERSYNC_SIGNING_KEY shorter than 32 characters and on a Stripe key of the other mode (live or
test) than the one the database was first served with. A provider whose key is not set is not called
(its line says which variable to set). Exit status 1 when something needs fixing.`,
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
	probs := cfg.RequireSecrets()
	failed := len(probs) > 0
	if failed {
		fmt.Fprintf(e.stdout, "secrets     FAIL %d problem(s):\n", len(probs))
		for _, p := range probs {
			fmt.Fprintln(e.stdout, "              - "+p)
		}
	} else {
		fmt.Fprintln(e.stdout, "secrets     ok   every secret serve needs is set")
	}
	for _, f := range cfg.Secrets.Fingerprints() {
		fmt.Fprintf(e.stdout, "              %-32s %s\n", f.Env, f)
	}
	if cfg.Secrets.UnrestrictedStripeKey() {
		fmt.Fprintf(e.stdout, "stripe key  WARN %s is a full secret key (%s…), which can do anything on the account;\n"+
			"              fix: create a restricted key (%s…) with only these permissions (README: the restricted Stripe key):\n",
			config.EnvStripeSecretKey, "sk_"+cfg.Secrets.StripeMode()+"_", "rk_"+cfg.Secrets.StripeMode()+"_")
		for _, p := range billing.Permissions() {
			if p.Access == "Write" && !cfg.Stripe.BillingPortal {
				continue // only the billing portal button writes; without it the key reads only
			}
			fmt.Fprintf(e.stdout, "                %-18s %-5s %s\n", p.Resource, p.Access, p.Why)
		}
	}
	for _, w := range store.SQLitePermissionWarnings(cfg.DatabaseURL) {
		fmt.Fprintln(e.stdout, "database    WARN "+w)
	}
	printEgress(e, cfg)
	a, err := newApp(ctx, cfg, newLogger(e.stderr, cfg.LogFormat), appOptions{})
	if err != nil {
		return err
	}
	defer a.close()
	if ok := checkStripeMode(ctx, e, a.store, cfg.Secrets); !ok {
		failed = true
	}
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
	if missing := cfg.Secrets.MissingKeys(config.ProviderStripe, config.ProviderCircle, config.ProviderKit); len(missing) > 0 {
		fmt.Fprintf(e.stdout, "%-11s SKIP not refreshed: %s not set\n", "names", strings.Join(missing, ", "))
	} else {
		refreshNamesForCheck(ctx, e, a)
	}
	if failed {
		return &exitError{1, errors.New("check found problems (see above)")}
	}
	return nil
}

// checkStripeMode prints whether the Stripe key's mode matches the one the database was first
// served with (check records nothing: serve does), and reports false when it does not.
func checkStripeMode(ctx context.Context, e env, st *store.Store, secrets config.Secrets) bool {
	mode := secrets.StripeMode()
	recorded, ok, err := st.StripeMode(ctx)
	switch {
	case err != nil:
		fmt.Fprintf(e.stdout, "database    FAIL %v\n", err)
		return false
	case !ok || mode == "":
		fmt.Fprintf(e.stdout, "database    ok   %s; no Stripe mode recorded yet (serve records its key's on first start)\n", st.Dialect())
	case recorded != mode:
		fmt.Fprintf(e.stdout, "database    FAIL %v\n", stripeModeMismatch(recorded, mode))
		return false
	default:
		fmt.Fprintf(e.stdout, "database    ok   %s; served in Stripe %s mode, as this key\n", st.Dialect(), recorded)
	}
	return true
}

func configPathOf(e env, flagValue string) string {
	return config.Path(flagValue, e.getenv)
}

// printEgress prints the outbound allowlist of each component, with the key that names each host.
func printEgress(e env, cfg *config.Config) {
	pols := cfg.EgressPolicies()
	fmt.Fprintln(e.stdout, "egress      ok   each component connects only to these hosts (see egress.private_hosts):")
	for _, name := range []string{config.EgressStripe, config.EgressCircle, config.EgressKit, config.EgressAlerts, config.EgressMail} {
		var hosts []string
		for _, h := range pols[name].Hosts {
			hosts = append(hosts, h.String()+" ("+h.Key+egressNote(h)+")")
		}
		if len(hosts) == 0 {
			hosts = []string{"nothing (not configured)"}
		}
		fmt.Fprintf(e.stdout, "              %-7s %s\n", name, strings.Join(hosts, ", "))
	}
}

// egressNote qualifies a host that may resolve to non-public addresses.
func egressNote(h egress.Host) string {
	switch {
	case h.PlainHTTP:
		return "; loopback, plain http allowed"
	case h.Private:
		return "; may be private"
	}
	return ""
}
