package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/web"
)

// world is the whole path an outage takes: fake Stripe, Circle and Kit over real HTTP, the sync
// engine with the production clients, the alert evaluator, and the admin served over HTTP with the
// evaluator's alerts, all on one store and one clock. The test runs syncs and alert passes by
// hand, as the workers would.
type world struct {
	*fixture
	ctx      context.Context
	stripe   *stripetest.Server
	circle   *circletest.Server
	kit      *kittest.Server
	engine   *converge.Engine
	alerts   *alert.Evaluator
	proPrice string
	sent     int // Stripe events stored so far
	now      *liveClock
}

// liveClock is the wall clock, moved forward by the test: the provider clients time their calls
// by the wall clock, and the journal compares those times with the sync's.
type liveClock struct {
	mu     sync.Mutex
	offset time.Duration // guarded by mu
}

func (c *liveClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *liveClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

func newWorld(t *testing.T, dialect string) *world {
	t.Helper()
	w := &world{ctx: context.Background()}
	st := storetest.Open(t, dialect)
	w.stripe = stripetest.New(stripetest.Options{})
	w.circle = circletest.New(circletest.Options{})
	w.kit = kittest.New(kittest.Options{RateLimit: -1})
	t.Cleanup(func() { w.stripe.Close(); w.circle.Close(); w.kit.Close() })
	w.now = &liveClock{}
	clock := w.now
	st.Now = clock.Now

	group := w.circle.AddAccessGroup("Pro members")
	tag := w.kit.CreateTag("pro-active")
	w.proPrice = w.stripe.CreatePrice(w.stripe.CreateProduct("Pro"), 2900, true)
	cfg := testConfig()
	cfg.Plans = []config.Plan{{ID: "pro", Name: "Pro membership", Stripe: config.PlanStripe{Prices: []string{w.proPrice}},
		Circle: config.PlanCircle{AccessGroups: []int64{group}}, Kit: config.PlanKit{Tags: map[string]int64{"active": tag}}}}
	q, err := queue.New(st, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.engine = &converge.Engine{Store: st,
		Billing: billing.NewReader(billing.Config{SecretKey: w.stripe.SecretKey(), BaseURL: w.stripe.URL}),
		Circle:  circle.New(circle.Config{BaseURL: w.circle.URL, Token: w.circle.Token, RequestsPerMinute: 600_000, MaxRetries: -1}),
		Kit:     kit.New(kit.Config{BaseURL: w.kit.URL, APIKey: kittest.DefaultAPIKey, RequestsPerMinute: 600_000, MaxRetries: -1}),
		Queue:   q, Plans: cfg.Plans, Log: slog.New(slog.DiscardHandler), Now: clock.Now, HashKey: []byte("test")}
	w.alerts = &alert.Evaluator{Store: st, PublicURL: cfg.PublicURL, Now: clock.Now}
	w.fixture = serveAdmin(t, st, nil, Deps{Store: st, Config: cfg, Now: clock.Now,
		Alerts: func(ctx context.Context) (out []FiringAlert) { // as serve wires them
			for _, f := range w.alerts.Firing(ctx) {
				out = append(out, FiringAlert{Rule: f.Rule, Title: f.Title, Detail: f.Detail, Since: f.Since, Link: f.Link})
			}
			return out
		}})
	return w
}

// serveAdmin serves the admin over st with an operator per role.
func serveAdmin(t *testing.T, st *store.Store, clock *providertest.Clock, d Deps) *fixture {
	t.Helper()
	f := &fixture{t: t, st: st, clock: clock}
	for _, r := range Roles {
		if _, err := st.CreateAdminUser(context.Background(), email(r), string(r), hashPasswordWith(passwords[r], 1, 64)); err != nil {
			t.Fatal(err)
		}
	}
	f.h = New(d)
	f.srv = httptest.NewServer((&web.Server{Mounts: []web.Mounter{f.h}}).Routes())
	t.Cleanup(f.srv.Close)
	return f
}

// buy subscribes a new customer to Pro and stores the Stripe events as the inbox would; it returns
// the person.
func (w *world) buy(email, name string) int64 {
	w.t.Helper()
	w.stripe.Subscribe(w.stripe.CreateCustomer(email, name), w.proPrice, 0)
	evs := w.stripe.Events()
	var pid int64
	for _, ev := range evs[w.sent:] {
		if err := w.st.InTx(w.ctx, func(tx *store.Tx) error {
			res, err := tx.IngestEvent(w.ctx, store.Event{ID: ev.ID, Type: ev.Type, CustomerID: ev.CustomerID, Created: ev.Created,
				Actionable: ev.CustomerID != "", Payload: ev.JSON})
			if res.PersonID != 0 {
				pid = res.PersonID
			}
			return err
		}); err != nil {
			w.t.Fatal(err)
		}
	}
	w.sent = len(evs)
	return pid
}

// sync runs attempt n of the person's sync; it reports whether it converged.
func (w *world) sync(pid int64, attempt int) bool {
	w.t.Helper()
	out, err := w.engine.Sync(w.ctx, pid, "event", attempt)
	return err == nil && out.Converged
}

// evaluate runs one pass of the alert rules.
func (w *world) evaluate() {
	w.t.Helper()
	if err := w.alerts.Evaluate(w.ctx); err != nil {
		w.t.Fatal(err)
	}
}

// overviewJSON reads /api/v1/overview.
func (w *world) overviewJSON(c *client) overviewJSON {
	w.t.Helper()
	resp, body := c.get("/api/v1/overview")
	var o overviewJSON
	if err := json.Unmarshal([]byte(body), &o); err != nil || resp.StatusCode != 200 {
		w.t.Fatalf("overview JSON: %d %v %.300s", resp.StatusCode, err, body)
	}
	return o
}

// TestOverviewAfterARecoveredCircleOutage runs a Circle outage through the real sync and alert
// rules: while it lasts the overview is red, names the person still failing and shows the firing
// alert; once a retry converges it is green, the failed syncs are history ("recovered by retry"),
// and the alert says it resolved, at once rather than an hour later.
func TestOverviewAfterARecoveredCircleOutage(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			w := newWorld(t, dialect)
			dan := w.buy("dan@example.com", "Dan")
			if !w.sync(dan, 1) {
				t.Fatal("Dan's sync did not converge with every provider up")
			}
			eve := w.buy("eve@example.com", "Eve")
			w.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
			for attempt := 1; attempt <= 4; attempt++ {
				if w.sync(eve, attempt) {
					t.Fatalf("attempt %d converged with Circle down", attempt)
				}
			}
			w.evaluate()
			c := w.login(RoleViewer)

			// During the outage: red, and the person named.
			_, page := c.get("/admin")
			for _, want := range []string{"Needs attention", "1 person&#39;s sync is still failing (4 failed sync(s) in 24 h)", "Circle",
				`id="still-failing"`, "eve@example.com", `class="tile bad" id="failures"`, `class="tile bad" href="#alerts-head" id="alerts-tile"`} {
				if !strings.Contains(page, want) {
					t.Errorf("overview during the outage lacks %q", want)
				}
			}
			o := w.overviewJSON(c)
			if o.Recovery == nil || o.Recovery.FailingPeople != 1 || o.Recovery.RecoveredPeople != 0 || len(o.Alerts) != 1 || o.Alerts[0].Rule != alert.RuleCircleFailures {
				t.Fatalf("overview JSON during the outage: recovery %+v, alerts %+v", o.Recovery, o.Alerts)
			}

			// Circle is back; the next retry converges, and the next alert pass resolves.
			w.circle.Faults.Heal()
			if !w.sync(eve, 5) {
				t.Fatal("the retry after Circle recovered did not converge")
			}
			w.now.Advance(time.Minute)
			w.evaluate()
			_, page = c.get("/admin")
			for _, want := range []string{`<div class="banner ok" id="health"><strong>Healthy.</strong> Nothing failing (1 recovered by retry in 24 h)`,
				`class="tile ok" id="failures"`, "nothing failing now · 1 recovered by retry",
				`class="tile ok" href="#alerts-head" id="alerts-tile"`, "none firing · 1 resolved in 24 h",
				`id="recovered"`, "Recovered by retry", "eve@example.com</a> failed 4×", "1 person's sync failed, then recovered by retry (4 failed attempts); nothing is failing now",
				`id="resolved-alerts"`, "<strong>Resolved</strong>", "Circle sync failures"} {
				if !strings.Contains(page, want) {
					t.Errorf("overview after the recovery lacks %q", want)
				}
			}
			for _, unwanted := range []string{"Needs attention", `id="still-failing"`, "tile bad", "still failing"} {
				if strings.Contains(page, unwanted) {
					t.Errorf("overview after the recovery shows %q", unwanted)
				}
			}
			o = w.overviewJSON(c)
			if len(o.Concerns) != 0 || len(o.Alerts) != 0 || o.Recovery.FailingPeople != 0 || o.Recovery.RecoveredPeople != 1 ||
				o.Recovery.RecoveredSyncs != 4 || len(o.Recovery.Recovered) != 1 || o.Recovery.Recovered[0].Who != "eve@example.com" ||
				len(o.ResolvedAlerts) != 1 || o.ResolvedAlerts[0].Rule != alert.RuleCircleFailures {
				t.Errorf("overview JSON after the recovery: concerns %v, alerts %v, recovery %+v, resolved %+v", o.Concerns, o.Alerts, o.Recovery, o.ResolvedAlerts)
			}
			if o.Failures.Hour != 4 {
				t.Errorf("failed syncs in the last hour: %d, want the 4 kept as history", o.Failures.Hour)
			}
			// The members table counts both, Eve's access now confirmed.
			if m := o.Membership; m == nil || m.Members != 2 || m.New != 2 || len(m.Plans) != 1 || m.Plans[0].Stages["active"] != 2 {
				t.Errorf("membership: %+v", m)
			}
		})
	}
}

// TestOverviewStaysRedWhileASyncStillFails: a sync that keeps failing keeps the overview red after
// the hour in which it failed, since no later sync settled it.
func TestOverviewStaysRedWhileASyncStillFails(t *testing.T) {
	w := newWorld(t, storetest.Dialects()[0])
	eve := w.buy("eve@example.com", "Eve")
	w.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
	for attempt := 1; attempt <= 4; attempt++ {
		if w.sync(eve, attempt) {
			t.Fatalf("attempt %d converged with Circle down", attempt)
		}
	}
	w.now.Advance(90 * time.Minute) // the failures are older than the hour the old tile counted
	c := w.login(RoleViewer)
	_, page := c.get("/admin")
	for _, want := range []string{"Needs attention", "still failing", `class="tile bad" id="failures"`, `id="still-failing"`} {
		if !strings.Contains(page, want) {
			t.Errorf("overview with a sync still failing lacks %q", want)
		}
	}
	if strings.Contains(page, "Healthy.") || strings.Contains(page, `id="recovered"`) {
		t.Error("a sync still failing is shown healthy or recovered")
	}
	if o := w.overviewJSON(c); o.Failures.Hour != 0 || o.Recovery.FailingPeople != 1 || len(o.Concerns) == 0 {
		t.Errorf("overview JSON: failures %+v, recovery %+v, concerns %v", o.Failures, o.Recovery, o.Concerns)
	}
	// The people list agrees.
	if _, body := c.get("/api/v1/people?access=failing"); !strings.Contains(body, `"email": "eve@example.com"`) || !strings.Contains(body, `"total": 1`) {
		t.Errorf("people failing: %s", body)
	}
}
