package converge_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/membersync/membersync/internal/budget"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
)

// kitJobs returns the sync_kit jobs the engine inserted.
func kitJobs(q *recordingQueue) []recordedInsert {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []recordedInsert
	for _, in := range q.inserts {
		if in.kind == "sync_kit" {
			out = append(out, in)
		}
	}
	return out
}

// runKit runs one sync_kit job of args through the Kit worker.
func runKit(e *env, args converge.KitArgs) error {
	w := &converge.KitWorker{Engine: e.engine}
	row := &rivertype.JobRow{ID: jobIDs.Add(1), Kind: args.Kind(), Attempt: 1, MaxAttempts: 25}
	return w.Work(e.ctx, &river.Job[converge.KitArgs]{JobRow: row, Args: args})
}

// When Kit cannot take a call now, a sync does not wait for it nor retry as a whole (re-reading
// Stripe): Circle access is granted and settled, and the Kit step goes to a sync_kit job due when
// Kit's budget has room. That job converges Kit without Stripe, waits out a pause by snoozing
// (sending nothing), and settles the events once Kit is done. Two causes: a 429 that paused Kit's
// budget, and a budget spent by earlier buyers (a launch), where the sync sends Kit nothing at all.
func TestKitThrottleHandsKitToItsJob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// throttle makes Kit unable to take a call now and returns the wait the Kit job should
		// be due after (at least).
		throttle func(e *env) time.Duration
		// kitCallsInSync is how many calls the sync sent Kit.
		kitCallsInSync int
	}{
		{
			name: "kit 429",
			throttle: func(e *env) time.Duration {
				e.kit.Faults.FailFor(time.Hour, providertest.Fault{Status: 429})
				return kit.RateLimitWindow
			},
			kitCallsInSync: 1, // the 429, which paused the budget
		},
		{
			name: "budget spent",
			throttle: func(e *env) time.Duration {
				// One request a minute, already spent: the next slot is a minute away.
				b := budget.NewMemory(budget.Rate{PerMinute: 1, Burst: 1}, nil)
				if _, err := b.Take(e.ctx, 0); err != nil {
					e.t.Fatal(err)
				}
				e.engine.Kit = kit.New(kit.Config{BaseURL: e.kit.URL, APIKey: kittest.DefaultAPIKey, Budget: b, MaxRetries: -1})
				return 50 * time.Second
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachDialect(t, func(t *testing.T, e *env) {
				e.withoutRetries()
				q := &recordingQueue{next: e.engine.Queue}
				e.engine.Queue = q
				const email = "kim@example.test"
				cus := e.stripe.CreateCustomer(email, "Kim")
				e.stripe.Subscribe(cus, e.proPrice, 0)
				_, first := e.deliver(0)
				pid := first.PersonID
				atLeast := tt.throttle(e)
				e.kitCalls()

				before := time.Now()
				if err := work(e.ctx, (&converge.Worker{Engine: e.engine}).Work, pid, 1); err != nil {
					t.Fatalf("the sync with Kit throttled: %v, want done (Circle converged, Kit handed off)", err)
				}
				if !slices.Contains(e.circle.GroupMemberEmails(e.proGroup), email) {
					t.Fatal("no Circle access: Kit's throttle held access back")
				}
				if n := total(e.kitCalls()); n != tt.kitCallsInSync {
					t.Errorf("the sync sent Kit %d call(s), want %d", n, tt.kitCallsInSync)
				}
				if p := e.person(pid); p.SyncedGeneration != p.Generation {
					t.Errorf("person at generation %d synced %d: the sync, done with Circle, must settle it", p.Generation, p.SyncedGeneration)
				}
				if got := e.openReviewKinds(pid); len(got) > 0 {
					t.Errorf("review items %q for a throttle: want none", got)
				}
				for id, st := range e.states(pid) {
					if st != store.EventQueued {
						t.Errorf("event %s is %q before Kit is converged, want queued", id, st)
					}
				}
				jobs := kitJobs(q)
				if len(jobs) != 1 {
					t.Fatalf("%d sync_kit job(s) inserted, want 1", len(jobs))
				}
				args := jobs[0].raw.(converge.KitArgs)
				if args.PersonID != pid || len(args.Events) == 0 {
					t.Fatalf("sync_kit args %+v: want person %d and the sync's events", args, pid)
				}
				if due := jobs[0].opts.ScheduledAt.Sub(before); due < atLeast {
					t.Errorf("the Kit job is due in %s, want at least %s (when Kit has room)", due, atLeast)
				}

				// Due too early (Kit still throttled), the job snoozes and sends nothing.
				err := runKit(e, args)
				var snoozed *river.JobSnoozeError
				if !errors.As(err, &snoozed) || snoozed.Duration < atLeast {
					t.Fatalf("the Kit job with Kit throttled: %v, want a snooze of at least %s", err, atLeast)
				}
				if n := total(e.kitCalls()); n != 0 {
					t.Errorf("the snoozed Kit job sent Kit %d call(s)", n)
				}

				// Once Kit has room, the job converges Kit and settles the events.
				e.kit.Faults.Heal()
				e.withoutRetries()
				if err := runKit(e, args); err != nil {
					t.Fatalf("the Kit job once Kit has room: %v", err)
				}
				if got := e.kit.TagsOf(email); !slices.Equal(got, []int64{e.tagActive}) {
					t.Errorf("Kit tags %v, want [%d]", got, e.tagActive)
				}
				if !slices.Contains(e.kit.SequencesOf(email), e.seqOnboarding) {
					t.Error("not enrolled in onboarding")
				}
				for id, st := range e.states(pid) {
					if st != store.EventProcessed {
						t.Errorf("event %s is %q after Kit converged, want processed", id, st)
					}
				}
				// A second run (a duplicate job) finds nothing to do.
				e.kitCalls()
				if err := runKit(e, args); err != nil {
					t.Fatal(err)
				}
				if n := total(e.kitCalls()); n != 0 {
					t.Errorf("a repeated Kit job sent %d call(s)", n)
				}
			})
		})
	}
}

// spendable lets n requests through, then answers that the next slot is a minute away.
type spendable struct{ n atomic.Int64 }

func (b *spendable) Take(context.Context, time.Duration) (time.Duration, error) {
	if b.n.Add(-1) < 0 {
		return 0, &budget.Over{Wait: time.Minute}
	}
	return 0, nil
}
func (b *spendable) Pause(context.Context, time.Duration) error    { return nil }
func (b *spendable) Paused(context.Context) (time.Duration, error) { return 0, nil }

// An email change whose Kit step is handed off after the old address was untagged: the Kit job
// must create (or find) the new address's subscriber before it tags it, not tag an address Kit does
// not know (404, a review item that says "never succeeds") because the person's subscriber id still
// looked current once the old address's grants were gone.
func TestHandedOffKitStepAfterAnEmailChangeLinksTheNewAddress(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		e.withoutRetries()
		// The course: a tag and no sequence, whose enrollment would keep the old address's
		// subscriber id in the applied state.
		cus := e.stripe.CreateCustomer("old@example.test", "Olga")
		e.stripe.Purchase(cus, e.coursePrice)
		n, first := e.deliver(0)
		pid := first.PersonID
		if out := e.sync(pid); !out.Converged {
			t.Fatalf("first sync: %+v", out)
		}

		e.stripe.ChangeEmail(cus, "new@example.test")
		e.deliver(n)
		q := &recordingQueue{next: e.engine.Queue}
		e.engine.Queue = q
		b := &spendable{}
		b.n.Store(1) // the untag of the old address, then Kit is spent
		e.engine.Kit = kit.New(kit.Config{BaseURL: e.kit.URL, APIKey: kittest.DefaultAPIKey, Budget: b, MaxRetries: -1})
		if err := work(e.ctx, (&converge.Worker{Engine: e.engine}).Work, pid, 1); err != nil {
			t.Fatal(err)
		}
		if got := e.kit.TagsOf("old@example.test"); len(got) != 0 {
			t.Fatalf("the old address keeps tags %v", got)
		}
		jobs := kitJobs(q)
		if len(jobs) != 1 {
			t.Fatalf("%d sync_kit jobs, want 1", len(jobs))
		}

		e.withoutRetries()
		if err := runKit(e, jobs[0].raw.(converge.KitArgs)); err != nil {
			t.Fatal(err)
		}
		if got := e.openReviewKinds(pid); len(got) > 0 {
			t.Fatalf("review items %q after the Kit job: want none", got)
		}
		if got := e.kit.TagsOf("new@example.test"); !slices.Equal(got, []int64{e.tagCourse}) {
			t.Errorf("the new address has Kit tags %v, want [%d]", got, e.tagCourse)
		}
	})
}
