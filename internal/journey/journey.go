// Package journey owns one person's story as the operator reads it: identity, each plan's desired
// state beside what Circle and Kit hold, open review items, and the timeline of events, syncs,
// provider calls and admin actions. membersync trace prints it; the admin person page shows it.
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

	"github.com/membersync/membersync/internal/entitlement"
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
	for _, ev := range evs {
		j.Steps = append(j.Steps, Step{At: ev.ReceivedAt, Kind: "event", What: ev.Type + " " + ev.ID, Result: ev.State, Detail: "via " + ev.Source, EventID: ev.ID})
	}
	entries, err := st.Journal(ctx, personID)
	if err != nil {
		return nil, err
	}
	for _, en := range entries {
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
		j.Steps = append(j.Steps, Step{At: en.At, Kind: en.Kind, What: what, Result: res, Detail: en.Detail, EventID: en.EventID})
	}
	sort.SliceStable(j.Steps, func(i, k int) bool { return j.Steps[i].At.Before(j.Steps[k].At) })
	return j, nil
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
