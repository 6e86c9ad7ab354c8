package queue

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river/riverdriver"
)

// fakeListener stands in for River's listener: WaitForNotification returns what notes delivers,
// or the context's error.
type fakeListener struct {
	riverdriver.Listener
	notes chan *riverdriver.Notification
}

func (f *fakeListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	select {
	case n := <-f.notes:
		return n, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// wait calls WaitForNotification in the background and returns its answer.
func wait(l *wakeListener) <-chan *riverdriver.Notification {
	out := make(chan *riverdriver.Notification, 1)
	go func() {
		n, err := l.WaitForNotification(context.Background())
		if err != nil {
			panic(err)
		}
		out <- n
	}()
	return out
}

func TestWakeListener(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every time.Duration
	}{
		{"blocking (PostgreSQL)", 0},
		{"polling (SQLite)", time.Hour},
		{"polling, read in progress (SQLite)", time.Nanosecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := &fakeListener{notes: make(chan *riverdriver.Notification)}
			w := newWaker()
			l := &wakeListener{Listener: inner, w: w, every: tc.every}

			// A wake interrupts the wait and reads as River's insert notification for the queue.
			got := wait(l)
			w.wake("sync")
			n := <-got
			if n.Topic != "river_insert" || n.Payload != `{"queue":"sync"}` {
				t.Errorf("woken: got %+v, want river_insert {\"queue\":\"sync\"}", n)
			}

			// Several wakes before the next wait are each delivered once.
			w.wake("sync", "default")
			w.wake("sync")
			for _, want := range []string{`{"queue":"sync"}`, `{"queue":"default"}`} {
				if n := <-wait(l); n.Payload != want {
					t.Errorf("got %s, want %s", n.Payload, want)
				}
			}

			// The database's own notifications still come through; polling, the listener reads its
			// table at River's pace for a while after a wake, not once an hour.
			got = wait(l)
			note := &riverdriver.Notification{Topic: "river_leadership", Payload: "{}"}
			inner.notes <- note
			if n := <-got; n != note {
				t.Errorf("got %+v, want the listener's %+v", n, note)
			}
		})
	}
}

func TestAlarm(t *testing.T) {
	woken := make(chan []string, 10)
	a := &alarm{wake: func(queues ...string) { woken <- queues }}
	now := time.Now()

	a.set("sync", now.Add(-time.Second)) // due: at once
	if got := <-woken; len(got) != 1 || got[0] != "sync" {
		t.Errorf("past due: woke %v, want [sync]", got)
	}

	a.set("sync", now.Add(2*alarmHorizon)) // beyond the horizon: the poll finds it
	later := now.Add(time.Hour / 2)
	a.set("sync", later)
	a.set("sync", later) // the same time again is one wake
	a.set("default", later)
	a.mu.Lock()
	if len(a.due) != 2 {
		t.Errorf("due times: got %v, want sync and default at %v", a.due, later)
	}
	a.mu.Unlock()
	a.stop()

	a.set("sync", time.Now().Add(10*time.Millisecond))
	if got := <-woken; len(got) != 1 || got[0] != "sync" {
		t.Errorf("when due: woke %v, want [sync]", got)
	}
}
