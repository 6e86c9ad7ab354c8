package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

// findPerson resolves EMAIL or cus_… to a person id.
func findPerson(ctx context.Context, st *store.Store, who string) (int64, error) {
	who = strings.TrimSpace(who)
	if strings.HasPrefix(who, "cus_") {
		pid, err := st.PersonIDByCustomer(ctx, who)
		if errors.Is(err, store.ErrNotFound) {
			return 0, fmt.Errorf("no person has Stripe customer %s yet (membersync learns customers from webhooks, backfill or reconcile --from-stripe)", who)
		}
		return pid, err
	}
	if !strings.Contains(who, "@") {
		return 0, fmt.Errorf("%q is neither an email nor a Stripe customer id (cus_…)", who)
	}
	pid, err := st.PersonIDByEmail(ctx, identity.NormalizeEmail(who))
	if errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("no person with email %s is known", who)
	}
	return pid, err
}

// enqueueSync marks a person dirty and enqueues their sync in one transaction.
func enqueueSync(ctx context.Context, st *store.Store, q *queue.Queue, personID int64, reason string) error {
	return st.InTx(ctx, func(tx *store.Tx) error {
		need, err := tx.Trigger(ctx, personID)
		if err != nil || !need {
			return err
		}
		return q.InsertTx(ctx, tx, []river.InsertManyParams{{Args: queue.SyncArgs{PersonID: personID, Reason: reason}}})
	})
}

func cmdResync(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "resync [flags] EMAIL|cus_…",
		"Enqueue a full sync of one person: billing is re-read from Stripe and Circle and Kit are converged.\nA running serve picks the job up within moments.",
		"  membersync resync ada@example.com\n  membersync resync cus_Q2x8…")
	cfgPath := fs.String("config", "", "config file (default $MEMBERSYNC_CONFIG or ./membersync.yaml)")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, newLogger(e.stderr, cfg.LogFormat), appOptions{})
	if err != nil {
		return err
	}
	defer a.close()
	pid, err := findPerson(ctx, a.store, fs.Arg(0))
	if err != nil {
		return err
	}
	if err := enqueueSync(ctx, a.store, a.queue, pid, "resync"); err != nil {
		return err
	}
	if err := a.store.AppendJournal(ctx, store.JournalEntry{PersonID: pid, Kind: "admin", Action: "resync", Result: "queued", Detail: "membersync resync (command line)"}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "queued a sync of person %d\n", pid)
	return nil
}

func usageErr(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return errUsage
}

func cmdTrace(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "trace [flags] EMAIL|cus_…",
		"Print one person's journey: identity, plans (desired and applied), open review items, and the\ntimeline of events, syncs and provider calls.",
		"  membersync trace ada@example.com\n  membersync trace cus_Q2x8…")
	cfgPath := fs.String("config", "", "config file (default $MEMBERSYNC_CONFIG or ./membersync.yaml)")
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	pid, err := findPerson(ctx, st, fs.Arg(0))
	if err != nil {
		return err
	}
	j, err := loadJourney(ctx, st, pid)
	if err != nil {
		return err
	}
	return j.writeText(e.stdout)
}

// journey is one person's whole story, for trace and the admin UI.
type journey struct {
	Person  store.Person
	Sync    store.SyncState
	Applied []store.Applied
	Reviews []store.ReviewItem
	Steps   []step
}

// step is one line of the timeline.
type step struct {
	At     time.Time
	Kind   string
	What   string
	Result string
	Detail string
}

func loadJourney(ctx context.Context, st *store.Store, pid int64) (*journey, error) {
	p, err := st.Person(ctx, pid)
	if err != nil {
		return nil, err
	}
	j := &journey{Person: p}
	if j.Sync, err = st.SyncState(ctx, pid); err != nil {
		return nil, err
	}
	if j.Applied, err = st.Applied(ctx, pid); err != nil {
		return nil, err
	}
	if j.Reviews, err = st.Reviews(ctx, "", pid, 50); err != nil {
		return nil, err
	}
	evs, err := st.PersonEvents(ctx, pid)
	if err != nil {
		return nil, err
	}
	for _, ev := range evs {
		j.Steps = append(j.Steps, step{At: ev.ReceivedAt, Kind: "event", What: ev.Type + " " + ev.ID, Result: ev.State, Detail: "via " + ev.Source})
	}
	entries, err := st.Journal(ctx, pid)
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
		j.Steps = append(j.Steps, step{At: en.At, Kind: en.Kind, What: what, Result: res, Detail: en.Detail})
	}
	sortSteps(j.Steps)
	return j, nil
}

func sortSteps(s []step) {
	sort.SliceStable(s, func(i, k int) bool { return s[i].At.Before(s[k].At) })
}

func (j *journey) writeText(w io.Writer) error {
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
	state := "in sync"
	if p.SyncedGeneration < p.Generation {
		state = "sync pending"
	}
	if j.Sync.Error != "" {
		state = "retrying: " + j.Sync.Error
	}
	fmt.Fprintf(w, "  State: %s (last sync %s)\n", state, fmtTime(j.Sync.SyncedAt))
	if d, err := j.desired(); err == nil && d != nil {
		fmt.Fprintln(w, "\nPlans:")
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, pl := range d.Plans {
			if pl.Stage == "none" {
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
			fmt.Fprintf(w, "  Next change by the clock: %s\n", fmtTime(d.NextChange))
		}
	}
	if len(j.Applied) > 0 {
		fmt.Fprintln(w, "\nApplied (confirmed by the provider):")
		for _, a := range j.Applied {
			fmt.Fprintf(w, "  %s %s %d  (%s, since %s)\n", a.Provider, a.Kind, a.TargetID, a.Email, fmtTime(a.AppliedAt))
		}
	}
	open := 0
	for _, r := range j.Reviews {
		if r.Status == "open" {
			if open == 0 {
				fmt.Fprintln(w, "\nOpen review items:")
			}
			open++
			fmt.Fprintf(w, "  #%d %s %s: %s%s\n", r.ID, r.Kind, r.ActionKey, r.Reason, trimErr(r.LastError))
		}
	}
	fmt.Fprintln(w, "\nTimeline:")
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, s := range j.Steps {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.At.Format("2006-01-02 15:04:05.000"), s.Kind, s.What, s.Result, s.Detail)
	}
	return tw.Flush()
}

func trimErr(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func (j *journey) desired() (*entitlement.Desired, error) {
	if j.Sync.Desired == "" {
		return nil, nil
	}
	var d entitlement.Desired
	err := json.Unmarshal([]byte(j.Sync.Desired), &d)
	return &d, err
}

// syncCustomer brings a Stripe customer under management (creating its person when no webhook ever
// named it, as reconcile --from-stripe does) and enqueues a sync of its person.
func syncCustomer(ctx context.Context, st *store.Store, q *queue.Queue, customerID, reason string) error {
	return st.InTx(ctx, func(tx *store.Tx) error {
		pid, created, err := tx.PersonForCustomer(ctx, customerID)
		if err != nil {
			return err
		}
		need := created
		if !created {
			if need, err = tx.Trigger(ctx, pid); err != nil {
				return err
			}
		}
		if !need {
			return nil
		}
		return q.InsertTx(ctx, tx, []river.InsertManyParams{{Args: queue.SyncArgs{PersonID: pid, Reason: reason}}})
	})
}

// waitSettled polls until every trigger has been synced, or ctx ends.
func waitSettled(ctx context.Context, st *store.Store, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ok, why, err := st.Settled(ctx)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not settled after %s: %s", limit, why)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
