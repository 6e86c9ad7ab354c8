package admin

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// overviewView answers "is it healthy?" at a glance.
type overviewView struct {
	O           store.Overview
	OldestAge   time.Duration // how long the oldest ready job has waited
	Alerts      []FiringAlert
	AlertsWired bool
	Charts      []chart
	Concerns    []string // what needs attention, in words; empty when healthy
	// Share is review items per event over the last 7 days (the bar is under 1%).
	Share  reviewShare
	Drift  *store.DriftReport  // the latest drift sweep, nil before the first
	Doctor *store.DoctorReport // the latest scheduled launch audit, nil before the first
	// Refusals is the last hour's refused webhook deliveries, nil when none: information, never a
	// concern or an alert, since anyone can post a wrong signature.
	Refusals *refusalNote
	// CircleQuota is this month's use of Circle's monthly request quota; nil when unreadable.
	CircleQuota *circleQuotaNote
	// NotReady is the last failed readiness check, nil when there was none (the detail /readyz
	// keeps from anonymous callers).
	NotReady *readiness
	// Members counts the people by plan and stage, nil when unreadable.
	Members *membershipView
	// Recovery tells the last day's failed syncs that a retry recovered from those still failing;
	// nil when unreadable (the tile then counts the last hour's failures, as before).
	Recovery *recoveryView
	// Resolved are the alerts resolved in the last day, latest first.
	Resolved []resolvedAlert
	// Support is the weekly support volume and the acceptance check (support.go); nil when unreadable.
	Support *supportVolume
	// WhatChanged names the start that preceded the problems shown (history.go); nil when none.
	WhatChanged *whatChangedNote
	// SiteHealth is the uptime checks and the latest launch audit (sitehealth.go).
	SiteHealth *siteHealthView
}

// readiness is a failed readiness check, for the operators.
type readiness struct {
	Error string    `json:"error"`
	At    time.Time `json:"at"`
}

// refusalWindow is how far back the overview counts refused webhook deliveries.
const refusalWindow = time.Hour

// refusalNote sums the refused webhook deliveries of the window, read from the per-minute counts
// the webhook handler keeps (alert.Refusals): a few rows, however many requests were refused.
type refusalNote struct {
	Total int    `json:"total"`
	Codes string `json:"codes"` // "bad signature: 12, too old: 1", most first
	Hint  string `json:"hint"`
}

// refusalHints say what a refusal code usually means, most telling first.
var refusalHints = []struct{ code, hint string }{
	{"unavailable", "the database could not store events (HTTP 503)"},
	{"busy", "too many deliveries arrived at once (HTTP 503); Stripe delivers them again"},
	{"bad_signature", "usually a stranger probing, or a rotated secret (STRIPE_WEBHOOK_SECRET must hold the endpoint's signing secret; during a rotation both)"},
	{"too_old", "signatures more than 5 minutes old: a replay, or a skewed server clock"},
	{"too_new", "signatures from the future: a skewed server clock"},
	{"livemode_mismatch", "events of the other Stripe mode: the endpoint and STRIPE_SECRET_KEY disagree about live and test"},
}

// loadRefusals returns the window's refusals, nil when there were none or they cannot be read.
func (h *Handler) loadRefusals(ctx context.Context, now time.Time) *refusalNote {
	counts, _, err := h.st.WebhookRefusalCounts(ctx, now.Add(-refusalWindow))
	if err != nil {
		return nil
	}
	codes := make([]string, 0, len(counts))
	n := &refusalNote{}
	for c, k := range counts {
		if k > 0 {
			codes = append(codes, c)
			n.Total += k
		}
	}
	if n.Total == 0 {
		return nil
	}
	sort.Slice(codes, func(i, j int) bool {
		if counts[codes[i]] != counts[codes[j]] {
			return counts[codes[i]] > counts[codes[j]]
		}
		return codes[i] < codes[j]
	})
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s: %d", strings.ReplaceAll(c, "_", " "), counts[c])
	}
	n.Codes = strings.Join(parts, ", ")
	n.Hint = "requests no Stripe delivery would make, usually scanners"
	for _, rh := range refusalHints {
		if counts[rh.code] > 0 {
			n.Hint = rh.hint
			break
		}
	}
	return n
}

// reviewShare is the share of events that needed a person.
type reviewShare struct {
	Events, Reviews int
	Percent         float64
	OverBar         bool
}

func (h *Handler) loadOverview(ctx context.Context) (overviewView, error) {
	now := h.now()
	o, err := h.st.Overview(ctx, now)
	if err != nil {
		return overviewView{}, err
	}
	v := overviewView{O: o, AlertsWired: h.alerts != nil}
	if !o.OldestAvailable.IsZero() {
		v.OldestAge = max(now.Sub(o.OldestAvailable), 0)
	}
	if h.alerts != nil {
		v.Alerts = h.alerts(ctx)
	}
	if ev, rv, err := h.st.ReviewShare(ctx, now.Add(-7*24*time.Hour)); err == nil {
		v.Share = reviewShare{Events: ev, Reviews: rv}
		if ev > 0 {
			v.Share.Percent = 100 * float64(rv) / float64(ev)
			v.Share.OverBar = v.Share.Percent >= 1
		}
	}
	if d, err := h.st.LatestDriftReport(ctx); err == nil {
		v.Drift = &d
	}
	if d, err := h.st.LatestDoctorReport(ctx); err == nil {
		v.Doctor = &d
	}
	v.Refusals = h.loadRefusals(ctx, now)
	v.CircleQuota = h.loadCircleQuota(ctx, now)
	v.Members = h.loadMembership(ctx, now)
	v.Recovery = h.loadRecovery(ctx, now)
	v.Resolved = h.loadResolvedAlerts(ctx, now)
	v.Support = h.loadSupportVolume(ctx, now)
	v.SiteHealth = h.loadSiteHealth(ctx, now, v.Doctor)
	if h.ready != nil {
		if err, at := h.ready(); err != nil {
			v.NotReady = &readiness{Error: err.Error(), At: at}
			if now.Sub(at) < 5*time.Minute {
				v.Concerns = append(v.Concerns, "this instance was not ready "+roundDuration(max(now.Sub(at), 0))+" ago: "+err.Error())
			}
		}
	}
	var events, failures, syncMS []float64
	var evL, failL, syncL []string
	var hours []time.Time
	for _, hs := range o.Hours {
		at := hs.Start.UTC().Format("15:04")
		hours = append(hours, hs.Start)
		events = append(events, float64(hs.Events))
		evL = append(evL, fmt.Sprintf("%s: %d event(s)", at, hs.Events))
		failures = append(failures, float64(hs.Failures))
		failL = append(failL, fmt.Sprintf("%s: %d failed sync(s)", at, hs.Failures))
		syncMS = append(syncMS, float64(hs.AvgConverge.Milliseconds()))
		syncL = append(syncL, fmt.Sprintf("%s: %d event(s) converged, mean %s, max %s", at, hs.Converged, roundDuration(hs.AvgConverge), roundDuration(hs.MaxConverge)))
	}
	var slowest time.Duration
	for _, hs := range o.Hours {
		slowest = max(slowest, hs.MaxConverge)
	}
	v.Charts = []chart{
		newChart("Events received", fmt.Sprintf("%d in 24 h", o.EventsDay), events, evL, hours),
		newChart("Failed syncs", fmt.Sprintf("%d in 24 h", o.FailuresDay), failures, failL, hours),
		newChart("Time to converge (event → every action confirmed)", "slowest "+roundDuration(slowest), syncMS, syncL, hours),
	}
	h.addHistory(ctx, now, &v, hours)
	switch rec := v.Recovery; {
	case rec == nil && o.FailuresHour > 0:
		v.Concerns = append(v.Concerns, fmt.Sprintf("%d sync(s) failed in the last hour", o.FailuresHour))
	case rec != nil && rec.FailingPeople > 0:
		// Only failures no later sync recovered: a retry that converged is history, not a concern.
		c := fmt.Sprintf("%d %s still failing (%d failed sync(s) in 24 h)", rec.FailingPeople,
			map[bool]string{true: "person's sync is", false: "people's syncs are"}[rec.FailingPeople == 1], rec.FailingSyncs)
		if e := rec.Failing[0].LastError; e != "" {
			c += "; last error: " + e
		}
		v.Concerns = append(v.Concerns, c)
	}
	if o.OpenReviews > 0 {
		v.Concerns = append(v.Concerns, fmt.Sprintf("%d review item(s) wait for a person", o.OpenReviews))
	}
	if v.OldestAge > 5*time.Minute {
		v.Concerns = append(v.Concerns, "the oldest ready job has waited "+roundDuration(v.OldestAge))
	}
	if len(v.Alerts) > 0 {
		v.Concerns = append(v.Concerns, fmt.Sprintf("%d alert(s) firing", len(v.Alerts)))
	}
	if v.Share.OverBar {
		v.Concerns = append(v.Concerns, fmt.Sprintf("%.1f%% of events needed a person this week (the bar is under 1%%)", v.Share.Percent))
	}
	if v.Drift != nil && v.Drift.Drifted > 0 {
		v.Concerns = append(v.Concerns, fmt.Sprintf("the last drift sweep found %d drifted people", v.Drift.Drifted))
	}
	if v.Doctor != nil && v.Doctor.Fails > 0 {
		v.Concerns = append(v.Concerns, fmt.Sprintf("the launch audit of %s has %d failing check(s)", v.Doctor.Domain, v.Doctor.Fails))
	}
	if q := v.CircleQuota; q != nil && q.Warn {
		v.Concerns = append(v.Concerns, q.Summary()+": at or past the alert threshold of "+q.ThresholdPercent()+" of Circle's monthly quota")
	}
	v.Concerns = append(v.Concerns, v.SiteHealth.concerns()...)
	return v, nil
}

func (h *Handler) overviewPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadOverview(r.Context())
	if err != nil {
		return err
	}
	h.render(w, r, p, http.StatusOK, "overview", view{Title: "Overview", Nav: "overview", Data: v})
	return nil
}

// overviewJSON is GET /api/v1/overview.
type overviewJSON struct {
	Now           time.Time     `json:"now"`
	LastWebhookAt *time.Time    `json:"last_webhook_at"`
	Events        windowJSON    `json:"events"`
	Failures      windowJSON    `json:"failures"`
	SyncsDay      int           `json:"syncs_day"`
	Queue         queueJSON     `json:"queue"`
	OpenReviews   int           `json:"open_review_items"`
	People        int           `json:"people"`
	PeoplePending int           `json:"people_pending"`
	Alerts        []FiringAlert `json:"alerts"`
	Concerns      []string      `json:"concerns"`
	// WebhookRefusals is the last hour's refused webhook deliveries (information, not a concern);
	// null when there were none.
	WebhookRefusals *refusalNote `json:"webhook_refusals"`
	// CircleQuota is this month's use of Circle's monthly request quota; null when unreadable.
	CircleQuota *circleQuotaJSON `json:"circle_quota"`
	// NotReady is this instance's last failed readiness check; null when there was none.
	NotReady *readiness `json:"not_ready"`
	Hours    []hourJSON `json:"hours"`
	// Membership counts the people by plan and stage, with this week's new and churned members.
	Membership *membershipJSON `json:"membership"`
	// Recovery is the last day's failed syncs: recovered by a later sync, or still failing.
	Recovery *recoveryJSON `json:"recovery"`
	// ResolvedAlerts are the alerts resolved in the last day.
	ResolvedAlerts []resolvedAlert `json:"resolved_alerts"`
	// Support is the weekly support volume by category and the acceptance check; null when unreadable.
	Support *supportVolume `json:"support"`
	// WhatChanged names the serve start that preceded the problems shown; null when none.
	WhatChanged *whatChangedNote `json:"what_changed"`
	// SiteHealth is the uptime checks and the latest launch audit.
	SiteHealth *siteHealthView `json:"site_health"`
}

type windowJSON struct {
	Hour int `json:"hour"`
	Day  int `json:"day"`
}

type queueJSON struct {
	Available           int     `json:"available"`
	Running             int     `json:"running"`
	Retryable           int     `json:"retryable"`
	Scheduled           int     `json:"scheduled"`
	OldestAvailableSecs float64 `json:"oldest_available_age_seconds"`
}

type hourJSON struct {
	Start     time.Time `json:"start"`
	Events    int       `json:"events"`
	Failures  int       `json:"failures"`
	Syncs     int       `json:"syncs"`
	AvgSyncMS int64     `json:"avg_sync_ms"`
	MaxSyncMS int64     `json:"max_sync_ms"`
	// Converged events and their time from receipt to every action confirmed.
	Converged     int   `json:"converged"`
	AvgConvergeMS int64 `json:"avg_converge_ms"`
	MaxConvergeMS int64 `json:"max_converge_ms"`
}

func (h *Handler) apiOverview(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadOverview(r.Context())
	if err != nil {
		return err
	}
	o := v.O
	out := overviewJSON{Now: o.Now.UTC(), LastWebhookAt: timePtr(o.LastWebhookAt),
		Events: windowJSON{o.EventsHour, o.EventsDay}, Failures: windowJSON{o.FailuresHour, o.FailuresDay}, SyncsDay: o.SyncsDay,
		Queue: queueJSON{Available: o.JobsAvailable, Running: o.JobsRunning, Retryable: o.JobsRetryable, Scheduled: o.JobsScheduled,
			OldestAvailableSecs: v.OldestAge.Seconds()},
		OpenReviews: o.OpenReviews, People: o.People, PeoplePending: o.PeoplePending,
		Alerts: v.Alerts, Concerns: v.Concerns, WebhookRefusals: v.Refusals, NotReady: v.NotReady,
		CircleQuota: v.CircleQuota.json(), Membership: v.Members.json(), Recovery: v.Recovery.json(), ResolvedAlerts: v.Resolved}
	out.WhatChanged = v.WhatChanged
	out.Support = v.Support
	out.SiteHealth = v.SiteHealth
	if out.ResolvedAlerts == nil {
		out.ResolvedAlerts = []resolvedAlert{}
	}
	if out.Alerts == nil {
		out.Alerts = []FiringAlert{}
	}
	if out.Concerns == nil {
		out.Concerns = []string{}
	}
	for _, hs := range o.Hours {
		out.Hours = append(out.Hours, hourJSON{Start: hs.Start.UTC(), Events: hs.Events, Failures: hs.Failures, Syncs: hs.Syncs,
			AvgSyncMS: hs.AvgSync.Milliseconds(), MaxSyncMS: hs.MaxSync.Milliseconds(),
			Converged: hs.Converged, AvgConvergeMS: hs.AvgConverge.Milliseconds(), MaxConvergeMS: hs.MaxConverge.Milliseconds()})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (h *Handler) apiMe(w http.ResponseWriter, r *http.Request, p *principal) error {
	via := "session"
	if p.Token != nil {
		via = "token"
	}
	writeJSON(w, http.StatusOK, map[string]string{"email": p.User.Email, "role": string(p.Role), "via": via})
	return nil
}
