package converge_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/store"
)

// compPerson is a Stripe customer who bought nothing, known to membersync by the customer.created
// event and synced once (no access).
func compPerson(t *testing.T, e *env, email string) (int64, string) {
	t.Helper()
	cus := e.stripe.CreateCustomer(email, "Cora")
	_, res := e.deliver(0)
	if res.PersonID == 0 {
		t.Fatal("the customer event made no person")
	}
	e.sync(res.PersonID)
	if got := e.circle.GroupMemberEmails(e.proGroup); slices.Contains(got, email) {
		t.Fatalf("pro group %v before any comp", got)
	}
	return res.PersonID, cus
}

// grantedInOrder checks that the person holds the pro group, the active tag and the onboarding
// sequence, and that the journal confirmed the Circle grant before the first Kit tag call.
func grantedInOrder(t *testing.T, e *env, pid int64, email string) {
	t.Helper()
	if got := e.circle.GroupMemberEmails(e.proGroup); !slices.Contains(got, email) {
		t.Fatalf("pro group %v: the comp did not grant access", got)
	}
	if got := e.kit.TagsOf(email); !slices.Contains(got, e.tagActive) {
		t.Fatalf("Kit tags %v: the comp did not tag %d", got, e.tagActive)
	}
	if got := e.kit.SequencesOf(email); !slices.Contains(got, e.seqOnboarding) {
		t.Fatalf("Kit sequences %v: the comp did not enroll onboarding %d", got, e.seqOnboarding)
	}
	entries, err := e.st.Journal(e.ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	circleAt, kitAt := -1, -1
	for i, en := range entries {
		if en.Kind == "call" && strings.HasPrefix(en.Action, "circle:") && strings.Contains(en.Action, "group") && en.Result == "ok" && circleAt < 0 {
			circleAt = i
		}
		if en.Kind == "call" && strings.HasPrefix(en.Action, "kit:") && strings.Contains(en.Action, "tag") && kitAt < 0 {
			kitAt = i
		}
	}
	if circleAt < 0 || kitAt < 0 || kitAt < circleAt {
		t.Fatalf("journal: Circle grant at %d, first Kit tag call at %d; want both, Circle first (access before email)", circleAt, kitAt)
	}
}

func TestCompGrantsThroughTheSyncAndItsRevocationRevokes(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		const email = "cora@example.test"
		pid, _ := compPerson(t, e, email)

		c, err := e.st.AddComp(e.ctx, store.Comp{PersonID: pid, PlanID: "pro", Reason: "speaker", GrantedBy: "ann@ops.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		out := e.sync(pid)
		if !out.Converged {
			t.Fatalf("sync with a comp did not converge: %+v", out)
		}
		st, _ := out.Desired.Plan("pro")
		if !st.Entitled || st.Stage != entitlement.StageComp || st.Source != entitlement.CompSource(c.ID) {
			t.Fatalf("pro: got %+v, want entitled at stage comp from %s", st, entitlement.CompSource(c.ID))
		}
		grantedInOrder(t, e, pid, email)
		// The snapshot the sync records carries the comp, so the lists can date it.
		raw, err := e.st.Billing(e.ctx, pid)
		if err != nil || !strings.Contains(raw, `"Comps"`) {
			t.Fatalf("billing snapshot %q (%v): want the comps in it", raw, err)
		}

		if _, _, err := e.st.RevokeComp(e.ctx, pid, c.ID, "bob@ops.example.com", "the talk was canceled"); err != nil {
			t.Fatal(err)
		}
		out = e.sync(pid)
		if !out.Converged {
			t.Fatalf("sync after the revocation did not converge: %+v", out)
		}
		if got := e.circle.GroupMemberEmails(e.proGroup); slices.Contains(got, email) {
			t.Fatalf("pro group %v: the revoked comp still grants access", got)
		}
		if got := e.kit.TagsOf(email); slices.Contains(got, e.tagActive) {
			t.Fatalf("Kit tags %v: the revoked comp's tag stayed", got)
		}
	})
}

func TestCompEndsByTheClock(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		const email = "dora@example.test"
		pid, _ := compPerson(t, e, email)
		until := e.clock.now().Add(48 * time.Hour).Truncate(time.Microsecond).UTC() // the store keeps microseconds
		if _, err := e.st.AddComp(e.ctx, store.Comp{PersonID: pid, PlanID: "pro", Reason: "trial for a partner", GrantedBy: "ann", Until: until}); err != nil {
			t.Fatal(err)
		}
		out := e.sync(pid)
		if !out.Desired.NextChange.Equal(until) {
			t.Fatalf("got next change %v, want the comp's end %v", out.Desired.NextChange, until)
		}
		grantedInOrder(t, e, pid, email)
		ss, err := e.st.SyncState(e.ctx, pid)
		if err != nil || !ss.NextChange.Equal(until) {
			t.Fatalf("stored next change %v (%v), want %v: the end schedules a sync", ss.NextChange, err, until)
		}

		e.clock.setBack(until.Add(time.Second))
		out = e.sync(pid)
		if st, _ := out.Desired.Plan("pro"); st.Entitled {
			t.Fatalf("pro after the comp's end: got %+v, want no access", st)
		}
		if got := e.circle.GroupMemberEmails(e.proGroup); slices.Contains(got, email) {
			t.Fatalf("pro group %v: the ended comp still grants access", got)
		}
		if got := e.kit.TagsOf(email); slices.Contains(got, e.tagActive) {
			t.Fatalf("Kit tags %v: the ended comp's tag stayed", got)
		}
	})
}

func TestRevokingACompKeepsWhatStripeGrants(t *testing.T) {
	t.Parallel()
	forEachDialect(t, func(t *testing.T, e *env) {
		const email = "eve@example.test"
		cus := e.stripe.CreateCustomer(email, "Eve")
		e.stripe.Subscribe(cus, e.proPrice, 0)
		_, res := e.deliver(0)
		pid := res.PersonID
		c, err := e.st.AddComp(e.ctx, store.Comp{PersonID: pid, PlanID: "pro", Reason: "double check", GrantedBy: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		out := e.sync(pid)
		if st, _ := out.Desired.Plan("pro"); st.Stage != entitlement.StageActive {
			t.Fatalf("pro with a subscription and a comp: got stage %s, want active (paid is told as paid)", st.Stage)
		}
		if _, _, err := e.st.RevokeComp(e.ctx, pid, c.ID, "ann", "not needed"); err != nil {
			t.Fatal(err)
		}
		e.sync(pid)
		if got := e.circle.GroupMemberEmails(e.proGroup); !slices.Contains(got, email) {
			t.Fatalf("pro group %v: revoking a comp removed the access Stripe grants", got)
		}
	})
}
