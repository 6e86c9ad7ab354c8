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

var retentionNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// retentionPolicy is the config's defaults with a small batch, so that counts of batches show.
func retentionPolicy(batch int) store.RetentionPolicy {
	const day = 24 * time.Hour
	return store.RetentionPolicy{EventPayloads: 90 * day, JournalDetail: 180 * day, ResolvedReviewItems: 365 * day,
		AlertNotifications: 365 * day, DriftReports: 180 * day, DoctorReports: 90 * day, BatchSize: batch}
}

// daysAgo sets st's clock n days before retentionNow (the store stamps rows with it).
func daysAgo(st *store.Store, n int) time.Time {
	at := retentionNow.Add(-time.Duration(n) * 24 * time.Hour)
	st.Now = func() time.Time { return at }
	return at
}

func retentionIngest(t *testing.T, st *store.Store, id, customer string) store.IngestResult {
	t.Helper()
	return ingest(t, st, store.Event{ID: id, Type: "invoice.paid", CustomerID: customer, Created: st.Now(), Actionable: true,
		Payload: []byte(`{"id":"` + id + `","data":{"object":{"customer_email":"ada@example.com"}}}`)})
}

// retentionSeed stores, for each kind, rows on both sides of its horizon, and returns the ids of
// the events whose payload expired and of those that did not.
type retentionSeed struct {
	oldEvents, freshEvents []string
	person                 int64
	openReview             int64
}

func seedRetention(t *testing.T, st *store.Store) retentionSeed {
	t.Helper()
	ctx := context.Background()
	var s retentionSeed
	daysAgo(st, 120)
	for i := range 7 {
		id := fmt.Sprintf("evt_old%02d", i)
		res := retentionIngest(t, st, id, "cus_A")
		if res.PersonID != 0 {
			s.person = res.PersonID
		}
		s.oldEvents = append(s.oldEvents, id)
	}
	daysAgo(st, 89) // inside 90 days by a day
	for i := range 2 {
		id := fmt.Sprintf("evt_new%02d", i)
		retentionIngest(t, st, id, "cus_A")
		s.freshEvents = append(s.freshEvents, id)
	}
	if s.person == 0 {
		t.Fatal("the seed events made no person")
	}
	// Journal: 5 expired provider calls, 2 kept; 4 expired other rows with detail, 1 kept; 1 expired
	// without detail (left alone).
	add := func(days int, kind, detail string) {
		at := retentionNow.Add(-time.Duration(days) * 24 * time.Hour)
		if err := st.AppendJournal(ctx, store.JournalEntry{PersonID: s.person, At: at, Kind: kind, Action: "circle:add", Result: "ok", Detail: detail}); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		add(200, "call", "POST /api/admin/v2/community_members 201")
	}
	for range 2 {
		add(100, "call", "POST /api/admin/v2/community_members 201")
	}
	for range 4 {
		add(181, "sync", "circle: HTTP 503 for ada@example.com")
	}
	add(179, "sync", "kept detail")
	add(300, "event", "")
	// Review items: two resolved 400 days ago (expired), one resolved 100 days ago, one open since
	// 500 days ago (open items never expire).
	daysAgo(st, 500)
	for _, kind := range []string{"action_failed", "email_conflict", "unmapped_price", "credentials"} {
		if _, err := st.OpenReview(ctx, store.ReviewItem{PersonID: s.person, Kind: kind, Reason: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := st.Reviews(ctx, "open", s.person, 0)
	if err != nil || len(items) != 4 {
		t.Fatalf("open reviews = %d, %v; want 4", len(items), err)
	}
	for i, it := range items {
		switch i {
		case 0, 1:
			daysAgo(st, 400)
		case 2:
			daysAgo(st, 100)
		default:
			s.openReview = it.ID
			continue
		}
		if _, err := st.ResolveReview(ctx, it.ID, "ops@example.com", "fixed"); err != nil {
			t.Fatal(err)
		}
	}
	// Alert notifications: 3 expired, 1 kept.
	for _, days := range []int{400, 380, 366, 300} {
		if err := st.AppendAlertNotification(ctx, store.AlertNotification{AlertID: "webhooks", Rule: "webhooks", Status: "firing", Title: "t",
			At: retentionNow.Add(-time.Duration(days) * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	// Drift reports, all expired: the latest stays. Doctor reports: 2 expired, 1 kept.
	for _, days := range []int{300, 250, 200} {
		if _, err := st.SaveDriftReport(ctx, store.DriftReport{StartedAt: retentionNow.Add(-time.Duration(days) * 24 * time.Hour), Mode: "dry_run", Status: "complete"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, days := range []int{120, 91, 30} {
		if err := st.SaveDoctorReport(ctx, store.DoctorReport{At: retentionNow.Add(-time.Duration(days) * 24 * time.Hour), Domain: "example.com", JSON: "{}"}); err != nil {
			t.Fatal(err)
		}
	}
	st.Now = func() time.Time { return retentionNow }
	return s
}

func TestPruneDeletesExactlyWhatExpired(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		s := seedRetention(t, st)
		before, err := st.Event(ctx, s.oldEvents[0])
		if err != nil {
			t.Fatal(err)
		}
		var afterBatches int
		pol := retentionPolicy(3)
		pol.AfterBatch = func(string, int64) { afterBatches++ }
		res, err := st.Prune(ctx, pol, retentionNow)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			kind          string
			rows, batches int
		}{
			{store.PruneEventPayloads, 7, 3}, // 3 + 3 + 1
			{store.PruneJournalCalls, 5, 2},  // 3 + 2
			{store.PruneJournalDetail, 4, 2}, // 3 + 1
			{store.PruneResolvedReviews, 2, 1},
			{store.PruneAlertNotifications, 3, 1}, // 3, then an empty batch that counts no batch
			{store.PruneDriftReports, 2, 1},
			{store.PruneDoctorReports, 2, 1},
		} {
			got := res.Of(tc.kind)
			if got.Rows != int64(tc.rows) || got.Batches != tc.batches {
				t.Errorf("%s: pruned %d rows in %d batches, want %d in %d", tc.kind, got.Rows, got.Batches, tc.rows, tc.batches)
			}
		}
		if afterBatches != res.Batches() {
			t.Errorf("AfterBatch called %d times, want %d (one per batch)", afterBatches, res.Batches())
		}

		// Every event id stays; only the expired payloads are gone, and say when.
		ids, err := st.EventIDs(ctx)
		if err != nil || len(ids) != 9 {
			t.Fatalf("event ids after prune = %d, %v; want all 9", len(ids), err)
		}
		for _, id := range s.oldEvents {
			ev, err := st.Event(ctx, id)
			if err != nil || len(ev.Payload) != 0 {
				t.Errorf("%s: payload %q, %v; want pruned", id, ev.Payload, err)
			}
			if at, err := st.PayloadPrunedAt(ctx, id); err != nil || !at.Equal(retentionNow) {
				t.Errorf("%s: PayloadPrunedAt = %v, %v; want %v", id, at, err, retentionNow)
			}
		}
		after, err := st.Event(ctx, s.oldEvents[0])
		if err != nil {
			t.Fatal(err)
		}
		before.Payload, after.Payload = nil, nil
		if fmt.Sprint(before) != fmt.Sprint(after) {
			t.Errorf("pruning changed more than the payload:\n before %+v\n after  %+v", before, after)
		}
		for _, id := range s.freshEvents {
			ev, err := st.Event(ctx, id)
			if err != nil || len(ev.Payload) == 0 {
				t.Errorf("%s: payload %q, %v; want kept", id, ev.Payload, err)
			}
			if at, err := st.PayloadPrunedAt(ctx, id); err != nil || !at.IsZero() {
				t.Errorf("%s: PayloadPrunedAt = %v, %v; want zero", id, at, err)
			}
		}
		// A redelivery of a pruned event is still a duplicate, and changes nothing.
		if res := retentionIngest(t, st, s.oldEvents[0], "cus_A"); !res.Duplicate {
			t.Errorf("redelivery of a pruned event: %+v, want Duplicate", res)
		}
		if ev, _ := st.Event(ctx, s.oldEvents[0]); len(ev.Payload) != 0 {
			t.Errorf("a duplicate restored the pruned payload %q", ev.Payload)
		}

		// The journal keeps its rows but the expired calls, and the recent details.
		j, err := st.Journal(ctx, s.person)
		if err != nil {
			t.Fatal(err)
		}
		horizon := retentionNow.Add(-180 * 24 * time.Hour)
		var calls, details, syncs int
		for _, e := range j {
			switch {
			case e.Kind == "call" && e.At.Before(horizon):
				t.Errorf("an expired call survived: %+v", e)
			case e.Kind == "call":
				calls++
			case e.Detail != "" && e.At.Before(horizon):
				t.Errorf("an expired detail survived: %+v", e)
			case e.Detail != "":
				details++
			}
			if e.Kind == "sync" {
				syncs++
			}
		}
		if calls != 2 || syncs != 5 {
			t.Errorf("journal keeps %d calls and %d syncs, want 2 and 5", calls, syncs)
		}

		// Review items: the open one and the recently resolved one stay.
		items, err := st.Reviews(ctx, "", s.person, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 2 {
			t.Errorf("review items left = %d, want 2 (one open, one resolved 100 days ago)", len(items))
		}
		if it, err := st.Review(ctx, s.openReview); err != nil || it.Status != "open" {
			t.Errorf("the open review item: %+v, %v; want kept", it, err)
		}
		if ns, err := st.AlertNotifications(ctx, 0); err != nil || len(ns) != 1 {
			t.Errorf("alert notifications left = %d, %v; want 1", len(ns), err)
		}
		if r, err := st.LatestDriftReport(ctx); err != nil || !r.StartedAt.Equal(retentionNow.Add(-200*24*time.Hour)) {
			t.Errorf("latest drift report = %v, %v; want the one of 200 days ago kept", r.StartedAt, err)
		}
		if r, err := st.LatestDoctorReport(ctx); err != nil || !r.At.Equal(retentionNow.Add(-30*24*time.Hour)) {
			t.Errorf("latest doctor report = %v, %v; want the one of 30 days ago", r.At, err)
		}

		// The horizons are recorded, and a second pass finds nothing.
		hs, err := st.PruneHorizons(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h := hs[store.PruneJournalCalls]; !h.Horizon.Equal(horizon) || h.Keep != 180*24*time.Hour || h.Total != 5 {
			t.Errorf("journal_calls horizon = %+v, want %v, 180 days, 5 rows", h, horizon)
		}
		again, err := st.Prune(ctx, retentionPolicy(3), retentionNow)
		if err != nil || again.Rows() != 0 || again.Batches() != 0 {
			t.Errorf("second pass pruned %s in %d batches (%v), want nothing", again.Summary(), again.Batches(), err)
		}
		if h := mustHorizons(t, st)[store.PruneEventPayloads]; h.Total != 7 {
			t.Errorf("event_payloads total after two passes = %d, want 7", h.Total)
		}
	})
}

func mustHorizons(t *testing.T, st *store.Store) map[string]store.PruneHorizon {
	t.Helper()
	hs, err := st.PruneHorizons(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

func TestPrunePolicy(t *testing.T) {
	tests := []struct {
		name   string
		policy store.RetentionPolicy
		want   map[string]int64 // rows per kind; kinds absent were not pruned
	}{
		{"everything kept forever", store.RetentionPolicy{}, map[string]int64{}},
		{"payloads only", store.RetentionPolicy{EventPayloads: 90 * 24 * time.Hour}, map[string]int64{store.PruneEventPayloads: 7}},
		{"a longer payload period keeps more", store.RetentionPolicy{EventPayloads: 121 * 24 * time.Hour}, map[string]int64{store.PruneEventPayloads: 0}},
		{"a shorter one prunes the fresh too", store.RetentionPolicy{EventPayloads: 88 * 24 * time.Hour}, map[string]int64{store.PruneEventPayloads: 9}},
		{"journal only", store.RetentionPolicy{JournalDetail: 180 * 24 * time.Hour},
			map[string]int64{store.PruneJournalCalls: 5, store.PruneJournalDetail: 4, store.PruneSupportBodies: 0}},
		{"journal at 99 days", store.RetentionPolicy{JournalDetail: 99 * 24 * time.Hour},
			map[string]int64{store.PruneJournalCalls: 7, store.PruneJournalDetail: 5, store.PruneSupportBodies: 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachDialect(t, func(t *testing.T, st *store.Store) {
				seedRetention(t, st)
				res, err := st.Prune(context.Background(), tc.policy, retentionNow)
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Kinds) != len(tc.want) {
					t.Errorf("pruned kinds %s, want %d kinds", res.Summary(), len(tc.want))
				}
				for kind, rows := range tc.want {
					if got := res.Of(kind).Rows; got != rows {
						t.Errorf("%s: %d rows, want %d", kind, got, rows)
					}
				}
			})
		})
	}
}

// TestPruneWhileIngesting prunes a large backlog in small batches while webhooks keep arriving:
// every delivery commits (none waits out SQLite's busy timeout or fails), and after every batch a
// delivery commits before the next batch, which holds only when each batch is its own transaction.
func TestPruneWhileIngesting(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		const backlog, batch = 600, 25
		daysAgo(st, 120)
		err := st.InTx(ctx, func(tx *store.Tx) error {
			for i := range backlog {
				if _, err := tx.IngestEvent(ctx, store.Event{ID: fmt.Sprintf("evt_b%04d", i), Type: "customer.updated", CustomerID: "cus_B",
					Created: st.Now(), Payload: []byte(`{"a":"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"}`)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		st.Now = func() time.Time { return retentionNow }

		// A free-running ingester, as the inbox is under traffic.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var free int
		var freeErr error
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				err := st.InTx(ctx, func(tx *store.Tx) error {
					_, err := tx.IngestEvent(ctx, store.Event{ID: fmt.Sprintf("evt_free%05d", i), Type: "invoice.paid", CustomerID: "cus_C",
						Created: retentionNow, Actionable: true, Payload: []byte(`{}`)})
					return err
				})
				mu.Lock()
				if err != nil && freeErr == nil {
					freeErr = err
				}
				free++
				mu.Unlock()
			}
		}()

		// And one delivery between every two batches.
		var between int
		pol := store.RetentionPolicy{EventPayloads: 90 * 24 * time.Hour, BatchSize: batch}
		pol.AfterBatch = func(kind string, rows int64) {
			res := retentionIngest(t, st, fmt.Sprintf("evt_between%03d", between), "cus_D")
			if res.Duplicate {
				t.Errorf("delivery %d between batches answered duplicate", between)
			}
			between++
		}
		res, err := st.Prune(ctx, pol, retentionNow)
		close(stop)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if freeErr != nil {
			t.Errorf("a delivery failed while pruning: %v", freeErr)
		}
		got := res.Of(store.PruneEventPayloads)
		if got.Rows != backlog || got.Batches != backlog/batch {
			t.Errorf("pruned %d payloads in %d batches, want %d in %d", got.Rows, got.Batches, backlog, backlog/batch)
		}
		if between != backlog/batch {
			t.Errorf("%d deliveries committed between batches, want %d", between, backlog/batch)
		}
		ids, err := st.EventIDs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		want := backlog + between + free
		mu.Unlock()
		if len(ids) != want {
			t.Errorf("%d events stored, want %d (backlog %d, between %d, free-running %d)", len(ids), want, backlog, between, free)
		}
		t.Logf("%s: %d payloads pruned in %d batches while %d free-running deliveries committed", st.Dialect(), got.Rows, got.Batches, free)
	})
}

func TestReclaimHandsSpaceBack(t *testing.T) {
	st := openSQLiteForRetention(t)
	ctx := context.Background()
	setup, err := st.EnableIncrementalVacuum(ctx, 64<<20)
	if err != nil {
		t.Fatal(err)
	}
	if !setup.Converted || setup.Before.AutoVacuum != "none" {
		t.Fatalf("EnableIncrementalVacuum on a new database = %+v, want converted from none", setup)
	}
	if again, err := st.EnableIncrementalVacuum(ctx, 64<<20); err != nil || again.Converted || again.Deferred {
		t.Errorf("second EnableIncrementalVacuum = %+v, %v; want nothing to do", again, err)
	}
	daysAgo(st, 120)
	big := make([]byte, 3000)
	for i := range big {
		big[i] = 'x'
	}
	err = st.InTx(ctx, func(tx *store.Tx) error {
		for i := range 2000 {
			if _, err := tx.IngestEvent(ctx, store.Event{ID: fmt.Sprintf("evt_r%04d", i), Type: "customer.updated", Created: st.Now(),
				Payload: []byte(`{"pad":"` + string(big) + `"}`)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := st.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Prune(ctx, store.RetentionPolicy{EventPayloads: 90 * 24 * time.Hour}, retentionNow); err != nil {
		t.Fatal(err)
	}
	freed, err := st.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if freed.FreePages < before.Pages/2 {
		t.Fatalf("after pruning 6 MB of payloads %d of %d pages are free, want most", freed.FreePages, freed.Pages)
	}
	pages, err := st.Reclaim(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	after, err := st.Space(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pages != freed.FreePages || after.FreePages != 0 || after.Pages > freed.Pages-pages { // pointer-map pages go too
		t.Errorf("Reclaim returned %d pages; file %d → %d pages, %d free left; want all %d free pages returned",
			pages, freed.Pages, after.Pages, after.FreePages, freed.FreePages)
	}
	t.Logf("file %d KiB → %d KiB after pruning and reclaiming", before.FileBytes()>>10, after.FileBytes()>>10)
}

func TestEnableIncrementalVacuumDefersLargeFiles(t *testing.T) {
	st := openSQLiteForRetention(t)
	ctx := context.Background()
	setup, err := st.EnableIncrementalVacuum(ctx, 1) // every file is larger than a byte
	if err != nil {
		t.Fatal(err)
	}
	if !setup.Deferred || setup.Converted {
		t.Errorf("EnableIncrementalVacuum over the bound = %+v, want deferred", setup)
	}
	if sp, _ := st.Space(ctx); sp.AutoVacuum != "none" {
		t.Errorf("auto_vacuum = %s, want none left as it was", sp.AutoVacuum)
	}
	// Reclaim is then a no-op, not an error.
	if n, err := st.Reclaim(ctx, 0); n != 0 || err != nil {
		t.Errorf("Reclaim without incremental mode = %d, %v; want 0, nil", n, err)
	}
}

func openSQLiteForRetention(t *testing.T) *store.Store {
	t.Helper()
	return storetest.Open(t, store.SQLite)
}
