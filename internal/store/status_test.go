package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

func TestStatusLimitHit(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		st.Now = func() time.Time { return now }
		steps := []struct {
			advance time.Duration
			bucket  string
			want    bool
			reached bool // StatusLimitReached after the hit
		}{
			{0, "resend:1", true, false},
			{time.Minute, "resend:1", true, false},
			{time.Minute, "resend:1", true, true},
			{time.Minute, "resend:1", false, true},
			{0, "resend:2", true, false}, // another bucket counts apart
			{0, "resend:1", false, true},
			{time.Hour, "resend:1", true, false}, // a new window
		}
		for i, s := range steps {
			now = now.Add(s.advance)
			got, err := st.StatusLimitHit(ctx, s.bucket, time.Hour, 3)
			if err != nil {
				t.Fatal(err)
			}
			if got != s.want {
				t.Errorf("step %d: StatusLimitHit(%s) = %v, want %v", i, s.bucket, got, s.want)
			}
			reached, err := st.StatusLimitReached(ctx, s.bucket, time.Hour, 3)
			if err != nil {
				t.Fatal(err)
			}
			if reached != s.reached {
				t.Errorf("step %d: StatusLimitReached(%s) = %v, want %v", i, s.bucket, reached, s.reached)
			}
		}
		if reached, err := st.StatusLimitReached(ctx, "lookup:never", time.Hour, 1); err != nil || reached {
			t.Errorf("StatusLimitReached of an unused bucket = %v, %v; want false", reached, err)
		}
	})
}

func TestStatusLimitPrunesOldWindows(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		st.Now = func() time.Time { return now }
		for range 2 {
			if _, err := st.StatusLimitHit(ctx, "lookup:a", time.Minute, 1); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(48 * time.Hour)
		if _, err := st.StatusLimitHit(ctx, "lookup:b", time.Minute, 1); err != nil {
			t.Fatal(err)
		}
		// Back in the old window, the pruned counter starts again from one.
		now = now.Add(-48 * time.Hour)
		ok, err := st.StatusLimitHit(ctx, "lookup:a", time.Minute, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			t.Error("the old window's counter survived the prune")
		}
	})
}

func TestStatusCheckoutRoundTrip(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		st.Now = func() time.Time { return now }
		if _, err := st.StatusCheckout(ctx, "cs_test_1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("StatusCheckout of an unknown session: %v, want ErrNotFound", err)
		}
		c := store.StatusCheckout{SessionID: "cs_test_1", PersonID: 7, CustomerID: "cus_1"}
		if err := st.SaveStatusCheckout(ctx, c); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Minute)
		c.Paid, c.SyncRequestedAt = true, now
		if err := st.SaveStatusCheckout(ctx, c); err != nil {
			t.Fatal(err)
		}
		got, err := st.StatusCheckout(ctx, "cs_test_1")
		if err != nil {
			t.Fatal(err)
		}
		want := store.StatusCheckout{SessionID: "cs_test_1", PersonID: 7, CustomerID: "cus_1", Paid: true,
			CreatedAt: now.Add(-time.Minute), CheckedAt: now, SyncRequestedAt: now}
		if got != want {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
	})
}

func TestPersonForCheckoutStartsClean(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		pid, created, err := st.PersonForCheckout(ctx, "cus_new")
		if err != nil || !created {
			t.Fatalf("PersonForCheckout = %d, %v, %v; want a new person", pid, created, err)
		}
		var need bool
		if err := st.InTx(ctx, func(tx *store.Tx) error {
			need, err = tx.Trigger(ctx, pid)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if !need {
			t.Error("the trigger after PersonForCheckout did not ask for a sync: the job would never be enqueued")
		}
		again, created, err := st.PersonForCheckout(ctx, "cus_new")
		if err != nil || created || again != pid {
			t.Errorf("second PersonForCheckout = %d, %v, %v; want %d, false", again, created, err, pid)
		}
		p, err := st.Person(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if p.Generation != 1 || !p.Queued {
			t.Errorf("person after the trigger: generation %d queued %v, want 1 true", p.Generation, p.Queued)
		}
	})
}

func TestCheckoutEventSeen(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		ev := store.Event{ID: "evt_cs", Type: "checkout.session.completed", CustomerID: "cus_1", Created: time.Unix(1_800_000_000, 0),
			Actionable: true, Payload: []byte(`{"id":"evt_cs","data":{"object":{"id":"cs_test_a1","customer":"cus_1"}}}`)}
		ingest(t, st, ev)
		for _, c := range []struct {
			customer, session string
			want              bool
		}{
			{"cus_1", "cs_test_a1", true},
			{"cus_1", "cs_test_a2", false},
			{"cus_2", "cs_test_a1", false}, // another customer's event never counts
			{"cus_1", "cs_test%", false},   // LIKE wildcards are literal
			{"cus_1", "cs_test_a_", false},
		} {
			got, err := st.CheckoutEventSeen(ctx, c.customer, c.session)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("CheckoutEventSeen(%s, %s) = %v, want %v", c.customer, c.session, got, c.want)
			}
		}
	})
}

func TestPeopleEmails(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := ingest(t, st, event("evt_a", "cus_a")).PersonID
		ingest(t, st, event("evt_b", "cus_b"))
		if err := st.SetIdentity(ctx, a, "ada@example.com", "Ada"); err != nil {
			t.Fatal(err)
		}
		got, err := st.PeopleEmails(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != (store.PersonEmail{ID: a, Email: "ada@example.com"}) {
			t.Errorf("PeopleEmails = %+v, want only ada", got)
		}
	})
}
