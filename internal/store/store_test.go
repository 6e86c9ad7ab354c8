package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

func forEachDialect(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			fn(t, storetest.Open(t, d))
		})
	}
}

func ingest(t *testing.T, st *store.Store, ev store.Event) store.IngestResult {
	t.Helper()
	var res store.IngestResult
	err := st.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		res, err = tx.IngestEvent(context.Background(), ev)
		return err
	})
	if err != nil {
		t.Fatalf("ingest %s: %v", ev.ID, err)
	}
	return res
}

func event(id, customer string) store.Event {
	return store.Event{ID: id, Type: "invoice.paid", CustomerID: customer, Created: time.Unix(1_800_000_000, 0), Actionable: true, Payload: []byte(`{"id":"` + id + `"}`)}
}

func TestMigrateIsIdempotent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		applied, err := st.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Errorf("second Migrate applied %v, want nothing", applied)
		}
		got, known, err := st.SchemaVersion(ctx)
		if err != nil || got != known || got == 0 {
			t.Errorf("SchemaVersion = %d, %d, %v; want equal and non-zero", got, known, err)
		}
	})
}

func TestIngestEvent(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		first := ingest(t, st, event("evt_1", "cus_A"))
		if first.Duplicate || first.State != store.EventQueued || first.PersonID == 0 || !first.NeedsSync {
			t.Fatalf("first delivery: got %+v, want queued with a new person needing a sync", first)
		}
		if dup := ingest(t, st, event("evt_1", "cus_A")); !dup.Duplicate || dup.NeedsSync {
			t.Errorf("same id again: got %+v, want a duplicate that needs nothing", dup)
		}
		second := ingest(t, st, event("evt_2", "cus_A"))
		if second.PersonID != first.PersonID || second.NeedsSync {
			t.Errorf("second event while a sync waits: got %+v, want the same person and no new job", second)
		}
		ignored := ingest(t, st, store.Event{ID: "evt_3", Type: "product.created", Created: time.Now(), Payload: []byte("{}")})
		if ignored.State != store.EventIgnored || ignored.PersonID != 0 || ignored.NeedsSync {
			t.Errorf("ignored type: got %+v", ignored)
		}
		unresolved := ingest(t, st, store.Event{ID: "evt_4", Type: "charge.dispute.created", Actionable: true, Created: time.Now(), Payload: []byte("{}")})
		if unresolved.State != store.EventUnresolved || !unresolved.NeedsResolve {
			t.Errorf("dispute without customer: got %+v, want unresolved needing a resolve job", unresolved)
		}

		p, err := st.Person(ctx, first.PersonID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Generation != 2 || !p.Queued || len(p.CustomerIDs) != 1 || p.CustomerIDs[0] != "cus_A" {
			t.Errorf("person: got %+v, want generation 2, queued, customer cus_A", p)
		}
		ev, err := st.Event(ctx, "evt_1")
		if err != nil {
			t.Fatal(err)
		}
		if ev.PersonID != first.PersonID || ev.State != store.EventQueued || string(ev.Payload) != `{"id":"evt_1"}` {
			t.Errorf("stored event: got %+v", ev)
		}
		counts, err := st.EventCounts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if counts[store.EventQueued] != 2 || counts[store.EventIgnored] != 1 || counts[store.EventUnresolved] != 1 {
			t.Errorf("counts: got %v", counts)
		}
	})
}

// An event arriving while a sync runs must cause another sync: StartSync clears the waiting mark.
func TestEventDuringSyncNeedsAnotherSync(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		r := ingest(t, st, event("evt_1", "cus_A"))
		begun, err := st.StartSync(ctx, r.PersonID)
		if err != nil {
			t.Fatal(err)
		}
		gen := begun.Generation
		mid := ingest(t, st, event("evt_2", "cus_A"))
		if !mid.NeedsSync {
			t.Fatal("event during a running sync: want a new sync job")
		}
		if err := st.FinishSync(ctx, r.PersonID, gen); err != nil {
			t.Fatal(err)
		}
		p, _ := st.Person(ctx, r.PersonID)
		if p.SyncedGeneration >= p.Generation {
			t.Errorf("synced %d, generation %d: the mid-sync event must leave the person dirty", p.SyncedGeneration, p.Generation)
		}
	})
}

func TestConcurrentDuplicatesStoreOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		fresh := 0
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var res store.IngestResult
				err := st.InTx(context.Background(), func(tx *store.Tx) error {
					var err error
					res, err = tx.IngestEvent(context.Background(), event(fmt.Sprintf("evt_%d", i%4), "cus_A"))
					return err
				})
				if err != nil {
					t.Error(err)
					return
				}
				if !res.Duplicate {
					mu.Lock()
					fresh++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if fresh != 4 {
			t.Errorf("got %d fresh events out of 16 deliveries of 4 ids, want 4", fresh)
		}
		n, _ := st.PeopleCount(context.Background())
		if n != 1 {
			t.Errorf("people: got %d, want 1", n)
		}
	})
}

func TestJournal(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		for i, a := range []string{"first", "second"} {
			if err := st.AppendJournal(ctx, store.JournalEntry{PersonID: 7, Kind: "call", Action: a, Status: 200 + i, Duration: 1500 * time.Microsecond}); err != nil {
				t.Fatal(err)
			}
		}
		got, err := st.Journal(ctx, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Action != "first" || got[1].Status != 201 || got[1].Duration != 1500*time.Microsecond {
			t.Errorf("journal: got %+v", got)
		}
	})
}

// Time to converge is recorded per event when a sync confirms every action, and the overview charts it.
func TestConvergedEventsInOverview(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 29, 12, 30, 0, 0, time.UTC)
		st.Now = func() time.Time { return now }
		r := ingest(t, st, event("evt_c1", "cus_C"))
		now = now.Add(2 * time.Second)
		begun, err := st.StartSync(ctx, r.PersonID)
		if err != nil {
			t.Fatal(err)
		}
		received, err := st.MarkEventsConverged(ctx, r.PersonID, begun.Events)
		if err != nil || len(received) != 1 {
			t.Fatalf("MarkEventsConverged: %v, %v", received, err)
		}
		o, err := st.Overview(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		h := o.Hours[len(o.Hours)-1]
		if h.Converged != 1 || h.AvgConverge != 2*time.Second || h.MaxConverge != 2*time.Second {
			t.Errorf("last hour: %d converged, mean %v, max %v; want 1, 2s, 2s", h.Converged, h.AvgConverge, h.MaxConverge)
		}
	})
}
