package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/provider"
)

// webhookEvents are the Stripe events the webhook endpoint must receive (README: Register the
// webhook endpoint).
var webhookEvents = []string{
	"checkout.session.completed", "checkout.session.async_payment_succeeded", "checkout.session.async_payment_failed",
	"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
	"customer.subscription.paused", "customer.subscription.resumed", "invoice.paid",
	"invoice.payment_failed", "invoice.payment_action_required", "charge.refunded", "refund.created",
	"charge.dispute.created", "charge.dispute.closed", "customer.updated", "customer.deleted",
}

// initSecrets are the variables the env file template names (never their values).
var initSecrets = []struct{ env, why string }{
	{config.EnvStripeSecretKey, "restricted key rk_live_… / rk_test_… (README: the restricted Stripe key)"},
	{config.EnvStripeWebhookSecret, "whsec_… of the webhook endpoint (step 1 below; stripe listen prints one locally)"},
	{config.EnvCircleAPIToken, "Circle Admin API v2 token"},
	{config.EnvKitAPIKey, "Kit API v4 key (or set KIT_OAUTH_TOKEN instead)"},
	{config.EnvSigningKey, "random, 32+ characters: openssl rand -base64 32"},
}

// initCatalog is what the founder's accounts hold.
type initCatalog struct {
	prices    []billing.Price
	groups    []circle.AccessGroup
	tags      []kit.Tag
	sequences []kit.Sequence
}

// draftPlan is one plan init proposes or was told.
type draftPlan struct {
	plan      config.Plan
	recurring bool
}

type initOptions struct {
	cfgPath, envPath               string
	stripeURL, circleURL, kitURL   string
	listen, publicURL, databaseURL string
	communityURL, supportEmail     string
	yes, interactive, force        bool
	plans                          []string
}

func cmdInit(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "init [flags]",
		`Write a working config from your real accounts: read the Stripe prices and products, the Circle
access groups and the Kit tags and sequences, propose the plan mapping (one plan per Stripe product
with an active price, mapped to the access group, tags and sequences whose names match it best), write
the commented YAML and an env file template naming the secrets (never their values), run check on
it, and print the next steps. On a terminal it asks about each product (pick by number or name);
--yes accepts the proposal, --plan sets plans exactly. The credentials come from the environment:
STRIPE_SECRET_KEY, CIRCLE_API_TOKEN, and KIT_API_KEY or KIT_OAUTH_TOKEN. Refuses to overwrite the
config or the env file without --force. Exit status 1 when check finds problems (the files stay).

--plan is 'key=value' pairs joined by ':' (repeat it for each plan): id (the plan id), name,
price and product (Stripe ids, comma-separated), group (Circle access group ids, comma-separated),
tag (the Kit tag while active; or name a lifecycle stage: trialing=ID, past_due=ID, canceled=ID, …),
onboarding and retention (Kit sequence ids).`,
		`  export STRIPE_SECRET_KEY=rk_test_… CIRCLE_API_TOKEN=… KIT_API_KEY=…
  membersync init                                    # asks on a terminal
  membersync init --yes --public-url https://members.example.com
  membersync init --plan 'id=pro:price=price_1Abc:group=1001:tag=2001:onboarding=3001' --public-url https://members.example.com`)
	var o initOptions
	fs.StringVar(&o.cfgPath, "config", "", "the config file to write (default $MEMBERSYNC_CONFIG or ./membersync.yaml)")
	fs.StringVar(&o.envPath, "env-file", "", "the env file template to write (default membersync.env next to the config)")
	fs.BoolVar(&o.force, "force", false, "overwrite the config and the env file when they exist")
	fs.BoolVar(&o.yes, "yes", false, "accept the proposed mapping without asking")
	fs.BoolVar(&o.interactive, "interactive", false, "ask about each product, reading answers from stdin (default when stdin is a terminal)")
	fs.Func("plan", "a plan, exactly: 'id=pro:price=price_…:group=ID:tag=ID:onboarding=ID' (repeatable; see above)", func(s string) error {
		o.plans = append(o.plans, s)
		return nil
	})
	fs.StringVar(&o.stripeURL, "stripe-url", billing.DefaultBaseURL, "Stripe API base URL (stripe.base_url)")
	fs.StringVar(&o.circleURL, "circle-url", circle.DefaultBaseURL, "Circle API base URL (circle.base_url)")
	fs.StringVar(&o.kitURL, "kit-url", kit.DefaultBaseURL, "Kit API base URL (kit.base_url)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "address serve listens on (listen)")
	fs.StringVar(&o.publicURL, "public-url", "http://localhost:8080", "how the world reaches membersync (public_url)")
	fs.StringVar(&o.databaseURL, "database-url", "sqlite:membersync.db", "database (database_url; never a password here)")
	fs.StringVar(&o.communityURL, "community-url", "", "your Circle community's address, linked on the status pages (circle.community_url)")
	fs.StringVar(&o.supportEmail, "support-email", "", "where customers reach a person (support.email)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	o.cfgPath = config.Path(o.cfgPath, e.getenv)
	if o.envPath == "" {
		o.envPath = filepath.Join(filepath.Dir(o.cfgPath), "membersync.env")
	}
	if !o.force {
		for _, p := range []string{o.cfgPath, o.envPath} {
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("%s exists; pass --force to overwrite it (or --config / --env-file to write elsewhere)", p)
			}
		}
	}
	interactive := o.interactive || (!o.yes && len(o.plans) == 0 && stdinIsTerminal(e.stdin))
	if !interactive && !o.yes && len(o.plans) == 0 {
		fmt.Fprintln(e.stderr, "init: stdin is not a terminal: pass --yes to accept the proposed mapping, --plan to set it, or --interactive to answer from stdin")
		return errUsage
	}
	if o.supportEmail != "" && !strings.Contains(o.supportEmail, "@") {
		return fmt.Errorf("--support-email %q is not an email address", o.supportEmail)
	}

	cat, err := readInitCatalog(ctx, e, o)
	if err != nil {
		return err
	}
	var plans []draftPlan
	switch {
	case len(o.plans) > 0:
		for _, spec := range o.plans {
			p, err := parsePlanSpec(spec, cat)
			if err != nil {
				return fmt.Errorf("--plan %q: %w", spec, err)
			}
			plans = append(plans, p)
		}
	case len(activePrices(cat.prices)) == 0:
		return errors.New("Stripe lists no active prices: create the products and prices your members buy in Stripe (with the key's mode: test or live), then run init again")
	default:
		var skipped []string
		plans, skipped = proposePlans(cat)
		if interactive {
			plans, err = askPlans(bufio.NewReader(e.stdin), e.stdout, cat, plans)
			if err != nil {
				return err
			}
		} else {
			for _, s := range skipped {
				fmt.Fprintf(e.stdout, "skipped Stripe product %s: no Circle access group's name matches it (map it with --plan)\n", s)
			}
		}
		if len(plans) == 0 {
			return errors.New("no plan to write: no Stripe product matched a Circle access group by name; name them with --plan 'id=…:price=price_…:group=ID'")
		}
	}
	if err := uniquePlanIDs(plans, len(o.plans) > 0); err != nil {
		return err
	}

	if err := writeNew(o.cfgPath, renderInitConfig(o, cat, plans), o.force); err != nil {
		return err
	}
	if err := writeNew(o.envPath, renderEnvTemplate(), o.force); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s (%d plans) and %s (the secrets' names; fill in the values)\n\n", o.cfgPath, len(plans), o.envPath)
	checkErr := cmdCheck(ctx, e, []string{"--config", o.cfgPath})
	printNextSteps(e, o)
	if checkErr != nil {
		return &exitError{1, fmt.Errorf("%s is written, but check found problems (see above): fix them and run membersync check --config %s", o.cfgPath, o.cfgPath)}
	}
	return nil
}

// stdinIsTerminal reports whether r is a character device (a person typing).
func stdinIsTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// readInitCatalog lists the four catalogs with the credentials of the environment, through the
// outbound allowlist of the base URLs given. It makes no call with a missing credential.
func readInitCatalog(ctx context.Context, e env, o initOptions) (initCatalog, error) {
	stripeKey, circleToken := e.getenv(config.EnvStripeSecretKey), e.getenv(config.EnvCircleAPIToken)
	kitKey, kitOAuth := e.getenv(config.EnvKitAPIKey), e.getenv(config.EnvKitOAuthToken)
	var missing []string
	if stripeKey == "" {
		missing = append(missing, config.EnvStripeSecretKey)
	}
	if circleToken == "" {
		missing = append(missing, config.EnvCircleAPIToken)
	}
	if kitKey == "" && kitOAuth == "" {
		missing = append(missing, config.EnvKitAPIKey+" (or "+config.EnvKitOAuthToken+")")
	}
	if len(missing) > 0 {
		return initCatalog{}, fmt.Errorf("init reads your accounts with these variables, which are not set: %s", strings.Join(missing, ", "))
	}
	var c config.Config
	c.Stripe.BaseURL, c.Circle.BaseURL, c.Kit.BaseURL = o.stripeURL, o.circleURL, o.kitURL
	for _, u := range []struct{ key, v string }{{"--stripe-url", o.stripeURL}, {"--circle-url", o.circleURL}, {"--kit-url", o.kitURL}} {
		pu, err := url.Parse(u.v)
		if err != nil || pu.Host == "" || (pu.Scheme != "https" && (pu.Scheme != "http" || !config.LoopbackHost(pu.Hostname()))) {
			return initCatalog{}, fmt.Errorf("%s %q: use an https URL (plain http only to a loopback host such as 127.0.0.1)", u.key, u.v)
		}
	}
	eg := c.EgressPolicies()
	reader := billing.NewReader(billing.Config{SecretKey: stripeKey, BaseURL: o.stripeURL,
		HTTPClient: eg[config.EgressStripe].Client(billing.DefaultTimeout)})
	cc := circle.New(circle.Config{BaseURL: o.circleURL, Token: circleToken, RequestsPerMinute: 300,
		HTTPClient: eg[config.EgressCircle].Client(circle.DefaultTimeout)})
	kc := kit.New(kit.Config{BaseURL: o.kitURL, APIKey: kitKey, OAuthToken: kitOAuth, RequestsPerMinute: 100,
		HTTPClient: eg[config.EgressKit].Client(kit.DefaultTimeout)})
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var cat initCatalog
	var errs []string
	fail := func(what, env string, err error) {
		msg := explain(err)
		if provider.KindOf(err) == provider.Config {
			msg += " (check " + env + ")"
		}
		errs = append(errs, what+": "+msg)
	}
	var err error
	if cat.prices, err = reader.Prices(ctx); err != nil {
		fail("Stripe prices", config.EnvStripeSecretKey, err)
	}
	if cat.groups, err = cc.AccessGroups(ctx); err != nil {
		fail("Circle access groups", config.EnvCircleAPIToken, err)
	}
	if cat.tags, err = kc.Tags(ctx); err != nil {
		fail("Kit tags", config.EnvKitAPIKey, err)
	}
	if cat.sequences, err = kc.Sequences(ctx); err != nil {
		fail("Kit sequences", config.EnvKitAPIKey, err)
	}
	if len(errs) > 0 {
		return initCatalog{}, errors.New("could not read your accounts:\n  " + strings.Join(errs, "\n  "))
	}
	fmt.Fprintf(e.stdout, "read %d Stripe prices, %d Circle access groups, %d Kit tags, %d Kit sequences\n",
		len(cat.prices), len(cat.groups), len(cat.tags), len(cat.sequences))
	return cat, nil
}

func activePrices(ps []billing.Price) []billing.Price {
	var out []billing.Price
	for _, p := range ps {
		if p.Active {
			out = append(out, p)
		}
	}
	return out
}

// product is a Stripe product with its active prices, in the order Stripe listed them.
type initProduct struct {
	id, name string
	prices   []billing.Price
}

func (p initProduct) recurring() bool {
	return slices.ContainsFunc(p.prices, func(pr billing.Price) bool { return pr.Interval != "" })
}

func productsOf(prices []billing.Price) []initProduct {
	var out []initProduct
	idx := map[string]int{}
	for _, pr := range activePrices(prices) {
		key := pr.ProductID
		if key == "" {
			key = pr.ID // a price whose product could not be read stands alone
		}
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, initProduct{id: pr.ProductID, name: pr.Name()})
		}
		out[i].prices = append(out[i].prices, pr)
	}
	return out
}

// stageWords name, in a tag's name, the lifecycle stage it marks.
var stageWords = map[string][]string{
	"active":    {"active", "buyer", "buyers", "customer", "customers", "paid", "member", "members"},
	"trialing":  {"trial", "trialing"},
	"past_due":  {"past due", "pastdue", "past_due", "dunning", "payment failed"},
	"canceling": {"canceling", "cancelling"},
	"canceled":  {"canceled", "cancelled", "churned", "former"},
	"refunded":  {"refunded", "refund"},
}

// followers are the stages of a subscription that take their leader's tag when no tag names them:
// a trial is access like a paid period; a cancellation at period end, and a grace period that ran
// out, end like a cancellation.
var followers = map[string][]string{"active": {"trialing"}, "canceled": {"canceling", "grace_expired"}}

var (
	onboardingWords = []string{"welcome", "onboarding", "getting started", "start here"}
	retentionWords  = []string{"sorry", "retention", "cancel", "canceled", "cancelled", "win back", "winback", "goodbye", "come back", "miss you"}
	stopWords       = map[string]bool{"the": true, "a": true, "an": true, "to": true, "of": true, "and": true, "for": true, "your": true, "my": true}
)

// nameTokens splits a name into lowercase words.
func nameTokens(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if !stopWords[f] {
			out = append(out, f)
		}
	}
	return out
}

// hasWords reports whether the name holds one of the phrases, as whole words.
func hasWords(name string, phrases []string) bool {
	n := " " + strings.Join(nameTokens(name), " ") + " "
	for _, ph := range phrases {
		if strings.Contains(n, " "+ph+" ") {
			return true
		}
	}
	return false
}

// overlap counts the words of a shared by b; a word matches another it begins ("members" and
// "membership") when both have 4 letters or more.
func overlap(a, b []string) int {
	n := 0
	for _, x := range a {
		if slices.ContainsFunc(b, func(y string) bool {
			return x == y || (len(x) >= 4 && len(y) >= 4 && (strings.HasPrefix(x, y) || strings.HasPrefix(y, x)))
		}) {
			n++
		}
	}
	return n
}

// best returns the index of the name sharing most words with want (at least one), the first on a
// tie; -1 when none does. keep filters the candidates.
func best(want []string, names []string, keep func(name string) bool) int {
	bi, bs := -1, 0
	for i, n := range names {
		if keep != nil && !keep(n) {
			continue
		}
		if s := overlap(want, nameTokens(n)); s > bs {
			bi, bs = i, s
		}
	}
	return bi
}

// proposePlans maps each Stripe product with an active price to the access group, tags and
// sequences whose names match it best; it returns the products no access group matches apart.
func proposePlans(cat initCatalog) (plans []draftPlan, skipped []string) {
	groupNames := make([]string, 0, len(cat.groups))
	for _, g := range cat.groups {
		name := g.Name
		if g.Status == "archived" {
			name = "" // never proposed
		}
		groupNames = append(groupNames, name)
	}
	tagNames := make([]string, len(cat.tags))
	for i, t := range cat.tags {
		tagNames[i] = t.Name
	}
	seqNames := make([]string, len(cat.sequences))
	for i, s := range cat.sequences {
		seqNames[i] = s.Name
	}
	for _, pr := range productsOf(cat.prices) {
		want := nameTokens(pr.name)
		gi := best(want, groupNames, nil)
		if gi < 0 {
			skipped = append(skipped, fmt.Sprintf("%q (%s)", pr.name, pr.prices[0].ID))
			continue
		}
		d := draftPlan{recurring: pr.recurring()}
		d.plan.ID = slug(pr.name)
		d.plan.Name = pr.name
		for _, p := range pr.prices {
			d.plan.Stripe.Prices = append(d.plan.Stripe.Prices, p.ID)
		}
		d.plan.Circle.AccessGroups = []int64{cat.groups[gi].ID}
		d.plan.Kit.Tags = map[string]int64{}
		stages := []string{"active"}
		if d.recurring {
			stages = append(stages, "trialing", "past_due", "canceling", "canceled")
		} else {
			stages = append(stages, "refunded")
		}
		for _, stage := range stages {
			ti := best(want, tagNames, func(n string) bool { return hasWords(n, stageWords[stage]) })
			if ti < 0 && stage == "active" { // a tag named after the product alone ("course")
				ti = best(want, tagNames, func(n string) bool {
					for s, words := range stageWords {
						if s != "active" && hasWords(n, words) {
							return false
						}
					}
					return true
				})
			}
			if ti >= 0 {
				d.plan.Kit.Tags[stage] = cat.tags[ti].ID
			}
		}
		if d.recurring {
			for leader, fs := range followers {
				for _, f := range fs {
					if id, ok := d.plan.Kit.Tags[leader]; ok && d.plan.Kit.Tags[f] == 0 {
						d.plan.Kit.Tags[f] = id
					}
				}
			}
		}
		si := best(want, seqNames, func(n string) bool { return hasWords(n, onboardingWords) && !hasWords(n, retentionWords) })
		if si < 0 {
			si = best(want, seqNames, func(n string) bool { return !hasWords(n, retentionWords) })
		}
		if si >= 0 {
			d.plan.Kit.OnboardingSequence = cat.sequences[si].ID
		}
		if d.recurring {
			for i, n := range seqNames { // prefer one naming the product
				if hasWords(n, retentionWords) && (d.plan.Kit.RetentionSequence == 0 || overlap(want, nameTokens(n)) > 0) {
					d.plan.Kit.RetentionSequence = cat.sequences[i].ID
					if overlap(want, nameTokens(n)) > 0 {
						break
					}
				}
			}
		}
		plans = append(plans, d)
	}
	return plans, skipped
}

// slug makes a plan id from a name: "Pro membership" → "pro-membership".
func slug(name string) string {
	s := strings.Join(nameTokens(name), "-")
	var b strings.Builder
	for _, r := range s {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		}
	}
	s = strings.Trim(b.String(), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	if s == "" {
		s = "plan"
	}
	return s
}

// uniquePlanIDs numbers repeated proposed ids ("pro", "pro-2"); given (--plan) ids must differ.
func uniquePlanIDs(plans []draftPlan, given bool) error {
	seen := map[string]bool{}
	for i := range plans {
		id := plans[i].plan.ID
		if given && seen[id] {
			return fmt.Errorf("two --plan name the plan id %q; give each plan its own id=…", id)
		}
		for n := 2; seen[id]; n++ {
			id = fmt.Sprintf("%s-%d", plans[i].plan.ID, n)
		}
		plans[i].plan.ID = id
		seen[id] = true
	}
	return nil
}

// parsePlanSpec reads one --plan: key=value pairs joined by ':'. Every id must be listed by its
// provider.
func parsePlanSpec(spec string, cat initCatalog) (draftPlan, error) {
	var d draftPlan
	d.plan.Kit.Tags = map[string]int64{}
	num := func(k, v string) (int64, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("%s=%q is not an id (a positive number)", k, v)
		}
		return n, nil
	}
	for _, kv := range strings.Split(spec, ":") {
		k, v, ok := strings.Cut(kv, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || v == "" {
			return d, fmt.Errorf("%q is not key=value", kv)
		}
		switch k {
		case "id":
			d.plan.ID = v
		case "name":
			d.plan.Name = v
		case "price", "prices":
			for _, id := range strings.Split(v, ",") {
				i := slices.IndexFunc(cat.prices, func(p billing.Price) bool { return p.ID == id })
				if i < 0 {
					return d, fmt.Errorf("Stripe lists no price %s", id)
				}
				d.plan.Stripe.Prices = append(d.plan.Stripe.Prices, id)
				d.recurring = d.recurring || cat.prices[i].Interval != ""
				if d.plan.Name == "" {
					d.plan.Name = cat.prices[i].Name()
				}
			}
		case "product", "products":
			for _, id := range strings.Split(v, ",") {
				i := slices.IndexFunc(cat.prices, func(p billing.Price) bool { return p.ProductID == id })
				if i < 0 {
					return d, fmt.Errorf("Stripe lists no price of product %s", id)
				}
				d.plan.Stripe.Products = append(d.plan.Stripe.Products, id)
				d.recurring = d.recurring || cat.prices[i].Interval != ""
				if d.plan.Name == "" {
					d.plan.Name = cat.prices[i].Name()
				}
			}
		case "group", "groups":
			for _, s := range strings.Split(v, ",") {
				n, err := num(k, s)
				if err != nil {
					return d, err
				}
				if !slices.ContainsFunc(cat.groups, func(g circle.AccessGroup) bool { return g.ID == n }) {
					return d, fmt.Errorf("Circle lists no access group %d", n)
				}
				d.plan.Circle.AccessGroups = append(d.plan.Circle.AccessGroups, n)
			}
		case "onboarding", "retention":
			n, err := num(k, v)
			if err != nil {
				return d, err
			}
			if !slices.ContainsFunc(cat.sequences, func(s kit.Sequence) bool { return s.ID == n }) {
				return d, fmt.Errorf("Kit lists no sequence %d", n)
			}
			if k == "onboarding" {
				d.plan.Kit.OnboardingSequence = n
			} else {
				d.plan.Kit.RetentionSequence = n
			}
		default:
			stage := k
			if k == "tag" {
				stage = "active"
			}
			if !slices.Contains(config.Stages, stage) {
				return d, fmt.Errorf("unknown key %q (use id, name, price, product, group, tag, onboarding, retention or a lifecycle stage: %s)", k, strings.Join(config.Stages, ", "))
			}
			n, err := num(k, v)
			if err != nil {
				return d, err
			}
			if !slices.ContainsFunc(cat.tags, func(t kit.Tag) bool { return t.ID == n }) {
				return d, fmt.Errorf("Kit lists no tag %d", n)
			}
			d.plan.Kit.Tags[stage] = n
		}
	}
	if len(d.plan.Stripe.Prices) == 0 && len(d.plan.Stripe.Products) == 0 {
		return d, errors.New("name at least one price=price_… or product=prod_…")
	}
	if len(d.plan.Circle.AccessGroups) == 0 {
		return d, errors.New("name at least one group=ID (a Circle access group)")
	}
	if d.plan.ID == "" {
		d.plan.ID = slug(d.plan.Name)
	}
	return d, nil
}

// askPlans walks the founder through each Stripe product, with the proposal as the defaults.
func askPlans(in *bufio.Reader, out io.Writer, cat initCatalog, proposed []draftPlan) ([]draftPlan, error) {
	groups := make([]idName, len(cat.groups))
	for i, g := range cat.groups {
		groups[i] = idName{g.ID, g.Name}
	}
	tags := make([]idName, len(cat.tags))
	for i, t := range cat.tags {
		tags[i] = idName{t.ID, t.Name}
	}
	seqs := make([]idName, len(cat.sequences))
	for i, s := range cat.sequences {
		seqs[i] = idName{s.ID, s.Name}
	}
	for _, l := range []struct {
		title string
		items []idName
	}{{"Circle access groups", groups}, {"Kit tags", tags}, {"Kit sequences", seqs}} {
		fmt.Fprintf(out, "\n%s:\n", l.title)
		for i, it := range l.items {
			fmt.Fprintf(out, "  %2d) %s (#%d)\n", i+1, oneLine(it.name), it.id)
		}
	}
	fmt.Fprintln(out, "\nFor each Stripe product: press Enter for the [proposal], or answer with numbers or names from the lists\n(comma-separated for several access groups), or - for none.")
	a := asker{in: in, out: out}
	var plans []draftPlan
	for _, pr := range productsOf(cat.prices) {
		var d draftPlan
		if i := slices.IndexFunc(proposed, func(p draftPlan) bool { return slices.Contains(p.plan.Stripe.Prices, pr.prices[0].ID) }); i >= 0 {
			d = proposed[i]
		} else {
			d = draftPlan{recurring: pr.recurring(), plan: config.Plan{ID: slug(pr.name), Name: pr.name}}
			for _, p := range pr.prices {
				d.plan.Stripe.Prices = append(d.plan.Stripe.Prices, p.ID)
			}
		}
		labels := make([]string, len(pr.prices))
		for i, p := range pr.prices {
			labels[i] = p.ID + " " + p.Amount()
		}
		fmt.Fprintf(out, "\nStripe product %q: %s\n", pr.name, strings.Join(labels, ", "))
		yes, err := a.line("  Make it a plan? [Y/n]: ")
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(strings.ToLower(yes), "n") {
			continue
		}
		if d.plan.ID, err = a.planID(d.plan.ID); err != nil {
			return nil, err
		}
		if d.plan.Circle.AccessGroups, err = a.pick("  Circle access groups", groups, d.plan.Circle.AccessGroups, true, true); err != nil {
			return nil, err
		}
		if d.plan.Kit.Tags == nil {
			d.plan.Kit.Tags = map[string]int64{}
		}
		stages := [][2]string{{"active", "Kit tag while active"}}
		if d.recurring {
			stages = append(stages, [2]string{"past_due", "Kit tag while a payment is past due"}, [2]string{"canceled", "Kit tag once canceled"})
		} else {
			stages = append(stages, [2]string{"refunded", "Kit tag once refunded"})
		}
		for _, s := range stages {
			prev := d.plan.Kit.Tags[s[0]]
			v, err := a.pick("  "+s[1], tags, nonZero(prev), false, false)
			if err != nil {
				return nil, err
			}
			delete(d.plan.Kit.Tags, s[0])
			if len(v) > 0 {
				d.plan.Kit.Tags[s[0]] = v[0]
			}
			for _, f := range followers[s[0]] { // unless they had a tag of their own
				if d.recurring && (d.plan.Kit.Tags[f] == prev || d.plan.Kit.Tags[f] == 0) {
					delete(d.plan.Kit.Tags, f)
					if len(v) > 0 {
						d.plan.Kit.Tags[f] = v[0]
					}
				}
			}
		}
		v, err := a.pick("  Onboarding sequence", seqs, nonZero(d.plan.Kit.OnboardingSequence), false, false)
		if err != nil {
			return nil, err
		}
		d.plan.Kit.OnboardingSequence = first(v)
		if d.recurring {
			if v, err = a.pick("  Retention sequence (on cancellation)", seqs, nonZero(d.plan.Kit.RetentionSequence), false, false); err != nil {
				return nil, err
			}
			d.plan.Kit.RetentionSequence = first(v)
		}
		plans = append(plans, d)
	}
	return plans, nil
}

type idName struct {
	id   int64
	name string
}

func nonZero(id int64) []int64 {
	if id == 0 {
		return nil
	}
	return []int64{id}
}

func first(ids []int64) int64 {
	if len(ids) == 0 {
		return 0
	}
	return ids[0]
}

// asker reads one answer a line.
type asker struct {
	in  *bufio.Reader
	out io.Writer
}

func (a asker) line(prompt string) (string, error) {
	fmt.Fprint(a.out, prompt)
	s, err := a.in.ReadString('\n')
	if err != nil && (err != io.EOF || s == "") {
		if err == io.EOF {
			return "", errors.New("init: the answers ended before every question was asked (nothing written)")
		}
		return "", err
	}
	return strings.TrimSpace(s), nil
}

func (a asker) planID(def string) (string, error) {
	for range 3 {
		s, err := a.line(fmt.Sprintf("  Plan id [%s]: ", def))
		if err != nil {
			return "", err
		}
		if s == "" {
			return def, nil
		}
		if s == slug(s) {
			return s, nil
		}
		fmt.Fprintf(a.out, "  %q: use lowercase letters, digits and '-' (such as %s)\n", s, slug(s))
	}
	return "", errors.New("init: no valid plan id given")
}

// pick asks for items of a list by number or name; required refuses none, many allows several.
func (a asker) pick(prompt string, items []idName, def []int64, required, many bool) ([]int64, error) {
	var defNames []string
	for _, id := range def {
		name := fmt.Sprintf("#%d", id)
		if i := slices.IndexFunc(items, func(it idName) bool { return it.id == id }); i >= 0 {
			name = items[i].name
		}
		defNames = append(defNames, name)
	}
	shown := strings.Join(defNames, ", ")
	if shown == "" {
		shown = "-"
	}
	for range 3 {
		s, err := a.line(fmt.Sprintf("%s [%s]: ", prompt, shown))
		if err != nil {
			return nil, err
		}
		var got []int64
		switch {
		case s == "":
			got = def
		case s == "-":
		default:
			got, err = pickItems(s, items, many)
			if err != nil {
				fmt.Fprintln(a.out, "  "+err.Error())
				continue
			}
		}
		if required && len(got) == 0 {
			fmt.Fprintln(a.out, "  a plan grants at least one access group")
			continue
		}
		return got, nil
	}
	return nil, fmt.Errorf("init: no valid answer to %q", strings.TrimSpace(prompt))
}

// pickItems reads "2", "Pro members", "1, 3" or a unique part of a name.
func pickItems(s string, items []idName, many bool) ([]int64, error) {
	parts := strings.Split(s, ",")
	if !many && len(parts) > 1 {
		return nil, errors.New("pick one")
	}
	var out []int64
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if n, err := strconv.Atoi(p); err == nil {
			if n < 1 || n > len(items) {
				return nil, fmt.Errorf("%d is not in the list (1-%d)", n, len(items))
			}
			out = append(out, items[n-1].id)
			continue
		}
		i := slices.IndexFunc(items, func(it idName) bool { return strings.EqualFold(it.name, p) })
		if i < 0 {
			var hits []int
			for j, it := range items {
				if strings.Contains(strings.ToLower(it.name), strings.ToLower(p)) {
					hits = append(hits, j)
				}
			}
			if len(hits) != 1 {
				return nil, fmt.Errorf("%q names %d of the list; give its number", p, len(hits))
			}
			i = hits[0]
		}
		out = append(out, items[i].id)
	}
	return out, nil
}

// writeNew writes a file readable by its owner only; without force it never replaces one.
func writeNew(path, content string, force bool) error {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if !force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; pass --force to overwrite it", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.WriteString(content); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// renderInitConfig writes the config with comments naming every id.
func renderInitConfig(o initOptions, cat initCatalog, plans []draftPlan) string {
	q := strconv.Quote
	name := func(kind string, id int64) string {
		switch kind {
		case "group":
			if i := slices.IndexFunc(cat.groups, func(g circle.AccessGroup) bool { return g.ID == id }); i >= 0 {
				return cat.groups[i].Name
			}
		case "tag":
			if i := slices.IndexFunc(cat.tags, func(t kit.Tag) bool { return t.ID == id }); i >= 0 {
				return cat.tags[i].Name
			}
		case "seq":
			if i := slices.IndexFunc(cat.sequences, func(s kit.Sequence) bool { return s.ID == id }); i >= 0 {
				return cat.sequences[i].Name
			}
		}
		return "?"
	}
	name = func(inner func(string, int64) string) func(string, int64) string {
		return func(kind string, id int64) string { return oneLine(inner(kind, id)) }
	}(name)
	var b strings.Builder
	fmt.Fprintf(&b, `# membersync configuration, written by membersync init on %s.
# The full list of keys and their defaults: membersync.example.yaml in the repository.
#
# Secrets never go in this file. Set them in the environment (the template: %s):
#   STRIPE_SECRET_KEY       restricted key rk_live_… (see README for the permissions it needs)
#   STRIPE_WEBHOOK_SECRET   whsec_… of the webhook endpoint; comma-separated during rotation
#   CIRCLE_API_TOKEN        Circle Admin API v2 token
#   KIT_API_KEY             Kit API v4 key (or KIT_OAUTH_TOKEN)
#   MEMBERSYNC_SIGNING_KEY  random string (32+ chars): openssl rand -base64 32
#   MEMBERSYNC_DATABASE_URL replaces database_url below; the only place for a database password

# Where the HTTP server listens, and how the world reaches it.
listen: %s
public_url: %s

# SQLite file by default (no server needed); postgres://user@host/db to scale out (never a password here).
database_url: %s

# json for production log collectors, text for a terminal.
log_format: text
`, time.Now().UTC().Format("2006-01-02"), filepath.Base(o.envPath), q(o.listen), q(o.publicURL), q(o.databaseURL))
	if o.supportEmail != "" {
		fmt.Fprintf(&b, "\n# Shown to customers when something needs a person.\nsupport:\n  email: %s\n", q(o.supportEmail))
	} else {
		b.WriteString("\n# Shown to customers when something needs a person.\n# support:\n#   email: support@example.com\n")
	}
	fmt.Fprintf(&b, "\nstripe:\n  base_url: %s\n  billing_portal: true      # offer \"update payment method\" on status pages\n", q(o.stripeURL))
	fmt.Fprintf(&b, "\ncircle:\n  base_url: %s\n", q(o.circleURL))
	if o.communityURL != "" {
		fmt.Fprintf(&b, "  community_url: %s\n", q(o.communityURL))
	} else {
		b.WriteString("  # community_url: https://community.example.com   # linked on the status pages\n")
	}
	fmt.Fprintf(&b, "\nkit:\n  base_url: %s\n  requests_per_minute: 100  # Kit allows 120 per minute per key; keep a margin\n", q(o.kitURL))
	b.WriteString(`
# Each plan: the Stripe prices/products that buy it → the Circle access groups it grants →
# the Kit tag per lifecycle stage and the sequences it starts.
plans:
`)
	for i, d := range plans {
		p := d.plan
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    stripe:\n", p.ID, q(p.Name))
		if len(p.Stripe.Prices) > 0 {
			var labels []string
			for _, id := range p.Stripe.Prices {
				if j := slices.IndexFunc(cat.prices, func(pr billing.Price) bool { return pr.ID == id }); j >= 0 {
					labels = append(labels, oneLine(cat.prices[j].Label()))
				}
			}
			fmt.Fprintf(&b, "      prices: [%s]   # %s\n", strings.Join(p.Stripe.Prices, ", "), strings.Join(labels, "; "))
		}
		if len(p.Stripe.Products) > 0 {
			fmt.Fprintf(&b, "      products: [%s]\n", strings.Join(p.Stripe.Products, ", "))
		}
		var gs, gnames []string
		for _, g := range p.Circle.AccessGroups {
			gs, gnames = append(gs, strconv.FormatInt(g, 10)), append(gnames, name("group", g))
		}
		fmt.Fprintf(&b, "    circle:\n      access_groups: [%s]   # %s\n", strings.Join(gs, ", "), strings.Join(gnames, "; "))
		b.WriteString("    kit:\n")
		if len(p.Kit.Tags) > 0 {
			b.WriteString("      tags:\n")
			for _, s := range config.Stages {
				if id, ok := p.Kit.Tags[s]; ok {
					fmt.Fprintf(&b, "        %s: %d%s# %s\n", s, id, strings.Repeat(" ", max(1, 14-len(s)-len(strconv.FormatInt(id, 10)))), name("tag", id))
				}
			}
		} else {
			b.WriteString("      tags: {}   # no Kit tag matched; add e.g. active: TAG_ID (membersync catalog lists them)\n")
		}
		if p.Kit.OnboardingSequence != 0 {
			fmt.Fprintf(&b, "      onboarding_sequence: %d   # %s: enrolled once, after Circle access exists\n", p.Kit.OnboardingSequence, name("seq", p.Kit.OnboardingSequence))
		}
		if p.Kit.RetentionSequence != 0 {
			fmt.Fprintf(&b, "      retention_sequence: %d    # %s: enrolled once on cancellation\n", p.Kit.RetentionSequence, name("seq", p.Kit.RetentionSequence))
		}
		if d.recurring {
			b.WriteString("    grace_period: 72h             # past_due keeps access this long after the first failed payment\n")
		} else {
			b.WriteString("    access_duration: lifetime     # one-time purchase; e.g. 365d for a year\n")
		}
	}
	return b.String()
}

// renderEnvTemplate names the secrets, without values.
func renderEnvTemplate() string {
	var b strings.Builder
	b.WriteString(`# membersync secrets, written by membersync init. Fill in the values; keep this file private
# (chmod 600, never commit it). Load it before running membersync:
#   set -a; . ./membersync.env; set +a
`)
	for _, s := range initSecrets {
		fmt.Fprintf(&b, "\n# %s\n%s=\n", s.why, s.env)
	}
	return b.String()
}

// printNextSteps says what to do after init: the webhook, the first admin, serve.
func printNextSteps(e env, o initOptions) {
	webhook := strings.TrimRight(o.publicURL, "/") + "/webhooks/stripe"
	fmt.Fprintf(e.stdout, `
Next steps:
  1. Register the webhook endpoint in Stripe (Developers → Webhooks → Add endpoint):
       URL    %s
       events %s
     and put its signing secret (whsec_…) in STRIPE_WEBHOOK_SECRET (%s). Locally instead:
       stripe listen --forward-to %s/webhooks/stripe
  2. Create your admin account:
       membersync users add you@example.com --role admin --config %s
  3. Start membersync:
       membersync serve --config %s
`, webhook, eventLines(), o.envPath, listenURL(o.listen), o.cfgPath, o.cfgPath)
}

// eventLines lists the webhook events three a line, aligned under the first.
func eventLines() string {
	var lines []string
	for i := 0; i < len(webhookEvents); i += 3 {
		lines = append(lines, strings.Join(webhookEvents[i:min(i+3, len(webhookEvents))], ", "))
	}
	return strings.Join(lines, ",\n              ")
}

// listenURL is where a local stripe listen reaches serve.
func listenURL(listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "localhost:8080"
	}
	return "localhost:" + port
}
