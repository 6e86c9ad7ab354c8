// Package alert owns membersync's alerts: the rules that watch the database and Stripe's record
// (webhook events Stripe could not deliver, Circle sync failures, review items left waiting, rejected
// credentials, slow convergence, a silent webhook endpoint, Circle's member limits, Circle's monthly
// quota), their state — each alert fires once, repeats at most every configured interval while it
// holds, and sends a resolved message when it clears — and the notifiers that reach a person (a Slack-compatible webhook, a signed JSON webhook, email over SMTP with STARTTLS).
//
// State lives in the database, so it survives restarts and is shared by every instance: each
// transition is a compare-and-set, and only the evaluator that wins it sends the message.
package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
)

// resolveOwedFor bounds how long an undelivered resolved message is retried.
const resolveOwedFor = 24 * time.Hour

// Evaluator runs the alert rules against the database and notifies. Set its fields, then call
// Evaluate once a minute (a periodic job); it is safe for concurrent use.
type Evaluator struct {
	Store  *store.Store
	Config config.AlertsConfig
	// PublicURL is membersync's external base URL; messages link to its admin pages.
	PublicURL string
	Notifiers []Notifier
	// CircleMonthlyQuota is Circle's monthly request quota (circle.monthly_quota); 0 disables the
	// circle_quota rule.
	CircleMonthlyQuota int
	// SupportSpikeFactor is support.spike_factor; 0 disables the support_spike rule (support_spike.go).
	SupportSpikeFactor float64
	// LatestStripeEvent returns when the newest Stripe event (of the types the endpoint receives)
	// was created; false when there is none. Nil disables the webhook-silence rule.
	LatestStripeEvent func(ctx context.Context) (time.Time, bool, error)
	// Stripe is read for the events Stripe could not deliver (the webhook-failures rule), at most
	// once every 5 minutes; nil disables that rule.
	Stripe StripeEvents
	// Refusals, when set, is flushed before each pass so that the overview sees this instance's
	// counts of refused deliveries.
	Refusals *Refusals
	Log      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnNotifyFailure, when set, is told the notifier's name each time one fails (metrics).
	OnNotifyFailure func(notifier string)
	// WhatChanged, when set, says what changed before a problem that began at since (the deploy
	// history): the rules of whatChangedRules append its sentence to their alerts' detail.
	WhatChanged func(ctx context.Context, what string, since time.Time) string

	mu    sync.Mutex
	stats map[string]NotifierStats // guarded by mu

	stripeMu    sync.Mutex      // held across a read of Stripe, so that passes share it
	undelivered undeliveredRead // the last read of Stripe's undelivered events; guarded by stripeMu
}

// StripeEvents is what the webhook-failures rule reads of Stripe; *billing.Reader provides it.
type StripeEvents interface {
	// UndeliveredEvents returns, with one list call, at most limit events created from from to to
	// that Stripe has not delivered to every webhook endpoint, and whether Stripe had more.
	UndeliveredEvents(ctx context.Context, from, to time.Time, limit int) ([]billing.Event, bool, error)
}

// NotifierStats counts one notifier's deliveries since the process started.
type NotifierStats struct {
	Sent        int
	Failed      int
	LastError   string
	LastFailure time.Time
}

// Firing is an alert that fires now, for the admin overview and `membersync alerts list`.
type Firing struct {
	ID       string
	Rule     string
	Title    string
	Detail   string
	Since    time.Time
	Affected int // -1 when unknown
	Link     string
	LastSent time.Time // zero while the first message is still owed
	Notices  int       // messages delivered for this firing
}

func (e *Evaluator) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Evaluator) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (e *Evaluator) timeout() time.Duration {
	if t := e.Config.Timeout.D(); t > 0 {
		return t
	}
	return config.DefaultAlertTimeout
}

func (e *Evaluator) repeat() time.Duration {
	if r := e.Config.Repeat.D(); r > 0 {
		return r
	}
	return config.DefaultAlertRepeat
}

// Firing returns the alerts firing now (nil when none, or when the database cannot be read: the
// error is logged).
func (e *Evaluator) Firing(ctx context.Context) []Firing {
	states, err := e.Store.AlertStates(ctx, true)
	if err != nil {
		e.log().Error("reading firing alerts", "err", err)
		return nil
	}
	var out []Firing
	for _, s := range states {
		out = append(out, Firing{ID: s.ID, Rule: s.Rule, Title: s.Title, Detail: s.Detail, Since: s.Since,
			Affected: s.Affected, Link: s.Link, LastSent: s.LastSent, Notices: s.Sent})
	}
	return out
}

// NotifierStats returns each notifier's deliveries and failures since the process started.
func (e *Evaluator) NotifierStats() map[string]NotifierStats {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]NotifierStats, len(e.stats))
	for k, v := range e.stats {
		out[k] = v
	}
	return out
}

// outgoing is a message this pass owes, with the state that was claimed to send it.
type outgoing struct {
	msg   Message
	state store.AlertState // as saved by the claim
	prev  store.AlertState // before the claim, to give the message back when nothing delivered it
}

// Evaluate runs one pass: every enabled rule is checked, each alert's state moves (fire, repeat,
// resolve), and the messages it owes are sent through every notifier at once, each bounded by the
// configured timeout. A rule that cannot be checked leaves its alerts as they are and is reported
// in the returned error; the other rules still run.
func (e *Evaluator) Evaluate(ctx context.Context) error {
	log := e.log()
	var errs []error
	if e.Refusals != nil {
		if err := e.Refusals.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("writing webhook refusal counts: %w", err))
		}
	}
	now := e.now()
	all, err := e.Store.AlertStates(ctx, false)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	byRule := map[string][]store.AlertState{}
	for _, s := range all {
		byRule[s.Rule] = append(byRule[s.Rule], s)
	}
	var out []outgoing
	names := e.names(ctx)
	for _, r := range e.rules() {
		var found []finding
		if !r.disabled {
			f, err := r.check(ctx, now)
			if err != nil {
				log.Warn("alert rule could not be checked; its alerts stay as they are", "rule", r.name, "err", err)
				errs = append(errs, fmt.Errorf("rule %s: %w", r.name, err))
				continue
			}
			found = named(names, f)
			found = e.explain(ctx, r.name, found)
		}
		o, err := e.step(ctx, r, found, byRule[r.name], now)
		out = append(out, o...)
		if err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", r.name, err))
		}
	}
	e.send(ctx, out)
	if err := e.Store.PruneWebhookRefusals(ctx, now.Add(-refusalKeep)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// step moves one rule's alerts given what it found, claims the messages they owe and returns them.
func (e *Evaluator) step(ctx context.Context, r rule, found []finding, states []store.AlertState, now time.Time) ([]outgoing, error) {
	var out []outgoing
	var errs []error
	byID := map[string]store.AlertState{}
	for _, s := range states {
		byID[s.ID] = s
	}
	save := func(prev, next store.AlertState, m *Message) {
		ok, err := e.Store.SaveAlertState(ctx, &next)
		switch {
		case err != nil:
			errs = append(errs, err)
		case ok && m != nil:
			out = append(out, outgoing{msg: *m, state: next, prev: prev})
		}
	}
	seen := map[string]bool{}
	for _, f := range found {
		id := r.name
		if f.subject != "" {
			id += ":" + f.subject
		}
		seen[id] = true
		prev := byID[id]
		next := prev
		next.ID, next.Rule = id, r.name
		next.Title, next.Detail, next.Link, next.Affected = f.title, f.detail, f.link, f.affected
		if !prev.Firing {
			if r.hold > 0 {
				if prev.PendingSince.IsZero() {
					next.PendingSince = now
					save(prev, next, nil)
					continue
				}
				if now.Sub(prev.PendingSince) < r.hold {
					continue
				}
			}
			since := f.since
			if since.IsZero() || since.After(now) {
				since = now
			}
			next.Firing, next.PendingSince, next.Since = true, time.Time{}, since
			next.ResolvedAt, next.ResolveOwed = time.Time{}, false
			next.LastSent, next.Sent = now, 1 // claimed; given back if nothing delivers it
			m := e.message(next, StatusFiring, now)
			save(prev, next, &m)
			continue
		}
		status := ""
		switch {
		case prev.LastSent.IsZero():
			status = StatusFiring // the first message was never delivered: try again
		case now.Sub(prev.LastSent) >= e.repeat():
			status = StatusRepeat
		}
		if status == "" {
			if next.Title != prev.Title || next.Detail != prev.Detail || next.Link != prev.Link || next.Affected != prev.Affected {
				save(prev, next, nil) // keep the overview current
			}
			continue
		}
		next.LastSent, next.Sent = now, prev.Sent+1
		m := e.message(next, status, now)
		save(prev, next, &m)
	}
	for _, prev := range states {
		if seen[prev.ID] {
			continue
		}
		next := prev
		switch {
		case prev.Firing && r.disabled:
			next.Firing, next.ResolvedAt, next.ResolveOwed = false, now, false
			save(prev, next, nil)
		case prev.Firing:
			// Cleared. A resolved message is owed only if the firing one reached someone.
			next.Firing, next.ResolvedAt, next.PendingSince = false, now, time.Time{}
			if prev.Sent > 0 && !prev.LastSent.IsZero() {
				m := e.message(next, StatusResolved, now)
				save(prev, next, &m) // claimed: ResolveOwed stays false unless nothing delivers it
			} else {
				save(prev, next, nil)
			}
		case prev.ResolveOwed && now.Sub(prev.ResolvedAt) < resolveOwedFor && !r.disabled:
			next.ResolveOwed = false
			m := e.message(next, StatusResolved, now)
			save(prev, next, &m)
		case prev.ResolveOwed || !prev.PendingSince.IsZero():
			next.ResolveOwed, next.PendingSince = false, time.Time{}
			save(prev, next, nil)
		}
	}
	return out, errors.Join(errs...)
}

func (e *Evaluator) message(s store.AlertState, status string, now time.Time) Message {
	m := Message{AlertID: s.ID, Rule: s.Rule, Status: status, Title: s.Title, Detail: s.Detail,
		Since: s.Since, Affected: s.Affected, Link: s.Link, Notice: s.Sent, SentAt: now}
	if status == StatusResolved {
		at := s.ResolvedAt
		m.ResolvedAt, m.Notice = &at, 0
		m.Title = strings.TrimSuffix(m.Title, ".")
		m.Detail = "The condition cleared."
	}
	return m
}

// send delivers every claimed message at once, then records the outcome: a message no notifier
// delivered is given back (owed again, retried next pass); one that any notifier delivered stands.
func (e *Evaluator) send(ctx context.Context, out []outgoing) {
	if len(out) == 0 {
		return
	}
	log := e.log()
	results := make([][]Result, len(out))
	var wg sync.WaitGroup
	for i, o := range out {
		wg.Go(func() { results[i] = Deliver(ctx, e.Notifiers, o.msg, e.timeout()) })
	}
	wg.Wait()
	for i, o := range out {
		delivered := false
		var summary []string
		for _, r := range results[i] {
			e.count(r)
			if r.Err != nil {
				summary = append(summary, r.Notifier+"=failed: "+clip(r.Err.Error(), 200))
				log.Warn("alert notifier failed", "notifier", r.Notifier, "alert", o.msg.AlertID, "status", o.msg.Status, "err", r.Err)
				continue
			}
			delivered = true
			summary = append(summary, r.Notifier+"=ok")
		}
		if len(results[i]) == 0 {
			// Nowhere to send: the overview shows it, and the schedule goes on as if delivered.
			delivered = true
			summary = append(summary, "no notifier configured")
		}
		log.Info("alert", "alert", o.msg.AlertID, "status", o.msg.Status, "title", o.msg.Title, "delivered", delivered, "notifiers", strings.Join(summary, " "))
		if err := e.Store.AppendAlertNotification(ctx, store.AlertNotification{AlertID: o.msg.AlertID, Rule: o.msg.Rule, At: o.msg.SentAt,
			Status: o.msg.Status, Title: o.msg.Title, Results: strings.Join(summary, " "), Delivered: delivered}); err != nil {
			log.Error("recording an alert notification", "alert", o.msg.AlertID, "err", err)
		}
		if delivered {
			continue
		}
		// Give the message back so that the next pass tries again.
		back := o.state
		if o.msg.Status == StatusResolved {
			back.ResolveOwed = true
		} else {
			back.LastSent, back.Sent = o.prev.LastSent, o.prev.Sent
			if o.msg.Status == StatusFiring {
				back.LastSent, back.Sent = time.Time{}, 0
			}
		}
		if _, err := e.Store.SaveAlertState(ctx, &back); err != nil {
			log.Error("saving alert state", "alert", o.msg.AlertID, "err", err)
		}
	}
}

func (e *Evaluator) count(r Result) {
	e.mu.Lock()
	if e.stats == nil {
		e.stats = map[string]NotifierStats{}
	}
	s := e.stats[r.Notifier]
	if r.Err != nil {
		s.Failed++
		s.LastError, s.LastFailure = r.Err.Error(), e.now()
	} else {
		s.Sent++
	}
	e.stats[r.Notifier] = s
	e.mu.Unlock()
	if r.Err != nil && e.OnNotifyFailure != nil {
		e.OnNotifyFailure(r.Notifier)
	}
}

// TestMessage is the message `membersync alerts test` sends.
func TestMessage(publicURL string, now time.Time) Message {
	return Message{AlertID: "test", Rule: "test", Status: StatusTest,
		Title:  "membersync can reach you",
		Detail: "This is a test message from `membersync alerts test`. Real alerts say what is wrong, since when, how many people are affected, and link to the page that shows it.",
		Since:  now, Affected: 0, Link: strings.TrimRight(publicURL, "/") + pageOverview, SentAt: now}
}
