package converge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
)

// jobIDs numbers the jobs the tests hand to workers (the lease owner includes the job id).
var jobIDs atomic.Int64

// work runs one sync_person job of the person through a worker's Work method, as River would at the
// given attempt. The args type is inferred from the worker, so the test does not name it.
func work[T river.JobArgs](ctx context.Context, do func(context.Context, *river.Job[T]) error, personID int64, attempt int) error {
	encoded := fmt.Appendf(nil, `{"person_id":%d,"reason":"event"}`, personID)
	var args T
	if err := json.Unmarshal(encoded, &args); err != nil {
		return err
	}
	row := &rivertype.JobRow{ID: jobIDs.Add(1), Kind: "sync_person", Attempt: attempt, MaxAttempts: 25, EncodedArgs: encoded}
	return do(ctx, &river.Job[T]{JobRow: row, Args: args})
}

// withoutRetries makes the engine's Circle and Kit clients fail at the first error, so that a fault
// reaches the engine without in-process backoff.
func (e *env) withoutRetries() {
	e.engine.Circle = circle.New(circle.Config{BaseURL: e.circle.URL, Token: e.circle.Token, RequestsPerMinute: 600_000, MaxRetries: -1})
	e.engine.Kit = kit.New(kit.Config{BaseURL: e.kit.URL, APIKey: kittest.DefaultAPIKey, RequestsPerMinute: 600_000, MaxRetries: -1})
}

func (e *env) openReviewKinds(personID int64) []string {
	e.t.Helper()
	items, err := e.st.Reviews(e.ctx, "open", personID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	var kinds []string
	for _, it := range items {
		kinds = append(kinds, it.Kind+" "+it.ActionKey)
	}
	return kinds
}

func sorted(s []int64) []int64 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// An open review item for an action blocks only that action: the sync skips it (and the Kit actions
// gated on it), carries out every other one, and reports the person as not converged. Once the item
// is resolved, the next sync performs the action.
func TestBlockedActionKeyBlocksOnlyThatAction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		key  func(e *env) string
		// What the blocked sync leaves: Circle groups holding the person, and their Kit tags.
		wantGroups func(e *env) []int64
		wantTags   func(e *env) []int64
	}{
		{
			name:       "circle grant",
			key:        func(e *env) string { return fmt.Sprintf("circle:add_access_group:%d", e.courseGroup) },
			wantGroups: func(e *env) []int64 { return []int64{e.proGroup} },
			// The course tag announces a grant Circle has not confirmed: it waits too.
			wantTags: func(e *env) []int64 { return []int64{e.tagActive} },
		},
		{
			name:       "kit tag",
			key:        func(e *env) string { return fmt.Sprintf("kit:tag:%d", e.tagCourse) },
			wantGroups: func(e *env) []int64 { return []int64{e.proGroup, e.courseGroup} },
			wantTags:   func(e *env) []int64 { return []int64{e.tagActive} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachDialect(t, func(t *testing.T, e *env) {
				const email = "ida@example.test"
				cus := e.stripe.CreateCustomer(email, "Ida")
				e.stripe.Subscribe(cus, e.proPrice, 0)
				e.stripe.Purchase(cus, e.coursePrice)
				_, first := e.deliver(0)
				pid := first.PersonID
				key := tt.key(e)
				if _, err := e.st.OpenReview(e.ctx, store.ReviewItem{PersonID: pid, Kind: "action_failed", ActionKey: key, Reason: "test"}); err != nil {
					t.Fatal(err)
				}

				out := e.sync(pid)
				if out.Converged {
					t.Errorf("sync with %s blocked reported converged (actions %q)", key, out.Actions)
				}
				if slices.Contains(out.Actions, key) {
					t.Errorf("actions %q include the blocked %s", out.Actions, key)
				}
				groups := map[int64]bool{}
				for _, g := range []int64{e.proGroup, e.courseGroup} {
					groups[g] = slices.Contains(e.circle.GroupMemberEmails(g), email)
				}
				for _, g := range tt.wantGroups(e) {
					if !groups[g] {
						t.Errorf("access group %d not granted: only %s is blocked", g, key)
					}
					delete(groups, g)
				}
				for g, in := range groups {
					if in {
						t.Errorf("access group %d granted while %s is blocked", g, key)
					}
				}
				if got, want := sorted(e.kit.TagsOf(email)), sorted(tt.wantTags(e)); !slices.Equal(got, want) {
					t.Errorf("Kit tags %v with %s blocked, want %v", got, key, want)
				}
				if got := e.kit.SequencesOf(email); !slices.Equal(got, []int64{e.seqOnboarding}) {
					t.Errorf("Kit sequences %v: the Pro onboarding does not wait on %s", got, key)
				}
				if p := e.person(pid); p.SyncedGeneration != p.Generation {
					t.Errorf("person synced %d of generation %d: a blocked action waits on the review item, not on another sync",
						p.SyncedGeneration, p.Generation)
				}
				if got := e.states(pid); slices.Contains(mapValues(got), store.EventProcessed) {
					t.Errorf("events %v: none converged while an action is blocked", got)
				}

				if _, err := e.st.ResolveReviews(e.ctx, pid, "action_failed", "*", "test", "fixed"); err != nil {
					t.Fatal(err)
				}
				if out := e.sync(pid); !out.Converged {
					t.Fatalf("sync after the review item was resolved did not converge: %+v", out)
				}
				for _, g := range []int64{e.proGroup, e.courseGroup} {
					if !slices.Contains(e.circle.GroupMemberEmails(g), email) {
						t.Errorf("access group %d not granted after the review item was resolved", g)
					}
				}
				if got, want := sorted(e.kit.TagsOf(email)), sorted([]int64{e.tagActive, e.tagCourse}); !slices.Equal(got, want) {
					t.Errorf("Kit tags %v after the review item was resolved, want %v", got, want)
				}
			})
		})
	}
}

// A provider's 429 snoozes the job (River does not count a snooze as a failed attempt) for the
// provider's Retry-After, or the engine's RateLimitSnooze when it gave none; any other transient
// failure is returned as an error, which uses an attempt and backs off.
func TestRateLimitSnoozesTheJob(t *testing.T) {
	t.Parallel()
	const snooze = 45 * time.Second
	retryAfter := http.Header{"Retry-After": {"120"}}
	tests := []struct {
		name       string
		fault      func(e *env)
		wantSnooze time.Duration // 0: a plain error, not a snooze
		wantCircle bool          // the Circle grant is made (Kit never holds access back)
	}{
		{
			name:       "circle 429",
			fault:      func(e *env) { e.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 429}) },
			wantSnooze: circle.RateLimitWindow, // Circle's recommended wait, longer than the engine's snooze
		},
		{
			name:       "circle 429 with Retry-After",
			fault:      func(e *env) { e.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 429, Header: retryAfter}) },
			wantSnooze: 120 * time.Second,
		},
		// A Kit 429 does not snooze the sync: it hands Kit to its own job (kitjob_test.go).
		{
			name:  "circle 503",
			fault: func(e *env) { e.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503}) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachDialect(t, func(t *testing.T, e *env) {
				e.withoutRetries()
				e.engine.RateLimitSnooze = snooze
				w := &converge.Worker{Engine: e.engine}
				const email = "joy@example.test"
				cus := e.stripe.CreateCustomer(email, "Joy")
				e.stripe.Subscribe(cus, e.proPrice, 0)
				_, first := e.deliver(0)
				pid := first.PersonID

				tt.fault(e)
				err := work(e.ctx, w.Work, pid, 1)
				var snoozed *river.JobSnoozeError
				switch {
				case err == nil:
					t.Fatal("Work with a provider failing: got nil, want a snooze or an error")
				case tt.wantSnooze == 0 && errors.As(err, &snoozed):
					t.Fatalf("Work: got a snooze of %s, want an error that uses an attempt", snoozed.Duration)
				case tt.wantSnooze > 0 && !errors.As(err, &snoozed):
					t.Fatalf("Work: got %v, want a snooze of %s", err, tt.wantSnooze)
				case tt.wantSnooze > 0 && snoozed.Duration != tt.wantSnooze:
					t.Fatalf("Work snoozed %s, want %s", snoozed.Duration, tt.wantSnooze)
				}
				if got := slices.Contains(e.circle.GroupMemberEmails(e.proGroup), email); got != tt.wantCircle {
					t.Errorf("in the Pro group: %v, want %v", got, tt.wantCircle)
				}
				if p := e.person(pid); p.SyncedGeneration == p.Generation {
					t.Errorf("person settled at generation %d by a sync that must run again", p.Generation)
				}
				if got := e.openReviewKinds(pid); len(got) > 0 {
					t.Errorf("review items %q after one failed attempt: want none", got)
				}

				// The lease was given back: the next run of the job converges once the provider recovers.
				e.circle.Faults.Heal()
				e.kit.Faults.Heal()
				e.withoutRetries() // fresh budgets: the 429's pause is over
				if err := work(e.ctx, w.Work, pid, 1); err != nil {
					t.Fatalf("Work after the provider recovered: %v", err)
				}
				if got := e.kit.TagsOf(email); !slices.Equal(got, []int64{e.tagActive}) {
					t.Errorf("Kit tags %v after the provider recovered, want [%d]", got, e.tagActive)
				}
			})
		})
	}
}

// A job for a person whose sync already runs elsewhere (the lease is held) snoozes without calling
// any provider and runs after it: two syncs of one person never run at once, and the second one
// still follows (DESIGN invariant 5). A job for a person merged away is cancelled.
func TestWorkerFollowsARunningSync(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		w := &converge.Worker{Engine: e.engine}
		const email = "kai@example.test"
		cus := e.stripe.CreateCustomer(email, "Kai")
		e.stripe.Subscribe(cus, e.proPrice, 0)
		_, first := e.deliver(0)
		pid := first.PersonID

		if ok, err := e.st.AcquireLease(e.ctx, pid, "another worker", time.Minute); err != nil || !ok {
			t.Fatalf("taking the lease: %v, %v", ok, err)
		}
		mark := len(e.circle.Faults.Mutations())
		err := work(e.ctx, w.Work, pid, 1)
		var snoozed *river.JobSnoozeError
		if !errors.As(err, &snoozed) {
			t.Fatalf("Work while another sync holds the lease: got %v, want a snooze", err)
		}
		if n := len(e.circle.Faults.Mutations()) - mark; n > 0 {
			t.Errorf("%d Circle change(s) by a sync that had no lease", n)
		}
		if p := e.person(pid); p.SyncedGeneration == p.Generation {
			t.Errorf("person settled at generation %d by a sync that did not run", p.Generation)
		}

		if err := e.st.ReleaseLease(e.ctx, pid, "another worker"); err != nil {
			t.Fatal(err)
		}
		if err := work(e.ctx, w.Work, pid, 1); err != nil {
			t.Fatalf("Work once the lease was free: %v", err)
		}
		if got := e.circle.GroupMemberEmails(e.proGroup); !slices.Contains(got, email) {
			t.Errorf("Pro group %v after the job followed the running sync", got)
		}

		err = work(e.ctx, w.Work, pid+1000, 1)
		var cancelled *river.JobCancelError
		if !errors.As(err, &cancelled) {
			t.Errorf("Work for a person that no longer exists: got %v, want the job cancelled", err)
		}
	})
}

// syncJob reads a sync_person job's arguments as they are stored, whatever Go type inserted them.
type syncJob struct {
	PersonID int64  `json:"person_id"`
	Reason   string `json:"reason"`
	At       int64  `json:"at"`
}

// recordingQueue passes the engine's job inserts on to River and records them.
type recordingQueue struct {
	next interface {
		Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
	}
	mu      sync.Mutex
	inserts []recordedInsert // guarded by mu
}

type recordedInsert struct {
	kind string
	args syncJob
	raw  river.JobArgs
	opts river.InsertOpts
}

func (q *recordingQueue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	enc, err := json.Marshal(args)
	if err != nil {
		return err
	}
	rec := recordedInsert{kind: args.Kind(), raw: args}
	if err := json.Unmarshal(enc, &rec.args); err != nil {
		return err
	}
	if opts != nil {
		rec.opts = *opts
	}
	q.mu.Lock()
	q.inserts = append(q.inserts, rec)
	q.mu.Unlock()
	return q.next.Insert(ctx, args, opts)
}

// A sync whose answer changes by the clock alone (a subscription canceled at period end) schedules
// a sync of the person one second after that instant, unique by its arguments.
func TestSyncSchedulesTheNextChange(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		q := &recordingQueue{next: e.engine.Queue}
		e.engine.Queue = q
		cus := e.stripe.CreateCustomer("lea@example.test", "Lea")
		sub := e.stripe.Subscribe(cus, e.proPrice, 0)
		e.stripe.CancelAtPeriodEnd(sub)
		_, first := e.deliver(0)
		pid := first.PersonID

		out := e.sync(pid)
		if out.Desired.NextChange.IsZero() {
			t.Fatal("a subscription canceled at period end: want a next change at the period end")
		}
		at := out.Desired.NextChange.Add(time.Second)
		if len(q.inserts) != 1 {
			t.Fatalf("the sync inserted %d jobs, want 1 (the timer): %+v", len(q.inserts), q.inserts)
		}
		got := q.inserts[0]
		if want := (syncJob{PersonID: pid, Reason: "timer", At: at.Unix()}); got.kind != "sync_person" || got.args != want {
			t.Errorf("timer job %s %+v, want sync_person %+v", got.kind, got.args, want)
		}
		if !got.opts.ScheduledAt.Equal(at) || !got.opts.UniqueOpts.ByArgs {
			t.Errorf("timer job scheduled at %s (unique by args: %v), want %s, unique by args",
				got.opts.ScheduledAt, got.opts.UniqueOpts.ByArgs, at)
		}
		if n, err := e.st.JobCount(e.ctx, "sync_person", string(rivertype.JobStateScheduled)); err != nil || n != 1 {
			t.Errorf("scheduled sync_person jobs in the queue: %d (%v), want 1", n, err)
		}
	})
}
