package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// member describes one person of the people-list fixture: what their last sync computed and
// confirmed, and where their sync stands.
type member struct {
	email    string
	plans    []entitlement.PlanState // AccessGroups of the entitled ones make the desired groups
	billing  entitlement.Billing
	held     []int64  // Circle access groups confirmed (applied)
	results  []string // sync results journaled, oldest first
	syncErr  string
	review   bool // an open review item
	pending  bool // a trigger after the last completed sync
	unsynced bool // no sync has run
}

var listNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func planState(id string, stage entitlement.Stage, entitled bool, source string, groups ...int64) entitlement.PlanState {
	return entitlement.PlanState{PlanID: id, Stage: stage, Entitled: entitled, Source: source, AccessGroups: groups}
}

// saveSync stores what a sync of the person computed, as the engine does.
func saveSync(t *testing.T, st *store.Store, pid int64, plans []entitlement.PlanState, b entitlement.Billing, syncErr string) {
	t.Helper()
	ctx := context.Background()
	d := entitlement.Desired{Plans: plans}
	for _, p := range plans {
		if p.Entitled {
			for _, g := range p.AccessGroups {
				if !slices.Contains(d.AccessGroups, g) {
					d.AccessGroups = append(d.AccessGroups, g)
				}
			}
		}
	}
	slices.Sort(d.AccessGroups)
	bj, _ := json.Marshal(b)
	dj, _ := json.Marshal(d)
	if err := st.SaveBilling(ctx, pid, string(bj)); err != nil {
		t.Fatal(err)
	}
	if err := st.SaveSyncResult(ctx, pid, string(dj), time.Time{}, syncErr); err != nil {
		t.Fatal(err)
	}
}

// seedMembers stores the people and returns their ids by email. Each is changed a minute after
// the one before, so the list (newest change first) shows them in reverse order.
func seedMembers(t *testing.T, st *store.Store, clock *time.Time, ms []member) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	ids := map[string]int64{}
	for i, m := range ms {
		*clock = clock.Add(time.Minute)
		cus := fmt.Sprintf("cus_%d", i+1)
		res := ingest(t, st, event(fmt.Sprintf("evt_m%d", i+1), cus))
		pid := res.PersonID
		ids[m.email] = pid
		if err := st.SetIdentity(ctx, pid, m.email, strings.ToUpper(m.email[:1])+m.email[1:strings.Index(m.email, "@")]); err != nil {
			t.Fatal(err)
		}
		if !m.unsynced {
			saveSync(t, st, pid, m.plans, m.billing, m.syncErr)
		}
		for _, g := range m.held {
			if err := st.RecordApplied(ctx, store.Applied{PersonID: pid, Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: g, Email: m.email}); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range m.results {
			if err := st.AppendJournal(ctx, store.JournalEntry{PersonID: pid, Kind: "sync", Action: "sync", Result: r, Detail: "circle answered 503"}); err != nil {
				t.Fatal(err)
			}
		}
		if m.review {
			if _, err := st.OpenReview(ctx, store.ReviewItem{PersonID: pid, Kind: "unmapped_price", ActionKey: "sub_x", Reason: "price_x maps to no plan"}); err != nil {
				t.Fatal(err)
			}
		}
		if !m.pending && !m.unsynced {
			p, err := st.Person(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.FinishSync(ctx, pid, p.Generation); err != nil {
				t.Fatal(err)
			}
		}
	}
	return ids
}

// listFixture is the people the filter tests read, oldest change first.
func listFixture() []member {
	created := listNow.Add(-400 * 24 * time.Hour)
	sub := func(id string, created time.Time) entitlement.Billing {
		return entitlement.Billing{Customers: []entitlement.Customer{{ID: "cus", Subscriptions: []entitlement.Subscription{{ID: id, Status: "active", Created: created}}}}}
	}
	return []member{
		{email: "ada@example.com", plans: []entitlement.PlanState{planState("pro", entitlement.StageActive, true, "sub_ada", 11)},
			billing: sub("sub_ada", created), held: []int64{11}, results: []string{"converged"}},
		{email: "bob@example.com", plans: []entitlement.PlanState{planState("pro", entitlement.StagePastDue, true, "sub_bob", 11)},
			held: []int64{11}, results: []string{"converged"}},
		{email: "cy@example.com", plans: []entitlement.PlanState{planState("pro", entitlement.StageCanceled, false, "sub_cy", 11)},
			held: []int64{11}, results: []string{"converged"}},
		{email: "dee@example.com", plans: []entitlement.PlanState{planState("course", entitlement.StageActive, true, "cs_dee", 21)},
			results: []string{"retry"}, syncErr: "circle answered 503"},
		{email: "eve@example.com", plans: []entitlement.PlanState{planState("pro", entitlement.StageRefunded, false, "sub_eve", 11)},
			results: []string{"converged"}, review: true},
		{email: "fay@example.com", unsynced: true, pending: true},
		{email: "gus@example.com", plans: []entitlement.PlanState{
			planState("pro", entitlement.StageTrialing, true, "sub_gus", 11), planState("course", entitlement.StageExpired, false, "cs_gus", 21),
			planState("team", entitlement.StageNone, false, "")},
			held: []int64{11}, results: []string{"retry", "converged"}},
		{email: "hal@example.com", plans: []entitlement.PlanState{planState("pro", entitlement.StageActive, true, "sub_hal", 11)},
			held: []int64{11}, results: []string{"converged"}, pending: true},
	}
}

func TestFilterPeople(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := listNow
		st.Now = func() time.Time { return clock }
		seedMembers(t, st, &clock, listFixture())
		tests := []struct {
			name   string
			filter store.PeopleFilter
			want   []string // local parts, newest change first
		}{
			{"everyone", store.PeopleFilter{}, []string{"hal", "gus", "fay", "eve", "dee", "cy", "bob", "ada"}},
			{"plan pro", store.PeopleFilter{Plan: "pro"}, []string{"hal", "gus", "eve", "cy", "bob", "ada"}},
			{"plan course", store.PeopleFilter{Plan: "course"}, []string{"gus", "dee"}},
			{"a stage none is never indexed", store.PeopleFilter{Plan: "team"}, nil},
			{"stage active, any plan", store.PeopleFilter{Stage: "active"}, []string{"hal", "dee", "ada"}},
			{"pro active", store.PeopleFilter{Plan: "pro", Stage: "active"}, []string{"hal", "ada"}},
			{"pro past due", store.PeopleFilter{Plan: "pro", Stage: "past_due"}, []string{"bob"}},
			{"course expired", store.PeopleFilter{Plan: "course", Stage: "expired"}, []string{"gus"}},
			{"course active", store.PeopleFilter{Plan: "course", Stage: "active"}, []string{"dee"}},
			{"refunded", store.PeopleFilter{Stage: "refunded"}, []string{"eve"}},
			{"pro entitled", store.PeopleFilter{Plan: "pro", Stage: store.StageEntitled}, []string{"hal", "gus", "bob", "ada"}},
			{"lapsed, any plan", store.PeopleFilter{Stage: store.StageLapsed}, []string{"gus", "eve", "cy"}},
			{"in sync", store.PeopleFilter{Access: store.AccessInSync}, []string{"gus", "cy", "bob", "ada"}},
			{"pending", store.PeopleFilter{Access: store.AccessPending}, []string{"hal", "fay"}},
			{"failing", store.PeopleFilter{Access: store.AccessFailing}, []string{"dee"}},
			{"in review", store.PeopleFilter{Access: store.AccessInReview}, []string{"eve"}},
			{"paid but no access", store.PeopleFilter{Only: store.OnlyPaidNoAccess}, []string{"dee"}},
			{"access but not paid", store.PeopleFilter{Only: store.OnlyAccessNotPaid}, []string{"cy"}},
			{"search and plan", store.PeopleFilter{Query: "example.com", Plan: "course"}, []string{"gus", "dee"}},
			{"search by name and plan", store.PeopleFilter{Query: "ADA", Plan: "pro"}, []string{"ada"}},
			{"search by customer", store.PeopleFilter{Query: "cus_4"}, []string{"dee"}},
			{"everything at once", store.PeopleFilter{Query: "bob", Plan: "pro", Stage: "past_due", Access: store.AccessInSync}, []string{"bob"}},
			{"nobody", store.PeopleFilter{Plan: "pro", Access: store.AccessFailing}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, total, err := st.FilterPeople(ctx, tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				var names []string
				for _, l := range got {
					names = append(names, l.Email[:strings.Index(l.Email, "@")])
				}
				if !slices.Equal(names, tt.want) || total != len(tt.want) {
					t.Errorf("got %v (total %d), want %v", names, total, tt.want)
				}
			})
		}

		all, _, err := st.FilterPeople(ctx, store.PeopleFilter{})
		if err != nil {
			t.Fatal(err)
		}
		byEmail := map[string]store.PersonListing{}
		for _, l := range all {
			byEmail[l.Email] = l
		}
		gus := byEmail["gus@example.com"]
		if len(gus.Plans) != 2 || gus.Plans[0].PlanID != "course" || gus.Plans[0].Stage != "expired" || gus.Plans[0].Entitled ||
			gus.Plans[1].PlanID != "pro" || gus.Plans[1].Stage != "trialing" || !gus.Plans[1].Entitled {
			t.Errorf("gus's plans: %+v", gus.Plans)
		}
		if ada := byEmail["ada@example.com"]; len(ada.CustomerIDs) != 1 || ada.CustomerIDs[0] != "cus_1" || ada.Access != store.AccessInSync ||
			!ada.Plans[0].StartedAt.Equal(listNow.Add(-400*24*time.Hour)) {
			t.Errorf("ada: %+v, want cus_1, in sync, started when Stripe created the subscription", ada)
		}
		if eve := byEmail["eve@example.com"]; eve.OpenReviews != 1 || eve.Access != store.AccessInReview {
			t.Errorf("eve: %+v, want one open review item", eve)
		}
		if fay := byEmail["fay@example.com"]; len(fay.Plans) != 0 || !fay.SyncedAt.IsZero() {
			t.Errorf("fay (never synced): %+v", fay)
		}

		if _, _, err := st.FilterPeople(ctx, store.PeopleFilter{Access: "asleep"}); err == nil {
			t.Error("an unknown access state was accepted")
		}
		if _, _, err := st.FilterPeople(ctx, store.PeopleFilter{Only: "rich"}); err == nil {
			t.Error("an unknown special filter was accepted")
		}
	})
}

func TestFilterPeoplePages(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := listNow
		st.Now = func() time.Time { return clock }
		seedMembers(t, st, &clock, listFixture())
		// Two people changed at the same instant: the id breaks the tie, and no page repeats or skips one.
		var seen []string
		var after store.PeopleCursor
		for page := 0; ; page++ {
			if page > 10 {
				t.Fatal("the pages never end")
			}
			got, total, err := st.FilterPeople(ctx, store.PeopleFilter{Plan: "pro", Limit: 4, After: after})
			if err != nil {
				t.Fatal(err)
			}
			if total != 6 {
				t.Errorf("page %d: total %d, want 6", page, total)
			}
			for _, l := range got {
				seen = append(seen, l.Email)
			}
			if len(got) < 4 {
				break
			}
			c, err := store.ParsePeopleCursor(got[len(got)-1].Cursor().String())
			if err != nil || c != got[len(got)-1].Cursor() {
				t.Fatalf("cursor round trip: %v %v", c, err)
			}
			after = c
		}
		want := []string{"hal@example.com", "gus@example.com", "eve@example.com", "cy@example.com", "bob@example.com", "ada@example.com"}
		if !slices.Equal(seen, want) {
			t.Errorf("pages: %v, want %v", seen, want)
		}
		var each []string
		if err := st.EachPerson(ctx, store.PeopleFilter{Plan: "pro", Limit: 1}, func(l store.PersonListing) error {
			each = append(each, l.Email)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(each, want) {
			t.Errorf("EachPerson: %v, want %v (Limit ignored)", each, want)
		}
		for _, bad := range []string{"x", "1.", ".2", "1.-3", "a.b"} {
			if _, err := store.ParsePeopleCursor(bad); err == nil {
				t.Errorf("cursor %q accepted", bad)
			}
		}
	})
}

// TestPeopleIndexFollowsSyncs checks that the index is rebuilt when a newer sync is saved (by the
// sync's IndexPerson, or at read time without it), dates lapses it observes, and forgets people
// merged away.
func TestPeopleIndexFollowsSyncs(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := listNow
		st.Now = func() time.Time { return clock }
		ids := seedMembers(t, st, &clock, listFixture()[:2])
		ada := ids["ada@example.com"]
		if n, err := st.RefreshPeopleIndex(ctx); err != nil || n != 2 {
			t.Fatalf("first refresh: %d, %v; want both people indexed", n, err)
		}
		if n, err := st.RefreshPeopleIndex(ctx); err != nil || n != 0 {
			t.Fatalf("second refresh: %d, %v; want nothing to do", n, err)
		}

		// Ada cancels: a sync saves it and does not index; the next read does.
		clock = clock.Add(time.Hour)
		lapse := clock
		saveSync(t, st, ada, []entitlement.PlanState{planState("pro", entitlement.StageCanceled, false, "sub_ada", 11)}, entitlement.Billing{}, "")
		got, _, err := st.FilterPeople(ctx, store.PeopleFilter{Stage: "canceled"})
		if err != nil || len(got) != 1 || got[0].ID != ada {
			t.Fatalf("canceled after the sync: %+v %v", got, err)
		}
		if p := got[0].Plans[0]; !p.LapsedAt.Equal(lapse) || p.Entitled {
			t.Errorf("ada's pro: %+v, want lapsed at the sync that saw it (%v)", p, lapse)
		}

		// She comes back with a new subscription Stripe dates; the sync indexes it at once.
		clock = clock.Add(time.Hour)
		b := entitlement.Billing{Customers: []entitlement.Customer{{ID: "cus_1", Subscriptions: []entitlement.Subscription{{ID: "sub_ada2", Status: "active", Created: clock.Add(-time.Minute)}}}}}
		saveSync(t, st, ada, []entitlement.PlanState{planState("pro", entitlement.StageActive, true, "sub_ada2", 11)}, b, "")
		if err := st.IndexPerson(ctx, ada); err != nil {
			t.Fatal(err)
		}
		if n, err := st.RefreshPeopleIndex(ctx); err != nil || n != 0 {
			t.Errorf("refresh after IndexPerson: %d, %v; want nothing left", n, err)
		}
		got, _, err = st.FilterPeople(ctx, store.PeopleFilter{Plan: "pro", Stage: "active"})
		if err != nil || len(got) != 1 || got[0].ID != ada || !got[0].Plans[0].StartedAt.Equal(clock.Add(-time.Minute)) || !got[0].Plans[0].LapsedAt.IsZero() {
			t.Fatalf("after coming back: %+v %v", got, err)
		}

		// A sync that ends with a comp-like source Stripe does not know: the start is the sync that showed it.
		clock = clock.Add(time.Hour)
		saveSync(t, st, ada, []entitlement.PlanState{planState("pro", entitlement.StageActive, true, "sub_ada2", 11), planState("course", entitlement.StageActive, true, "comp_1", 21)}, b, "")
		got, _, _ = st.FilterPeople(ctx, store.PeopleFilter{Plan: "course"})
		if len(got) != 1 || !got[0].Plans[0].StartedAt.Equal(clock) {
			t.Errorf("course from an unknown source: %+v, want started at this sync", got)
		}

		// Bob is merged into Ada: his index goes with him.
		bob := ids["bob@example.com"]
		if _, err := st.MergePerson(ctx, bob, ada); err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Minute)
		saveSync(t, st, ada, []entitlement.PlanState{planState("pro", entitlement.StageActive, true, "sub_ada2", 11)}, b, "")
		got, total, err := st.FilterPeople(ctx, store.PeopleFilter{Plan: "pro"})
		if err != nil || total != 1 || got[0].ID != ada {
			t.Errorf("after the merge: %+v (total %d) %v", got, total, err)
		}
		m, err := st.Membership(ctx, listNow.Add(-24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Counts) != 1 || m.Counts[0].People != 1 || m.Members != 1 {
			t.Errorf("membership after the merge: %+v, want Ada alone", m)
		}
	})
}

// TestConcurrentIndexing runs several indexers at once, as instances sharing one database do:
// each person is indexed once, without a duplicate row or an error.
func TestConcurrentIndexing(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := listNow
		st.Now = func() time.Time { return clock }
		ids := seedMembers(t, st, &clock, listFixture())
		errs := make(chan error, 8)
		for i := range 8 {
			go func() {
				if i%2 == 0 {
					_, err := st.RefreshPeopleIndex(ctx)
					errs <- err
					return
				}
				errs <- st.IndexPerson(ctx, ids["gus@example.com"])
			}()
		}
		for range 8 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
		got, total, err := st.FilterPeople(ctx, store.PeopleFilter{})
		if err != nil || total != 8 {
			t.Fatalf("after concurrent indexing: %d people, %v", total, err)
		}
		plans := 0
		for _, l := range got {
			plans += len(l.Plans)
		}
		if plans != 8 {
			t.Errorf("%d plan rows, want 8 (one per bought plan)", plans)
		}
	})
}

func TestMembership(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		clock := listNow
		st.Now = func() time.Time { return clock }
		week := listNow.Add(-7 * 24 * time.Hour)
		old := listNow.Add(-90 * 24 * time.Hour)
		subs := func(ss ...entitlement.Subscription) entitlement.Billing {
			return entitlement.Billing{Customers: []entitlement.Customer{{ID: "cus", Subscriptions: ss}}}
		}
		ms := []member{
			// A member for months.
			{email: "old@example.com", plans: []entitlement.PlanState{planState("pro", entitlement.StageActive, true, "sub_old", 11)},
				billing: subs(entitlement.Subscription{ID: "sub_old", Created: old})},
			// New this week.
			{email: "new@example.com", plans: []entitlement.PlanState{planState("pro", entitlement.StageTrialing, true, "sub_new", 11)},
				billing: subs(entitlement.Subscription{ID: "sub_new", Created: listNow.Add(-2 * 24 * time.Hour)})},
			// Churned this week: Stripe says the subscription ended two days ago.
			{email: "gone@example.com", plans: []entitlement.PlanState{planState("pro", entitlement.StageCanceled, false, "sub_gone", 11)},
				billing: subs(entitlement.Subscription{ID: "sub_gone", Created: old, EndedAt: listNow.Add(-2 * 24 * time.Hour)})},
			// Churned long ago.
			{email: "long@example.com", plans: []entitlement.PlanState{planState("pro", entitlement.StageCanceled, false, "sub_long", 11)},
				billing: subs(entitlement.Subscription{ID: "sub_long", Created: old, EndedAt: old.Add(24 * time.Hour)})},
			// Started this week and never paid: neither new nor churned.
			{email: "inc@example.com", plans: []entitlement.PlanState{planState("pro", entitlement.StageIncomplete, false, "sub_inc", 11)},
				billing: subs(entitlement.Subscription{ID: "sub_inc", Created: listNow.Add(-24 * time.Hour)})},
			// Switched plans this week: lapsed on course, new on pro, still a member.
			{email: "switch@example.com", plans: []entitlement.PlanState{
				planState("pro", entitlement.StageActive, true, "sub_sw", 11), planState("course", entitlement.StageCanceled, false, "sub_swc", 21)},
				billing: subs(entitlement.Subscription{ID: "sub_sw", Created: listNow.Add(-24 * time.Hour)},
					entitlement.Subscription{ID: "sub_swc", Created: old, EndedAt: listNow.Add(-24 * time.Hour)})},
		}
		seedMembers(t, st, &clock, ms)
		m, err := st.Membership(ctx, week)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			plan, stage            string
			people, newer, churned int
		}
		var got []row
		for _, c := range m.Counts {
			got = append(got, row{c.PlanID, c.Stage, c.People, c.New, c.Churned})
		}
		want := []row{
			{"course", "canceled", 1, 0, 1},
			{"pro", "active", 2, 1, 0},
			{"pro", "canceled", 2, 0, 1},
			{"pro", "incomplete", 1, 0, 0},
			{"pro", "trialing", 1, 1, 0},
		}
		if !slices.Equal(got, want) {
			t.Errorf("counts:\n got %v\nwant %v", got, want)
		}
		// Members: old, new, switch. New people: new (switch had course since long ago). Churned: gone.
		if m.Members != 3 || m.New != 1 || m.Churned != 1 {
			t.Errorf("members %d, new %d, churned %d; want 3, 1, 1", m.Members, m.New, m.Churned)
		}
		empty, err := st.Membership(ctx, listNow)
		if err != nil || empty.Members != 3 || empty.New != 0 || empty.Churned != 0 {
			t.Errorf("window starting now: %+v %v", empty, err)
		}
	})
}

// BenchmarkPeopleList50k times the people list on 50,000 people synced before the index existed:
// the one-time index build on the first read, then each filter and the overview's counts.
//
//	go test -run XXX -bench PeopleList50k -benchtime 20x ./internal/store/
func BenchmarkPeopleList50k(b *testing.B) {
	const n = 50000
	st := storetest.Open(b, store.SQLite)
	ctx := context.Background()
	db := st.SQLDB()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	stages := []entitlement.PlanState{
		planState("pro", entitlement.StageActive, true, "sub_x", 11), planState("pro", entitlement.StagePastDue, true, "sub_x", 11),
		planState("pro", entitlement.StageCanceled, false, "sub_x", 11), planState("course", entitlement.StageActive, true, "cs_x", 21),
		planState("course", entitlement.StageRefunded, false, "cs_x", 21),
	}
	bj, _ := json.Marshal(entitlement.Billing{Customers: []entitlement.Customer{{ID: "cus_x", Subscriptions: []entitlement.Subscription{{ID: "sub_x", Status: "active", Created: listNow.Add(-30 * 24 * time.Hour)}}}}})
	at := listNow.UnixMicro()
	for i := 1; i <= n; i++ {
		ps := stages[i%len(stages)]
		d := entitlement.Desired{Plans: []entitlement.PlanState{ps, planState("team", entitlement.StageNone, false, "")}}
		if ps.Entitled {
			d.AccessGroups = ps.AccessGroups
		}
		dj, _ := json.Marshal(d)
		syncErr := ""
		if i%97 == 0 {
			syncErr = "circle answered 503"
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO people (id, email, name, generation, synced_generation, created_at, updated_at, desired, billing, synced_at, sync_error)
			VALUES (?, ?, ?, 1, 1, ?, ?, ?, ?, ?, ?)`, i, fmt.Sprintf("p%d@example.com", i), fmt.Sprintf("Person %d", i), at, at+int64(i), string(dj), string(bj), at+int64(i), syncErr); err != nil {
			b.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO customers (id, person_id, created_at) VALUES (?, ?, ?)", fmt.Sprintf("cus_%d", i), i, at); err != nil {
			b.Fatal(err)
		}
		if i%7 != 0 { // every seventh entitled person waits for Circle
			if _, err := tx.ExecContext(ctx, "INSERT INTO applied (person_id, provider, kind, target_id, email, applied_at) VALUES (?, 'circle', 'access_group', ?, ?, ?)",
				i, ps.AccessGroups[0], fmt.Sprintf("p%d@example.com", i), at); err != nil {
				b.Fatal(err)
			}
		}
		for j, r := range []string{"retry", "converged"} {
			if _, err := tx.ExecContext(ctx, "INSERT INTO journal (person_id, at, kind, action, result) VALUES (?, ?, 'sync', 'sync', ?)", i, at+int64(j), r); err != nil {
				b.Fatal(err)
			}
		}
		if i%50 == 0 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO review_items (person_id, kind, reason, created_at, updated_at) VALUES (?, 'unmapped_price', 'x', ?, ?)", i, at, at); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	if k, err := st.RefreshPeopleIndex(ctx); err != nil || k != n {
		b.Fatalf("index: %d %v", k, err)
	}
	b.Logf("first index of %d people: %s", n, time.Since(start).Round(time.Millisecond))
	for _, f := range []store.PeopleFilter{
		{}, {Plan: "pro", Stage: "past_due"}, {Stage: store.StageLapsed}, {Access: store.AccessFailing}, {Access: store.AccessInReview},
		{Only: store.OnlyPaidNoAccess}, {Only: store.OnlyAccessNotPaid}, {Query: "p4999"},
	} {
		b.Run(fmt.Sprintf("%+v", f), func(b *testing.B) {
			var total int
			for b.Loop() {
				_, t, err := st.FilterPeople(ctx, f)
				if err != nil {
					b.Fatal(err)
				}
				total = t
			}
			b.ReportMetric(float64(total), "matches")
		})
	}
	b.Run("membership", func(b *testing.B) {
		for b.Loop() {
			if _, err := st.Membership(ctx, listNow.Add(-7*24*time.Hour)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
