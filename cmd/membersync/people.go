package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/journey"
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

func cmdResync(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "resync [flags] EMAIL|cus_…",
		"Enqueue a full sync of one person: billing is re-read from Stripe and Circle and Kit are converged.\nA running serve picks the job up within moments. A customer no webhook ever named (a missed webhook)\nis looked up in Stripe (by id, or every live customer with the email) and adopted as a new person.",
		"  membersync resync ada@example.com\n  membersync resync cus_Q2x8…")
	cfgPath := configFlag(fs)
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
	res, err := a.resync.Who(ctx, a.billing, fs.Arg(0), "resync")
	if err != nil {
		return err
	}
	detail := "membersync resync (command line)"
	if len(res.Adopted) > 0 {
		detail += "; adopted from Stripe: " + strings.Join(res.Adopted, ", ")
	}
	if err := a.store.AppendJournal(ctx, store.JournalEntry{PersonID: res.PersonID, Kind: "admin", Action: "resync", Result: "queued", Detail: detail}); err != nil {
		return err
	}
	if len(res.Adopted) > 0 {
		fmt.Fprintf(e.stdout, "no webhook had named %s: adopted Stripe customer %s as person %d\n", fs.Arg(0), strings.Join(res.Adopted, ", "), res.PersonID)
	}
	fmt.Fprintf(e.stdout, "queued a sync of person %d\n", res.PersonID)
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
		"Print one person's journey: first its story in a few plain sentences (what happened, with the time\nbetween steps, and whether anything needs you), then identity, plans (desired and applied), open\nreview items, and the timeline of events, syncs and provider calls, with the cached names of the\naccess groups, tags, sequences and prices it mentions beside their ids.",
		"  membersync trace ada@example.com\n  membersync trace cus_Q2x8…")
	cfgPath := configFlag(fs)
	if err := fs.Parse(args); err != nil {
		return usageErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	cfg, st, err := openStore(ctx, e, *cfgPath, false)
	if err != nil {
		return err
	}
	defer st.Close()
	pid, err := findPerson(ctx, st, fs.Arg(0))
	if err != nil {
		return err
	}
	j, err := journey.Load(ctx, st, pid)
	if err != nil {
		return err
	}
	names, _ := catalog.Load(ctx, st) // without cached names the story names ids
	if err := j.Story(cfg.Plans, names, time.Now()).WriteText(e.stdout); err != nil {
		return err
	}
	return writeNamedJourney(ctx, e, st, j)
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
