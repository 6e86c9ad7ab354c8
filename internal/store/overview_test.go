package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

func TestOverview(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		clock := now.Add(-30 * time.Hour)
		st.Now = func() time.Time { return clock }
		// One event 30 h ago (outside the day), one 3 h ago, two 10 minutes ago.
		for i, ago := range []time.Duration{30 * time.Hour, 3 * time.Hour, 10 * time.Minute, 10 * time.Minute} {
			clock = now.Add(-ago)
			ingest(t, st, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: "invoice.paid", CustomerID: fmt.Sprintf("cus_%d", i), Actionable: true, Created: clock, Payload: []byte(`{}`)})
		}
		journal := []struct {
			ago    time.Duration
			result string
			dur    time.Duration
		}{
			{3 * time.Hour, "converged", 100 * time.Millisecond},
			{3 * time.Hour, "converged", 300 * time.Millisecond},
			{5 * time.Minute, "retry", 0},
			{2 * time.Hour, "failed", 0},
			{25 * time.Hour, "failed", 0},
		}
		for _, j := range journal {
			if err := st.AppendJournal(ctx, store.JournalEntry{PersonID: 1, At: now.Add(-j.ago), Kind: "sync", Action: "sync", Result: j.result, Duration: j.dur}); err != nil {
				t.Fatal(err)
			}
		}
		// A provider call is not a sync.
		if err := st.AppendJournal(ctx, store.JournalEntry{PersonID: 1, At: now, Kind: "call", Action: "circle:add", Result: "server"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.OpenReview(ctx, store.ReviewItem{PersonID: 1, Kind: "action_failed", Reason: "x"}); err != nil {
			t.Fatal(err)
		}
		q, err := queue.New(st, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Insert(ctx, syncJob{PersonID: 99, Reason: "resync"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := q.Insert(ctx, syncJob{PersonID: 99, Reason: "timer", At: 1}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}

		o, err := st.Overview(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if !o.LastWebhookAt.Equal(now.Add(-10 * time.Minute)) {
			t.Errorf("last webhook: got %v, want %v", o.LastWebhookAt, now.Add(-10*time.Minute))
		}
		figures := []struct {
			name      string
			got, want int
		}{
			{"events hour", o.EventsHour, 2},
			{"events day", o.EventsDay, 3},
			{"failures hour", o.FailuresHour, 1},
			{"failures day", o.FailuresDay, 2},
			{"syncs day", o.SyncsDay, 2},
			{"open reviews", o.OpenReviews, 1},
			{"people", o.People, 4},
			{"people pending", o.PeoplePending, 4},
			{"jobs available", o.JobsAvailable, 1},
			{"jobs scheduled", o.JobsScheduled, 1},
			{"hours", len(o.Hours), 24},
		}
		for _, f := range figures {
			if f.got != f.want {
				t.Errorf("%s: got %d, want %d", f.name, f.got, f.want)
			}
		}
		if o.OldestAvailable.IsZero() || o.OldestAvailable.After(time.Now().Add(time.Second)) || time.Since(o.OldestAvailable) > time.Minute {
			t.Errorf("oldest available job: got %v", o.OldestAvailable)
		}
		last := o.Hours[23]
		if !last.Start.Equal(now.Truncate(time.Hour)) {
			t.Errorf("last bucket starts %v, want %v", last.Start, now.Truncate(time.Hour))
		}
		var events, failures int
		for _, h := range o.Hours {
			events += h.Events
			failures += h.Failures
		}
		if events != 3 || failures != 2 {
			t.Errorf("buckets: %d events, %d failures; want 3 and 2", events, failures)
		}
		// The two syncs 3 h ago share a bucket: mean 200 ms, max 300 ms.
		var found bool
		for _, h := range o.Hours {
			if h.Syncs == 2 {
				found = true
				if h.AvgSync != 200*time.Millisecond || h.MaxSync != 300*time.Millisecond {
					t.Errorf("sync durations: mean %v max %v, want 200ms and 300ms", h.AvgSync, h.MaxSync)
				}
			}
		}
		if !found {
			t.Errorf("no bucket holds the two syncs: %+v", o.Hours)
		}
	})
}

// syncJob stands for a sync_person job in the queue (its Go type belongs to converge, which only
// its trigger builds): the overview counts jobs of any kind.
type syncJob struct {
	PersonID int64  `json:"person_id"`
	Reason   string `json:"reason"`
	At       int64  `json:"at,omitempty"`
}

func (syncJob) Kind() string { return "sync_person" }
