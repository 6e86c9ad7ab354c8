package converge_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// clock is the store's and the engine's clock: it starts at the fake Stripe's time and moves one
// millisecond per reading, so that every timestamp differs and the order of readings is the order
// of times. hook, when set, runs (once) right after the engine's next reading: an event arriving at an
// instant of the sync the test chooses.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	hook func()
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Millisecond)
	return c.t
}

// engineNow is the engine's reading: the armed hook runs after the time is read and before the
// engine gets it, outside the lock.
func (c *clock) engineNow() time.Time {
	t := c.now()
	c.mu.Lock()
	h := c.hook
	c.hook = nil
	c.mu.Unlock()
	if h != nil {
		h()
	}
	return t
}

func (c *clock) arm(h func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hook = h
}

// setBack moves the clock to t (a reading taken earlier), for an inbox transaction that stamped its
// receipt time before a sync began.
func (c *clock) setBack(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// hookedBilling is the production Stripe reader with a hook run after each snapshot: an event that
// arrives once the sync has read billing.
type hookedBilling struct {
	*billing.Reader
	mu    sync.Mutex
	after func()
}

func (b *hookedBilling) Snapshot(ctx context.Context, customerIDs ...string) (entitlement.Billing, error) {
	snap, err := b.Reader.Snapshot(ctx, customerIDs...)
	b.mu.Lock()
	h := b.after
	b.after = nil
	b.mu.Unlock()
	if h != nil {
		h()
	}
	return snap, err
}

// env is a store, fake Stripe, Circle and Kit over real HTTP and the engine with the production
// clients and an insert-only River queue; the test runs syncs by hand, in place of the workers.
type env struct {
	t       *testing.T
	ctx     context.Context
	st      *store.Store
	stripe  *stripetest.Server
	circle  *circletest.Server
	kit     *kittest.Server
	billing *hookedBilling
	clock   *clock
	engine  *converge.Engine

	proPrice, coursePrice string
	proGroup, courseGroup int64
	tagActive, tagCourse  int64
	seqOnboarding         int64
}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background()}
	e.st = storetest.Open(t, dialect)
	e.stripe = stripetest.New(stripetest.Options{})
	e.circle = circletest.New(circletest.Options{})
	e.kit = kittest.New(kittest.Options{RateLimit: -1})
	t.Cleanup(func() { e.stripe.Close(); e.circle.Close(); e.kit.Close() })
	e.clock = &clock{t: e.stripe.Now()}
	e.st.Now = e.clock.now

	e.proGroup = e.circle.AddAccessGroup("Pro")
	e.courseGroup = e.circle.AddAccessGroup("Course")
	e.tagActive = e.kit.CreateTag("pro-active")
	e.tagCourse = e.kit.CreateTag("course-buyer")
	e.seqOnboarding = e.kit.CreateSequence("Welcome to Pro", true)
	e.proPrice = e.stripe.CreatePrice(e.stripe.CreateProduct("Pro"), 2900, true)
	e.coursePrice = e.stripe.CreatePrice(e.stripe.CreateProduct("Course"), 19900, false)
	plans := []config.Plan{
		{ID: "pro", Name: "Pro", Stripe: config.PlanStripe{Prices: []string{e.proPrice}},
			Circle: config.PlanCircle{AccessGroups: []int64{e.proGroup}},
			Kit:    config.PlanKit{Tags: map[string]int64{"active": e.tagActive}, OnboardingSequence: e.seqOnboarding}},
		{ID: "course", Name: "Course", Stripe: config.PlanStripe{Prices: []string{e.coursePrice}},
			Circle: config.PlanCircle{AccessGroups: []int64{e.courseGroup}},
			Kit:    config.PlanKit{Tags: map[string]int64{"active": e.tagCourse}}},
	}
	e.billing = &hookedBilling{Reader: billing.NewReader(billing.Config{SecretKey: e.stripe.SecretKey(), BaseURL: e.stripe.URL})}
	q, err := queue.New(e.st, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.engine = &converge.Engine{Store: e.st, Billing: e.billing,
		Circle: circle.New(circle.Config{BaseURL: e.circle.URL, Token: e.circle.Token, RequestsPerMinute: 600_000}),
		Kit:    kit.New(kit.Config{BaseURL: e.kit.URL, APIKey: kittest.DefaultAPIKey, RequestsPerMinute: 600_000}),
		Queue:  q, Plans: plans, Log: slog.New(slog.DiscardHandler), Now: e.clock.engineNow, HashKey: []byte("test")}
	return e
}

// deliver stores every Stripe event recorded since the given count as the inbox would, each in its
// own transaction, and returns the new count and the last result.
func (e *env) deliver(from int) (int, store.IngestResult) {
	e.t.Helper()
	evs := e.stripe.Events()
	var res store.IngestResult
	for _, ev := range evs[from:] {
		err := e.st.InTx(e.ctx, func(tx *store.Tx) error {
			var err error
			res, err = tx.IngestEvent(e.ctx, store.Event{ID: ev.ID, Type: ev.Type, CustomerID: ev.CustomerID, Created: ev.Created,
				Actionable: ev.CustomerID != "", Payload: ev.JSON})
			return err
		})
		if err != nil {
			e.t.Fatalf("storing %s: %v", ev.ID, err)
		}
	}
	return len(evs), res
}

// sync runs one sync of the person as a worker would and fails on an error.
func (e *env) sync(personID int64) converge.Outcome {
	e.t.Helper()
	out, err := e.engine.Sync(e.ctx, personID, "test", 1)
	if err != nil {
		e.t.Fatalf("sync of person %d: %v", personID, err)
	}
	return out
}

// states returns the state of each of the person's events, by id.
func (e *env) states(personID int64) map[string]string {
	e.t.Helper()
	evs, err := e.st.PersonEvents(e.ctx, personID)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, ev := range evs {
		out[ev.ID] = ev.State
	}
	return out
}

func (e *env) person(id int64) store.Person {
	e.t.Helper()
	p, err := e.st.Person(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// forEachDialect runs fn in a parallel subtest per dialect, each with an env of its own.
func forEachDialect(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, d))
		})
	}
}

// An event stored after the sync took its start time but before it read the person's generation is
// covered by that sync (its dirty mark is in the generation, so no other sync follows): the sync
// must mark it converged, or it stays "queued" forever (issue 13, finding 8).
func TestEventQueuedForeverAfterSync(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		const email = "ada@example.test"
		cus := e.stripe.CreateCustomer(email, "Ada")
		e.stripe.Subscribe(cus, e.proPrice, 0)
		sent, first := e.deliver(0)
		pid := first.PersonID

		var mid store.IngestResult
		e.clock.arm(func() {
			// The sync has read the clock and not yet the generation: the course purchase arrives.
			e.stripe.Purchase(cus, e.coursePrice)
			sent, mid = e.deliver(sent)
		})
		if out := e.sync(pid); !out.Converged {
			t.Fatalf("sync did not converge: %+v", out)
		}
		if mid.PersonID != pid || mid.NeedsSync {
			t.Fatalf("the purchase found the sync waiting: got %+v, want person %d and no new sync", mid, pid)
		}
		// The sync covered the purchase: it read Stripe after it and granted the course.
		if got := e.circle.GroupMemberEmails(e.courseGroup); !slices.Contains(got, email) {
			t.Fatalf("course group %v: the sync did not cover the purchase", got)
		}
		p := e.person(pid)
		if p.SyncedGeneration != p.Generation || p.Queued {
			t.Fatalf("person synced %d of generation %d (queued %v): want settled, no sync follows", p.SyncedGeneration, p.Generation, p.Queued)
		}
		for id, state := range e.states(pid) {
			if state != store.EventProcessed {
				t.Errorf("event %s is %q after the sync that covered it, and no sync follows: want %q", id, state, store.EventProcessed)
			}
		}
	})
}

// An event whose transaction stamped its receipt time before a sync began but committed only after
// the sync read the generation (PostgreSQL commits out of order under READ COMMITTED) is not that
// sync's: its dirty mark asks for another sync (the dirty-mark re-run, DESIGN invariant 5), and it
// is marked converged by that one, not by the sync that never saw it.
func TestEventStoredMidSyncConvergesWithTheRerun(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		const email = "grace@example.test"
		cus := e.stripe.CreateCustomer(email, "Grace")
		sub := e.stripe.Subscribe(cus, e.proPrice, 0)
		sent, first := e.deliver(0)
		pid := first.PersonID
		e.sync(pid)

		before := e.clock.now() // before the next sync starts
		var mid store.IngestResult
		e.billing.after = func() {
			// The sync has read billing: the cancellation is not in what it saw.
			e.stripe.CancelNow(sub)
			e.clock.setBack(before)
			sent, mid = e.deliver(sent)
		}
		if _, err := e.engine.Sync(e.ctx, pid, "event", 1); err != nil {
			t.Fatal(err)
		}
		if !mid.NeedsSync {
			t.Fatalf("the cancellation arrived mid-sync: got %+v, want a new sync", mid)
		}
		p := e.person(pid)
		if p.SyncedGeneration >= p.Generation {
			t.Fatalf("person synced %d of generation %d: the mid-sync event must leave it dirty", p.SyncedGeneration, p.Generation)
		}
		cancel := e.stripe.Events()[sent-1].ID
		if got := e.states(pid)[cancel]; got != store.EventQueued {
			t.Fatalf("the cancellation is %q after a sync that never read it: want %q until its own sync", got, store.EventQueued)
		}
		if got := e.circle.GroupMemberEmails(e.proGroup); !slices.Contains(got, email) {
			t.Fatalf("pro group %v: the first sync saw an active subscription", got)
		}

		e.sync(pid) // the re-run the dirty mark enqueued
		if got := e.states(pid)[cancel]; got != store.EventProcessed {
			t.Errorf("the cancellation is %q after the sync that covered it: want %q", got, store.EventProcessed)
		}
		if got := e.circle.GroupMemberEmails(e.proGroup); slices.Contains(got, email) {
			t.Errorf("pro group %v: the re-run must revoke the canceled plan", got)
		}
		if p := e.person(pid); p.SyncedGeneration != p.Generation {
			t.Errorf("person synced %d of generation %d after the re-run", p.SyncedGeneration, p.Generation)
		}
	})
}

// A sync that both revokes and grants access removes first: no moment with access not paid for.
func TestSyncRevokesBeforeItGrants(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		const email = "lin@example.test"
		cus := e.stripe.CreateCustomer(email, "Lin")
		sub := e.stripe.Subscribe(cus, e.proPrice, 0)
		sent, first := e.deliver(0)
		pid := first.PersonID
		e.sync(pid)
		member, ok := e.circle.MemberByEmail(email)
		if !ok {
			t.Fatal("no Circle member after the first sync")
		}

		e.stripe.CancelNow(sub)
		e.stripe.Purchase(cus, e.coursePrice)
		e.deliver(sent)
		mark := len(e.circle.Faults.Mutations())
		if out := e.sync(pid); !out.Converged {
			t.Fatalf("sync did not converge: %+v", out)
		}
		var got []string
		for _, m := range e.circle.Faults.Mutations()[mark:] {
			got = append(got, m.Detail)
		}
		want := []string{
			"remove member " + itoa(member.ID) + " from access group " + itoa(e.proGroup),
			"add member " + itoa(member.ID) + " to access group " + itoa(e.courseGroup),
		}
		if !slices.Equal(got, want) {
			t.Errorf("Circle changes:\n got %q\nwant %q", got, want)
		}
	})
}

// Kit tags and onboarding that announce a plan wait for its Circle grant; once Circle confirms, the
// next sync sends them.
func TestKitWaitsForCircle(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		const email = "max@example.test"
		cus := e.stripe.CreateCustomer(email, "Max")
		e.stripe.Subscribe(cus, e.proPrice, 0)
		_, first := e.deliver(0)
		pid := first.PersonID

		e.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
		_, err := e.engine.Sync(e.ctx, pid, "event", 1)
		if err == nil {
			t.Fatal("sync with Circle down: want a retry error")
		}
		if got := e.kit.TagsOf(email); len(got) > 0 {
			t.Errorf("Kit tags %v while Circle has not granted access: want none", got)
		}
		if got := e.kit.SequencesOf(email); len(got) > 0 {
			t.Errorf("Kit sequences %v while Circle has not granted access: want none", got)
		}
		if got := e.states(pid); slices.Contains(mapValues(got), store.EventProcessed) {
			t.Errorf("events %v: none converged while the sync retries", got)
		}

		e.circle.Faults.Heal()
		if out := e.sync(pid); !out.Converged {
			t.Fatalf("sync after Circle recovered did not converge: %+v", out)
		}
		if got := e.circle.GroupMemberEmails(e.proGroup); !slices.Contains(got, email) {
			t.Errorf("pro group %v after Circle recovered", got)
		}
		if got := e.kit.TagsOf(email); !slices.Equal(got, []int64{e.tagActive}) {
			t.Errorf("Kit tags %v, want [%d]", got, e.tagActive)
		}
		if got := e.kit.SequencesOf(email); !slices.Equal(got, []int64{e.seqOnboarding}) {
			t.Errorf("Kit sequences %v, want [%d]", got, e.seqOnboarding)
		}
		for id, st := range e.states(pid) {
			if st != store.EventProcessed {
				t.Errorf("event %s is %q after the converged sync", id, st)
			}
		}
	})
}

// A retryable failure is reported to the worker as an error (not a review item), whatever wrapped it.
func TestSyncRetriesWhenStripeIsDown(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		cus := e.stripe.CreateCustomer("kim@example.test", "Kim")
		e.stripe.Subscribe(cus, e.proPrice, 0)
		_, first := e.deliver(0)
		e.stripe.Faults.FailFor(time.Hour, providertest.Fault{Status: 500})
		_, err := e.engine.Sync(e.ctx, first.PersonID, "event", 1)
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("sync with Stripe down: got %v, want a retry error", err)
		}
		if p := e.person(first.PersonID); p.SyncedGeneration == p.Generation {
			t.Errorf("person settled at generation %d by a sync that could not read billing", p.Generation)
		}
	})
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
