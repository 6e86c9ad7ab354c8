package main

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
	"github.com/membersync/membersync/internal/doctor"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

// doctorWorker runs the scheduled launch-readiness audit, stores its report for the admin overview,
// and alerts on checks that newly fail (a certificate about to expire, SPF broken, a webhook endpoint
// accepting unsigned posts).
type doctorWorker struct {
	river.WorkerDefaults[queue.DoctorArgs]
	cfg       *config.Config
	store     *store.Store
	notifiers []alert.Notifier
	log       *slog.Logger
	// run is doctor.Run (tests inject the network).
	run func(ctx context.Context, opts doctor.Options) (doctor.Report, error)
	now func() time.Time
}

// Timeout bounds one audit.
func (w *doctorWorker) Timeout(*river.Job[queue.DoctorArgs]) time.Duration { return 10 * time.Minute }

// Work audits once.
func (w *doctorWorker) Work(ctx context.Context, _ *river.Job[queue.DoctorArgs]) error {
	dc := w.cfg.Doctor
	if dc.Domain == "" {
		return nil
	}
	run := w.run
	if run == nil {
		run = doctor.Run
	}
	rep, err := run(ctx, doctor.Options{Domain: dc.Domain, WWW: dc.WWW, DKIMSelectors: dc.DKIMSelectors,
		WebhookURL: w.cfg.PublicURL + "/webhooks/stripe", PublicURL: w.cfg.PublicURL})
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
		if f.Status == doctor.StatusFail {
			failing = append(failing, f.Group+": "+f.Check+" — "+f.Message)
		}
	}
	prev, err := w.store.LatestDoctorReport(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	now := time.Now()
	if w.now != nil {
		now = w.now()
	}
	if err := w.store.SaveDoctorReport(ctx, store.DoctorReport{At: now, Domain: dc.Domain, Fails: counts[doctor.StatusFail],
		Warns: counts[doctor.StatusWarn], Failing: failing, JSON: js.String()}); err != nil {
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
	if _, err := w.store.OpenReview(ctx, store.ReviewItem{Kind: "doctor_failure", ActionKey: dc.Domain,
		Reason: fmt.Sprintf("the launch audit found %d newly failing check(s)", len(fresh)), LastError: strings.Join(fresh, "; ")}); err != nil {
		return err
	}
	msg := alert.Message{AlertID: "doctor", Rule: "doctor", Status: alert.StatusFiring,
		Title:  fmt.Sprintf("Launch audit of %s: %d check(s) newly failing", dc.Domain, len(fresh)),
		Detail: detail, Since: now, Affected: -1, Link: w.cfg.PublicURL + "/admin", Notice: 1, SentAt: now}
	for _, r := range alert.Deliver(ctx, w.notifiers, msg, w.cfg.Alerts.Timeout.D()) {
		if r.Err != nil {
			w.log.Warn("doctor alert not delivered", "notifier", r.Notifier, "err", r.Err)
		}
	}
	return nil
}
