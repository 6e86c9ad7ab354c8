package drift_test

import (
	"context"
	"log/slog"
	"slices"
	"testing"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// env is a store and fake Stripe, Circle and Kit over real HTTP, with the production clients, the
// sync engine (run by hand, in place of the workers) and a sweeper.
type env struct {
	t       testing.TB
	ctx     context.Context
	st      *store.Store
	stripe  *stripetest.Server
	circle  *circletest.Server
	kit     *kittest.Server
	billing *billing.Reader
	q       *queue.Queue
	engine  *converge.Engine
	sweeper *drift.Sweeper
	plans   []config.Plan

	proPrice    string
	proGroup    int64
	courseGroup int64
	tagActive   int64
	tagCanceled int64
}

func newEnv(t testing.TB, dialect string) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background()}
	e.st = storetest.Open(t, dialect)
	e.stripe = stripetest.New(stripetest.Options{})
	e.circle = circletest.New(circletest.Options{})
	e.kit = kittest.New(kittest.Options{RateLimit: -1})
	t.Cleanup(func() { e.stripe.Close(); e.circle.Close(); e.kit.Close() })
	e.st.Now = e.stripe.Now

	e.proGroup = e.circle.AddAccessGroup("Pro")
	e.courseGroup = e.circle.AddAccessGroup("Course")
	e.tagActive = e.kit.CreateTag("pro-active")
	e.tagCanceled = e.kit.CreateTag("pro-canceled")
	e.proPrice = e.stripe.CreatePrice(e.stripe.CreateProduct("Pro"), 2900, true)
	coursePrice := e.stripe.CreatePrice(e.stripe.CreateProduct("Course"), 19900, false)
	e.plans = []config.Plan{
		{ID: "pro", Name: "Pro", Stripe: config.PlanStripe{Prices: []string{e.proPrice}},
			Circle: config.PlanCircle{AccessGroups: []int64{e.proGroup}},
			Kit:    config.PlanKit{Tags: map[string]int64{"active": e.tagActive, "canceling": e.tagActive, "canceled": e.tagCanceled}}},
		{ID: "course", Name: "Course", Stripe: config.PlanStripe{Prices: []string{coursePrice}},
			Circle: config.PlanCircle{AccessGroups: []int64{e.courseGroup}}},
	}

	e.billing = billing.NewReader(billing.Config{SecretKey: e.stripe.SecretKey(), BaseURL: e.stripe.URL})
	cc := circle.New(circle.Config{BaseURL: e.circle.URL, Token: e.circle.Token, RequestsPerMinute: 600_000})
	kc := kit.New(kit.Config{BaseURL: e.kit.URL, APIKey: kittest.DefaultAPIKey, RequestsPerMinute: 600_000})
	q, err := queue.New(e.st, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.q = q
	log := slog.New(slog.DiscardHandler)
	e.engine = &converge.Engine{Store: e.st, Billing: e.billing, Circle: cc, Kit: kc, Queue: q, Plans: e.plans,
		Log: log, Now: e.stripe.Now, HashKey: []byte("test")}
	e.sweeper = &drift.Sweeper{Store: e.st, Circle: cc, Kit: kc, Billing: e.billing, Queue: q, Plans: e.plans,
		Log: log, Now: e.stripe.Now}
	return e
}

// customer creates a Stripe customer, optionally subscribed to Pro, brings it under management and
// syncs it: the person is in step with the providers.
func (e *env) customer(email string, subscribe bool) (personID int64, subID string) {
	e.t.Helper()
	cus := e.stripe.CreateCustomer(email, "")
	if subscribe {
		subID = e.stripe.Subscribe(cus, e.proPrice, 0)
	}
	err := e.st.InTx(e.ctx, func(tx *store.Tx) error {
		var err error
		personID, _, err = tx.PersonForCustomer(e.ctx, cus)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.sync(personID)
	return personID, subID
}

// sync runs one person's sync as a worker would.
func (e *env) sync(personID int64) {
	e.t.Helper()
	if _, err := e.engine.Sync(e.ctx, personID, "test", 1); err != nil {
		e.t.Fatalf("sync of person %d: %v", personID, err)
	}
}

// trigger marks a person dirty (a sync is then pending).
func (e *env) trigger(personID int64) {
	e.t.Helper()
	err := e.st.InTx(e.ctx, func(tx *store.Tx) error {
		_, err := tx.Trigger(e.ctx, personID)
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// queued returns the people marked with a sync waiting, and checks that as many sync jobs wait.
func (e *env) queued() []int64 {
	e.t.Helper()
	var out []int64
	for _, pid := range e.people() {
		p, err := e.st.Person(e.ctx, pid)
		if err != nil {
			e.t.Fatal(err)
		}
		if p.Queued {
			out = append(out, pid)
		}
	}
	jobs, err := e.st.JobCount(e.ctx, converge.SyncArgs{}.Kind(), "available")
	if err != nil {
		e.t.Fatal(err)
	}
	if jobs != len(out) {
		e.t.Errorf("%d sync jobs wait for %d people marked queued", jobs, len(out))
	}
	return out
}

// people returns every person id (small stores).
func (e *env) people() []int64 {
	var out []int64
	err := e.st.EachSweepPerson(e.ctx, func(p store.SweepPerson) error {
		out = append(out, p.ID)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func (e *env) inGroup(group int64, email string) bool {
	return slices.Contains(e.circle.GroupMemberEmails(group), email)
}

func (e *env) hasTag(tag int64, email string) bool {
	return slices.Contains(e.kit.TagsOf(email), tag)
}
