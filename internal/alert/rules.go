package alert

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/billing"
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
		{name: RuleWebhookFailures, disabled: c.WebhookFailures.Disabled || e.Stripe == nil, check: e.webhookFailures},
		{name: RuleCircleFailures, disabled: c.CircleFailures.Disabled, check: e.circleFailures},
		{name: RuleReviewAge, disabled: c.ReviewAge.Disabled, check: e.reviewAge},
		{name: RuleCredentials, disabled: c.Credentials.Disabled, check: e.credentials},
		{name: RuleConvergeP95, disabled: c.ConvergeP95.Disabled, check: e.convergeP95},
		{name: RuleWebhookSilence, disabled: c.WebhookSilence.Disabled || e.LatestStripeEvent == nil, hold: silenceHold, check: e.webhookSilence},
		{name: RuleDrift, check: e.drift},
		{name: RuleCircleMemberLimit, check: e.circleMemberLimit},
		{name: RuleCircleQuota, disabled: c.CircleQuota.Disabled || e.CircleMonthlyQuota <= 0, check: e.circleQuota},
		{name: RuleSupportSpike, disabled: c.SupportSpike.Disabled || e.SupportSpikeFactor <= 0, check: e.supportSpike},
		{name: RuleBackup, disabled: c.Backup.Disabled, check: e.backupFailed},
		{name: RuleUptime, disabled: c.Uptime.Disabled, check: e.uptime},
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

// undeliveredLookback is how far back the webhook-failures rule reads Stripe's events: Stripe retries
// a delivery for up to 3 days, so an event it still holds as pending stays in view until it is
// delivered or Stripe gives up, however quiet the account is meanwhile.
const undeliveredLookback = 72 * time.Hour

// maxUndelivered is the page the webhook-failures rule reads: one list call, at most this many events.
const maxUndelivered = 100

// stripeReadEvery spaces the webhook-failures rule's calls to Stripe: the evaluator runs every minute
// and reuses what it read (or the error it got) for this long.
const stripeReadEvery = 5 * time.Minute

// undeliveredRead is one read of Stripe's undelivered events.
type undeliveredRead struct {
	at     time.Time // when it was read; the window ends PendingFor before it
	events []billing.Event
	more   bool // Stripe had more than the page read
	err    error
}

// readUndelivered returns Stripe's undelivered events created in the lookback up to pendingFor ago,
// read at most once every stripeReadEvery (one list call) and otherwise reused.
func (e *Evaluator) readUndelivered(ctx context.Context, now time.Time, pendingFor time.Duration) undeliveredRead {
	e.stripeMu.Lock()
	defer e.stripeMu.Unlock()
	last := e.undelivered
	if !last.at.IsZero() && !now.Before(last.at) && now.Sub(last.at) < stripeReadEvery {
		return last
	}
	sctx, cancel := context.WithTimeout(ctx, e.timeout())
	defer cancel()
	rd := undeliveredRead{at: now}
	rd.events, rd.more, rd.err = e.Stripe.UndeliveredEvents(sctx, now.Add(-undeliveredLookback), now.Add(-pendingFor), maxUndelivered)
	if rd.err != nil && ctx.Err() != nil {
		return rd // the pass itself was cancelled: not worth remembering
	}
	e.undelivered = rd
	return rd
}

// webhookFailures fires on Stripe's own record: events the Events API still holds as undelivered
// (pending_webhooks above 0) PendingFor after their creation. Nothing a stranger sends to the
// endpoint changes that record; local refusals are only shown on the overview. An error reading
// Stripe (credentials included, which the credentials rule covers) leaves the alert as it is.
func (e *Evaluator) webhookFailures(ctx context.Context, now time.Time) ([]finding, error) {
	r := e.config().WebhookFailures
	pendingFor := r.PendingFor.D()
	rd := e.readUndelivered(ctx, now, pendingFor)
	if rd.err != nil {
		return nil, fmt.Errorf("asking Stripe for undelivered events: %w", rd.err)
	}
	// The read's own window, checked again: it is what the count claims.
	var evs []billing.Event
	for _, ev := range rd.events {
		if ev.PendingWebhooks > 0 && !ev.Created.After(rd.at.Add(-pendingFor)) {
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 || len(evs) < max(r.Threshold, 1) {
		return nil, nil
	}
	oldest, live := evs[0], false
	ids := make([]string, 0, len(evs))
	for _, ev := range evs {
		ids = append(ids, ev.ID)
		if ev.Created.Before(oldest.Created) {
			oldest = ev
		}
		live = live || ev.Livemode
	}
	known, err := e.Store.KnownEventIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	count := plural(len(evs), "event", "events")
	if rd.more {
		count = fmt.Sprintf("%d or more events", len(evs))
	}
	mode := "test mode"
	if live {
		mode = "live mode"
	}
	detail := fmt.Sprintf("Stripe's Events API (%s) lists %s that Stripe has not delivered to every webhook endpoint %s or more after creating them (pending_webhooks above 0); the oldest, %s (%s), was created %s.",
		mode, count, human(pendingFor), oldest.ID, oldest.Type, when(oldest.Created))
	if n := len(known); n > 0 {
		detail += fmt.Sprintf(" membersync holds %d of them already: for those, another endpoint on the Stripe account may be the one failing, or membersync's answers reached Stripe too late.", n)
	}
	detail += fmt.Sprintf(" Stripe retries for up to 3 days. In the Stripe dashboard (Developers → Webhooks) open the endpoint %s/webhooks/stripe and read its failed deliveries: a signing secret other than STRIPE_WEBHOOK_SECRET, a disabled endpoint, or membersync unreachable or answering errors. Then run membersync backfill to catch up; the alert resolves once Stripe has delivered them.",
		strings.TrimRight(e.PublicURL, "/"))
	return []finding{{
		title:    fmt.Sprintf("Stripe could not deliver %s to its webhook endpoints", count),
		detail:   detail,
		since:    oldest.Created,
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
	st, err := e.openReviewStats(ctx, now.Add(-r.OlderThan.D())) // the kinds with an alert of their own left out
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
	failed, err := e.Store.FailedSyncs(ctx, now.Add(-r.Window.D()))
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
		case !s.ConvergedAt.IsZero() && slices.ContainsFunc(failed[s.PersonID], func(at time.Time) bool {
			return !at.Before(s.ReceivedAt) && !at.After(s.ConvergedAt)
		}):
			// A failed sync came between its receipt and its convergence: a retry recovered it.
			// That wait is history (the overview shows it), not slowness now; while the failure
			// lasted the event counted as waiting.
			continue
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
	def(&c.WebhookFailures.PendingFor, config.DefaultWebhookPendingFor)
	if c.WebhookFailures.Threshold <= 0 {
		c.WebhookFailures.Threshold = 1
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
