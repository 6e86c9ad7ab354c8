package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/membersync/membersync/internal/backfill"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/journey"
)

const backfillSynopsis = `Recover missed webhooks: list the Stripe events of a recent window through the Events API (Stripe
keeps 30 days), oldest first, and store each like a delivery. An event received before is a
duplicate and does nothing; a new one queues its person's sync, which a running serve performs.

The run records the last event it processed: after an interruption, the same command continues
from there. --check compares Stripe's latest event with the latest delivery instead, to tell
whether the webhook endpoint looks broken. Without STRIPE_SECRET_KEY it says so and calls nothing.`

const backfillExamples = `  membersync backfill --since 72h
  membersync backfill --since 7d --types invoice.payment_failed,customer.subscription.updated
  membersync backfill --since 24h --dry-run     # count what is missing, store nothing
  membersync backfill --check`

func cmdBackfill(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "backfill --since DURATION [flags]", backfillSynopsis, backfillExamples)
	cfgPath := configFlag(fs)
	since := fs.String("since", "", "how far back: 72h, 3d, … (at most 30d)")
	types := fs.String("types", "", "comma-separated event types to keep (at most 20; default every type)")
	dryRun := fs.Bool("dry-run", false, "only count the events, and how many were not received")
	restart := fs.Bool("restart", false, "start the window again instead of resuming an unfinished run")
	check := fs.Bool("check", false, "only check whether the webhook endpoint looks broken")
	quiet := fs.Duration("quiet", backfill.DefaultQuiet, "with --check: how long an event may go undelivered")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var window time.Duration
	if !*check {
		if *since == "" {
			fmt.Fprintln(fs.Output(), "--since is required, such as --since 72h")
			fs.Usage()
			return errUsage
		}
		d, err := config.ParseDuration(*since)
		if err != nil || d <= 0 {
			fmt.Fprintf(fs.Output(), "--since %q is not a duration such as 72h or 3d\n", *since)
			return errUsage
		}
		if d > backfill.MaxWindow {
			fmt.Fprintf(fs.Output(), "--since %s is longer than the 30 days Stripe keeps events\n", *since)
			return errUsage
		}
		window = d
	}
	var typeList []string
	for _, t := range strings.Split(*types, ",") {
		if t = strings.TrimSpace(t); t != "" {
			typeList = append(typeList, t)
		}
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if err := requireKeys(cfg, "backfill", config.ProviderStripe); err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, newLogger(e.stderr, cfg.LogFormat), appOptions{})
	if err != nil {
		return err
	}
	defer a.close()
	b := &backfill.Backfiller{Store: a.store, Stripe: a.billing, Queue: a.queue, Log: quietLogger(e.stderr, cfg.LogFormat)}

	if *check {
		st, err := b.CheckEndpoint(ctx, *quiet)
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSONTo(e.stdout, st)
		}
		verdict := "OK"
		if st.Broken {
			verdict = "BROKEN"
		}
		fmt.Fprintf(e.stdout, "Webhook endpoint: %s. %s.\n", verdict, st.Reason)
		if st.Broken {
			return &exitError{code: 3, err: fmt.Errorf("the webhook endpoint looks broken")}
		}
		return nil
	}

	bar := newProgress(e.stderr)
	res, err := b.Run(ctx, backfill.Options{Since: window, Types: typeList, DryRun: *dryRun, Restart: *restart,
		Progress: func(p backfill.Progress) { bar.update("events", p.Processed, 0, "read") }})
	bar.finish()
	if *asJSON && (err == nil || res.Processed > 0) {
		if jerr := writeJSONTo(e.stdout, res); jerr != nil {
			return jerr
		}
	} else if res.Processed > 0 || err == nil {
		writeBackfill(e.stdout, res)
	}
	if err != nil {
		if res.RunID != 0 {
			return fmt.Errorf("%w (the run stopped at %d events; run the same command again to continue)", err, res.Processed)
		}
		return err
	}
	return nil
}

func writeBackfill(w io.Writer, res backfill.Result) {
	switch {
	case res.DryRun:
		fmt.Fprintf(w, "Dry run over the events since %s: %d events, %d not received yet, %d received before. Nothing was stored.\n",
			journey.FormatTime(res.From), res.Processed, res.New, res.Duplicates)
	default:
		from := fmt.Sprintf("Backfill run #%d over the events since %s", res.RunID, journey.FormatTime(res.From))
		if res.Resumed && res.AfterID != "" {
			from += ", resumed after " + res.AfterID
		}
		fmt.Fprintf(w, "%s: %d events read: %d new (their syncs are queued), %d new of types membersync does not act on, %d received before.\n",
			from, res.Processed, res.Accepted, res.Ignored, res.Duplicates)
		if res.Invalid > 0 {
			fmt.Fprintf(w, "%d events were refused by the inbox (see the log).\n", res.Invalid)
		}
		if res.Complete {
			fmt.Fprintln(w, "Complete.")
		} else {
			fmt.Fprintln(w, "Not complete: run the same command again to continue after "+res.LastEventID+".")
		}
	}
	if len(res.ByType) > 0 {
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "\nTYPE\tEVENTS\t")
		types := make([]string, 0, len(res.ByType))
		for t := range res.ByType {
			types = append(types, t)
		}
		slices.Sort(types)
		for _, t := range types {
			fmt.Fprintf(tw, "%s\t%d\t\n", t, res.ByType[t])
		}
		tw.Flush()
	}
}
