package doctor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
)

// AuditArgs asks for one scheduled launch-readiness audit.
type AuditArgs struct{}

// Kind is River's name for the job.
func (AuditArgs) Kind() string { return "doctor_audit" }

// InsertOpts runs an audit once; the next scheduled one is the retry.
func (AuditArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// PeriodicJob schedules the audit every interval, and one at start.
func PeriodicJob(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(interval),
		func() (river.JobArgs, *river.InsertOpts) { return AuditArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})
}

// Worker runs the scheduled launch-readiness audit, stores its report for the admin overview,
// and alerts on checks that newly fail (a certificate about to expire, SPF broken, a webhook endpoint
// accepting unsigned posts): a review item and a message through the notifiers.
type Worker struct {
	river.WorkerDefaults[AuditArgs]
	Config    *config.Config
	Store     *store.Store
	Notifiers []alert.Notifier
	Log       *slog.Logger
	// Run is the audit; nil means Run (tests inject the network).
	Run func(ctx context.Context, opts Options) (Report, error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Timeout bounds one audit.
func (w *Worker) Timeout(*river.Job[AuditArgs]) time.Duration { return 10 * time.Minute }

// Work audits once.
func (w *Worker) Work(ctx context.Context, _ *river.Job[AuditArgs]) error {
	dc := w.Config.Doctor
	if dc.Domain == "" {
		return nil
	}
	run := w.Run
	if run == nil {
		run = Run
	}
	rep, err := run(ctx, Options{Domain: dc.Domain, WWW: dc.WWW, DKIMSelectors: dc.DKIMSelectors,
		WebhookURL: w.Config.PublicURL + "/webhooks/stripe", PublicURL: w.Config.PublicURL})
	if err != nil {
		return fmt.Errorf("doctor could not run: %w", err)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		return err
	}
	counts := rep.Counts()
	var failing []string
	for _, f := range rep.Findings {
		if f.Status == StatusFail {
			failing = append(failing, f.Group+": "+f.Check+" — "+f.Message)
		}
	}
	prev, err := w.Store.LatestDoctorReport(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	if err := w.Store.SaveDoctorReport(ctx, store.DoctorReport{At: now, Domain: dc.Domain, Fails: counts[StatusFail],
		Warns: counts[StatusWarn], Failing: failing, JSON: js.String()}); err != nil {
		return err
	}
	var fresh []string
	for _, f := range failing {
		if !slices.Contains(prev.Failing, f) {
			fresh = append(fresh, f)
		}
	}
	if len(fresh) == 0 {
		return nil
	}
	detail := "The scheduled launch audit of " + dc.Domain + " found checks that newly fail:\n- " + strings.Join(fresh, "\n- ") +
		"\nRun `membersync doctor --domain " + dc.Domain + "` for the fixes."
	if _, err := w.Store.OpenReview(ctx, store.ReviewItem{Kind: "doctor_failure", ActionKey: dc.Domain,
		Reason: fmt.Sprintf("the launch audit found %d newly failing check(s)", len(fresh)), LastError: strings.Join(fresh, "; ")}); err != nil {
		return err
	}
	msg := alert.Message{AlertID: "doctor", Rule: "doctor", Status: alert.StatusFiring,
		Title:  fmt.Sprintf("Launch audit of %s: %d check(s) newly failing", dc.Domain, len(fresh)),
		Detail: detail, Since: now, Affected: -1, Link: w.Config.PublicURL + "/admin", Notice: 1, SentAt: now}
	for _, r := range alert.Deliver(ctx, w.Notifiers, msg, w.Config.Alerts.Timeout.D()) {
		if r.Err != nil {
			w.log().Warn("doctor alert not delivered", "notifier", r.Notifier, "err", r.Err)
		}
	}
	return nil
}

func (w *Worker) log() *slog.Logger {
	if w.Log != nil {
		return w.Log
	}
	return slog.New(slog.DiscardHandler)
}
