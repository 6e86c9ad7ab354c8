package sources

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/membersync/membersync/internal/support"
)

// unfinished are the states in which a job of these kinds blocks another: one poll and one note
// run at a time across every instance, and a finished one does not block the next.
var unfinished = []rivertype.JobState{rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
	rivertype.JobStateRetryable, rivertype.JobStateScheduled}

// PollArgs asks for one poll of the support mailbox (a periodic job, every support.imap.interval,
// on the River leader).
type PollArgs struct{}

// Kind is River's name for the job.
func (PollArgs) Kind() string { return "support_imap_poll" }

// InsertOpts runs one poll at a time, once: the next interval's poll is the retry.
func (PollArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: unfinished}}
}

// PollJob schedules the mailbox poll every interval; the first runs at start.
func PollJob(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return PollArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})
}

// PollWorker runs support_imap_poll jobs.
type PollWorker struct {
	river.WorkerDefaults[PollArgs]
	Poller *Poller
	Log    *slog.Logger
}

// Timeout bounds one poll: a connection, a search and a few fetches.
func (w *PollWorker) Timeout(*river.Job[PollArgs]) time.Duration { return 90 * time.Second }

// Work polls once. A failure is logged and left to the next interval (the job is not retried in
// between); messages already read are kept.
func (w *PollWorker) Work(ctx context.Context, _ *river.Job[PollArgs]) error {
	res, err := w.Poller.Poll(ctx)
	log := w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err != nil {
		log.Warn("support mailbox not read; the next poll retries", "err", err, "ingested", res.Ingested)
		return err
	}
	if res.Ingested > 0 || res.Reset || res.More {
		log.Info("support mailbox read", "ingested", res.Ingested, "duplicates", res.Duplicates, "skipped", res.Skipped,
			"more", res.More, "uidvalidity_changed", res.Reset)
	}
	return nil
}

// NoteArgs asks for the pending diagnoses to be posted as private notes on their tickets. It is
// inserted after each Help Scout or Zendesk message, and runs every minute for what failed before.
type NoteArgs struct{}

// Kind is River's name for the job.
func (NoteArgs) Kind() string { return "support_notes" }

// InsertOpts runs one at a time (two would post one note twice) with a few retries.
func (NoteArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: unfinished}}
}

// NoteJob schedules the note job every minute.
func NoteJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Minute),
		func() (river.JobArgs, *river.InsertOpts) { return NoteArgs{}, nil }, nil)
}

// Poster posts a note on a help desk's ticket; *HelpScout and *Zendesk are.
type Poster interface {
	PostNote(ctx context.Context, ticketRef, text string) error
}

// noteBatch is how many pending notes one pass reads.
const noteBatch = 20

// NoteWorker runs support_notes jobs: each pending note goes to its source's help desk and is
// marked with the result. A refusal that retrying cannot change (the ticket is gone, the
// credentials are refused, no credentials are configured) is recorded on the note and not tried
// again; a 429 snoozes the job for the help desk's Retry-After, a 5xx or a network failure retries
// it with back-off, the note staying pending.
type NoteWorker struct {
	river.WorkerDefaults[NoteArgs]
	Notes NoteQueue
	// Posters by source (SourceHelpScout, SourceZendesk); a source without one gets its notes
	// marked failed.
	Posters map[string]Poster
	Log     *slog.Logger
}

// Timeout bounds one job.
func (w *NoteWorker) Timeout(*river.Job[NoteArgs]) time.Duration { return 5 * time.Minute }

// Work posts until nothing is pending, or a help desk asks to wait.
func (w *NoteWorker) Work(ctx context.Context, _ *river.Job[NoteArgs]) error {
	log := w.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	posted := 0
	tried := map[int64]bool{} // a note that failed is offered again; not within this job
	for {
		notes, err := w.Notes.NotePending(ctx, noteBatch)
		if err != nil {
			return err
		}
		progress := false
		for _, n := range notes {
			if tried[n.ID] {
				continue
			}
			tried[n.ID] = true
			err := w.post(ctx, n)
			var pe *PostError
			switch {
			case err == nil:
				posted++
			case errors.As(err, &pe) && pe.Permanent:
				log.Warn("support note refused; not retried", "source", n.Source, "note", n.ID, "err", err)
			case errors.As(err, &pe) && pe.RetryAfter > 0:
				log.Info("support note rate-limited; waiting", "source", n.Source, "retry_after", pe.RetryAfter)
				return river.JobSnooze(pe.RetryAfter)
			default:
				return err // 5xx, network: River retries with back-off; the note stays pending
			}
			if err := w.Notes.MarkNoted(ctx, n.ID, err); err != nil {
				return err
			}
			progress = true
		}
		if len(notes) < noteBatch || !progress {
			if posted > 0 {
				log.Info("support notes posted", "count", posted)
			}
			return nil
		}
	}
}

// post sends one note through its source's Poster.
func (w *NoteWorker) post(ctx context.Context, n support.PendingNote) error {
	p := w.Posters[n.Source]
	if p == nil {
		return &PostError{Desk: n.Source, Permanent: true, Detail: "no API credentials are configured to post notes for this source"}
	}
	return p.PostNote(ctx, n.TicketRef, n.Text)
}
