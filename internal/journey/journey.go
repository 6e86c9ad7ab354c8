// Package journey owns one person's story as the operator reads it: identity, each plan's desired
// state beside what Circle and Kit hold, open review items, and the timeline of events, syncs,
// provider calls and admin actions; that journey told in a few plain sentences (Tell, story.go), what
// one event caused (Caused, effect.go), and each review kind's title and suggested action (Review,
// review.go). membersync trace prints it; the admin person, event and review pages show it.
package journey

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/plan"
	"github.com/membersync/membersync/internal/store"
)

// Journey is one person's whole story.
type Journey struct {
	Person  store.Person
	Sync    store.SyncState
	Applied []store.Applied
	Reviews []store.ReviewItem
	// Steps is the timeline, oldest first.
	Steps []Step
	// Events and Journal are what Steps are built from, for the story. Only the latest
	// invoice.payment_failed event carries its payload (when Stripe retries).
	Events  []store.Event
	Journal []store.JournalEntry
	// Billing is the last billing snapshot a sync read; nil before the first one (or if it cannot
	// be read, which only costs the story its prices).
	Billing *entitlement.Billing
	// Comps are the person's comps (store.Comps), revoked and ended ones included, oldest first.
	Comps []store.Comp
	// CallsPruned is the last retention pass over provider calls (zero: none pruned): a sync that
	// ended before its Horizon lost its calls, it did not make none.
	CallsPruned store.PruneHorizon
}

// Step is one line of the timeline.
type Step struct {
	At      time.Time
	Kind    string // event | sync | call | admin | review | note
	What    string
	Result  string
	Detail  string
	EventID string // the Stripe event of an "event" step
}

// Load reads a person's journey from the store.
func Load(ctx context.Context, st *store.Store, personID int64) (*Journey, error) {
	p, err := st.Person(ctx, personID)
	if err != nil {
		return nil, err
	}
	j := &Journey{Person: p}
	if j.Sync, err = st.SyncState(ctx, personID); err != nil {
		return nil, err
	}
	if j.Applied, err = st.Applied(ctx, personID); err != nil {
		return nil, err
	}
	if j.Reviews, err = st.Reviews(ctx, "", personID, 50); err != nil {
		return nil, err
	}
	evs, err := st.PersonEvents(ctx, personID)
	if err != nil {
		return nil, err
	}
	if err := withRetryPayload(ctx, st, evs); err != nil {
		return nil, err
	}
	j.Events = evs
	if raw, err := st.Billing(ctx, personID); err != nil {
		return nil, err
	} else if raw != "" {
		var b entitlement.Billing
		if json.Unmarshal([]byte(raw), &b) == nil {
			j.Billing = &b
		}
	}
	for _, ev := range evs {
		j.Steps = append(j.Steps, Step{At: ev.ReceivedAt, Kind: "event", What: ev.Type + " " + ev.ID, Result: ev.State, Detail: "via " + ev.Source, EventID: ev.ID})
	}
	if j.Comps, err = st.Comps(ctx, personID); err != nil {
		return nil, err
	}
	entries, err := st.Journal(ctx, personID)
	if err != nil {
		return nil, err
	}
	j.Journal = entries
	if hs, err := st.PruneHorizons(ctx); err == nil { // unreadable: old syncs told as if nothing was pruned
		j.CallsPruned = hs[store.PruneJournalCalls]
	}
	for _, en := range entries {
		j.Steps = append(j.Steps, StepOf(en))
	}
	sort.SliceStable(j.Steps, func(i, k int) bool { return j.Steps[i].At.Before(j.Steps[k].At) })
	return j, nil
}

// StepOf is a journal entry as a line of the timeline.
func StepOf(en store.JournalEntry) Step {
	what := en.Action
	if en.Target != "" {
		what += " " + en.Target
	}
	res := en.Result
	if en.Status != 0 {
		res = fmt.Sprintf("%s %d", res, en.Status)
	}
	if en.Kind == "call" && en.Attempt > 1 {
		res += fmt.Sprintf(" (attempt %d)", en.Attempt)
	}
	if en.Duration > 0 {
		res += fmt.Sprintf(" %s", en.Duration.Round(time.Millisecond))
	}
	return Step{At: en.At, Kind: en.Kind, What: what, Result: res, Detail: en.Detail, EventID: en.EventID}
}

// withRetryPayload reads the payload of the latest invoice.payment_failed among evs (which
// PersonEvents lists without payloads): it says when Stripe retries the payment.
func withRetryPayload(ctx context.Context, st *store.Store, evs []store.Event) error {
	latest := -1
	for i, ev := range evs {
		if ev.Type == "invoice.payment_failed" && (latest < 0 || !ev.ReceivedAt.Before(evs[latest].ReceivedAt)) {
			latest = i
		}
	}
	if latest < 0 {
		return nil
	}
	full, err := st.Event(ctx, evs[latest].ID)
	if err != nil {
		return err
	}
	evs[latest].Payload = full.Payload
	return nil
}

// Facts returns what the journey's story is told from, under the plan mapping plans at now.
func (j *Journey) Facts(plans []plan.Plan, now time.Time) Facts {
	d, _ := j.Desired() // unreadable: told as not synced yet
	return Facts{Person: j.Person, Events: j.Events, Journal: j.Journal, Billing: j.Billing, Desired: d, Sync: j.Sync,
		Applied: j.Applied, Reviews: j.Reviews, Comps: storyComps(j.Comps), Plans: plans, Now: now,
		CallsPruned: j.CallsPruned}
}

// storyComps returns the comps as the story tells them.
func storyComps(cs []store.Comp) []Comp {
	var out []Comp
	for _, c := range cs {
		out = append(out, Comp{PlanID: c.PlanID, By: c.GrantedBy, Reason: c.Reason, At: c.GrantedAt, Until: c.Until, Revoked: c.RevokedAt})
	}
	return out
}

// Story tells the journey in a few plain sentences (see Tell).
func (j *Journey) Story(plans []plan.Plan, names catalog.Names, now time.Time) Story {
	return Tell(j.Facts(plans, now), names)
}

// State is the person's sync state in a few words: "in sync", "sync pending" or "retrying: …".
func (j *Journey) State() string {
	state := "in sync"
	if j.Person.SyncedGeneration < j.Person.Generation {
		state = "sync pending"
	}
	if j.Sync.Error != "" {
		state = "retrying: " + j.Sync.Error
	}
	return state
}

// Desired returns the desired state as the last sync computed it, nil before the first sync.
func (j *Journey) Desired() (*entitlement.Desired, error) {
	if j.Sync.Desired == "" {
		return nil, nil
	}
	var d entitlement.Desired
	if err := json.Unmarshal([]byte(j.Sync.Desired), &d); err != nil {
		return nil, fmt.Errorf("reading the desired state of person %d: %w", j.Person.ID, err)
	}
	return &d, nil
}

// WriteText prints the journey for a terminal.
func (j *Journey) WriteText(w io.Writer) error {
	p := j.Person
	email := p.Email
	if email == "" {
		email = "(email not read yet)"
	}
	fmt.Fprintf(w, "Person %d  %s  %s\n", p.ID, email, p.Name)
	fmt.Fprintf(w, "  Stripe customers: %s\n", strings.Join(p.CustomerIDs, ", "))
	if p.CircleMemberID != 0 || p.KitSubscriberID != 0 {
		fmt.Fprintf(w, "  Circle member %d, Kit subscriber %d\n", p.CircleMemberID, p.KitSubscriberID)
	}
	fmt.Fprintf(w, "  State: %s (last sync %s)\n", j.State(), FormatTime(j.Sync.SyncedAt))
	if d, err := j.Desired(); err == nil && d != nil {
		fmt.Fprintln(w, "\nPlans:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, pl := range d.Plans {
			if pl.Stage == entitlement.StageNone {
				continue
			}
			ent := "no access"
			if pl.Entitled {
				ent = "access"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", pl.PlanID, pl.Stage, ent, pl.Explanation)
		}
		tw.Flush()
		if !d.NextChange.IsZero() {
			fmt.Fprintf(w, "  Next change by the clock: %s\n", FormatTime(d.NextChange))
		}
	}
	if len(j.Applied) > 0 {
		fmt.Fprintln(w, "\nApplied (confirmed by the provider):")
		for _, a := range j.Applied {
			fmt.Fprintf(w, "  %s %s %d  (%s, since %s)\n", a.Provider, a.Kind, a.TargetID, a.Email, FormatTime(a.AppliedAt))
		}
	}
	open := 0
	for _, r := range j.Reviews {
		if r.Status == "open" {
			if open == 0 {
				fmt.Fprintln(w, "\nOpen review items:")
			}
			open++
			fmt.Fprintf(w, "  #%d %s %s: %s%s\n", r.ID, r.Kind, r.ActionKey, r.Reason, parenthesized(r.LastError))
		}
	}
	fmt.Fprintln(w, "\nTimeline:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range j.Steps {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.At.Format("2006-01-02 15:04:05.000"), s.Kind, s.What, s.Result, s.Detail)
	}
	return tw.Flush()
}

func parenthesized(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// FormatTime prints an instant in UTC, or "never" for the zero time.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
