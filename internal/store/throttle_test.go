package store_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

func TestLoginFailures(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		always := func([]store.LoginCount) bool { return true }
		for i := range 3 {
			at := t0.Add(time.Duration(i) * time.Minute)
			ids, err := st.ReserveLoginAttempt(ctx, []string{"account:a@example.com", "addr:10.0.0.1"}, at.Add(-15*time.Minute), at, always)
			if err != nil || len(ids) != 2 {
				t.Fatalf("reserving: got %v, %v; want two ids", ids, err)
			}
		}
		n, oldest, err := st.LoginFailures(ctx, "account:a@example.com", t0.Add(-time.Minute))
		if err != nil || n != 3 || !oldest.Equal(t0) {
			t.Errorf("failures: got %d oldest %v err %v; want 3 at %v", n, oldest, err, t0)
		}
		if n, _, _ := st.LoginFailures(ctx, "account:a@example.com", t0.Add(90*time.Second)); n != 1 {
			t.Errorf("window: got %d, want 1", n)
		}
		// admit sees the counts of the window; a refusal records nothing.
		var seen []store.LoginCount
		ids, err := st.ReserveLoginAttempt(ctx, []string{"account:a@example.com", "addr:10.0.0.9"}, t0, t0.Add(3*time.Minute),
			func(c []store.LoginCount) bool { seen = c; return false })
		if err != nil || ids != nil {
			t.Fatalf("refused reservation: got %v, %v; want no ids", ids, err)
		}
		want := []store.LoginCount{{Key: "account:a@example.com", N: 3, Oldest: t0, Latest: t0.Add(2 * time.Minute)}, {Key: "addr:10.0.0.9"}}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("admit saw %v, want %v", seen, want)
		}
		if n, _, _ := st.LoginFailures(ctx, "addr:10.0.0.9", t0.Add(-time.Hour)); n != 0 {
			t.Errorf("a refused attempt was recorded: %d", n)
		}
		// Releasing forgets exactly the reserved rows.
		ids, err = st.ReserveLoginAttempt(ctx, []string{"addr:10.0.0.1"}, t0, t0.Add(3*time.Minute), always)
		if err != nil || len(ids) != 1 {
			t.Fatalf("reserving: got %v, %v", ids, err)
		}
		if err := st.ReleaseLoginAttempt(ctx, ids); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := st.LoginFailures(ctx, "addr:10.0.0.1", t0.Add(-time.Hour)); n != 3 {
			t.Errorf("after release: got %d, want 3", n)
		}
		if err := st.ClearLoginFailures(ctx, "account:a@example.com"); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := st.LoginFailures(ctx, "account:a@example.com", t0.Add(-time.Hour)); n != 0 {
			t.Errorf("after clear: got %d, want 0", n)
		}
		if n, _, _ := st.LoginFailures(ctx, "addr:10.0.0.1", t0.Add(-time.Hour)); n != 3 {
			t.Errorf("the address keeps its failures: got %d, want 3", n)
		}
		// An attempt an hour later prunes the old rows.
		later := t0.Add(time.Hour)
		if _, err := st.ReserveLoginAttempt(ctx, []string{"addr:10.0.0.2"}, later.Add(-15*time.Minute), later, always); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := st.LoginFailures(ctx, "addr:10.0.0.1", t0.Add(-time.Hour)); n != 0 {
			t.Errorf("after pruning: got %d, want 0", n)
		}
	})
}

// TestReserveLoginAttemptIsAtomic races 60 reservations of one key against a limit of 5: the
// count and the record are one step, so exactly 5 pass.
func TestReserveLoginAttemptIsAtomic(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		var admitted atomic.Int64
		errs := make(chan error, 60)
		for range 60 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids, err := st.ReserveLoginAttempt(ctx, []string{"account:race@example.com"}, now.Add(-15*time.Minute), now,
					func(c []store.LoginCount) bool { return c[0].N < 5 })
				if err != nil {
					errs <- err
					return
				}
				if ids != nil {
					admitted.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := admitted.Load(); got != 5 {
			t.Errorf("admitted %d of 60 racing attempts, want 5", got)
		}
		if n, _, _ := st.LoginFailures(ctx, "account:race@example.com", now.Add(-time.Hour)); n != 5 {
			t.Errorf("recorded %d attempts, want 5", n)
		}
	})
}
