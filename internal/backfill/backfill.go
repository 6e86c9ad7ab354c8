// Package backfill recovers missed webhooks from Stripe's Events API: it lists the events of a recent
// window (at most Stripe's 30 days), oldest first, and feeds each through the inbox exactly like a
// delivery, so that an event received before is a duplicate and does nothing. A run records its
// cursor (the last event processed) and a later run resumes after it; a run that fails is never
// recorded complete. CheckEndpoint tells, from Stripe's latest event and the latest delivery,
// whether the webhook endpoint looks broken.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/store"
)

// MaxWindow is how far back Stripe's Events API reaches.
const MaxWindow = 30 * 24 * time.Hour

// maxTypes is how many event types Stripe filters in one list.
const maxTypes = 20

// cursorEvery is how many events are processed between two saves of the cursor. An interrupted
// run re-reads at most this many (duplicates by then, so nothing twice).
const cursorEvery = 100

const (
	lockName = "backfill"
	lockTTL  = 10 * time.Minute
)

// ErrBusy means another backfill is running.
var ErrBusy = errors.New("another backfill is running")

// events is what the backfill needs of Stripe.
type events interface {
	Events(ctx context.Context, q billing.EventQuery) iter.Seq2[billing.Event, error]
	LatestEvent(ctx context.Context) (billing.Event, bool, error)
}

// Backfiller runs backfills and endpoint checks. Its fields are set once.
type Backfiller struct {
	Store  *store.Store
	Stripe events
	// Queue receives the jobs the inbox enqueues with each new event.
	Queue inbox.Enqueuer
	Log   *slog.Logger
	// Now is the clock (the window ends now); nil means time.Now.
	Now func() time.Time
}

func (b *Backfiller) now() time.Time {
	if b.Now != nil {
		return b.Now().UTC()
	}
	return time.Now().UTC()
}

func (b *Backfiller) log() *slog.Logger {
	if b.Log != nil {
		return b.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Options tune one backfill.
type Options struct {
	// Since is how far back to look, at most MaxWindow.
	Since time.Duration
	// Types keeps only these event types (at most 20); none means every type.
	Types []string
	// DryRun only counts the events, and how many of them are new; nothing is stored.
	DryRun bool
	// Restart ignores an unfinished earlier run instead of resuming it.
	Restart bool
	// Progress is told about each event processed.
	Progress func(Progress)
}

// Progress is how far a backfill got.
type Progress struct {
	Processed int
	LastEvent string
	Created   time.Time // the Stripe creation time of the last event processed
}

// Result is what a backfill did.
type Result struct {
	RunID int64 `json:"run_id,omitempty"`
	// Resumed is true when the run continued an unfinished earlier one, after AfterID.
	Resumed bool   `json:"resumed"`
	AfterID string `json:"after_id,omitempty"`
	// From is the start of the window (Stripe's created).
	From   time.Time `json:"from"`
	DryRun bool      `json:"dry_run,omitempty"`
	// Processed counts the events read in this invocation; the run's totals are in the store.
	Processed  int `json:"processed"`
	Accepted   int `json:"accepted"`   // new events, their person's sync queued
	Duplicates int `json:"duplicates"` // received before: nothing done
	Ignored    int `json:"ignored"`    // new events of types membersync does not act on
	New        int `json:"new"`        // dry run: events not stored yet
	// Invalid counts events whose envelope the inbox refused (never expected from Stripe's API).
	Invalid     int            `json:"invalid,omitempty"`
	ByType      map[string]int `json:"by_type"`
	LastEventID string         `json:"last_event_id,omitempty"`
	Complete    bool           `json:"complete"`
}

// typesKey is the stored form of a type filter: sorted, deduplicated, comma-separated.
func typesKey(types []string) string {
	t := slices.Clone(types)
	slices.Sort(t)
	return strings.Join(slices.Compact(t), ",")
}

func (o Options) validate() error {
	if o.Since <= 0 {
		return errors.New("the window must be positive, such as 72h")
	}
	if o.Since > MaxWindow {
		return fmt.Errorf("the window %s is longer than the 30 days Stripe keeps events", o.Since)
	}
	if len(o.Types) > maxTypes {
		return fmt.Errorf("at most %d event types can be filtered at once, not %d", maxTypes, len(o.Types))
	}
	for _, t := range o.Types {
		if t == "" || strings.ContainsAny(t, ", ") {
			return fmt.Errorf("%q is not an event type", t)
		}
	}
	return nil
}

// Run backfills the window. Without DryRun it resumes the last unfinished run with the same type
// filter (when that run's window covers this one), records its cursor every few events and at the
// end, and records the run complete only when Stripe's list was read to its end with every event
// stored; any error leaves it failed, to resume.
func (b *Backfiller) Run(ctx context.Context, opts Options) (Result, error) {
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	from := b.now().Add(-opts.Since).Truncate(time.Second)
	if opts.DryRun {
		return b.dryRun(ctx, from, opts)
	}
	owner := lockOwner()
	ok, err := b.Store.AcquireLock(ctx, lockName, owner, lockTTL)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{}, ErrBusy
	}
	defer b.Store.ReleaseLock(context.WithoutCancel(ctx), lockName, owner)

	key := typesKey(opts.Types)
	res := Result{From: from, ByType: map[string]int{}}
	run, err := b.Store.LatestBackfill(ctx, key)
	switch {
	case err == nil && run.Status != store.BackfillComplete && !opts.Restart && !run.Since.After(from):
		// Everything from the earlier window's start up to its cursor was processed: continue after it.
		res.Resumed, res.AfterID, res.From = true, run.LastEventID, run.Since
		run.Status, run.Error = store.BackfillRunning, ""
	case err == nil || errors.Is(err, store.ErrNotFound):
		if run, err = b.Store.StartBackfill(ctx, from, key); err != nil {
			return res, err
		}
	default:
		return res, err
	}
	res.RunID = run.ID

	inCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	in := inbox.New(b.Store, b.Queue, b.log())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		in.Run(inCtx)
	}()
	defer func() { stop(); <-stopped }()

	err = b.feed(ctx, in, opts, owner, &run, &res)
	if err != nil && res.Resumed && res.Processed == 0 && res.AfterID != "" && provider.KindOf(err) == provider.NotFound {
		// The cursor's event is older than Stripe keeps: start the window again (duplicates are harmless).
		b.log().Warn("backfill cursor no longer listed by Stripe; restarting the window", "after", res.AfterID)
		res.AfterID, run.LastEventID = "", ""
		err = b.feed(ctx, in, opts, owner, &run, &res)
	}
	if err != nil {
		run.Status, run.Error = store.BackfillFailed, err.Error()
	} else {
		run.Status, run.Error = store.BackfillComplete, ""
		res.Complete = true
	}
	if serr := b.Store.SaveBackfill(context.WithoutCancel(ctx), run); serr != nil {
		return res, errors.Join(err, serr)
	}
	b.log().Info("backfill", "run", run.ID, "status", run.Status, "resumed", res.Resumed, "processed", res.Processed,
		"accepted", res.Accepted, "duplicates", res.Duplicates, "ignored", res.Ignored, "last_event", run.LastEventID)
	return res, err
}

// feed lists the events after the run's cursor and accepts each through the inbox.
func (b *Backfiller) feed(ctx context.Context, in *inbox.Inbox, opts Options, owner string, run *store.BackfillRun, res *Result) error {
	q := billing.EventQuery{CreatedGTE: run.Since, Types: opts.Types, AfterID: run.LastEventID}
	unsaved := 0
	renewed := b.now()
	for ev, err := range b.Stripe.Events(ctx, q) {
		if err != nil {
			return fmt.Errorf("listing Stripe events: %w", err)
		}
		env, perr := inbox.ParseEnvelope(ev.Raw)
		if perr != nil {
			res.Invalid++
			b.log().Error("backfill: Stripe listed an event the inbox refuses", "event_id", ev.ID, "err", perr)
		} else {
			r, err := in.Accept(ctx, store.Event{
				ID: env.ID, Type: env.Type, CustomerID: env.CustomerID, APIVersion: env.APIVersion,
				Created: env.Created, Livemode: env.Livemode, Source: "backfill",
				Actionable: inbox.Actionable(env.Type), Payload: ev.Raw,
			})
			if err != nil {
				return fmt.Errorf("storing event %s: %w", ev.ID, err)
			}
			switch r {
			case inbox.Accepted:
				res.Accepted++
				run.Accepted++
			case inbox.Duplicate:
				res.Duplicates++
				run.Duplicates++
			case inbox.Ignored:
				res.Ignored++
				run.Ignored++
			}
		}
		res.Processed++
		run.Processed++
		res.ByType[ev.Type]++
		run.LastEventID, res.LastEventID = ev.ID, ev.ID
		if opts.Progress != nil {
			opts.Progress(Progress{Processed: res.Processed, LastEvent: ev.ID, Created: ev.Created})
		}
		if unsaved++; unsaved >= cursorEvery {
			if err := b.Store.SaveBackfill(ctx, *run); err != nil {
				return err
			}
			unsaved = 0
		}
		if now := b.now(); now.Sub(renewed) > lockTTL/5 {
			if _, err := b.Store.AcquireLock(ctx, lockName, owner, lockTTL); err != nil {
				return err
			}
			renewed = now
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// dryRun counts the window's events and how many are not stored yet.
func (b *Backfiller) dryRun(ctx context.Context, from time.Time, opts Options) (Result, error) {
	res := Result{From: from, DryRun: true, ByType: map[string]int{}}
	var batch []string
	count := func() error {
		known, err := b.Store.KnownEventIDs(ctx, batch)
		if err != nil {
			return err
		}
		for _, id := range batch {
			if known[id] {
				res.Duplicates++
			} else {
				res.New++
			}
		}
		batch = batch[:0]
		return nil
	}
	for ev, err := range b.Stripe.Events(ctx, billing.EventQuery{CreatedGTE: from, Types: opts.Types}) {
		if err != nil {
			return res, fmt.Errorf("listing Stripe events: %w", err)
		}
		res.Processed++
		res.ByType[ev.Type]++
		res.LastEventID = ev.ID
		if batch = append(batch, ev.ID); len(batch) >= 500 {
			if err := count(); err != nil {
				return res, err
			}
		}
		if opts.Progress != nil {
			opts.Progress(Progress{Processed: res.Processed, LastEvent: ev.ID, Created: ev.Created})
		}
	}
	if err := count(); err != nil {
		return res, err
	}
	res.Complete = true
	return res, nil
}

func lockOwner() string {
	host, _ := os.Hostname()
	return host + "/" + strconv.Itoa(os.Getpid()) + "/" + strconv.FormatInt(time.Now().UnixNano(), 36)
}
