package drift_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/store"
)

// seeded is one person written straight into the store, as a sync would have left them.
type seeded struct {
	email    string
	memberID int64
	subID    int64
	groups   []int64
	tags     []int64
}

// seedPeople inserts people in one transaction, in step (synced, nothing pending), with their
// desired state as the sync stores it (only the fields the sweep reads).
func seedPeople(t testing.TB, st *store.Store, people []seeded) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UnixMicro()
	rows := make([][]any, len(people))
	for i, p := range people {
		desired, err := json.Marshal(desiredOf(p))
		if err != nil {
			t.Fatal(err)
		}
		rows[i] = []any{p.email, p.memberID, p.subID, int64(1), int64(1), false, now, now, string(desired), now, int64(0)}
	}
	cols := []string{"email", "circle_member_id", "kit_subscriber_id", "generation", "synced_generation", "queued",
		"created_at", "updated_at", "desired", "synced_at", "next_change"}
	if st.Dialect() == store.Postgres {
		if _, err := st.Pool().CopyFrom(ctx, pgx.Identifier{"people"}, cols, pgx.CopyFromRows(rows)); err != nil {
			t.Fatal(err)
		}
		return
	}
	tx, err := st.SQLDB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO people (email, circle_member_id, kit_subscriber_id, generation, synced_generation, queued,
		created_at, updated_at, desired, synced_at, next_change) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if _, err := stmt.ExecContext(ctx, r...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// desiredOf is a desired state as a sync stores it, entitled to the groups and tags of p.
func desiredOf(p seeded) entitlement.Desired {
	until := time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC)
	return entitlement.Desired{
		Plans: []entitlement.PlanState{
			{PlanID: "pro", Entitled: len(p.groups) > 0, Stage: entitlement.StageActive, Reason: "subscription_active",
				Explanation: "The subscription is active; it renews on 1 August 2026.", Until: until, Source: "sub_1QxYzAbCdEfGhIjK",
				AccessGroups: p.groups, Tags: p.tags},
			{PlanID: "course", Stage: entitlement.StageNone},
		},
		AccessGroups: p.groups, ManagedAccessGroups: []int64{11, 12}, Tags: p.tags, ManagedTags: []int64{1001, 1002},
		Sequences: []entitlement.Enrollment{{PlanID: "pro", SequenceID: 77, Kind: entitlement.SequenceOnboarding}},
	}
}

func pages(n, per int) int { return max(1, (n+per-1)/per) }

// TestSweepCostGrowsWithPages: the calls of a sweep are the list pages of each managed group and
// tag (100 members, 1,000 subscribers a page), whatever the number of people, and none per person.
func TestSweepCostGrowsWithPages(t *testing.T) {
	const (
		listGroup = "GET /api/admin/v2/access_groups/{id}/community_members"
		listTag   = "GET /v4/tags/{tag_id}/subscribers"
	)
	for _, n := range []int{10, 10_000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			e := newEnv(t, store.SQLite)
			people := make([]seeded, n)
			for i := range people {
				email := fmt.Sprintf("member%05d@example.com", i)
				m := e.circle.CreateMemberDirect(email, "")
				sub := e.kit.CreateSubscriber(email, "")
				people[i] = seeded{email: email, memberID: m.ID, subID: sub.ID, groups: []int64{e.proGroup}, tags: []int64{e.tagActive}}
				if i%1000 == 7 {
					continue // drift: paid, no access and no tag
				}
				must(t, e.circle.AddToGroupDirect(e.proGroup, email))
				must(t, e.kit.TagDirect(e.tagActive, email))
			}
			seedPeople(t, e.st, people)
			e.circle.Faults.ResetCalls()
			e.kit.Faults.ResetCalls()
			e.stripe.Faults.ResetCalls()

			var budget drift.Budget
			rep, err := e.sweeper.Run(e.ctx, drift.Options{OnBudget: func(b drift.Budget) { budget = b }})
			if err != nil {
				t.Fatal(err)
			}
			drifted := (n + 992) / 1000 // i%1000 == 7
			if rep.People != n || rep.Drifted != drifted || rep.Counts[drift.PaidNoAccess] != drifted || rep.Counts[drift.MissingTag] != drifted {
				t.Errorf("people %d drifted %d counts %v; want %d, %d", rep.People, rep.Drifted, rep.Counts, n, drifted)
			}
			// Pro's members, then Course's (empty); active's subscribers, then canceled's (empty).
			wantCircle := pages(n-drifted, 100) + 1
			wantKit := pages(n-drifted, 1000) + 1
			if got := e.circle.Faults.Calls(listGroup); got != wantCircle {
				t.Errorf("Circle list calls %d, want %d", got, wantCircle)
			}
			if got := e.kit.Faults.Calls(listTag); got != wantKit {
				t.Errorf("Kit list calls %d, want %d", got, wantKit)
			}
			if got := e.circle.Faults.TotalCalls(); got != wantCircle {
				t.Errorf("Circle calls %d, want only the %d list pages: %v", got, wantCircle, e.circle.Faults.AllCalls())
			}
			if got := e.kit.Faults.TotalCalls(); got != wantKit {
				t.Errorf("Kit calls %d, want only the %d list pages: %v", got, wantKit, e.kit.Faults.AllCalls())
			}
			if got := e.stripe.Faults.TotalCalls(); got != 0 {
				t.Errorf("Stripe calls %d, want none", got)
			}
			if rep.Calls != (drift.Calls{Circle: wantCircle, Kit: wantKit}) {
				t.Errorf("reported calls %+v, want circle %d kit %d", rep.Calls, wantCircle, wantKit)
			}
			if budget.CirclePages != pages(n, 100)+1 || budget.KitPages != pages(n, 1000)+1 {
				t.Errorf("expected pages circle %d kit %d, want %d %d", budget.CirclePages, budget.KitPages, pages(n, 100)+1, pages(n, 1000)+1)
			}
		})
	}
}
