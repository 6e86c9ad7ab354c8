package backfill_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/backfill"
	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

type env struct {
	t      *testing.T
	ctx    context.Context
	st     *store.Store
	stripe *stripetest.Server
	q      *queue.Queue
	b      *backfill.Backfiller
}

// newEnv is a store, a fake Stripe that serves at most 3 events a page (so that a backfill pages),
// and a backfiller on the fake's clock.
func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background()}
	e.st = storetest.Open(t, dialect)
	e.stripe = stripetest.New(stripetest.Options{MaxPageSize: 3})
	t.Cleanup(e.stripe.Close)
	e.st.Now = e.stripe.Now
	q, err := queue.New(e.st, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.q = q
	reader := billing.NewReader(billing.Config{SecretKey: e.stripe.SecretKey(), BaseURL: e.stripe.URL})
	e.b = &backfill.Backfiller{Store: e.st, Stripe: reader, Queue: q, Log: slog.New(slog.DiscardHandler), Now: e.stripe.Now}
	return e
}

// business makes a few customers do what customers do; it returns how many customers it made.
func (e *env) business() int {
	price := e.stripe.CreatePrice(e.stripe.CreateProduct("Pro"), 2900, true)
	course := e.stripe.CreatePrice(e.stripe.CreateProduct("Course"), 9900, false)
	a := e.stripe.CreateCustomer("a@example.com", "")
	sub := e.stripe.Subscribe(a, price, 0)
	e.stripe.FailPayment(sub)
	e.stripe.RecoverPayment(sub)
	b := e.stripe.CreateCustomer("b@example.com", "")
	_, ch := e.stripe.Purchase(b, course)
	e.stripe.Refund(ch, 0)
	c := e.stripe.CreateCustomer("c@example.com", "")
	e.stripe.CancelAtPeriodEnd(e.stripe.Subscribe(c, price, 7))
	return 3
}

func (e *env) allIDs() []string {
	var out []string
	for _, ev := range e.stripe.Events() {
		out = append(out, ev.ID)
	}
	slices.Sort(out)
	return out
}

func (e *env) storedIDs() []string {
	e.t.Helper()
	ids, err := e.st.EventIDs(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}

// deliver stores events through the inbox as webhook deliveries.
func (e *env) deliver(events []stripetest.Event) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.ctx)
	defer cancel()
	in := inbox.New(e.st, e.q, slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for _, ev := range events {
		env, err := inbox.ParseEnvelope(ev.JSON)
		if err != nil {
			e.t.Fatal(err)
		}
		if _, err := in.Accept(ctx, store.Event{ID: env.ID, Type: env.Type, CustomerID: env.CustomerID, APIVersion: env.APIVersion,
			Created: env.Created, Livemode: env.Livemode, Source: "webhook", Actionable: inbox.Actionable(env.Type), Payload: ev.JSON}); err != nil {
			e.t.Fatal(err)
		}
	}
}

// counts is what a backfill may change besides the events.
type counts struct{ events, people, jobs int }

func (e *env) counts() counts {
	e.t.Helper()
	var c counts
	var err error
	c.events = len(e.storedIDs())
	if c.people, err = e.st.PeopleCount(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	if c.jobs, err = e.st.JobCount(e.ctx, converge.SyncArgs{}.Kind()); err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestBackfillRecoversMissedEvents(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, dialect)
			customers := e.business()
			all := e.allIDs()

			res, err := e.b.Run(e.ctx, backfill.Options{Since: 72 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if got := e.storedIDs(); !slices.Equal(got, all) {
				t.Fatalf("stored %d events, want the %d Stripe has:\n got %v\nwant %v", len(got), len(all), got, all)
			}
			if !res.Complete || res.Resumed || res.Processed != len(all) || res.Accepted+res.Ignored != len(all) || res.Duplicates != 0 || res.Accepted == 0 {
				t.Errorf("result %+v: want complete, %d processed, none duplicate", res, len(all))
			}
			c := e.counts()
			if c.people != customers || c.jobs != customers {
				t.Errorf("%d people and %d sync jobs, want %d of each", c.people, c.jobs, customers)
			}
			ev, err := e.st.Event(e.ctx, all[len(all)-1])
			if err != nil || ev.Source != "backfill" {
				t.Errorf("event source %q (%v), want backfill", ev.Source, err)
			}
			run, err := e.st.LatestBackfill(e.ctx, "")
			if err != nil || run.Status != store.BackfillComplete || run.LastEventID != res.LastEventID || run.Processed != len(all) {
				t.Errorf("recorded run %+v (%v)", run, err)
			}
		})
	}
}

func TestBackfillOverReceivedEventsDoesNothing(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, dialect)
			e.business()
			e.deliver(e.stripe.Events())
			before := e.counts()

			res, err := e.b.Run(e.ctx, backfill.Options{Since: 72 * time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if res.Accepted != 0 || res.Ignored != 0 || res.Duplicates != before.events || !res.Complete {
				t.Errorf("result %+v, want %d duplicates and nothing else", res, before.events)
			}
			if after := e.counts(); after != before {
				t.Errorf("the backfill changed the store: %+v → %+v", before, after)
			}
		})
	}
}

// TestBackfillResumes interrupts a backfill midway and runs it again: every event is stored once,
// the second run starts right after the first one's last event, and only a run that reached the end
// is recorded complete.
func TestBackfillResumes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// interrupt is called after each event the first run processes; it breaks the run after the
		// fifth.
		interrupt func(e *env, cancel context.CancelFunc, processed int)
		wantErr   func(error) bool
	}{
		{
			name: "context canceled",
			interrupt: func(e *env, cancel context.CancelFunc, n int) {
				if n == 5 {
					cancel()
				}
			},
			wantErr: func(err error) bool { return errors.Is(err, context.Canceled) },
		},
		{
			name: "Stripe fails",
			interrupt: func(e *env, cancel context.CancelFunc, n int) {
				if n == 5 {
					e.stripe.Faults.FailFor(time.Hour, providertest.Fault{Status: 500})
				}
			},
			wantErr: func(err error) bool { return err != nil && !errors.Is(err, context.Canceled) },
		},
	}
	for _, tt := range tests {
		for _, dialect := range storetest.Dialects() {
			t.Run(tt.name+"/"+dialect, func(t *testing.T) {
				t.Parallel()
				e := newEnv(t, dialect)
				e.business()
				all := e.allIDs()
				ctx, cancel := context.WithCancel(e.ctx)
				defer cancel()
				first, err := e.b.Run(ctx, backfill.Options{Since: 72 * time.Hour, Progress: func(p backfill.Progress) {
					tt.interrupt(e, cancel, p.Processed)
				}})
				if !tt.wantErr(err) {
					t.Fatalf("first run: %v", err)
				}
				run, err := e.st.LatestBackfill(e.ctx, "")
				if err != nil || run.Status != store.BackfillFailed || run.LastEventID != first.LastEventID || first.Complete {
					t.Fatalf("after the interruption the run is %+v (%v), want failed at %s", run, err, first.LastEventID)
				}
				stored := e.storedIDs()
				if len(stored) != first.Processed || first.Processed < 5 || first.Processed >= len(all) {
					t.Fatalf("first run stored %d events, processed %d of %d", len(stored), first.Processed, len(all))
				}
				e.stripe.Faults.Heal()

				second, err := e.b.Run(e.ctx, backfill.Options{Since: 72 * time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				if !second.Resumed || second.AfterID != first.LastEventID || second.RunID != first.RunID {
					t.Errorf("second run %+v did not resume run %d after %s", second, first.RunID, first.LastEventID)
				}
				if second.Duplicates != 0 || first.Processed+second.Processed != len(all) {
					t.Errorf("processed %d then %d (%d duplicates), want %d in all with none twice", first.Processed, second.Processed, second.Duplicates, len(all))
				}
				if got := e.storedIDs(); !slices.Equal(got, all) {
					t.Errorf("stored events after the resume:\n got %v\nwant %v", got, all)
				}
				run, err = e.st.LatestBackfill(e.ctx, "")
				if err != nil || run.Status != store.BackfillComplete || run.Processed != len(all) {
					t.Errorf("after the resume the run is %+v (%v), want complete with %d processed", run, err, len(all))
				}

				third, err := e.b.Run(e.ctx, backfill.Options{Since: 72 * time.Hour})
				if err != nil || third.Resumed || third.Duplicates != len(all) || third.RunID == first.RunID {
					t.Errorf("a run after a complete one: %+v (%v), want a new run seeing %d duplicates", third, err, len(all))
				}
			})
		}
	}
}

func TestBackfillOptions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, store.SQLite)
	e.business()
	all := e.stripe.Events()

	t.Run("dry run counts and stores nothing", func(t *testing.T) {
		e.deliver(all[:4])
		before := e.counts()
		res, err := e.b.Run(e.ctx, backfill.Options{Since: 72 * time.Hour, DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.Processed != len(all) || res.New != len(all)-4 || res.Duplicates != 4 || res.Accepted != 0 {
			t.Errorf("dry run %+v, want %d events, %d new", res, len(all), len(all)-4)
		}
		if after := e.counts(); after != before {
			t.Errorf("a dry run changed the store: %+v → %+v", before, after)
		}
		if _, err := e.st.LatestBackfill(e.ctx, ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a dry run recorded a run: %v", err)
		}
	})
	t.Run("types filter", func(t *testing.T) {
		types := []string{"invoice.payment_failed", "charge.refunded"}
		want := 0
		for _, ev := range all {
			if slices.Contains(types, ev.Type) {
				want++
			}
		}
		res, err := e.b.Run(e.ctx, backfill.Options{Since: 72 * time.Hour, Types: types})
		if err != nil {
			t.Fatal(err)
		}
		if res.Processed != want || want == 0 || len(res.ByType) != 2 {
			t.Errorf("types filter: %+v, want %d events of %v", res, want, types)
		}
		if _, err := e.st.LatestBackfill(e.ctx, "charge.refunded,invoice.payment_failed"); err != nil {
			t.Errorf("the run is not recorded under its sorted types: %v", err)
		}
	})
	for _, bad := range []backfill.Options{
		{Since: 31 * 24 * time.Hour},
		{Since: 0},
		{Since: time.Hour, Types: make([]string, 21)},
		{Since: time.Hour, Types: []string{"a,b"}},
	} {
		if _, err := e.b.Run(e.ctx, bad); err == nil {
			t.Errorf("Run(%+v) accepted", bad)
		}
	}
}

func TestCheckEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		setup      func(e *env)
		wantBroken bool
		wantSeen   bool // Stripe's latest event exists
	}{
		{name: "no events", setup: func(e *env) {}},
		{name: "latest delivered", wantSeen: true, setup: func(e *env) {
			e.business()
			e.deliver(e.stripe.Events())
			e.stripe.Advance(5 * time.Hour)
		}},
		{name: "latest undelivered but recent", wantSeen: true, setup: func(e *env) {
			e.business()
			e.stripe.Advance(10 * time.Minute)
		}},
		{name: "nothing delivered for hours", wantSeen: true, wantBroken: true, setup: func(e *env) {
			e.business()
			evs := e.stripe.Events()
			e.deliver(evs[:3])
			e.stripe.Advance(3 * time.Hour)
		}},
		{name: "backfilled but never delivered", wantSeen: true, wantBroken: true, setup: func(e *env) {
			e.business()
			if _, err := e.b.Run(e.ctx, backfill.Options{Since: time.Hour}); err != nil {
				e.t.Fatal(err)
			}
			e.stripe.Advance(3 * time.Hour)
		}},
		{name: "deliveries after the latest event", wantSeen: true, setup: func(e *env) {
			e.business()
			evs := e.stripe.Events()
			e.stripe.Advance(2 * time.Hour)
			e.deliver(evs[:len(evs)-1]) // received now, after the last one was created
			e.stripe.Advance(2 * time.Hour)
		}},
		{name: "latest is a type not acted on", wantSeen: true, setup: func(e *env) {
			e.business()
			e.stripe.CreateProduct("Another") // product.created
			e.stripe.Advance(5 * time.Hour)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, store.SQLite)
			tt.setup(e)
			st, err := e.b.CheckEndpoint(e.ctx, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if st.Broken != tt.wantBroken || (st.LatestEventID != "") != tt.wantSeen || st.Reason == "" {
				t.Errorf("status %+v, want broken %t", st, tt.wantBroken)
			}
		})
	}
}
