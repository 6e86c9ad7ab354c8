package inbox_test

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// wakeRecorder inserts through a real queue and records each Wake, with whether the event it was
// told about could be read from the database at that moment (committed).
type wakeRecorder struct {
	*queue.Queue
	st    *store.Store
	event string

	mu    sync.Mutex
	wakes []string // "queue committed=true|false"; guarded by mu
}

func (w *wakeRecorder) Wake(queues ...string) {
	// Bounded so that a Wake inside the transaction (it holds SQLite's one connection) fails the
	// test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := w.st.Event(ctx, w.event)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, q := range queues {
		if err != nil {
			w.wakes = append(w.wakes, q+" committed=false")
		} else {
			w.wakes = append(w.wakes, q+" committed=true")
		}
	}
}

// TestWakeAfterCommit checks that the inbox wakes the sync workers once per commit that queued a
// job, after the commit, and not for events that queue nothing.
func TestWakeAfterCommit(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		for _, tc := range []struct {
			name       string
			ev         store.Event
			deliveries int
			want       []string
		}{
			{"sync", store.Event{ID: "evt_sync", Type: "invoice.paid", CustomerID: "cus_1", Actionable: true}, 1,
				[]string{"sync committed=true"}},
			{"resolve", store.Event{ID: "evt_resolve", Type: "charge.refunded", Actionable: true}, 1,
				[]string{"sync committed=true"}},
			{"ignored", store.Event{ID: "evt_ignored", Type: "customer.tax_id.created", CustomerID: "cus_1"}, 1, nil},
			{"duplicate", store.Event{ID: "evt_dup", Type: "invoice.paid", CustomerID: "cus_1", Actionable: true}, 2,
				[]string{"sync committed=true"}},
		} {
			t.Run(dialect+"/"+tc.name, func(t *testing.T) {
				st := storetest.Open(t, dialect)
				q, err := queue.New(st, queue.Options{})
				if err != nil {
					t.Fatal(err)
				}
				rec := &wakeRecorder{Queue: q, st: st, event: tc.ev.ID}
				in := inbox.New(st, rec, slog.New(slog.DiscardHandler))
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() { in.Run(ctx); close(done) }()
				defer func() { cancel(); <-done }()

				tc.ev.Created = time.Now()
				tc.ev.Payload = []byte(`{}`)
				for range tc.deliveries {
					if _, err := in.Accept(context.Background(), tc.ev); err != nil {
						t.Fatal(err)
					}
				}
				rec.mu.Lock()
				defer rec.mu.Unlock()
				if !slices.Equal(rec.wakes, tc.want) {
					t.Errorf("wakes: got %q, want %q", rec.wakes, tc.want)
				}
			})
		}
	}
}
