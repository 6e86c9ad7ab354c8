package drift_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// openStrangerItems returns the open stranger review items by person.
func openStrangerItems(t *testing.T, e *env) map[int64]store.ReviewItem {
	t.Helper()
	items, err := e.st.Reviews(e.ctx, "open", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]store.ReviewItem{}
	for _, it := range items {
		if it.Kind == drift.ReviewStranger {
			if _, dup := out[it.PersonID]; dup {
				t.Errorf("two open stranger items for person %d", it.PersonID)
			}
			out[it.PersonID] = it
		}
	}
	return out
}

// marked returns the people marked with a sync waiting, and checks that jobs sync jobs exist in
// all (e.sync runs a person's sync in place of the worker and leaves its job behind).
func marked(t *testing.T, e *env, jobs int) []int64 {
	t.Helper()
	var out []int64
	for _, pid := range e.people() {
		p, err := e.st.Person(e.ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if p.Queued {
			out = append(out, pid)
		}
	}
	n, err := e.st.JobCount(e.ctx, converge.SyncArgs{}.Kind(), "available")
	if err != nil {
		t.Fatal(err)
	}
	if n != jobs {
		t.Errorf("%d sync jobs exist, want %d", n, jobs)
	}
	return out
}

func personByEmail(t *testing.T, e *env, email string) int64 {
	t.Helper()
	pid, err := e.st.PersonIDByEmail(e.ctx, email)
	if err != nil {
		t.Fatalf("person %s: %v", email, err)
	}
	return pid
}

// TestStrangers: strangers (a Circle member in managed groups and with a managed tag, a Kit
// subscriber with a managed tag) are reported by a dry run, get a person and one review item each
// from a repairing sweep in report mode (nobody is removed), are removed by the item's Remove
// (RemoveStranger) or by a repairing sweep in remove mode, and through the journaled sync only.
func TestStrangers(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			payer, _ := e.customer("grace@example.com", true) // in step: never a stranger
			const eve, mallory = "eve@example.com", "mallory@example.com"
			e.circle.CreateMemberDirect(eve, "Eve")
			must(t, e.circle.AddToGroupDirect(e.courseGroup, eve))
			must(t, e.circle.AddToGroupDirect(e.proGroup, eve))
			must(t, e.kit.TagDirect(e.tagActive, eve))
			must(t, e.kit.TagDirect(e.tagActive, mallory))
			before := len(e.people())

			// A dry run reports and changes nothing.
			rep, err := e.sweeper.Run(e.ctx, drift.Options{RemoveStrangers: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Unknown != 3 || rep.Counts[drift.UnknownMember] != 2 || rep.Counts[drift.UnknownSubscriber] != 2 || rep.Drifted != 0 {
				t.Fatalf("dry run: unknown %d counts %v drifted %d; want 3 strangers (eve's member and subscriber, mallory), 2+2 differences, none drifted",
					rep.Unknown, rep.Counts, rep.Drifted)
			}
			if n := len(e.people()); n != before || len(openStrangerItems(t, e)) != 0 || len(e.queued()) != 0 {
				t.Fatalf("a dry run made people (%d → %d), review items or syncs", before, n)
			}

			// Report mode (the default): a person and one item per stranger, nobody removed.
			rep, err = e.sweeper.Run(e.ctx, drift.Options{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			evePID, malPID := personByEmail(t, e, eve), personByEmail(t, e, mallory)
			items := openStrangerItems(t, e)
			if len(items) != 2 || items[evePID].ID == 0 || items[malPID].ID == 0 || rep.StrangersReviewed != 2 || rep.StrangersRemoved != 0 {
				t.Fatalf("report mode: items %v, reviewed %d removed %d; want one item for each of eve (%d) and mallory (%d)",
					items, rep.StrangersReviewed, rep.StrangersRemoved, evePID, malPID)
			}
			if r := items[evePID].Reason; !strings.Contains(r, eve) || !strings.Contains(r, "Circle access group") || !strings.Contains(r, "Kit tag") {
				t.Errorf("eve's item says %q; want her email, the group and the tag", r)
			}
			for _, d := range rep.Differences {
				if d.Kind.Stranger() && d.PersonID == 0 {
					t.Errorf("stranger difference %+v names no person", d)
				}
			}
			if q := e.queued(); len(q) != 0 || rep.Repaired != 0 {
				t.Fatalf("report mode queued syncs %v (repaired %d)", q, rep.Repaired)
			}
			if !e.inGroup(e.courseGroup, eve) || !e.hasTag(e.tagActive, mallory) {
				t.Fatal("report mode removed a stranger")
			}

			// Again: the same items (bumped), no lookups (the member id was recorded), no new people.
			n := len(e.people())
			rep, err = e.sweeper.Run(e.ctx, drift.Options{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			items = openStrangerItems(t, e)
			if len(items) != 2 || items[evePID].Occurrences != 2 || len(e.people()) != n {
				t.Errorf("second sweep: items %v, people %d → %d; want the two items seen twice", items, n, len(e.people()))
			}
			if rep.Calls.Circle != 2 || rep.Unknown != 3 {
				t.Errorf("second sweep: %d Circle calls, unknown %d; want 2 (the two group pages, no lookup), 3", rep.Calls.Circle, rep.Unknown)
			}

			// Remove on eve's item: her sync removes her from the groups and the tag.
			if _, err := drift.RemoveStranger(e.ctx, e.st, e.q, payer, "ops@example.com"); !errors.Is(err, drift.ErrNoStranger) {
				t.Errorf("RemoveStranger of a paying member = %v, want ErrNoStranger", err)
			}
			diffs, err := drift.RemoveStranger(e.ctx, e.st, e.q, evePID, "ops@example.com")
			if err != nil || len(diffs) != 3 {
				t.Fatalf("RemoveStranger(eve) = %v, %v; want her 3 differences", diffs, err)
			}
			if q := e.queued(); !slices.Equal(q, []int64{evePID}) {
				t.Fatalf("queued %v, want eve's sync", q)
			}
			e.sync(evePID)
			if e.inGroup(e.courseGroup, eve) || e.inGroup(e.proGroup, eve) || e.hasTag(e.tagActive, eve) {
				t.Error("eve's sync did not remove her")
			}
			if !journalHas(t, e, evePID, "note", "stranger") || !journalHas(t, e, evePID, "call", "circle:remove_access_group") {
				t.Error("eve's journal lacks the stranger note or the removing call")
			}
			if !e.inGroup(e.proGroup, "grace@example.com") {
				t.Error("removing a stranger touched a paying member")
			}

			// Remove mode: mallory is removed by the sweep, her item resolved.
			rep, err = e.sweeper.Run(e.ctx, drift.Options{Repair: true, RemoveStrangers: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.StrangersRemoved != 1 || rep.StrangersReviewed != 0 {
				t.Errorf("remove mode: removed %d reviewed %d, want 1 0", rep.StrangersRemoved, rep.StrangersReviewed)
			}
			if _, open := openStrangerItems(t, e)[malPID]; open {
				t.Error("mallory's item stayed open after her removal")
			}
			if q := marked(t, e, 2); !slices.Equal(q, []int64{malPID}) {
				t.Fatalf("queued %v, want mallory's sync", q)
			}
			e.sync(malPID)
			if e.hasTag(e.tagActive, mallory) {
				t.Error("mallory's sync did not remove her tag")
			}

			rep, err = e.sweeper.Run(e.ctx, drift.Options{Repair: true, RemoveStrangers: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Differences) != 0 || rep.Unknown != 0 || len(marked(t, e, 2)) != 0 {
				t.Errorf("after the removals: differences %v, unknown %d; want none", keys(rep), rep.Unknown)
			}
		})
	}
}

// TestStrangerWhoPays: a stranger's person who then buys is no stranger: a sweep in remove mode
// leaves them in the group their plan grants.
func TestStrangerWhoPays(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			const email = "late@example.com"
			e.circle.CreateMemberDirect(email, "Late")
			must(t, e.circle.AddToGroupDirect(e.proGroup, email))
			if _, err := e.sweeper.Run(e.ctx, drift.Options{Repair: true}); err != nil {
				t.Fatal(err)
			}
			stranger := personByEmail(t, e, email)
			e.customer(email, true) // its sync finds the email taken by the stranger's person: one person
			for _, q := range marked(t, e, 1) {
				e.sync(q)
			}
			p, err := e.st.Person(e.ctx, stranger)
			if err != nil || len(p.CustomerIDs) != 1 {
				t.Fatalf("the stranger's person after the purchase: %+v, %v; want the buyer's customer merged in", p, err)
			}
			rep, err := e.sweeper.Run(e.ctx, drift.Options{Repair: true, RemoveStrangers: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.StrangersRemoved != 0 || rep.Unknown != 0 {
				t.Errorf("a paying member was treated as a stranger: removed %d unknown %d (%v)", rep.StrangersRemoved, rep.Unknown, keys(rep))
			}
			if q := marked(t, e, 1); len(q) != 0 {
				t.Errorf("syncs queued for %v, want none", q)
			}
			if !e.inGroup(e.proGroup, email) {
				t.Error("the paying member lost access")
			}
		})
	}
}

// TestErasedStrangerLeftAlone: a member membersync erased with forget --local-only (left in
// Circle and Kit) is not made a person again by the sweep, gets no review item, and the report
// keeps no trace of the email; without the erasure key the same member is an ordinary stranger.
func TestErasedStrangerLeftAlone(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			const ana = "ana@example.com"
			key := []byte("erasure key of this test")
			var pid int64
			must(t, e.st.InTx(e.ctx, func(tx *store.Tx) (err error) {
				if pid, _, err = tx.PersonForEmail(e.ctx, ana); err != nil {
					return err
				}
				_, err = tx.BeginErasure(e.ctx, store.EraseRequest{PersonID: pid, Reason: "asked by email", By: "test", LocalOnly: true, Key: key})
				return err
			}))
			if _, err := e.st.FinishErasure(e.ctx, pid); err != nil {
				t.Fatal(err)
			}
			e.circle.CreateMemberDirect(ana, "Ana")
			must(t, e.circle.AddToGroupDirect(e.proGroup, ana))
			must(t, e.kit.TagDirect(e.tagActive, ana))

			e.sweeper.ErasureKey = key
			rep, err := e.sweeper.Run(e.ctx, drift.Options{Repair: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.st.PersonIDByEmail(e.ctx, ana); err == nil {
				t.Error("the sweep made a person of an erased email")
			}
			if items := openStrangerItems(t, e); len(items) != 0 || rep.StrangersReviewed != 0 {
				t.Errorf("erased member got review items %v (reviewed %d)", items, rep.StrangersReviewed)
			}
			for _, d := range rep.Differences {
				if strings.EqualFold(d.Email, ana) {
					t.Errorf("the report names the erased email: %+v", d)
				}
			}
			if !slices.ContainsFunc(rep.Problems, func(p string) bool { return strings.Contains(p, "erased") }) {
				t.Errorf("report problems %q do not say erased members were left alone", rep.Problems)
			}

			// Without the key the sweep cannot tell: an ordinary stranger (the test can fail).
			e.sweeper.ErasureKey = nil
			if rep, err = e.sweeper.Run(e.ctx, drift.Options{Repair: true}); err != nil {
				t.Fatal(err)
			}
			if rep.StrangersReviewed != 1 {
				t.Errorf("without the key: reviewed %d strangers, want 1", rep.StrangersReviewed)
			}
		})
	}
}
