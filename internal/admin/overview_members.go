package admin

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/store"
)

// This file holds the overview's members by plan and stage, and its account of failures: which
// failed syncs a retry recovered (history, green) and which still fail (a problem, red), and the
// alerts that resolved.

// memberWindow is the overview's "this week".
const memberWindow = 7 * 24 * time.Hour

// failureWindow is how far back the overview tells failures and recoveries.
const failureWindow = 24 * time.Hour

// failuresShown bounds the people each failure list names.
const failuresShown = 5

// membershipView is how many people hold each plan in each stage.
type membershipView struct {
	// Stages are the stages anyone is in, in entitlement.Stages' order: the table's columns.
	Stages []option
	Rows   []membershipRow
	// Members hold at least one plan that grants access; New became members this week; Churned
	// lost their last plan's access this week.
	Members, New, Churned int
}

// membershipRow is one plan's line.
type membershipRow struct {
	PlanID, Name string
	Cells        []membershipCell // one per membershipView.Stages
	// Members hold the plan with access; New began it this week; Churned lost its access this week.
	Members, New, Churned int
	URL                   string // the plan's people
}

// membershipCell is the people of one plan in one stage.
type membershipCell struct {
	Stage  string
	Label  string // the stage in words
	People int
	URL    string // the list filtered to them
}

// peopleURL is the people list filtered by plan and stage.
func peopleURL(plan, stage string) string {
	v := url.Values{}
	if plan != "" {
		v.Set("plan", plan)
	}
	if stage != "" {
		v.Set("stage", stage)
	}
	return "/admin/people?" + v.Encode()
}

// loadMembership counts the members by plan and stage; nil when the figures cannot be read.
func (h *Handler) loadMembership(ctx context.Context, now time.Time) *membershipView {
	m, err := h.st.Membership(ctx, now.Add(-memberWindow))
	if err != nil {
		h.log.Warn("admin: counting members", "err", err)
		return nil
	}
	v := &membershipView{Members: m.Members, New: m.New, Churned: m.Churned}
	seen := map[string]bool{}
	byPlan := map[string]map[string]int{}
	var unknown []string // plans held but no longer configured
	rows := map[string]*membershipRow{}
	row := func(id string) *membershipRow {
		if r := rows[id]; r != nil {
			return r
		}
		r := &membershipRow{PlanID: id, Name: h.planName(id), URL: peopleURL(id, "")}
		rows[id] = r
		byPlan[id] = map[string]int{}
		if !slices.ContainsFunc(h.cfg.Plans, func(p config.Plan) bool { return p.ID == id }) {
			unknown = append(unknown, id)
		}
		return r
	}
	for _, c := range m.Counts {
		r := row(c.PlanID)
		byPlan[c.PlanID][c.Stage] += c.People
		seen[c.Stage] = true
		if c.Entitled {
			r.Members += c.People
		}
		r.New += c.New
		r.Churned += c.Churned
	}
	var stages []string
	for _, s := range entitlement.Stages() {
		if seen[string(s)] {
			stages = append(stages, string(s))
			delete(seen, string(s))
		}
	}
	var other []string // stages this build does not know, after the known ones
	for s := range seen {
		other = append(other, s)
	}
	slices.Sort(other)
	for _, s := range append(stages, other...) {
		v.Stages = append(v.Stages, option{Value: s, Label: stageText(s)})
	}
	order := make([]string, 0, len(h.cfg.Plans)+len(unknown))
	for _, p := range h.cfg.Plans {
		order = append(order, p.ID)
	}
	slices.Sort(unknown)
	for _, id := range append(order, unknown...) {
		r := row(id) // a configured plan nobody holds gets its line of zeros
		for _, s := range v.Stages {
			r.Cells = append(r.Cells, membershipCell{Stage: s.Value, Label: s.Label, People: byPlan[id][s.Value], URL: peopleURL(id, s.Value)})
		}
		v.Rows = append(v.Rows, *r)
	}
	return v
}

// recoveryView tells the last day's failed syncs apart: recovered by a later sync, or failing.
type recoveryView struct {
	FailingPeople, RecoveredPeople int
	FailingSyncs, RecoveredSyncs   int
	// Failing and Recovered name the first few people of each, most recent first; More… count
	// the people not named.
	Failing, Recovered         []failureRow
	MoreFailing, MoreRecovered int
}

// failureRow is one person's failed syncs.
type failureRow struct {
	PersonID    int64     `json:"person_id"`
	Who         string    `json:"who"`
	Failures    int       `json:"failed_syncs"`
	FirstFailed time.Time `json:"first_failed"`
	LastFailed  time.Time `json:"last_failed"`
	RecoveredAt time.Time `json:"recovered_at,omitzero"`
	LastError   string    `json:"last_error"`
}

func rowOfFailure(f store.FailureRun) failureRow {
	who := f.Email
	if who == "" {
		who = fmt.Sprintf("person %d", f.PersonID)
	}
	return failureRow{PersonID: f.PersonID, Who: who, Failures: f.Failures, FirstFailed: f.FirstFailed, LastFailed: f.LastFailed,
		RecoveredAt: f.RecoveredAt, LastError: truncate(f.LastError, 300)}
}

// loadRecovery reads the last day's failed syncs; nil when they cannot be read.
func (h *Handler) loadRecovery(ctx context.Context, now time.Time) *recoveryView {
	rec, err := h.st.SyncRecovery(ctx, now.Add(-failureWindow))
	if err != nil {
		h.log.Warn("admin: reading failed syncs", "err", err)
		return nil
	}
	v := &recoveryView{FailingPeople: len(rec.Failing), RecoveredPeople: len(rec.Recovered), FailingSyncs: rec.FailingSyncs,
		RecoveredSyncs: rec.RecoveredSyncs, Failing: []failureRow{}, Recovered: []failureRow{}}
	for _, f := range rec.Failing[:min(len(rec.Failing), failuresShown)] {
		v.Failing = append(v.Failing, rowOfFailure(f))
	}
	for _, f := range rec.Recovered[:min(len(rec.Recovered), failuresShown)] {
		v.Recovered = append(v.Recovered, rowOfFailure(f))
	}
	v.MoreFailing, v.MoreRecovered = v.FailingPeople-len(v.Failing), v.RecoveredPeople-len(v.Recovered)
	return v
}

// resolvedAlert is an alert that fired and has resolved since.
type resolvedAlert struct {
	Rule       string    `json:"rule"`
	Title      string    `json:"title"`
	Since      time.Time `json:"since"`
	ResolvedAt time.Time `json:"resolved_at"`
}

// loadResolvedAlerts returns the alerts resolved in the last day, latest first.
func (h *Handler) loadResolvedAlerts(ctx context.Context, now time.Time) []resolvedAlert {
	states, err := h.st.AlertStates(ctx, false)
	if err != nil {
		h.log.Warn("admin: reading alert states", "err", err)
		return nil
	}
	var out []resolvedAlert
	for _, s := range states {
		if !s.Firing && !s.ResolvedAt.IsZero() && now.Sub(s.ResolvedAt) < failureWindow {
			out = append(out, resolvedAlert{Rule: s.Rule, Title: s.Title, Since: s.Since, ResolvedAt: s.ResolvedAt})
		}
	}
	slices.SortFunc(out, func(a, b resolvedAlert) int { return b.ResolvedAt.Compare(a.ResolvedAt) })
	return out
}

// membershipJSON is the overview API's members by plan and stage.
type membershipJSON struct {
	Members int                  `json:"members"`
	New     int                  `json:"new_this_week"`
	Churned int                  `json:"churned_this_week"`
	Plans   []membershipPlanJSON `json:"plans"`
}

type membershipPlanJSON struct {
	PlanID  string         `json:"plan_id"`
	Name    string         `json:"name"`
	Members int            `json:"members"`
	New     int            `json:"new_this_week"`
	Churned int            `json:"churned_this_week"`
	Stages  map[string]int `json:"stages"` // people by stage; stages nobody is in are left out
}

func (m *membershipView) json() *membershipJSON {
	if m == nil {
		return nil
	}
	out := &membershipJSON{Members: m.Members, New: m.New, Churned: m.Churned, Plans: []membershipPlanJSON{}}
	for _, r := range m.Rows {
		p := membershipPlanJSON{PlanID: r.PlanID, Name: r.Name, Members: r.Members, New: r.New, Churned: r.Churned, Stages: map[string]int{}}
		for _, c := range r.Cells {
			if c.People > 0 {
				p.Stages[c.Stage] = c.People
			}
		}
		out.Plans = append(out.Plans, p)
	}
	return out
}

// recoveryJSON is the overview API's failed syncs of the last day.
type recoveryJSON struct {
	FailingPeople   int          `json:"failing_people"`
	FailingSyncs    int          `json:"failing_syncs"`
	RecoveredPeople int          `json:"recovered_people"`
	RecoveredSyncs  int          `json:"recovered_syncs"`
	Failing         []failureRow `json:"failing"`
	Recovered       []failureRow `json:"recovered"`
}

func (r *recoveryView) json() *recoveryJSON {
	if r == nil {
		return nil
	}
	return &recoveryJSON{FailingPeople: r.FailingPeople, FailingSyncs: r.FailingSyncs, RecoveredPeople: r.RecoveredPeople,
		RecoveredSyncs: r.RecoveredSyncs, Failing: r.Failing, Recovered: r.Recovered}
}
