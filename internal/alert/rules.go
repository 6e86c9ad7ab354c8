package alert

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/config"
)

// Rule names (the alert ids of rules without subjects; credentials alerts are credentials:PROVIDER).
const (
	RuleWebhookFailures = "webhook_failures"
	RuleCircleFailures  = "circle_failures"
	RuleReviewAge       = "review_age"
	RuleCredentials     = "credentials"
	RuleConvergeP95     = "converge_p95"
	RuleWebhookSilence  = "webhook_silence"
	// RuleDrift fires while the scheduled drift sweep reported more drifted people than the threshold
	// (or did not complete): open review items of kind drift_detected or drift_sweep.
	RuleDrift = "drift"
)

// driftKinds are the review items the drift sweep opens.
var driftKinds = []string{"drift_detected", "drift_sweep"}

// Admin pages the messages link to.
const (
	pageOverview = "/admin"
	pageReview   = "/admin/review"
	pageEvents   = "/admin/events"
	pagePerson   = "/admin/people/%d"
)

// silenceHold is how long the webhook-silence condition must hold before it fires: an event Stripe
// created a moment ago may simply be on its way.
const silenceHold = 5 * time.Minute

// maxConvergeSamples bounds the events the time-to-converge rule reads per pass.
const maxConvergeSamples = 20000

// finding is one alert a rule found holding now.
type finding struct {
	subject  string // "" for the rule's single alert; the provider for credentials
	title    string
	detail   string
	since    time.Time
	affected int // -1 when unknown
	link     string
}

// rule checks one condition. check returns every alert of the rule that holds now (none when all is
// well); an error means the condition is unknown this pass and the rule's alerts stay as they are.
type rule struct {
	name     string
	disabled bool
	// hold is how long the condition must hold before the alert fires.
	hold  time.Duration
	check func(ctx context.Context, now time.Time) ([]finding, error)
}

func (e *Evaluator) rules() []rule {
	c := e.config()
	return []rule{
		{name: RuleWebhookFailures, disabled: c.WebhookFailures.Disabled, check: e.webhookFailures},
		{name: RuleCircleFailures, disabled: c.CircleFailures.Disabled, check: e.circleFailures},
		{name: RuleReviewAge, disabled: c.ReviewAge.Disabled, check: e.reviewAge},
		{name: RuleCredentials, disabled: c.Credentials.Disabled, check: e.credentials},
		{name: RuleConvergeP95, disabled: c.ConvergeP95.Disabled, check: e.convergeP95},
		{name: RuleWebhookSilence, disabled: c.WebhookSilence.Disabled || e.LatestStripeEvent == nil, hold: silenceHold, check: e.webhookSilence},
		{name: RuleDrift, check: e.drift},
	}
}

// drift reports what the last scheduled drift sweep found, as soon as it opened its review item.
func (e *Evaluator) drift(ctx context.Context, now time.Time) ([]finding, error) {
	items, err := e.Store.Reviews(ctx, "open", 0, 0)
	if err != nil {
		return nil, err
	}
	for _, it := range items {
		if !slices.Contains(driftKinds, it.Kind) {
			continue
		}
		return []finding{{
			title:    "Drift between billing and Circle/Kit",
			detail:   upperFirst(redact(it.Reason)) + ". See the drift sweep on the overview and run `membersync reconcile` for the list.",
			since:    it.CreatedAt,
			affected: -1,
			link:     e.link(pageOverview),
		}}, nil
	}
	return nil, nil
}

// refusalHints say what each refusal code means and what to do.
var refusalHints = map[string]string{
	"bad_signature":     "no signature matched: STRIPE_WEBHOOK_SECRET must be the endpoint's signing secret (during a rotation, both: whsec_old,whsec_new)",
	"too_old":           "signatures more than 5 minutes old: check the server clock",
	"livemode_mismatch": "events of the other Stripe mode: the endpoint and STRIPE_SECRET_KEY disagree about live and test",
	"unavailable":       "the database could not store events (HTTP 503)",
}

func (e *Evaluator) webhookFailures(ctx context.Context, now time.Time) ([]finding, error) {
	r := e.config().WebhookFailures
	counts, first, err := e.Store.WebhookRefusalCounts(ctx, now.Add(-r.Window.D()))
	if err != nil {
		return nil, err
	}
	total := 0
	var since time.Time
	var parts, hints []string
	codes := slices.Clone(r.Codes)
	sort.Strings(codes)
	for _, c := range codes {
		n := counts[c]
		if n == 0 {
			continue
		}
		total += n
		if since.IsZero() || first[c].Before(since) {
			since = first[c]
		}
		parts = append(parts, fmt.Sprintf("%s %d", c, n))
		if h := refusalHints[c]; h != "" {
			hints = append(hints, h)
		}
	}
	if total < max(r.Threshold, 1) {
		return nil, nil
	}
	detail := fmt.Sprintf("Refused: %s.", strings.Join(parts, ", "))
	if len(hints) > 0 {
		detail += " " + upperFirst(strings.Join(hints, "; ")) + "."
	}
	detail += " Nothing refused was stored; Stripe retries refused deliveries for up to 3 days."
	return []finding{{
		title:    fmt.Sprintf("%s refused in the last %s", plural(total, "Stripe webhook delivery", "Stripe webhook deliveries"), human(r.Window.D())),
		detail:   detail,
		since:    since,
		affected: -1,
		link:     e.link(pageEvents),
	}}, nil
}

func (e *Evaluator) circleFailures(ctx context.Context, now time.Time) ([]finding, error) {
	r := e.config().CircleFailures
	st, err := e.Store.CircleSyncFailures(ctx, now.Add(-r.Window.D()))
	if err != nil {
		return nil, err
	}
	if st.Syncs <= r.Max {
		return nil, nil
	}
	detail := fmt.Sprintf("%s failed on Circle calls and %s retrying; Circle may be down, slow or rate-limiting membersync, and access changes wait until it answers.",
		plural(st.Syncs, "sync", "syncs"), map[bool]string{true: "is", false: "are"}[st.Syncs == 1])
	if st.LastError != "" {
		detail += " Last error: " + clip(redact(st.LastError), 300) + "."
	}
	return []finding{{
		title:    fmt.Sprintf("Circle sync failures: %d in the last %s (more than %d)", st.Syncs, human(r.Window.D()), r.Max),
		detail:   detail,
		since:    st.First,
		affected: st.People,
		link:     e.personOr(st.PersonID, pageOverview),
	}}, nil
}

func (e *Evaluator) reviewAge(ctx context.Context, now time.Time) ([]finding, error) {
	r := e.config().ReviewAge
	st, err := e.Store.OpenReviewStats(ctx, now.Add(-r.OlderThan.D()), RuleCredentials)
	if err != nil {
		return nil, err
	}
	if st.Items == 0 {
		return nil, nil
	}
	o := st.Oldest
	detail := fmt.Sprintf("The oldest (%s, open %s): %s", o.Kind, human(now.Sub(o.CreatedAt)), strings.TrimSuffix(redact(o.Reason), "."))
	if o.LastError != "" {
		detail += ". Last error: " + clip(redact(o.LastError), 300)
	}
	detail += ". Retry or resolve them in the review queue."
	return []finding{{
		title:    fmt.Sprintf("%s open longer than %s", plural(st.Items, "review item", "review items"), human(r.OlderThan.D())),
		detail:   detail,
		since:    o.CreatedAt,
		affected: st.People,
		link:     e.personOr(st.PersonID, pageReview),
	}}, nil
}

// credentialEnv names the environment variable holding each provider's credentials.
var credentialEnv = map[string]string{"circle": "CIRCLE_API_TOKEN", "kit": "KIT_API_KEY", "stripe": "STRIPE_SECRET_KEY"}

func (e *Evaluator) credentials(ctx context.Context, now time.Time) ([]finding, error) {
	groups, err := e.Store.OpenReviewsByProvider(ctx, RuleCredentials)
	if err != nil {
		return nil, err
	}
	var out []finding
	for _, g := range groups {
		name := providerName(g.Provider)
		fix := "fix the credentials"
		if env := credentialEnv[g.Provider]; env != "" {
			fix = "fix " + env
		}
		detail := fmt.Sprintf("%s answered that membersync's credentials are invalid or not allowed; %s stopped. %s in the environment, restart membersync, then Retry the items in the review queue.",
			name, plural(g.Items, "sync", "syncs"), upperFirst(fix))
		if g.LastError != "" {
			detail += " Last error: " + clip(redact(g.LastError), 300) + "."
		}
		out = append(out, finding{
			subject:  g.Provider,
			title:    name + " rejected membersync's credentials",
			detail:   detail,
			since:    g.Since,
			affected: g.People,
			link:     e.link(pageReview),
		})
	}
	return out, nil
}

func (e *Evaluator) convergeP95(ctx context.Context, now time.Time) ([]finding, error) {
	r := e.config().ConvergeP95
	threshold := r.Threshold.D()
	samples, err := e.Store.ConvergeSamples(ctx, now.Add(-r.Window.D()), now, maxConvergeSamples)
	if err != nil {
		return nil, err
	}
	var ds []time.Duration
	slow, waiting := 0, 0
	people := map[int64]bool{}
	var since time.Time
	var slowest time.Duration
	for _, s := range samples {
		var d time.Duration
		switch {
		case !s.ConvergedAt.IsZero():
			d = s.ConvergedAt.Sub(s.ReceivedAt)
		case now.Sub(s.ReceivedAt) > threshold:
			d = now.Sub(s.ReceivedAt) // still waiting: at least this long
			waiting++
		default:
			continue // too recent to judge
		}
		ds = append(ds, d)
		if d > threshold {
			slow++
			people[s.PersonID] = true
			if since.IsZero() || s.ReceivedAt.Before(since) {
				since = s.ReceivedAt
			}
			slowest = max(slowest, d)
		}
	}
	if len(ds) == 0 || len(ds) < r.MinEvents {
		return nil, nil
	}
	p95 := percentile(ds, 0.95)
	if p95 <= threshold {
		return nil, nil
	}
	detail := fmt.Sprintf("%d of %s took longer than %s", slow, plural(len(ds), "event", "events"), seconds(threshold))
	if waiting > 0 {
		detail += fmt.Sprintf(" (%d not converged yet)", waiting)
	}
	detail += fmt.Sprintf("; the slowest %s. Syncs are queueing, retrying or waiting on slow providers: check the queue and provider latency on the overview.", seconds(slowest))
	var pid int64
	if len(people) == 1 {
		for id := range people {
			pid = id
		}
	}
	return []finding{{
		title:    fmt.Sprintf("Time to converge p95 is %s over the last %s (threshold %s)", seconds(p95), human(r.Window.D()), seconds(threshold)),
		detail:   detail,
		since:    since,
		affected: len(people),
		link:     e.personOr(pid, pageEvents),
	}}, nil
}

// percentile returns the nearest-rank percentile p of ds (sorted in place).
func percentile(ds []time.Duration, p float64) time.Duration {
	slices.Sort(ds)
	i := int(float64(len(ds))*p+0.999999) - 1
	return ds[min(max(i, 0), len(ds)-1)]
}

func (e *Evaluator) webhookSilence(ctx context.Context, now time.Time) ([]finding, error) {
	after := e.config().WebhookSilence.After.D()
	lastRecv, lastCreated, ever, err := e.Store.LastWebhook(ctx)
	if err != nil {
		return nil, err
	}
	if !ever {
		// Nothing ever arrived: count from the installation, and any Stripe event since is missing.
		if lastRecv, err = e.Store.InstalledAt(ctx); err != nil {
			return nil, err
		}
		lastCreated = lastRecv
	}
	if now.Sub(lastRecv) < after {
		return nil, nil
	}
	// Only now ask Stripe: one call per pass while the endpoint has been quiet for a while.
	sctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	newest, ok, err := e.LatestStripeEvent(sctx)
	if err != nil {
		return nil, fmt.Errorf("asking Stripe for its newest event: %w", err)
	}
	if !ok || newest.Unix() <= lastCreated.Unix() {
		return nil, nil
	}
	last := "The last webhook arrived " + when(lastRecv)
	if !ever {
		last = "No webhook has arrived since membersync was installed (" + when(lastRecv) + ")"
	}
	return []finding{{
		title: fmt.Sprintf("No Stripe webhook received for %s while Stripe has newer events", human(now.Sub(lastRecv))),
		detail: fmt.Sprintf("%s, but Stripe's Events API shows an event created %s. The endpoint is probably broken or disabled: in the Stripe dashboard (Developers → Webhooks) check that %s/webhooks/stripe is enabled and see its failed deliveries; then run membersync backfill to catch up.",
			last, when(newest), strings.TrimRight(e.PublicURL, "/")),
		since:    lastRecv,
		affected: -1,
		link:     e.link(pageEvents),
	}}, nil
}

// config returns the evaluator's config with any unset threshold or window at its default (the
// config package fills them when it loads a file; this covers a hand-built one).
func (e *Evaluator) config() config.AlertsConfig {
	c := e.Config
	def := func(d *config.Duration, v time.Duration) {
		if *d <= 0 {
			*d = config.Duration(v)
		}
	}
	def(&c.WebhookFailures.Window, config.DefaultWebhookFailureWindow)
	if c.WebhookFailures.Threshold <= 0 {
		c.WebhookFailures.Threshold = 1
	}
	if len(c.WebhookFailures.Codes) == 0 {
		c.WebhookFailures.Codes = config.DefaultRefusalCodes
	}
	def(&c.CircleFailures.Window, config.DefaultCircleFailureWindow)
	if c.CircleFailures.Max <= 0 {
		c.CircleFailures.Max = config.DefaultCircleFailureMax
	}
	def(&c.ReviewAge.OlderThan, config.DefaultReviewAge)
	def(&c.ConvergeP95.Window, config.DefaultConvergeWindow)
	def(&c.ConvergeP95.Threshold, config.DefaultConvergeP95)
	def(&c.WebhookSilence.After, config.DefaultWebhookSilence)
	return c
}

func providerName(p string) string {
	switch p {
	case "circle":
		return "Circle"
	case "kit":
		return "Kit"
	case "stripe":
		return "Stripe"
	case "":
		return "A provider"
	}
	return p
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (e *Evaluator) link(path string) string {
	return strings.TrimRight(e.PublicURL, "/") + path
}

// personOr links to the person's page when one person is concerned, else to page.
func (e *Evaluator) personOr(personID int64, page string) string {
	if personID != 0 {
		return e.link(fmt.Sprintf(pagePerson, personID))
	}
	return e.link(page)
}
