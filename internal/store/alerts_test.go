package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func journal(t *testing.T, st *store.Store, e store.JournalEntry) {
	t.Helper()
	if err := st.AppendJournal(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

func TestSaveAlertStateCompareAndSet(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		a := store.AlertState{ID: "credentials:circle", Rule: "credentials", Firing: true, Since: t0, LastSent: t0, Sent: 1, Title: "Circle rejected", Affected: 3}
		if ok, err := st.SaveAlertState(ctx, &a); !ok || err != nil {
			t.Fatalf("first save: %v, %v; want true", ok, err)
		}
		dup := store.AlertState{ID: "credentials:circle", Rule: "credentials"}
		if ok, err := st.SaveAlertState(ctx, &dup); ok || err != nil {
			t.Fatalf("second insert of the same alert: %v, %v; want false (another evaluator was first)", ok, err)
		}
		stale := a
		a.Sent = 2
		if ok, err := st.SaveAlertState(ctx, &a); !ok || err != nil {
			t.Fatalf("update at the current version: %v, %v; want true", ok, err)
		}
		stale.Firing = false
		if ok, err := st.SaveAlertState(ctx, &stale); ok || err != nil {
			t.Fatalf("update at a stale version: %v, %v; want false", ok, err)
		}
		quiet := store.AlertState{ID: "review_age", Rule: "review_age"}
		if _, err := st.SaveAlertState(ctx, &quiet); err != nil {
			t.Fatal(err)
		}
		firing, err := st.AlertStates(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(firing) != 1 {
			t.Fatalf("firing alerts: got %d, want 1", len(firing))
		}
		got := firing[0]
		if got.ID != a.ID || got.Sent != 2 || !got.Since.Equal(t0) || !got.LastSent.Equal(t0) || got.Affected != 3 || got.Version != a.Version {
			t.Errorf("stored %+v, want %+v", got, a)
		}
		all, err := st.AlertStates(ctx, false)
		if err != nil || len(all) != 2 {
			t.Errorf("all alerts: got %d, %v; want 2", len(all), err)
		}
	})
}

func TestWebhookRefusalCounts(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		err := st.AddWebhookRefusals(ctx, []store.WebhookRefusals{
			{Minute: t0.Add(-10 * time.Minute), Code: "bad_signature", Count: 7},
			{Minute: t0.Add(-3*time.Minute + 20*time.Second), Code: "bad_signature", Count: 2},
			{Minute: t0.Add(-3*time.Minute + 40*time.Second), Code: "bad_signature", Count: 1}, // same minute: added up
			{Minute: t0.Add(-time.Minute), Code: "unavailable", Count: 4},
		})
		if err != nil {
			t.Fatal(err)
		}
		st.Now = func() time.Time { return t0 }
		if err := st.RecordWebhookRefusal(ctx, "unavailable"); err != nil {
			t.Fatal(err)
		}
		counts, first, err := st.WebhookRefusalCounts(ctx, t0.Add(-5*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if counts["bad_signature"] != 3 || counts["unavailable"] != 5 || len(counts) != 2 {
			t.Errorf("counts in the last 5 minutes: got %v, want bad_signature 3, unavailable 5", counts)
		}
		if want := t0.Add(-3 * time.Minute); !first["bad_signature"].Equal(want) {
			t.Errorf("first bad_signature minute: got %v, want %v", first["bad_signature"], want)
		}
		if err := st.PruneWebhookRefusals(ctx, t0.Add(-5*time.Minute)); err != nil {
			t.Fatal(err)
		}
		counts, _, err = st.WebhookRefusalCounts(ctx, t0.Add(-time.Hour))
		if err != nil || counts["bad_signature"] != 3 {
			t.Errorf("after pruning: got %v, %v; want the 10-minute-old minute gone", counts, err)
		}
	})
}

func TestCircleSyncFailures(t *testing.T) {
	sync := func(pid int64, end time.Time, d time.Duration, result string) store.JournalEntry {
		return store.JournalEntry{PersonID: pid, At: end, Kind: "sync", Action: "sync", Target: "webhook", Result: result, Duration: d}
	}
	call := func(pid int64, at time.Time, action, result string) store.JournalEntry {
		return store.JournalEntry{PersonID: pid, At: at, Kind: "call", Action: action, Target: "access_group:1", Result: result, Detail: "circle add_access_group: transient (HTTP 503)"}
	}
	tests := []struct {
		name    string
		entries []store.JournalEntry
		want    int
	}{
		{"retry with a failed Circle call during it", []store.JournalEntry{
			call(1, t0.Add(-10*time.Second), "circle:add_access_group", "transient"),
			sync(1, t0, 20*time.Second, "retry"),
		}, 1},
		{"failed sync with a rate-limited Circle call", []store.JournalEntry{
			call(1, t0.Add(-time.Second), "circle:search_member", "rate_limited"),
			sync(1, t0, 2*time.Second, "failed"),
		}, 1},
		{"retry caused by Kit only", []store.JournalEntry{
			call(1, t0.Add(-10*time.Second), "circle:add_access_group", "ok"),
			call(1, t0.Add(-5*time.Second), "kit:tag_subscriber", "transient"),
			sync(1, t0, 20*time.Second, "retry"),
		}, 0},
		{"Circle failure before the sync began", []store.JournalEntry{
			call(1, t0.Add(-time.Minute), "circle:add_access_group", "transient"),
			sync(1, t0, 20*time.Second, "retry"),
		}, 0},
		{"Circle failure of another person", []store.JournalEntry{
			call(2, t0.Add(-10*time.Second), "circle:add_access_group", "transient"),
			sync(1, t0, 20*time.Second, "retry"),
		}, 0},
		{"converged after an in-process retry", []store.JournalEntry{
			call(1, t0.Add(-10*time.Second), "circle:add_access_group", "transient"),
			sync(1, t0, 20*time.Second, "converged"),
		}, 0},
		{"recovered by a later sync", []store.JournalEntry{
			call(1, t0.Add(-10*time.Second), "circle:add_access_group", "transient"),
			sync(1, t0, 20*time.Second, "retry"),
			sync(1, t0.Add(time.Minute), 2*time.Second, "converged"),
		}, 0},
		{"failing again after a recovery", []store.JournalEntry{
			sync(1, t0.Add(-time.Minute), 2*time.Second, "converged"),
			call(1, t0.Add(-10*time.Second), "circle:add_access_group", "transient"),
			sync(1, t0, 20*time.Second, "retry"),
		}, 1},
		{"outside the window", []store.JournalEntry{
			call(1, t0.Add(-2*time.Hour), "circle:add_access_group", "transient"),
			sync(1, t0.Add(-2*time.Hour+time.Second), 20*time.Second, "retry"),
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, st *store.Store) {
				for _, e := range tt.entries {
					journal(t, st, e)
				}
				got, err := st.CircleSyncFailures(context.Background(), t0.Add(-time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				if got.Syncs != tt.want {
					t.Errorf("Circle sync failures: got %d, want %d", got.Syncs, tt.want)
				}
				if tt.want > 0 && (got.People != 1 || got.PersonID != 1 || got.LastError == "" || got.First.IsZero()) {
					t.Errorf("stats %+v: want one person (1), a first time and the last error", got)
				}
			})
		})
	}
}

func TestConvergeSamples(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		at := func(d time.Duration) func() time.Time { return func() time.Time { return t0.Add(d) } }
		st.Now = at(0)
		a := ingest(t, st, event("evt_a", "cus_A")) // converged 3s later by a sync that began after it
		st.Now = at(time.Second)
		b := ingest(t, st, event("evt_b", "cus_B")) // a sync that began before it ended after it: not it
		st.Now = at(2 * time.Second)
		ingest(t, st, event("evt_c", "cus_C")) // nothing yet
		st.Now = at(3 * time.Second)
		ig := event("evt_ignored", "cus_A")
		ig.Actionable = false
		ingest(t, st, ig)
		st.Now = at(4 * time.Second)
		bf := event("evt_backfill", "cus_A")
		bf.Source = "backfill"
		ingest(t, st, bf)
		st.Now = at(time.Hour) // an event outside [from, to]
		ingest(t, st, event("evt_late", "cus_A"))

		conv := func(pid int64, end time.Time, d time.Duration, result string) {
			journal(t, st, store.JournalEntry{PersonID: pid, At: end, Kind: "sync", Action: "sync", Result: result, Duration: d})
		}
		conv(a.PersonID, t0.Add(2*time.Second), 1500*time.Millisecond, "retry")
		conv(a.PersonID, t0.Add(3*time.Second), 500*time.Millisecond, "converged")
		conv(a.PersonID, t0.Add(9*time.Second), 500*time.Millisecond, "converged")
		conv(b.PersonID, t0.Add(1500*time.Millisecond), time.Second, "converged") // began at 0.5s
		conv(b.PersonID, t0.Add(7*time.Second), time.Second, "converged")         // began at 6s

		got, err := st.ConvergeSamples(ctx, t0.Add(-time.Minute), t0.Add(time.Minute), 100)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]time.Duration{"evt_a": 3 * time.Second, "evt_b": 6 * time.Second, "evt_c": -1}
		if len(got) != len(want) {
			t.Fatalf("samples: got %+v, want %v", got, want)
		}
		for _, s := range got {
			w, ok := want[s.EventID]
			switch {
			case !ok:
				t.Errorf("unexpected sample %s", s.EventID)
			case w < 0 && !s.ConvergedAt.IsZero():
				t.Errorf("%s: converged at %v, want not yet", s.EventID, s.ConvergedAt)
			case w >= 0 && s.ConvergedAt.Sub(s.ReceivedAt) != w:
				t.Errorf("%s: time to converge %v, want %v", s.EventID, s.ConvergedAt.Sub(s.ReceivedAt), w)
			}
		}
	})
}

func TestOpenReviewStats(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		open := func(at time.Time, it store.ReviewItem) {
			st.Now = func() time.Time { return at }
			if _, err := st.OpenReview(ctx, it); err != nil {
				t.Fatal(err)
			}
		}
		open(t0.Add(-3*time.Hour), store.ReviewItem{PersonID: 4, Kind: "action_failed", ActionKey: "circle:add_access_group:1", Reason: "can never succeed", LastError: "422"})
		open(t0.Add(-2*time.Hour), store.ReviewItem{PersonID: 4, Kind: "unmapped_price", ActionKey: "price_x", Reason: "unmapped"})
		open(t0.Add(-2*time.Hour), store.ReviewItem{PersonID: 5, Kind: "credentials", ActionKey: "circle", Reason: "rejected", LastError: "circle search_member: config (HTTP 401)"})
		open(t0.Add(-time.Hour), store.ReviewItem{PersonID: 6, Kind: "credentials", ActionKey: "circle", Reason: "rejected", LastError: "circle add: config (HTTP 401)"})
		open(t0.Add(-time.Minute), store.ReviewItem{PersonID: 7, Kind: "email_conflict", ActionKey: "identity", Reason: "conflict"})

		got, err := st.OpenReviewStats(ctx, t0.Add(-time.Hour), "credentials")
		if err != nil {
			t.Fatal(err)
		}
		if got.Items != 2 || got.People != 1 || got.PersonID != 4 || got.Oldest.Kind != "action_failed" || !got.Oldest.CreatedAt.Equal(t0.Add(-3*time.Hour)) {
			t.Errorf("items open over an hour: got %+v, want 2 items of person 4, the oldest action_failed", got)
		}
		none, err := st.OpenReviewStats(ctx, t0.Add(-4*time.Hour), "credentials")
		if err != nil || none.Items != 0 {
			t.Errorf("items open over 4 hours: got %+v, %v; want none", none, err)
		}
		groups, err := st.OpenReviewsByProvider(ctx, "credentials")
		if err != nil {
			t.Fatal(err)
		}
		if len(groups) != 1 || groups[0].Provider != "circle" || groups[0].Items != 2 || groups[0].People != 2 || groups[0].PersonID != 0 ||
			!groups[0].Since.Equal(t0.Add(-2*time.Hour)) || groups[0].LastError != "circle add: config (HTTP 401)" {
			t.Errorf("credentials by provider: got %+v", groups)
		}
	})
}

func TestLastWebhook(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if _, _, ok, err := st.LastWebhook(ctx); ok || err != nil {
			t.Fatalf("empty store: ok %v, err %v; want none", ok, err)
		}
		installed, err := st.InstalledAt(ctx)
		if err != nil || installed.IsZero() {
			t.Fatalf("InstalledAt: %v, %v", installed, err)
		}
		st.Now = func() time.Time { return t0 }
		newer := event("evt_1", "cus_A")
		newer.Created = t0.Add(-time.Minute)
		ingest(t, st, newer)
		st.Now = func() time.Time { return t0.Add(time.Second) }
		older := event("evt_2", "cus_A") // delivered late, created earlier
		older.Created = t0.Add(-time.Hour)
		ingest(t, st, older)
		st.Now = func() time.Time { return t0.Add(time.Hour) }
		bf := event("evt_3", "cus_A")
		bf.Source, bf.Created = "backfill", t0.Add(time.Hour)
		ingest(t, st, bf)
		recv, created, ok, err := st.LastWebhook(ctx)
		if err != nil || !ok {
			t.Fatalf("LastWebhook: %v, %v", ok, err)
		}
		if !recv.Equal(t0.Add(time.Second)) || !created.Equal(t0.Add(-time.Minute)) {
			t.Errorf("LastWebhook: received %v, created %v; want %v and %v (the newest created, backfill excluded)", recv, created, t0.Add(time.Second), t0.Add(-time.Minute))
		}
	})
}
