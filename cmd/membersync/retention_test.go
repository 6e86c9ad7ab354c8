package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/retention"
	"github.com/membersync/membersync/internal/store"
)

// syncBuffer is a log sink serve writes to while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestServeRunsRetention: serve switches a new SQLite file to incremental vacuum before it serves,
// and its retention job prunes an expired payload (keeping the event) and logs counts only.
func TestServeRunsRetention(t *testing.T) {
	logs := &syncBuffer{}
	w := newWorld(t, worldOptions{logs: logs})
	ctx := context.Background()

	sp, err := w.store.Space(ctx)
	if err != nil || sp.AutoVacuum != "incremental" {
		t.Fatalf("auto_vacuum after serve started = %q, %v; want incremental", sp.AutoVacuum, err)
	}
	if !strings.Contains(logs.String(), "switched the SQLite file to incremental vacuum") {
		t.Errorf("serve did not say it switched the file to incremental vacuum:\n%s", logs.String())
	}

	w.store.Now = func() time.Time { return time.Now().Add(-100 * 24 * time.Hour) }
	err = w.store.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.IngestEvent(ctx, store.Event{ID: "evt_retention_old", Type: "customer.updated", Created: time.Now(),
			Payload: []byte(`{"email":"old@example.com"}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	q, err := queue.New(w.store, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Insert(ctx, retention.Args{}, &river.InsertOpts{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ev, err := w.store.Event(ctx, "evt_retention_old")
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Payload) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retention job did not prune the expired payload:\n%s", w.store.DebugJobs(ctx))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if at, err := w.store.PayloadPrunedAt(ctx, "evt_retention_old"); err != nil || at.IsZero() {
		t.Errorf("PayloadPrunedAt = %v, %v; want set", at, err)
	}
	out := logs.String()
	for !strings.Contains(out, `"msg":"retention pass"`) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond) // the line follows the commit by a moment
		out = logs.String()
	}
	if !strings.Contains(out, `"pruned":"event_payloads=1"`) || strings.Contains(out, "old@example.com") {
		t.Errorf("the retention log line should count the pruned payload, and only count it:\n%s", out)
	}
}
