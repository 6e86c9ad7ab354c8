package drift_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// driftCase is one kind of drift made behind membersync's back, and how to tell it was repaired.
type driftCase struct {
	name  string
	kind  drift.Kind
	email string
	// make creates the person (in step) and the drift; it returns the person (0 for an unknown
	// member or subscriber) and the group or tag concerned.
	make func(e *env, email string) (personID, target int64)
	// fixed reports whether the providers hold the desired state again after the repairing sync.
	fixed func(e *env, email string) bool
}

func driftCases() []driftCase {
	return []driftCase{
		{
			name: "access removed by hand", kind: drift.PaidNoAccess, email: "alice@example.com",
			make: func(e *env, email string) (int64, int64) {
				pid, _ := e.customer(email, true)
				must(e.t, e.circle.RemoveFromGroupDirect(e.proGroup, email))
				return pid, e.proGroup
			},
			fixed: func(e *env, email string) bool { return e.inGroup(e.proGroup, email) },
		},
		{
			name: "access granted by hand after cancellation", kind: drift.AccessWithoutEntitlement, email: "bob@example.com",
			make: func(e *env, email string) (int64, int64) {
				pid, sub := e.customer(email, true)
				e.stripe.CancelNow(sub)
				e.sync(pid)
				if e.inGroup(e.proGroup, email) {
					e.t.Fatal("the sync did not revoke a canceled subscription's access")
				}
				must(e.t, e.circle.AddToGroupDirect(e.proGroup, email))
				return pid, e.proGroup
			},
			fixed: func(e *env, email string) bool { return !e.inGroup(e.proGroup, email) },
		},
		{
			name: "tag removed in Kit", kind: drift.MissingTag, email: "carol@example.com",
			make: func(e *env, email string) (int64, int64) {
				pid, _ := e.customer(email, true)
				if !e.kit.UntagDirect(e.tagActive, email) {
					e.t.Fatal("the sync did not tag an active subscriber")
				}
				return pid, e.tagActive
			},
			fixed: func(e *env, email string) bool { return e.hasTag(e.tagActive, email) },
		},
		{
			name: "managed tag added in Kit", kind: drift.ExtraTag, email: "dave@example.com",
			make: func(e *env, email string) (int64, int64) {
				pid, _ := e.customer(email, true)
				must(e.t, e.kit.TagDirect(e.tagCanceled, email))
				return pid, e.tagCanceled
			},
			fixed: func(e *env, email string) bool {
				return !e.hasTag(e.tagCanceled, email) && e.hasTag(e.tagActive, email)
			},
		},
		{
			name: "stranger in a managed group", kind: drift.UnknownMember, email: "eve@example.com",
			make: func(e *env, email string) (int64, int64) {
				e.circle.CreateMemberDirect(email, "Eve")
				must(e.t, e.circle.AddToGroupDirect(e.courseGroup, email))
				return 0, e.courseGroup
			},
			fixed: func(e *env, email string) bool { return e.inGroup(e.courseGroup, email) }, // reported, never touched
		},
		{
			name: "stranger with a managed tag", kind: drift.UnknownSubscriber, email: "mallory@example.com",
			make: func(e *env, email string) (int64, int64) {
				must(e.t, e.kit.TagDirect(e.tagActive, email))
				return 0, e.tagActive
			},
			fixed: func(e *env, email string) bool { return e.hasTag(e.tagActive, email) }, // reported, never touched
		},
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// key names a difference for comparison.
func key(kind drift.Kind, personID, target int64, email string) string {
	return fmt.Sprintf("%s person=%d target=%d %s", kind, personID, target, email)
}

func keys(rep drift.Report) []string {
	var out []string
	for _, d := range rep.Differences {
		email := ""
		if d.PersonID == 0 {
			email = d.Email
		}
		out = append(out, key(d.Kind, d.PersonID, d.Target, email))
	}
	slices.Sort(out)
	return out
}

func TestSweepDetectsAndRepairsEachKind(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			e.customer("grace@example.com", true) // in step: never reported
			var want []string
			drifted := map[int64]bool{}
			cases := driftCases()
			for _, c := range cases {
				pid, target := c.make(e, c.email)
				email := ""
				if pid == 0 {
					email = c.email
				} else {
					drifted[pid] = true
				}
				want = append(want, key(c.kind, pid, target, email))
			}
			slices.Sort(want)

			rep, err := e.sweeper.Run(e.ctx, drift.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(rep); !slices.Equal(got, want) {
				t.Fatalf("differences:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
			}
			for _, c := range cases {
				if rep.Counts[c.kind] != 1 {
					t.Errorf("%s: count %d, want 1", c.kind, rep.Counts[c.kind])
				}
			}
			if rep.Status != drift.StatusComplete || rep.Mode != drift.ModeDryRun || rep.Drifted != len(drifted) || rep.Unknown != 2 ||
				rep.People != 5 || rep.Repaired != 0 {
				t.Errorf("report = status %s mode %s people %d drifted %d unknown %d repaired %d; want complete dry_run 5 %d 2 0",
					rep.Status, rep.Mode, rep.People, rep.Drifted, rep.Unknown, rep.Repaired, len(drifted))
			}
			if q := e.queued(); len(q) != 0 {
				t.Errorf("a dry run queued syncs of %v", q)
			}
			stored, err := e.sweeper.LatestReport(e.ctx)
			if err != nil || stored.ID != rep.ID || !slices.Equal(keys(stored), want) {
				t.Errorf("LatestReport = %d %v (%v), want report %d", stored.ID, keys(stored), err, rep.ID)
			}

			rep, err = e.sweeper.Run(e.ctx, drift.Options{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Repaired != len(drifted) {
				t.Errorf("repaired %d people, want %d", rep.Repaired, len(drifted))
			}
			queued := e.queued()
			var wantQueued []int64
			for pid := range drifted {
				wantQueued = append(wantQueued, pid)
			}
			slices.Sort(wantQueued)
			if !slices.Equal(queued, wantQueued) {
				t.Fatalf("syncs queued for %v, want %v", queued, wantQueued)
			}
			for _, pid := range queued {
				e.sync(pid) // the worker's job
				if !journalHas(t, e, pid, "note", "drift") {
					t.Errorf("person %d: no journal note of the drift", pid)
				}
			}
			for _, c := range cases {
				if !c.fixed(e, c.email) {
					t.Errorf("%s (%s): not repaired by the sync", c.name, c.email)
				}
			}

			rep, err = e.sweeper.Run(e.ctx, drift.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Drifted != 0 || rep.Unknown != 2 || len(rep.Differences) != 2 {
				t.Errorf("after the repair: drifted %d, unknown %d, differences %v; want 0, 2 (the strangers)", rep.Drifted, rep.Unknown, keys(rep))
			}
			if rep.Calls.Stripe != 0 {
				t.Errorf("a sweep of people in step made %d Stripe calls", rep.Calls.Stripe)
			}
		})
	}
}

func journalHas(t *testing.T, e *env, pid int64, kind, action string) bool {
	t.Helper()
	entries, err := e.st.Journal(e.ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if en.Kind == kind && en.Action == action {
			return true
		}
	}
	return false
}

// TestSweepPendingAndMoved: a person whose sync is waiting is reported but neither counted nor
// repaired; a person whose sync runs during the sweep is dropped from it.
func TestSweepPendingAndMoved(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			waiting, _ := e.customer("waiting@example.com", true)
			moving, _ := e.customer("moving@example.com", true)
			must(t, e.circle.RemoveFromGroupDirect(e.proGroup, "waiting@example.com"))
			must(t, e.circle.RemoveFromGroupDirect(e.proGroup, "moving@example.com"))
			e.trigger(waiting)

			triggered := false
			rep, err := e.sweeper.Run(e.ctx, drift.Options{Repair: true, Progress: func(p drift.Progress) {
				if p.Phase == drift.PhaseKit && !triggered {
					triggered = true
					e.trigger(moving) // an event arrives mid-sweep
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{key(drift.PaidNoAccess, waiting, e.proGroup, "")}
			if got := keys(rep); !slices.Equal(got, want) {
				t.Errorf("differences %v, want %v", got, want)
			}
			if len(rep.Differences) == 1 && !rep.Differences[0].Pending {
				t.Error("the waiting person's difference is not marked pending")
			}
			if rep.Drifted != 0 || rep.Pending != 1 || rep.Moved != 1 || rep.Repaired != 0 || rep.Counts[drift.PaidNoAccess] != 0 {
				t.Errorf("drifted %d pending %d moved %d repaired %d counts %v; want 0 1 1 0 {}", rep.Drifted, rep.Pending, rep.Moved, rep.Repaired, rep.Counts)
			}
		})
	}
}

// TestSweepRecomputesWhatTheClockChanged: a scheduled cancellation that passed while no sync ran is
// found by recomputing that one person's entitlement.
func TestSweepRecomputesWhatTheClockChanged(t *testing.T) {
	e := newEnv(t, store.SQLite)
	pid, sub := e.customer("ending@example.com", true)
	e.customer("steady@example.com", true)
	e.stripe.CancelAtPeriodEnd(sub)
	e.sync(pid)
	e.stripe.Advance(40 * 24 * time.Hour) // past the period end; the timer sync never ran

	rep, err := e.sweeper.Run(e.ctx, drift.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Recomputed != 1 {
		t.Errorf("recomputed %d desired states, want 1", rep.Recomputed)
	}
	want := []string{key(drift.AccessWithoutEntitlement, pid, e.proGroup, "")}
	got := keys(rep)
	if !slices.Contains(got, want[0]) {
		t.Errorf("differences %v, want %v among them", got, want)
	}
	if rep.Calls.Stripe == 0 {
		t.Error("no Stripe call: the stale person was not recomputed")
	}
}

// TestSweepBudget refuses a sweep beyond its share of Circle's quota, stops one whose estimate was
// short, and runs it with Force.
func TestSweepBudget(t *testing.T) {
	tests := []struct {
		name       string
		quota      int
		share      float64
		used       int // Circle calls journaled this month before the sweep
		strangers  int // unknown members in the Pro group: the local estimate does not see them
		force      bool
		wantErr    bool
		wantStatus string
		wantCalls  int // Circle calls made
	}{
		{name: "within budget", quota: 1000, share: 0.2, wantStatus: drift.StatusComplete, wantCalls: 2},
		{name: "over the sweeps' share", quota: 100, share: 0.01, wantErr: true, wantStatus: drift.StatusRefused, wantCalls: 0},
		{name: "month nearly spent", quota: 1000, share: 0.5, used: 999, wantErr: true, wantStatus: drift.StatusRefused, wantCalls: 0},
		{name: "forced", quota: 100, share: 0.01, force: true, wantStatus: drift.StatusComplete, wantCalls: 2},
		{name: "estimate short: stopped", quota: 1000, share: 0.002, strangers: 101, wantErr: true, wantStatus: drift.StatusRefused, wantCalls: 2},
		{name: "no quota: unlimited", quota: 0, strangers: 101, wantStatus: drift.StatusComplete, wantCalls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, store.SQLite)
			for i := range tt.used {
				must(t, e.st.AppendJournal(e.ctx, store.JournalEntry{Kind: "call", Action: "circle:add_access_group", Detail: fmt.Sprint(i)}))
			}
			for i := range tt.strangers {
				email := fmt.Sprintf("stranger%d@example.com", i)
				e.circle.CreateMemberDirect(email, "")
				must(t, e.circle.AddToGroupDirect(e.proGroup, email))
			}
			var budget drift.Budget
			rep, err := e.sweeper.Run(e.ctx, drift.Options{MonthlyQuota: tt.quota, MaxQuotaShare: tt.share, Force: tt.force, MaxLookups: -1,
				OnBudget: func(b drift.Budget) { budget = b }})
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, drift.ErrOverBudget)) {
				t.Fatalf("Run: %v, want an ErrOverBudget error: %t", err, tt.wantErr)
			}
			if rep.Status != tt.wantStatus || rep.Calls.Circle != tt.wantCalls {
				t.Errorf("status %s with %d Circle calls, want %s with %d", rep.Status, rep.Calls.Circle, tt.wantStatus, tt.wantCalls)
			}
			if budget.CirclePages != 2 || budget.KitPages != 2 {
				t.Errorf("expected %d Circle and %d Kit pages, want 2 and 2 (one per group and tag)", budget.CirclePages, budget.KitPages)
			}
			stored, err := e.sweeper.LatestReport(e.ctx)
			if err != nil || stored.Status != tt.wantStatus {
				t.Errorf("stored report status %q (%v), want %q", stored.Status, err, tt.wantStatus)
			}
			if tt.force && !stored.Budget.Forced {
				t.Error("a forced sweep is not marked forced")
			}
			if n, err := e.st.ProviderCallCount(e.ctx, "circle", time.Time{}); err != nil || n != tt.used+tt.wantCalls {
				t.Errorf("journaled Circle calls %d (%v), want %d", n, err, tt.used+tt.wantCalls)
			}
		})
	}
}

// TestSweepOneAtATime: a second sweep while one holds the lease is refused with ErrBusy.
func TestSweepOneAtATime(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) { testSweepOneAtATime(t, dialect) })
	}
}

func testSweepOneAtATime(t *testing.T, dialect string) {
	e := newEnv(t, dialect)
	var inner error
	_, err := e.sweeper.Run(e.ctx, drift.Options{Progress: func(p drift.Progress) {
		if inner == nil {
			_, inner = e.sweeper.Run(e.ctx, drift.Options{})
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, drift.ErrBusy) {
		t.Errorf("concurrent sweep: %v, want ErrBusy", inner)
	}
	if _, err := e.sweeper.Run(e.ctx, drift.Options{}); err != nil {
		t.Errorf("a sweep after the first finished: %v", err)
	}
}

// TestFromStripe finds the paying customers membersync never saw and, with Repair, adopts them.
func TestFromStripe(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			known, _ := e.customer("known@example.com", true)
			_ = known
			var unknown []string
			for i := range 3 {
				c := e.stripe.CreateCustomer(fmt.Sprintf("old%d@example.com", i), "")
				e.stripe.Subscribe(c, e.proPrice, 0)
				unknown = append(unknown, c)
			}
			canceled := e.stripe.CreateCustomer("gone@example.com", "")
			e.stripe.CancelNow(e.stripe.Subscribe(canceled, e.proPrice, 0))

			rep, err := e.sweeper.FromStripe(e.ctx, drift.StripeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(unknown)
			got := slices.Sorted(slices.Values(rep.Unknown))
			if rep.Customers != 4 || rep.Known != 1 || !slices.Equal(got, unknown) || rep.Adopted != 0 {
				t.Errorf("dry run: customers %d known %d unknown %v adopted %d; want 4 1 %v 0", rep.Customers, rep.Known, got, rep.Adopted, unknown)
			}
			if n := len(e.people()); n != 1 {
				t.Errorf("a dry run created people: %d", n)
			}

			rep, err = e.sweeper.FromStripe(e.ctx, drift.StripeOptions{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Adopted != 3 || rep.Calls.Stripe == 0 {
				t.Errorf("adopted %d (%d Stripe calls), want 3", rep.Adopted, rep.Calls.Stripe)
			}
			queued := e.queued()
			if len(queued) != 3 {
				t.Fatalf("syncs queued for %v, want 3 people", queued)
			}
			for _, pid := range queued {
				e.sync(pid)
			}
			for i := range 3 {
				if email := fmt.Sprintf("old%d@example.com", i); !e.inGroup(e.proGroup, email) {
					t.Errorf("%s: no access after adoption", email)
				}
			}
			rep, err = e.sweeper.FromStripe(e.ctx, drift.StripeOptions{Repair: true})
			if err != nil || rep.Adopted != 0 || rep.Known != 4 {
				t.Errorf("again: adopted %d known %d (%v), want 0 4", rep.Adopted, rep.Known, err)
			}
		})
	}
}

// TestWorker runs the scheduled sweep: it repairs, reports, and treats a refused budget as done.
func TestWorker(t *testing.T) {
	e := newEnv(t, store.SQLite)
	pid, _ := e.customer("worker@example.com", true)
	must(t, e.circle.RemoveFromGroupDirect(e.proGroup, "worker@example.com"))
	var reports []drift.Report
	w := &drift.Worker{Sweeper: e.sweeper, OnReport: func(r drift.Report) { reports = append(reports, r) }}
	job := &river.Job[drift.SweepArgs]{JobRow: &rivertype.JobRow{}, Args: drift.SweepArgs{Repair: true}}
	if err := w.Work(e.ctx, job); err != nil {
		t.Fatal(err)
	}
	if len(reports) != 1 || reports[0].Repaired != 1 || !slices.Equal(e.queued(), []int64{pid}) {
		t.Fatalf("reports %+v, queued %v; want one repair of person %d", reports, e.queued(), pid)
	}
	w.Options = drift.Options{MonthlyQuota: 10, MaxQuotaShare: 0.01}
	if err := w.Work(e.ctx, job); err != nil {
		t.Errorf("a refused sweep failed the job: %v", err)
	}
	if len(reports) != 2 || reports[1].Status != drift.StatusRefused {
		t.Errorf("reports %+v, want a refused one reported", reports)
	}
}

// TestSweepRecomputesWithComps: a person whose subscription ended while no sync ran, and who holds
// an operator's comp of another plan, is recomputed with the comp counted as the sync counts it: the
// comped access is not reported as "access without entitlement".
func TestSweepRecomputesWithComps(t *testing.T) {
	e := newEnv(t, store.SQLite)
	pid, sub := e.customer("comped@example.com", true)
	if _, err := e.st.AddComp(e.ctx, store.Comp{PersonID: pid, PlanID: "course", Reason: "speaker", GrantedBy: "ann@example.com"}); err != nil {
		t.Fatal(err)
	}
	e.stripe.CancelAtPeriodEnd(sub)
	e.sync(pid)                           // grants Pro (until the period end) and the comped Course
	e.stripe.Advance(40 * 24 * time.Hour) // past the period end; the timer sync never ran

	rep, err := e.sweeper.Run(e.ctx, drift.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Recomputed != 1 {
		t.Fatalf("recomputed %d desired states, want 1", rep.Recomputed)
	}
	got := keys(rep)
	if slices.Contains(got, key(drift.AccessWithoutEntitlement, pid, e.courseGroup, "")) {
		t.Errorf("differences %v: the comped Course reported as access without entitlement", got)
	}
	if !slices.Contains(got, key(drift.AccessWithoutEntitlement, pid, e.proGroup, "")) {
		t.Errorf("differences %v: the ended Pro is not reported", got)
	}
}
