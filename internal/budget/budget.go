// Package budget is the request budget of one provider credential: a GCRA token bucket (a
// theoretical arrival time that each request pushes one interval further) and a pause that a
// provider's 429 sets. The arithmetic is here, pure; it runs in memory (Memory, one process) or in
// the database (store.Budget, shared by every instance on one PostgreSQL database).
package budget

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Budget is shared by every caller that spends one credential: after a provider answers 429, every
// caller waits until the provider's window has passed instead of spending quota on retries.
type Budget interface {
	// Take reserves one request and returns how long the caller must wait before sending it. When
	// that wait would be longer than maxWait (zero means no limit), nothing is reserved and the
	// error is an *Over saying how long.
	Take(ctx context.Context, maxWait time.Duration) (time.Duration, error)
	// Pause stops every request for d from now, by the budget's clock (a later end wins).
	Pause(ctx context.Context, d time.Duration) error
	// Paused returns how much longer the budget is paused (zero when it is not).
	Paused(ctx context.Context) (time.Duration, error)
}

// Wait takes one request from b and sleeps until it may be sent, returning how long it slept. A
// wait beyond maxWait takes nothing and fails with the *Over of b's answer, so that the caller's
// job can snooze as long. A caller that slept checks the pause again before sending: a 429 that
// another caller (on PostgreSQL, another instance) received during the sleep stops this request
// too, instead of spending quota on a request bound to be refused.
func Wait(ctx context.Context, b Budget, maxWait time.Duration) (time.Duration, error) {
	d, err := b.Take(ctx, maxWait)
	if err != nil || d == 0 {
		return 0, err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return d, ctx.Err()
	case <-t.C:
	}
	left, err := b.Paused(ctx)
	if err != nil {
		return d, err
	}
	if left > 0 {
		return d, &Over{Wait: left, Paused: true}
	}
	return d, nil
}

// Over is Take's refusal: the budget has no request to spare within the caller's wait.
type Over struct {
	// Wait is how long the caller would have had to wait.
	Wait time.Duration
	// Paused says the wait comes from a provider's 429 window rather than the configured rate.
	Paused bool
}

func (e *Over) Error() string {
	if e.Paused {
		return fmt.Sprintf("paused after a 429 for another %s", e.Wait.Round(time.Millisecond))
	}
	return fmt.Sprintf("throttled for %s", e.Wait.Round(time.Millisecond))
}

// Rate is a budget's configured rate: perMinute requests, in bursts of at most burst.
type Rate struct {
	PerMinute int
	Burst     int
}

// Interval is the time one request costs.
func (r Rate) Interval() time.Duration {
	return time.Duration(float64(time.Minute) / float64(max(r.PerMinute, 1)))
}

// Window is how far ahead of now the bucket may run: burst requests.
func (r Rate) Window() time.Duration { return time.Duration(max(r.Burst, 1)) * r.Interval() }

// GCRA applies one request to a bucket whose theoretical arrival time is tat and whose pause ends at
// paused, at now. It returns the new tat and the wait before the request may be sent; ok is false
// (and tat unchanged) when the wait would exceed maxWait (zero: no limit). Both budgets use it, so
// that in memory and in the database the arithmetic is one.
func GCRA(r Rate, tat, paused, now time.Time, maxWait time.Duration) (newTAT time.Time, wait time.Duration, ok bool) {
	start := later(tat, now, paused)
	newTAT = start.Add(r.Interval())
	allowed := later(newTAT.Add(-r.Window()), paused)
	wait = max(allowed.Sub(now), 0)
	if maxWait > 0 && wait > maxWait {
		return tat, wait, false
	}
	return newTAT, wait, true
}

func later(ts ...time.Time) time.Time {
	var m time.Time
	for _, t := range ts {
		if t.After(m) {
			m = t
		}
	}
	return m
}

// Memory is a Budget for one process.
type Memory struct {
	rate Rate
	now  func() time.Time

	mu     sync.Mutex
	tat    time.Time
	paused time.Time
	spent  int64 // requests let through since the last Drain
}

// NewMemory returns an in-memory Budget of rate; now is its clock (nil: time.Now).
func NewMemory(rate Rate, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{rate: rate, now: now}
}

// Take implements Budget.
func (b *Memory) Take(_ context.Context, maxWait time.Duration) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	tat, wait, ok := GCRA(b.rate, b.tat, b.paused, now, maxWait)
	if !ok {
		return 0, &Over{Wait: wait, Paused: b.paused.After(now)}
	}
	b.tat = tat
	b.spent++
	return wait, nil
}

// Drain returns how many requests the budget let through since the last Drain, and starts again
// from zero (the count is flushed to the database, where the month's use is kept).
func (b *Memory) Drain() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := b.spent
	b.spent = 0
	return n
}

// Paused implements Budget.
func (b *Memory) Paused(context.Context) (time.Duration, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.paused.Sub(b.now()), 0), nil
}

// Pause implements Budget.
func (b *Memory) Pause(_ context.Context, d time.Duration) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if until := b.now().Add(d); until.After(b.paused) {
		b.paused = until
	}
	return nil
}
