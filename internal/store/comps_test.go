package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// personOf ingests an event of customer and returns the person it created.
func personOf(t *testing.T, st *store.Store, eventID, customer string) int64 {
	t.Helper()
	ingest(t, st, event(eventID, customer))
	pid, err := st.PersonIDByCustomer(context.Background(), customer)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestComps(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		pid := personOf(t, st, "evt_c1", "cus_C1")
		granted := time.Date(2026, 12, 3, 14, 2, 0, 0, time.UTC)
		until := granted.AddDate(0, 1, 0)

		if _, err := st.AddComp(ctx, store.Comp{PersonID: pid, PlanID: "pro", GrantedBy: "ann@ops.example.com"}); err == nil {
			t.Error("AddComp without a reason: got no error")
		}
		if _, err := st.AddComp(ctx, store.Comp{PersonID: pid + 100, PlanID: "pro", Reason: "x", GrantedBy: "ann"}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AddComp for a missing person: got %v, want ErrNotFound", err)
		}
		a, err := st.AddComp(ctx, store.Comp{PersonID: pid, PlanID: "pro", Reason: "speaker at the meetup", GrantedBy: "ann@ops.example.com", GrantedAt: granted, Until: until})
		if err != nil {
			t.Fatal(err)
		}
		b, err := st.AddComp(ctx, store.Comp{PersonID: pid, PlanID: "course", Reason: "press", GrantedBy: "bob@ops.example.com", GrantedAt: granted})
		if err != nil {
			t.Fatal(err)
		}
		if a.ID == 0 || b.ID <= a.ID || !a.GrantedAt.Equal(granted) || !a.Until.Equal(until) || !b.Until.IsZero() || !a.RevokedAt.IsZero() {
			t.Fatalf("got comps %+v and %+v", a, b)
		}

		revokedAt := granted.Add(time.Hour)
		st.Now = func() time.Time { return revokedAt }
		if _, _, err := st.RevokeComp(ctx, pid+100, a.ID, "bob", "wrong person"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoking another person's comp: got %v, want ErrNotFound", err)
		}
		if _, _, err := st.RevokeComp(ctx, pid, a.ID, "bob", ""); err == nil {
			t.Error("revoking without a reason: got no error")
		}
		before, after, err := st.RevokeComp(ctx, pid, a.ID, "bob@ops.example.com", "left the program")
		if err != nil {
			t.Fatal(err)
		}
		if !before.RevokedAt.IsZero() || !after.RevokedAt.Equal(revokedAt) || after.RevokedBy != "bob@ops.example.com" || after.RevokeReason != "left the program" {
			t.Errorf("got before %+v, after %+v", before, after)
		}
		if _, _, err := st.RevokeComp(ctx, pid, a.ID, "bob", "again"); !errors.Is(err, store.ErrCompRevoked) {
			t.Errorf("revoking twice: got %v, want ErrCompRevoked", err)
		}

		got, err := st.Comps(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != after || got[1] != b {
			t.Fatalf("Comps: got %+v, want %+v and %+v", got, after, b)
		}
		if got[0].InForce(granted) || !got[1].InForce(granted.AddDate(5, 0, 0)) {
			t.Error("InForce: a revoked comp is in force, or an open-ended one is not")
		}
		ec := store.EntitlementComps(got)
		if len(ec) != 2 || ec[0].ID != a.ID || !ec[0].Revoked.Equal(revokedAt) || !ec[0].Until.Equal(until) || ec[1].PlanID != "course" {
			t.Errorf("EntitlementComps: got %+v", ec)
		}
	})
}

func TestCompsFollowAMerge(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		from := personOf(t, st, "evt_m1", "cus_M1")
		into := personOf(t, st, "evt_m2", "cus_M2")
		c, err := st.AddComp(ctx, store.Comp{PersonID: from, PlanID: "pro", Reason: "beta tester", GrantedBy: "ann"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.MergePerson(ctx, from, into); err != nil {
			t.Fatal(err)
		}
		got, err := st.Comps(ctx, into)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != c.ID || got[0].PersonID != into {
			t.Errorf("comps of the survivor: got %+v, want comp %d moved to person %d", got, c.ID, into)
		}
	})
}
