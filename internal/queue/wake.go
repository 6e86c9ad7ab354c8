package queue

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/riverqueue/river/riverdriver"
)

// This file wakes the workers in process. River's workers find jobs two ways: a fetch when River's
// notifier hears of an insert (PostgreSQL LISTEN/NOTIFY; on SQLite, river_notification rows that
// River's listener reads every 50 ms), and a fetch every poll interval. River has no public call
// that tells its workers to fetch, so the queue hands River a driver whose notifier listener also
// delivers this process's own wakes, as if the database had announced an insert:
//
//   - after a transaction that inserted jobs commits (Queue.Wake, called by the inbox and the
//     resyncs), so that a sync starts within milliseconds of the webhook's commit;
//   - when a snoozed, retried or scheduled job falls due (alarm), which River would otherwise only
//     notice at its next poll;
//
// and, on SQLite, reads river_notification at River's pace (50 ms) only at start and for a few seconds
// after a wake, and once per poll interval otherwise: the table carries River's own inserts (periodic
// jobs, its scheduler) and other processes' (a CLI resync), and each read costs about half a
// millisecond of CPU.

// topicInsert and insertNotification's payload are River's insert notification, the same on
// PostgreSQL's wire (channel river_insert, payload {"queue": …}) as in SQLite's river_notification
// table.
const topicInsert = "river_insert"

func insertNotification(queue string) *riverdriver.Notification {
	payload, _ := json.Marshal(struct {
		Queue string `json:"queue"`
	}{queue})
	return &riverdriver.Notification{Topic: topicInsert, Payload: string(payload)}
}

// outboxRead bounds one read of SQLite's river_notification table: River's listener reads it, then
// waits 50 ms for its next read, which this deadline cuts short.
const outboxRead = 40 * time.Millisecond

// busyFor is how long after a wake the listener reads SQLite's table at River's own pace instead of
// every wakeDriver.every: while this process moves jobs, or has just started. busyEvery is the wait
// between two reads then; with a read's outboxRead it makes River's 50 ms.
const (
	busyFor   = 5 * time.Second
	busyEvery = 10 * time.Millisecond
)

// waker holds the queues woken in this process and not yet delivered to River's notifier.
type waker struct {
	mu      sync.Mutex
	pending []string // distinct queue names; guarded by mu
	// signal holds a token while something may be pending: it interrupts the listener's wait.
	signal chan struct{}
}

func newWaker() *waker { return &waker{signal: make(chan struct{}, 1)} }

// wake makes the workers of the queues fetch now.
func (w *waker) wake(queues ...string) {
	w.mu.Lock()
	for _, q := range queues {
		if !slices.Contains(w.pending, q) {
			w.pending = append(w.pending, q)
		}
	}
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

// take returns one woken queue, if any.
func (w *waker) take() (string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.pending) == 0 {
		return "", false
	}
	q := w.pending[0]
	w.pending = slices.Delete(w.pending, 0, 1)
	return q, true
}

// wakeDriver is a River driver whose notifier listener also delivers the waker's wakes.
type wakeDriver[TTx any] struct {
	riverdriver.Driver[TTx]
	w *waker
	// every, when set, is the wait between two reads of the driver's own listener when idle: it
	// polls a table (SQLite), which River reads every 50 ms. Zero lets it block (PostgreSQL's LISTEN).
	every time.Duration
}

// GetListener returns River's listener with the wakes merged in. It starts busy: at start River
// elects a leader, and the periodic jobs that run on start are announced through the table.
func (d *wakeDriver[TTx]) GetListener(params *riverdriver.GetListenenerParams) riverdriver.Listener {
	return &wakeListener{Listener: d.Driver.GetListener(params), w: d.w, every: d.every, active: time.Now()}
}

// wakeListener is River's notification listener with this process's wakes merged in. River's
// notifier calls WaitForNotification from one goroutine at a time.
type wakeListener struct {
	riverdriver.Listener
	w     *waker
	every time.Duration // see wakeDriver.every
	more  bool          // the last read returned a notification: read again before waiting
	// active is when the last wake came through (or the listener was made): for busyFor after it
	// the table is read every busyEvery.
	active time.Time
}

// WaitForNotification returns the next wake or database notification.
func (l *wakeListener) WaitForNotification(ctx context.Context) (*riverdriver.Notification, error) {
	for {
		if q, ok := l.w.take(); ok {
			l.active = time.Now()
			return insertNotification(q), nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n, err := l.wait(ctx)
		if n != nil || err != nil {
			return n, err
		}
	}
}

// wait waits for one notification from River's listener until a wake interrupts it. It returns
// nil and no error when interrupted, or when a read of SQLite's table found nothing new.
func (l *wakeListener) wait(ctx context.Context) (*riverdriver.Notification, error) {
	var (
		inner  context.Context
		cancel context.CancelFunc
	)
	if l.every > 0 {
		if !l.more {
			every := l.every
			if time.Since(l.active) < busyFor {
				every = min(every, busyEvery)
			}
			t := time.NewTimer(every)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-l.w.signal:
				t.Stop()
				return nil, nil
			case <-t.C:
			}
		}
		inner, cancel = context.WithTimeout(ctx, outboxRead)
	} else {
		inner, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-l.w.signal:
			cancel()
		case <-stop:
		}
	}()
	n, err := l.Listener.WaitForNotification(inner)
	l.more = n != nil
	if err != nil && ctx.Err() == nil && inner.Err() != nil {
		return nil, nil
	}
	return n, err
}

// alarmHorizon bounds how far ahead the alarm keeps a due time: retries (at most 10 minutes apart)
// and snoozes fall within it; a timer sync days away runs at the first poll after it falls due.
const alarmHorizon = time.Hour

// alarmMargin is added to a due time so that the fetch it triggers sees the job as due (SQLite keeps
// milliseconds).
const alarmMargin = 2 * time.Millisecond

// alarm wakes a queue when one of its jobs falls due: a snoozed or retried job, or one inserted to
// run later. Without it such a job would wait for the next poll.
type alarm struct {
	wake func(queues ...string)

	mu    sync.Mutex
	due   []dueWake   // sorted by at, distinct; guarded by mu
	timer *time.Timer // fires at due[0].at; guarded by mu
}

type dueWake struct {
	at    time.Time
	queue string
}

func (d dueWake) compare(o dueWake) int {
	if c := d.at.Compare(o.at); c != 0 {
		return c
	}
	switch {
	case d.queue < o.queue:
		return -1
	case d.queue > o.queue:
		return 1
	}
	return 0
}

// set wakes queue at at (now when at has passed).
func (a *alarm) set(queue string, at time.Time) {
	now := time.Now()
	if !at.After(now) {
		a.wake(queue)
		return
	}
	if at.Sub(now) > alarmHorizon {
		return
	}
	d := dueWake{at: at.Add(alarmMargin).Round(time.Millisecond), queue: queue}
	a.mu.Lock()
	defer a.mu.Unlock()
	i, found := slices.BinarySearchFunc(a.due, d, dueWake.compare)
	if found {
		return
	}
	a.due = slices.Insert(a.due, i, d)
	if i == 0 {
		a.arm(now)
	}
}

// arm points the timer at the earliest due time. Called with mu held.
func (a *alarm) arm(now time.Time) {
	if len(a.due) == 0 {
		return
	}
	d := a.due[0].at.Sub(now)
	if a.timer == nil {
		a.timer = time.AfterFunc(d, a.fire)
		return
	}
	a.timer.Reset(d)
}

// fire wakes the queues whose time has come and re-arms for the next.
func (a *alarm) fire() {
	now := time.Now()
	var queues []string
	a.mu.Lock()
	n := 0
	for n < len(a.due) && !a.due[n].at.After(now) {
		if !slices.Contains(queues, a.due[n].queue) {
			queues = append(queues, a.due[n].queue)
		}
		n++
	}
	a.due = slices.Delete(a.due, 0, n)
	a.arm(now)
	a.mu.Unlock()
	if len(queues) > 0 {
		a.wake(queues...)
	}
}

// stop forgets every due time.
func (a *alarm) stop() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.due = nil
	if a.timer != nil {
		a.timer.Stop()
	}
}
