package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

func TestSyncRecovery(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		sync := func(pid int64, at time.Time, result, detail string) {
			t.Helper()
			journal(t, st, store.JournalEntry{PersonID: pid, At: at, Kind: "sync", Action: "sync", Target: "webhook", Result: result, Detail: detail})
		}
		m := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Minute) }
		// 1: a Circle outage, two retries, then converged.
		sync(1, m(-30), "retry", "circle: transient (HTTP 503)")
		sync(1, m(-20), "retry", "circle: transient (HTTP 503)")
		sync(1, m(-10), "converged", "2 action(s)")
		// 2: recovered once, failing again.
		sync(2, m(-25), "retry", "kit: transient (HTTP 502)")
		sync(2, m(-15), "converged", "1 action(s)")
		sync(2, m(-5), "failed", "stripe: the restricted key needs Read on Subscriptions")
		// 3: never failed.
		sync(3, m(-5), "converged", "")
		// 4: failed before the window, converged since.
		sync(4, m(-2*60), "retry", "circle: transient (HTTP 503)")
		sync(4, m(-50), "converged", "")
		// 5: recovered as far as review items allow; the success has the failure's timestamp.
		sync(5, m(-8), "retry", "circle: transient (HTTP 503)")
		sync(5, m(-8), "blocked", "1 action(s) wait on review items")
		// 6: still retrying.
		sync(6, m(-3), "retry", "circle: transient (HTTP 503)")
		sync(6, m(-1), "retry", "circle: rate_limited (HTTP 429)")

		got, err := st.SyncRecovery(ctx, t0.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		ids := func(runs []store.FailureRun) (out []int64) {
			for _, r := range runs {
				out = append(out, r.PersonID)
			}
			return out
		}
		if f := ids(got.Failing); len(f) != 2 || f[0] != 6 || f[1] != 2 {
			t.Errorf("failing: %v, want [6 2] (last failure first)", f)
		}
		if r := ids(got.Recovered); len(r) != 2 || r[0] != 5 || r[1] != 1 {
			t.Errorf("recovered: %v, want [5 1] (latest recovery first)", r)
		}
		if got.FailingSyncs != 4 || got.RecoveredSyncs != 3 {
			t.Errorf("failed syncs: %d failing, %d recovered; want 4 and 3", got.FailingSyncs, got.RecoveredSyncs)
		}
		for _, r := range got.Recovered {
			if r.PersonID == 1 && (r.Failures != 2 || !r.FirstFailed.Equal(m(-30)) || !r.LastFailed.Equal(m(-20)) || !r.RecoveredAt.Equal(m(-10)) || r.LastError != "circle: transient (HTTP 503)") {
				t.Errorf("person 1: %+v", r)
			}
		}
		for _, f := range got.Failing {
			if !f.RecoveredAt.IsZero() {
				t.Errorf("failing person %d has a recovery time", f.PersonID)
			}
			if f.PersonID == 6 && (f.Failures != 2 || f.LastError != "circle: rate_limited (HTTP 429)") {
				t.Errorf("person 6: %+v", f)
			}
		}
		none, err := st.SyncRecovery(ctx, t0)
		if err != nil || len(none.Failing)+len(none.Recovered) != 0 {
			t.Errorf("a window with no failures: %+v %v", none, err)
		}
	})
}

// TestReviewShareLeavesOutWhatResolvedItself: an item a later sync closed needed nobody.
func TestReviewShareLeavesOutWhatResolvedItself(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		st.Now = func() time.Time { return t0 }
		ingest(t, st, event("evt_1", "cus_A"))
		for i, kind := range []string{"sync_failing", "action_failed", "unmapped_price"} {
			if _, err := st.OpenReview(ctx, store.ReviewItem{PersonID: int64(i + 1), Kind: kind, Reason: "r"}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.ResolveReviews(ctx, 1, "sync_failing", "*", store.ResolvedBySystem, "a later sync succeeded"); err != nil {
			t.Fatal(err)
		}
		if _, err := st.ResolveReviews(ctx, 2, "action_failed", "*", "ops@example.com", "fixed by hand"); err != nil {
			t.Fatal(err)
		}
		events, reviews, err := st.ReviewShare(ctx, t0.Add(-time.Hour))
		if err != nil || events != 1 || reviews != 2 {
			t.Errorf("ReviewShare: %d events, %d reviews, %v; want 1 and 2 (the one resolved by a later sync left out)", events, reviews, err)
		}
	})
}
