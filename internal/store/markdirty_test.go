package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/membersync/membersync/internal/store"
)

// TestMarkDirtyNeverStrandsAPerson races a trigger against a sync starting, round after round: the
// trigger arrives while a sync is waiting, and the sync starts at the same instant. Whatever the
// order, the person must end either covered by the sync or with a sync asked for. On PostgreSQL a
// trigger that matched on the waiting mark in one statement and bumped the generation in another
// could fall between the two and strand the person: dirty, nothing waiting, no job.
func TestMarkDirtyNeverStrandsAPerson(t *testing.T) {
	rounds := 400
	if testing.Short() {
		rounds = 50
	}
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		pid := ingest(t, st, event("evt_race", "cus_race")).PersonID // a sync is waiting
		for round := range rounds {
			var need bool
			var begun store.SyncStart
			var errA, errB error
			var wg sync.WaitGroup
			wg.Go(func() {
				errA = st.InTx(ctx, func(tx *store.Tx) error {
					var err error
					need, err = tx.MarkDirty(ctx, pid)
					return err
				})
			})
			wg.Go(func() { begun, errB = st.StartSync(ctx, pid) })
			wg.Wait()
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if err := st.FinishSync(ctx, pid, begun.Generation); err != nil {
				t.Fatal(err)
			}
			p, err := st.Person(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			if p.SyncedGeneration < p.Generation && !p.Queued && !need {
				t.Fatalf("round %d: person stranded: generation %d, synced %d, no sync waiting and none asked for", round, p.Generation, p.SyncedGeneration)
			}
			// Settle, then leave a sync waiting again for the next round.
			if need || p.Queued {
				b, err := st.StartSync(ctx, pid)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.FinishSync(ctx, pid, b.Generation); err != nil {
					t.Fatal(err)
				}
			}
			err = st.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.MarkDirty(ctx, pid)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}
