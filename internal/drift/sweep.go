package drift

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/store"
)

const (
	// lockName is the task lease that keeps sweeps one at a time.
	lockName = "drift_sweep"
	// lockTTL is how long a sweep holds the lease without renewing it (a crashed sweep frees it after).
	lockTTL = 10 * time.Minute
	// circlePerPage and kitPerPage are the providers' largest pages.
	circlePerPage = circle.MaxPerPage
	kitPerPage    = 1000
	// maxPages bounds one list, so that a provider that always says "next page" cannot loop forever.
	maxPages = 100_000
	// journalFlush is how many call records are buffered before they are written.
	journalFlush = 200
)

// Run sweeps once: reads every person's desired state, lists the managed access groups and tags,
// diffs, and with Options.Repair enqueues the repairing syncs. The report is stored whatever the
// outcome (a refused or failed sweep too) and returned. It fails with ErrBusy when another sweep
// runs, and with an error wrapping ErrOverBudget when the budget refuses or stops it.
func (s *Sweeper) Run(ctx context.Context, opts Options) (Report, error) {
	opts = opts.withDefaults()
	rep := Report{StartedAt: s.now(), Mode: ModeDryRun, Counts: map[Kind]int{}}
	if opts.Repair {
		rep.Mode = ModeRepair
	}
	owner := lockOwner()
	ok, err := s.Store.AcquireLock(ctx, lockName, owner, lockTTL)
	if err != nil {
		return rep, err
	}
	if !ok {
		return rep, ErrBusy
	}
	defer s.Store.ReleaseLock(context.WithoutCancel(ctx), lockName, owner)

	sw := &sweep{s: s, opts: opts, rep: &rep, now: rep.StartedAt, owner: owner, renewed: rep.StartedAt, allowance: -1}
	runErr := sw.run(ctx)
	rep.Calls = sw.counted()
	rep.FinishedAt = s.now()
	switch {
	case runErr == nil:
		rep.Status = StatusComplete
	case errors.Is(runErr, ErrOverBudget):
		rep.Status = StatusRefused
	default:
		rep.Status = StatusFailed
	}
	if runErr != nil {
		rep.Error = runErr.Error()
		if provider.KindOf(runErr) != 0 {
			// The overview's tile shows this as the reason: "Circle said 401 (list_members): …".
			rep.Error = provider.Reason(runErr)
		}
		if rep.Repaired == 0 {
			// An interrupted listing makes false differences: keep none of them.
			rep.Differences, rep.Counts, rep.Drifted, rep.Unknown = nil, map[Kind]int{}, 0, 0
		}
	}
	if err := s.save(context.WithoutCancel(ctx), &rep); err != nil {
		return rep, errors.Join(runErr, err)
	}
	s.log().Info("drift sweep", "status", rep.Status, "mode", rep.Mode, "people", rep.People, "drifted", rep.Drifted,
		"unknown", rep.Unknown, "repaired", rep.Repaired, "circle_calls", rep.Calls.Circle, "kit_calls", rep.Calls.Kit,
		"stripe_calls", rep.Calls.Stripe, "duration_ms", rep.FinishedAt.Sub(rep.StartedAt).Milliseconds())
	return rep, runErr
}

func lockOwner() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(b)
}

// person is one person as the sweep compares them (indexed by position in sweep.people).
type person struct {
	id       int64
	email    string
	circleID int64
	kitID    int64
	groups   []int64 // desired managed access groups
	tags     []int64 // desired managed tags
	gen      int64
	syncedAt time.Time
	synced   bool // has a desired state
	pending  bool // a sync is waiting or running
	// customers is true when a Stripe customer belongs to the person; one without any is a
	// stranger to the managed groups and tags their desired state does not grant.
	customers bool
}

// sweep is one run's state.
type sweep struct {
	s       *Sweeper
	opts    Options
	rep     *Report
	now     time.Time
	owner   string
	renewed time.Time

	people   []person
	byID     map[int64]int32
	byMember map[int64]int32  // Circle member id → person
	bySub    map[int64]int32  // Kit subscriber id → person
	byEmail  map[string]int32 // normalized email → person
	stale    []int32          // people whose next clock-driven change has passed

	groups, tags []int64
	inGroup      map[int64]bitset // access group → people Circle lists in it
	hasTag       map[int64]bitset // tag → people Kit lists with it
	missingGroup map[int64]bool
	missingTag   map[int64]bool
	unknown      map[int64][]int64 // Circle member id no person maps to → the managed groups listing it
	unknownSubs  map[[2]int64]bool // (tag, subscriber) already reported
	diffs        []Difference

	allowance int // Circle calls this sweep may make; -1 unlimited

	mu      sync.Mutex
	calls   Calls                // guarded by mu
	journal []store.JournalEntry // call records not yet written; guarded by mu
}

func (sw *sweep) run(ctx context.Context) error {
	ctx = provider.WithObserver(ctx, sw.observe)
	defer sw.flushJournal(context.WithoutCancel(ctx))
	sw.groups, sw.tags = managed(sw.s.Plans)
	sw.rep.AccessGroups, sw.rep.Tags = sw.groups, sw.tags
	steps := []func(context.Context) error{sw.load, sw.budget, sw.recompute, sw.listCircle, sw.lookups, sw.listKit, sw.settle}
	if sw.opts.Repair {
		steps = append(steps, sw.repair)
	}
	if sw.opts.Repair || sw.opts.ReviewStrangers {
		steps = append(steps, sw.strangers)
	}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

// managed returns the access groups and tags the plans name, sorted.
func managed(plans []config.Plan) (groups, tags []int64) {
	for _, p := range plans {
		groups = append(groups, p.Circle.AccessGroups...)
		for _, t := range p.Kit.Tags {
			tags = append(tags, t)
		}
	}
	slices.Sort(groups)
	slices.Sort(tags)
	return slices.Compact(groups), slices.Compact(tags)
}

// observe counts and buffers for the journal every provider call of the sweep.
func (sw *sweep) observe(c provider.Call) {
	result := "ok"
	if c.Err != nil {
		result = provider.KindOf(c.Err).String()
	}
	sw.mu.Lock()
	defer sw.mu.Unlock()
	switch c.Provider {
	case "circle":
		sw.calls.Circle++
	case "kit":
		sw.calls.Kit++
	case "stripe":
		sw.calls.Stripe++
	}
	sw.journal = append(sw.journal, store.JournalEntry{At: c.Started, Kind: "call", Action: c.Provider + ":" + c.Operation,
		Target: c.Target, Result: result, Status: c.Status, Attempt: c.Attempt, Duration: c.Duration, Detail: "drift sweep"})
}

func (sw *sweep) counted() Calls {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.calls
}

// flushJournal writes the buffered call records (person 0: the sweep's own calls), so that they
// count against Circle's monthly quota like every other call.
func (sw *sweep) flushJournal(ctx context.Context) {
	sw.mu.Lock()
	entries := sw.journal
	sw.journal = nil
	sw.mu.Unlock()
	if len(entries) == 0 {
		return
	}
	err := sw.s.Store.InTx(ctx, func(tx *store.Tx) error {
		for _, e := range entries {
			if err := tx.AppendJournal(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		sw.s.log().Error("writing the drift sweep's calls to the journal", "err", err, "calls", len(entries))
	}
}

// step reports progress, then renews.
func (sw *sweep) step(ctx context.Context, phase Phase, done, total int) error {
	if sw.opts.Progress != nil {
		sw.opts.Progress(Progress{Phase: phase, Done: done, Total: max(total, done)})
	}
	return sw.renew(ctx)
}

// renew writes buffered call records and renews the sweep's lease when a fifth of it has passed.
func (sw *sweep) renew(ctx context.Context) error {
	sw.mu.Lock()
	n := len(sw.journal)
	sw.mu.Unlock()
	if n >= journalFlush {
		sw.flushJournal(ctx)
	}
	if now := sw.s.now(); now.Sub(sw.renewed) > lockTTL/5 {
		ok, err := sw.s.Store.AcquireLock(ctx, lockName, sw.owner, lockTTL)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("the drift sweep lost its lease to another sweep")
		}
		sw.renewed = now
	}
	return ctx.Err()
}

func (sw *sweep) problem(format string, args ...any) {
	sw.rep.Problems = append(sw.rep.Problems, fmt.Sprintf(format, args...))
}

// desiredJSON is the part of a stored entitlement.Desired the sweep compares.
type desiredJSON struct {
	AccessGroups []int64
	Tags         []int64
}

// load reads every person, their desired state and their remote ids.
func (sw *sweep) load(ctx context.Context) error {
	groups, tags := setOf(sw.groups), setOf(sw.tags)
	sw.byID, sw.byMember, sw.bySub, sw.byEmail = map[int64]int32{}, map[int64]int32{}, map[int64]int32{}, map[string]int32{}
	err := sw.s.Store.EachSweepPerson(ctx, func(sp store.SweepPerson) error {
		idx := int32(len(sw.people))
		p := person{id: sp.ID, email: sp.Email, circleID: sp.CircleMemberID, kitID: sp.KitSubscriberID, gen: sp.Generation, syncedAt: sp.SyncedAt,
			pending: sp.Generation > sp.SyncedGeneration || sp.LeaseUntil.After(sw.now), customers: sp.Customers}
		if sp.Desired != "" {
			var d desiredJSON
			if err := json.Unmarshal([]byte(sp.Desired), &d); err != nil {
				sw.problem("person %d: the stored desired state is unreadable; not compared", sp.ID)
			} else {
				p.synced, p.groups, p.tags = true, keep(d.AccessGroups, groups), keep(d.Tags, tags)
				if !sp.NextChange.IsZero() && !sp.NextChange.After(sw.now) {
					sw.stale = append(sw.stale, idx)
				}
			}
		}
		sw.people = append(sw.people, p)
		sw.byID[sp.ID] = idx
		if sp.CircleMemberID != 0 {
			sw.byMember[sp.CircleMemberID] = idx
		}
		if sp.KitSubscriberID != 0 {
			sw.bySub[sp.KitSubscriberID] = idx
		}
		if sp.Email != "" {
			sw.byEmail[sp.Email] = idx
		}
		return nil
	})
	if err != nil {
		return err
	}
	// Grants confirmed under an older member or subscriber id still name the person.
	remote, err := sw.s.Store.AppliedRemoteIDs(ctx)
	if err != nil {
		return err
	}
	for _, r := range remote {
		idx, ok := sw.byID[r.PersonID]
		if !ok {
			continue
		}
		m := sw.byMember
		if r.Provider == store.ProviderKit {
			m = sw.bySub
		}
		if _, taken := m[r.RemoteID]; !taken {
			m[r.RemoteID] = idx
		}
	}
	for _, p := range sw.people {
		switch {
		case !p.synced:
			sw.rep.Unsynced++
		default:
			sw.rep.People++
		}
		if p.pending {
			sw.rep.Pending++
		}
	}
	return nil
}

func setOf(ids []int64) map[int64]bool {
	m := make(map[int64]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

// keep returns the ids that are in set, sorted.
func keep(ids []int64, set map[int64]bool) []int64 {
	var out []int64
	for _, id := range ids {
		if set[id] {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// budget estimates the sweep's calls from the local state and refuses it when its Circle calls
// would exceed the sweeps' share of the monthly quota, or what the month has left.
func (sw *sweep) budget(ctx context.Context) error {
	counts, err := sw.s.Store.AppliedTargetCounts(ctx)
	if err != nil {
		return err
	}
	wantGroup, wantTag := map[int64]int{}, map[int64]int{}
	for _, p := range sw.people {
		for _, g := range p.groups {
			wantGroup[g]++
		}
		for _, t := range p.tags {
			wantTag[t]++
		}
	}
	b := Budget{MaxLookups: sw.opts.MaxLookups, MonthlyQuota: sw.opts.MonthlyQuota, Share: sw.opts.MaxQuotaShare, Allowance: -1}
	for _, g := range sw.groups {
		n := max(wantGroup[g], counts[store.GrantTarget{Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: g}])
		b.CirclePages += pages(n, circlePerPage)
	}
	for _, t := range sw.tags {
		n := max(wantTag[t], counts[store.GrantTarget{Provider: store.ProviderKit, Kind: store.KindTag, TargetID: t}])
		b.KitPages += pages(n, kitPerPage)
	}
	if last, err := sw.s.Store.LatestDriftReport(ctx); err == nil {
		var prev Report
		if json.Unmarshal([]byte(last.Detail), &prev) == nil {
			b.Lookups = min(sw.opts.MaxLookups, prev.Counts[UnknownMember])
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	var refusal string
	if b.MonthlyQuota > 0 {
		month := time.Date(sw.now.Year(), sw.now.Month(), 1, 0, 0, 0, 0, time.UTC)
		if b.CircleUsed, err = sw.s.Store.ProviderCallCount(ctx, "circle", month); err != nil {
			return err
		}
		if b.SweepUsed, err = sw.s.Store.SweepCircleCallsSince(ctx, month); err != nil {
			return err
		}
		shareLeft := int(b.Share*float64(b.MonthlyQuota)) - b.SweepUsed
		monthLeft := b.MonthlyQuota - b.CircleUsed
		b.Allowance = max(min(shareLeft, monthLeft), 0)
		switch want := b.CircleCalls(); {
		case want > monthLeft:
			refusal = fmt.Sprintf("this sweep expects %d Circle calls but only %d of Circle's %d monthly requests are left (%d used this month)",
				want, max(monthLeft, 0), b.MonthlyQuota, b.CircleUsed)
		case want > shareLeft:
			refusal = fmt.Sprintf("this sweep expects %d Circle calls but the sweeps may use only %d more this month (%.0f%% of Circle's %d monthly requests, %d used by sweeps)",
				want, max(shareLeft, 0), b.Share*100, b.MonthlyQuota, b.SweepUsed)
		}
		if refusal != "" && sw.opts.Force {
			b.Forced, refusal = true, ""
		}
	}
	sw.rep.Budget = b
	if !sw.opts.Force {
		sw.allowance = b.Allowance
	}
	if sw.opts.OnBudget != nil {
		sw.opts.OnBudget(b)
	}
	if refusal != "" {
		return fmt.Errorf("%w: %s; run it with --force to sweep anyway, or raise the share", ErrOverBudget, refusal)
	}
	return nil
}

// pages is how many pages of size per n items take (an empty list still costs one).
func pages(n, per int) int { return max(1, (n+per-1)/per) }

// mayCallCircle reports whether the budget allows one more Circle call.
func (sw *sweep) mayCallCircle() bool {
	if sw.allowance < 0 {
		return true
	}
	return sw.counted().Circle < sw.allowance
}

// recompute reads billing again for the people whose next clock-driven change has passed (a grace
// period that ended, a scheduled cancellation): their stored desired state is out of date. Everyone
// else's stored state is what Compute would answer now, so the sweep costs no Stripe call for them.
func (sw *sweep) recompute(ctx context.Context) error {
	if sw.s.Billing == nil {
		return nil
	}
	groups, tags := setOf(sw.groups), setOf(sw.tags)
	for _, idx := range sw.stale {
		p := &sw.people[idx]
		if p.pending {
			continue // its sync recomputes it
		}
		full, err := sw.s.Store.Person(ctx, p.id)
		if err != nil {
			return err
		}
		b, err := sw.s.Billing.Snapshot(ctx, full.CustomerIDs...)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			sw.problem("person %d: billing could not be read (%s); compared with the stored desired state", p.id, provider.KindOf(err))
			continue
		}
		// The operator's comps are an entitlement input beside Stripe, as in the sync.
		comps, err := sw.s.Store.Comps(ctx, p.id)
		if err != nil {
			return err
		}
		b.Comps = store.EntitlementComps(comps)
		d := entitlement.Compute(b, sw.s.Plans, sw.now)
		p.groups, p.tags = keep(d.AccessGroups, groups), keep(d.Tags, tags)
		sw.rep.Recomputed++
		if err := sw.renew(ctx); err != nil {
			return err
		}
	}
	return nil
}

// listCircle pages through the members of every managed access group.
func (sw *sweep) listCircle(ctx context.Context) error {
	sw.inGroup, sw.missingGroup, sw.unknown = map[int64]bitset{}, map[int64]bool{}, map[int64][]int64{}
	done, total := 0, sw.rep.Budget.CirclePages
	for _, g := range sw.groups {
		sw.inGroup[g] = newBitset(len(sw.people))
		for page := 1; ; page++ {
			if page > maxPages {
				return fmt.Errorf("circle access group %d: more than %d pages", g, maxPages)
			}
			if !sw.mayCallCircle() {
				return fmt.Errorf("%w: stopped after %d Circle calls, the sweep's allowance", ErrOverBudget, sw.counted().Circle)
			}
			pg, err := sw.s.Circle.AccessGroupMembers(ctx, g, page, circlePerPage)
			if provider.KindOf(err) == provider.NotFound {
				sw.missingGroup[g] = true
				sw.problem("Circle has no access group %d, which the plans name: fix the plan mapping", g)
				break
			}
			if err != nil {
				return fmt.Errorf("listing Circle access group %d: %w", g, err)
			}
			for _, m := range pg.Records {
				sw.member(g, m.CommunityMemberID)
			}
			done++
			if err := sw.step(ctx, PhaseCircle, done, total); err != nil {
				return err
			}
			if !pg.HasNextPage || len(pg.Records) == 0 {
				break
			}
		}
	}
	return nil
}

// member records that Circle lists member mid in group g.
func (sw *sweep) member(g, mid int64) {
	idx, ok := sw.byMember[mid]
	if !ok {
		if !slices.Contains(sw.unknown[mid], g) {
			sw.unknown[mid] = append(sw.unknown[mid], g)
		}
		return
	}
	sw.seeGroup(g, idx, mid)
}

// seeGroup records person idx in group g; a person not entitled to g is a difference: a stranger
// when no Stripe customer belongs to them (a person the sweep recorded for a stranger, or one whose
// comp does not grant g), else access without entitlement.
func (sw *sweep) seeGroup(g int64, idx int32, mid int64) {
	seen := sw.inGroup[g]
	if seen.has(idx) {
		return
	}
	seen.set(idx)
	p := &sw.people[idx]
	switch {
	case slices.Contains(p.groups, g):
	case !p.customers:
		sw.diffs = append(sw.diffs, Difference{Kind: UnknownMember, Provider: store.ProviderCircle, Target: g,
			PersonID: p.id, Email: p.email, RemoteID: mid, Pending: p.pending})
	case p.synced:
		sw.diffs = append(sw.diffs, Difference{Kind: AccessWithoutEntitlement, Provider: store.ProviderCircle, Target: g,
			PersonID: p.id, Email: p.email, RemoteID: mid, Pending: p.pending})
	}
}

// lookups reads the members no person maps to (at most MaxLookups, within the budget): one whose
// email belongs to a person is that person; the others are unknown members.
func (sw *sweep) lookups(ctx context.Context) error {
	ids := make([]int64, 0, len(sw.unknown))
	for id := range sw.unknown {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	limit := min(sw.opts.MaxLookups, len(ids))
	working := true
	for i, mid := range ids {
		email := ""
		if working && i < limit && sw.mayCallCircle() {
			m, err := sw.s.Circle.Member(ctx, mid)
			switch {
			case err == nil:
				email = identity.NormalizeEmail(m.Email)
			case provider.KindOf(err) == provider.NotFound:
				continue // left the community since the listing
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				working = false
				sw.problem("looking up unknown Circle members failed (%s); the rest are reported without their email", provider.KindOf(err))
			}
			if err := sw.step(ctx, PhaseLookups, i+1, limit); err != nil {
				return err
			}
		}
		if idx, ok := sw.byEmail[email]; ok && email != "" {
			for _, g := range sw.unknown[mid] {
				sw.seeGroup(g, idx, mid)
			}
			continue
		}
		for _, g := range sw.unknown[mid] {
			sw.diffs = append(sw.diffs, Difference{Kind: UnknownMember, Provider: store.ProviderCircle, Target: g, Email: email, RemoteID: mid})
		}
	}
	return nil
}

// listKit pages through the subscribers of every managed tag.
func (sw *sweep) listKit(ctx context.Context) error {
	sw.hasTag, sw.missingTag, sw.unknownSubs = map[int64]bitset{}, map[int64]bool{}, map[[2]int64]bool{}
	done, total := 0, sw.rep.Budget.KitPages
	for _, t := range sw.tags {
		sw.hasTag[t] = newBitset(len(sw.people))
		after := ""
		for page := 1; ; page++ {
			if page > maxPages {
				return fmt.Errorf("kit tag %d: more than %d pages", t, maxPages)
			}
			pg, err := sw.s.Kit.TagSubscribers(ctx, t, after, kitPerPage)
			if provider.KindOf(err) == provider.NotFound {
				sw.missingTag[t] = true
				sw.problem("Kit has no tag %d, which the plans name: fix the plan mapping", t)
				break
			}
			if err != nil {
				return fmt.Errorf("listing Kit tag %d: %w", t, err)
			}
			for _, sub := range pg.Subscribers {
				sw.subscriber(t, sub)
			}
			done++
			if err := sw.step(ctx, PhaseKit, done, total); err != nil {
				return err
			}
			if !pg.HasNextPage || pg.EndCursor == "" || pg.EndCursor == after {
				break
			}
			after = pg.EndCursor
		}
	}
	return nil
}

// subscriber records that Kit lists sub with tag t.
func (sw *sweep) subscriber(t int64, sub kit.Subscriber) {
	email := identity.NormalizeEmail(sub.Email)
	idx, ok := sw.bySub[sub.ID]
	if !ok {
		idx, ok = sw.byEmail[email]
	}
	if !ok {
		key := [2]int64{t, sub.ID}
		if !sw.unknownSubs[key] {
			sw.unknownSubs[key] = true
			sw.diffs = append(sw.diffs, Difference{Kind: UnknownSubscriber, Provider: store.ProviderKit, Target: t, Email: email, RemoteID: sub.ID})
		}
		return
	}
	seen := sw.hasTag[t]
	if seen.has(idx) {
		return
	}
	seen.set(idx)
	p := &sw.people[idx]
	switch {
	case slices.Contains(p.tags, t):
	case !p.customers:
		sw.diffs = append(sw.diffs, Difference{Kind: UnknownSubscriber, Provider: store.ProviderKit, Target: t,
			PersonID: p.id, Email: email, RemoteID: sub.ID, Pending: p.pending})
	case p.synced:
		sw.diffs = append(sw.diffs, Difference{Kind: ExtraTag, Provider: store.ProviderKit, Target: t,
			PersonID: p.id, Email: email, RemoteID: sub.ID, Pending: p.pending})
	}
}

// settle adds what the lists lacked, drops the people whose sync ran during the sweep (the lists
// may predate its changes), counts and sorts.
func (sw *sweep) settle(ctx context.Context) error {
	for idx := range sw.people {
		p := &sw.people[idx]
		if !p.synced {
			continue
		}
		for _, g := range p.groups {
			if !sw.missingGroup[g] && !sw.inGroup[g].has(int32(idx)) {
				sw.diffs = append(sw.diffs, Difference{Kind: PaidNoAccess, Provider: store.ProviderCircle, Target: g,
					PersonID: p.id, Email: p.email, RemoteID: p.circleID, Pending: p.pending})
			}
		}
		for _, t := range p.tags {
			if !sw.missingTag[t] && !sw.hasTag[t].has(int32(idx)) {
				sw.diffs = append(sw.diffs, Difference{Kind: MissingTag, Provider: store.ProviderKit, Target: t,
					PersonID: p.id, Email: p.email, RemoteID: p.kitID, Pending: p.pending})
			}
		}
	}

	var ids []int64
	for _, d := range sw.diffs {
		if d.PersonID != 0 && !d.Pending {
			ids = append(ids, d.PersonID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	marks, err := sw.s.Store.SweepMarks(ctx, ids)
	if err != nil {
		return err
	}
	now := sw.s.now()
	moved := map[int64]bool{}
	for _, id := range ids {
		p := sw.people[sw.byID[id]]
		m, ok := marks[id]
		if !ok || m.Generation != p.gen || !m.SyncedAt.Equal(p.syncedAt) || m.LeaseUntil.After(now) {
			moved[id] = true
		}
	}
	sw.rep.Moved = len(moved)
	diffs := sw.diffs[:0]
	drifted := map[int64]bool{}
	unknown := map[[2]any]bool{}
	for _, d := range sw.diffs {
		if moved[d.PersonID] {
			continue
		}
		diffs = append(diffs, d)
		if d.Pending {
			continue
		}
		sw.rep.Counts[d.Kind]++
		if d.PersonID != 0 && !d.Kind.Stranger() {
			drifted[d.PersonID] = true
		} else {
			unknown[[2]any{d.Provider, d.RemoteID}] = true
		}
	}
	sw.rep.Drifted, sw.rep.Unknown = len(drifted), len(unknown)
	order := map[Kind]int{}
	for i, k := range Kinds() {
		order[k] = i
	}
	slices.SortFunc(diffs, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(order[a.Kind], order[b.Kind]), cmp.Compare(a.Target, b.Target),
			cmp.Compare(a.PersonID, b.PersonID), cmp.Compare(a.RemoteID, b.RemoteID))
	})
	sw.rep.Differences = diffs
	return nil
}

// bitset is a set of person indexes.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i int32) { b[i/64] |= 1 << (uint(i) % 64) }

func (b bitset) has(i int32) bool {
	if int(i/64) >= len(b) {
		return false
	}
	return b[i/64]&(1<<(uint(i)%64)) != 0
}
