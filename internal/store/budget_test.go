package store_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/budget"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// Two instances (two connections to one database) spend one budget: concurrent takes never share
// a slot, a pause set by one holds the other, and each request is counted against the month.
func TestBudgetIsSharedByInstances(t *testing.T) {
	ctx := context.Background()
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			url := storetest.URL(t, d)
			a, b := openStore(t, url), openStore(t, url)
			if _, err := a.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			t0 := time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)
			var mu sync.Mutex
			now := t0
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			rate := budget.Rate{PerMinute: 60, Burst: 3}
			ba, err := a.Budget(ctx, "kit:abcd1234", rate, clock)
			if err != nil {
				t.Fatal(err)
			}
			bb, err := b.Budget(ctx, "kit:abcd1234", rate, clock)
			if err != nil {
				t.Fatal(err)
			}
			var waits []time.Duration
			var wg sync.WaitGroup
			for i := range 12 {
				wg.Go(func() {
					bud := ba
					if i%2 == 1 {
						bud = bb
					}
					w, err := bud.Take(ctx, 0)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					waits = append(waits, w)
					mu.Unlock()
				})
			}
			wg.Wait()
			slices.Sort(waits)
			want := []time.Duration{0, 0, 0}
			for k := 1; k <= 9; k++ {
				want = append(want, time.Duration(k)*time.Second)
			}
			if !slices.Equal(waits, want) {
				t.Fatalf("waits %v, want %v: two takes got the same slot", waits, want)
			}

			// Over the caller's limit: nothing reserved, and the wait is said.
			_, err = ba.Take(ctx, 5*time.Second)
			var over *budget.Over
			if !errors.As(err, &over) || over.Wait != 10*time.Second || over.Paused {
				t.Fatalf("over the limit: %v", err)
			}

			// A 429 seen by one instance pauses the other.
			mu.Lock()
			now = t0.Add(time.Hour) // the bucket has refilled; the month has changed
			mu.Unlock()
			if err := ba.Pause(ctx, time.Minute); err != nil {
				t.Fatal(err)
			}
			if _, err := bb.Take(ctx, 10*time.Second); !errors.As(err, &over) || !over.Paused || over.Wait != time.Minute {
				t.Fatalf("during the pause: %v", err)
			}
			if w, err := bb.Take(ctx, 0); err != nil || w != time.Minute {
				t.Fatalf("waiting out the pause: %v %v", w, err)
			}

			// Counting: 12 requests in December, 1 in January, plus a flushed in-memory count.
			if n, err := a.BudgetUsage(ctx, "kit:", "2026-12"); err != nil || n != 0 {
				t.Errorf("December after the month turned: %d %v (the row holds the current month only)", n, err)
			}
			if err := b.AddBudgetUsage(ctx, "kit:abcd1234", "2027-01", 4); err != nil {
				t.Fatal(err)
			}
			if err := b.AddBudgetUsage(ctx, "circle:ffff0000", "2027-01", 7); err != nil {
				t.Fatal(err)
			}
			if n, err := a.BudgetUsage(ctx, "kit:", "2027-01"); err != nil || n != 5 {
				t.Errorf("kit January: %d %v, want 5", n, err)
			}
			if n, err := a.BudgetUsage(ctx, "circle:", store.Month(t0.Add(time.Hour))); err != nil || n != 7 {
				t.Errorf("circle January: %d %v, want 7", n, err)
			}
		})
	}
}

// BenchmarkBudgetTake measures one Take of a database budget: the cost every provider call pays for
// a budget shared across instances (one UPDATE … RETURNING). Run with TEST_DATABASE_URL for
// PostgreSQL:
//
//	go test -run '^$' -bench BudgetTake -benchtime 2000x ./internal/store/
func BenchmarkBudgetTake(b *testing.B) {
	ctx := context.Background()
	for _, d := range storetest.Dialects() {
		b.Run(d, func(b *testing.B) {
			url := storetest.URL(b, d)
			st, err := store.Open(ctx, url)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			// A rate high enough that no Take waits: the figure is the database's cost alone.
			bud, err := st.Budget(ctx, "kit:bench", budget.Rate{PerMinute: 1 << 30, Burst: 1 << 20}, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := bud.Take(ctx, 0); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
