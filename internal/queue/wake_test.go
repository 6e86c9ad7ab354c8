package queue_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// pingArgs is a test job: it snoozes or fails its first run when asked to.
type pingArgs struct {
	N      int  `json:"n"`
	Snooze bool `json:"snooze,omitempty"`
	Fail   bool `json:"fail,omitempty"`
}

func (pingArgs) Kind() string { return "queue_test_ping" }

func (pingArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: queue.QueueSync} }

type pingWorker struct {
	river.WorkerDefaults[pingArgs]
	ran chan int // each job's N when it completes

	mu   sync.Mutex
	runs map[int]int // guarded by mu
}

func (w *pingWorker) Work(ctx context.Context, job *river.Job[pingArgs]) error {
	w.mu.Lock()
	w.runs[job.Args.N]++
	first := w.runs[job.Args.N] == 1
	w.mu.Unlock()
	switch {
	case first && job.Args.Snooze:
		return river.JobSnooze(20 * time.Millisecond)
	case first && job.Args.Fail:
		return errors.New("first run fails")
	}
	w.ran <- job.Args.N
	return nil
}

// startQueue runs a queue whose workers never poll in the test's lifetime: every job must start
// because something woke them.
func startQueue(t *testing.T, dialect string) (*store.Store, *queue.Queue, *pingWorker) {
	t.Helper()
	st := storetest.Open(t, dialect)
	w := &pingWorker{ran: make(chan int, 10), runs: map[int]int{}}
	q, err := queue.New(st, queue.Options{PollInterval: time.Hour, RetryBase: 5 * time.Millisecond,
		Workers: func(_ *queue.Queue, ws *river.Workers) { river.AddWorker(ws, w) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stopping the queue: %v", err)
		}
	})
	return st, q, w
}

// commitAndWake inserts the job in a store transaction and wakes the workers once it committed,
// as the inbox does.
func commitAndWake(t *testing.T, st *store.Store, q *queue.Queue, args pingArgs) {
	t.Helper()
	err := st.InTx(context.Background(), func(tx *store.Tx) error {
		return q.InsertTx(context.Background(), tx, []river.InsertManyParams{{Args: args}})
	})
	if err != nil {
		t.Fatal(err)
	}
	q.Wake(queue.QueueSync)
}

// waitRan waits for job n to complete. The bound only turns a job nobody woke (it would wait an
// hour for the poll) into a failure instead of a hung test.
func waitRan(t *testing.T, w *pingWorker, n int) {
	t.Helper()
	select {
	case got := <-w.ran:
		if got != n {
			t.Fatalf("job %d completed, want job %d", got, n)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("job %d did not run: nothing woke the workers", n)
	}
}

// TestWake checks that jobs start without a poll: committed and woken, or due again after a snooze
// or a failure.
func TestWake(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		for _, tc := range []struct {
			name string
			args pingArgs
		}{
			{"committed", pingArgs{}},
			{"snoozed", pingArgs{Snooze: true}},
			{"retried", pingArgs{Fail: true}},
		} {
			t.Run(dialect+"/"+tc.name, func(t *testing.T) {
				st, q, w := startQueue(t, dialect)
				// The first job shows the workers are up and past the fetch they make at start.
				commitAndWake(t, st, q, pingArgs{N: 1})
				waitRan(t, w, 1)
				args := tc.args
				args.N = 2
				commitAndWake(t, st, q, args)
				waitRan(t, w, 2)
			})
		}
	}
}

// TestInsertWakes checks that a job inserted outside a transaction starts without a poll, and one
// scheduled for later starts when it is due.
func TestInsertWakes(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			st, q, w := startQueue(t, dialect)
			commitAndWake(t, st, q, pingArgs{N: 1})
			waitRan(t, w, 1)
			if err := q.Insert(context.Background(), pingArgs{N: 2}, nil); err != nil {
				t.Fatal(err)
			}
			waitRan(t, w, 2)
		})
	}
}

// TestWakeInsertOnly checks that an insert-only queue (CLI commands) accepts Wake as a no-op.
func TestWakeInsertOnly(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			st := storetest.Open(t, dialect)
			q, err := queue.New(st, queue.Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				commitAndWake(t, st, q, pingArgs{N: i})
			}
			q.Wake()
		})
	}
}

// BenchmarkCommitToStart measures the time from a job's commit to its worker starting: woken in
// process (Wake) with the default poll, and found by polling every 20 ms without a wake (the queue
// before the wake existed). Commits are 20 ms apart, as isolated webhooks are; back to back, a wake
// within the fetch cooldown (5 ms) of the last fetch waits for its end.
//
//	go test -run '^$' -bench CommitToStart -benchtime 200x ./internal/queue
func BenchmarkCommitToStart(b *testing.B) {
	for _, tc := range []struct {
		name string
		poll time.Duration
		wake bool
	}{
		{"wake", 0, true},
		{"poll=20ms", 20 * time.Millisecond, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			st := storetest.Open(b, store.SQLite)
			started := make(chan time.Time, 1)
			w := river.WorkFunc(func(ctx context.Context, job *river.Job[pingArgs]) error {
				started <- time.Now()
				return nil
			})
			q, err := queue.New(st, queue.Options{PollInterval: tc.poll,
				Workers: func(_ *queue.Queue, ws *river.Workers) { river.AddWorker(ws, w) }})
			if err != nil {
				b.Fatal(err)
			}
			if err := q.Start(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = q.Stop(ctx)
			})
			var lat []time.Duration
			b.ResetTimer()
			for i := range b.N {
				time.Sleep(20 * time.Millisecond)
				err := st.InTx(context.Background(), func(tx *store.Tx) error {
					return q.InsertTx(context.Background(), tx, []river.InsertManyParams{{Args: pingArgs{N: i}}})
				})
				if err != nil {
					b.Fatal(err)
				}
				committed := time.Now()
				if tc.wake {
					q.Wake(queue.QueueSync)
				}
				lat = append(lat, (<-started).Sub(committed))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "start-p50-ms")
			b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "start-p95-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "start-max-ms")
		})
	}
}
