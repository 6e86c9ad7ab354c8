package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/journey"
)

const reconcileSynopsis = `Compare every person's desired state with what Circle and Kit hold, by listing the members of
each managed access group and the subscribers of each managed tag (the cost grows with pages, not
people), and report each difference: paid but no access, access without entitlement, a missing or
extra managed tag, an unknown member in a managed group. The default is a dry run.

--repair queues a sync of each drifted person: the fix goes through the normal, journaled sync.
Before it calls anyone, the sweep prints the Circle and Kit calls it expects, and refuses when they
would exceed its share of Circle's monthly quota (circle.monthly_quota) unless --force.

A stranger (someone in a managed access group, or with a managed tag, with no entitlement and no
comp) gets, with --repair, a person record and a review item (Remove / Comp) by default; with
reconcile.unknown_members: remove in the config, --repair removes them through the sync instead.
A dry run never changes anything. It needs STRIPE_SECRET_KEY, CIRCLE_API_TOKEN and KIT_API_KEY (or
KIT_OAUTH_TOKEN); --from-stripe only the first. Without them it names the missing ones and calls nothing.

--from-stripe instead pages through Stripe's active subscriptions and paid one-time purchases and
lists the customers membersync has never seen; with --repair it brings them under management.`

const reconcileExamples = `  membersync reconcile                      # dry run: print the differences
  membersync reconcile --json > drift.json
  membersync reconcile --repair             # queue a sync of each drifted person
  membersync reconcile --from-stripe        # paying customers membersync has never seen
  membersync reconcile --from-stripe --repair`

// maxTableRows bounds the differences printed as a table; --json prints them all.
const maxTableRows = 200

func cmdReconcile(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "reconcile [flags]", reconcileSynopsis, reconcileExamples)
	cfgPath := configFlag(fs)
	repair := fs.Bool("repair", false, "queue a sync of each drifted person (default: only report)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	force := fs.Bool("force", false, "sweep even beyond the sweeps' share of Circle's monthly quota")
	fromStripe := fs.Bool("from-stripe", false, "find the paying Stripe customers membersync has never seen")
	share := fs.Float64("quota-share", 0, fmt.Sprintf("share of Circle's monthly quota the month's sweeps may use (default from the config, else %g)", drift.DefaultMaxQuotaShare))
	lookups := fs.Int("max-lookups", drift.DefaultMaxLookups, "most unknown Circle members to look up by id (-1: none)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	needs := []string{config.ProviderStripe, config.ProviderCircle, config.ProviderKit}
	if *fromStripe {
		needs = needs[:1] // it lists Stripe's customers; the syncs it queues run in serve
	}
	if err := requireKeys(cfg, "reconcile", needs...); err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, newLogger(e.stderr, cfg.LogFormat), appOptions{})
	if err != nil {
		return err
	}
	defer a.close()
	sw := &drift.Sweeper{Store: a.store, Circle: a.circle, Kit: a.kit, Billing: a.billing, Queue: a.queue, Plans: cfg.Plans, ErasureKey: cfg.Secrets.ErasureKey(),
		Log: quietLogger(e.stderr, cfg.LogFormat)}
	bar := newProgress(e.stderr)

	if *fromStripe {
		rep, err := sw.FromStripe(ctx, drift.StripeOptions{Repair: *repair, Progress: func(p drift.Progress) {
			bar.update(string(p.Phase), p.Done, 0, "customers")
		}})
		bar.finish()
		if err != nil {
			return err
		}
		if *asJSON {
			return writeJSONTo(e.stdout, rep)
		}
		writeStripeReport(e.stdout, rep, *repair)
		return nil
	}

	if *share == 0 {
		*share = sweepShare(cfg)
	}
	opts := drift.Options{Repair: *repair, Force: *force, MonthlyQuota: cfg.Circle.MonthlyQuota, MaxQuotaShare: *share, MaxLookups: *lookups,
		OnBudget: func(b drift.Budget) { writeBudget(e.stderr, b) },
		Progress: func(p drift.Progress) { bar.update(string(p.Phase), p.Done, p.Total, progressUnit(p.Phase)) },
	}
	opts.RemoveStrangers = cfg.Reconcile.UnknownMembers == config.UnknownRemove
	rep, err := sw.Run(ctx, opts)
	bar.finish()
	if err != nil {
		return err
	}
	if *asJSON {
		return writeJSONTo(e.stdout, rep)
	}
	writeReport(e.stdout, rep)
	return nil
}

func progressUnit(p drift.Phase) string {
	switch p {
	case drift.PhaseLookups:
		return "members looked up"
	case drift.PhaseRepair:
		return "people queued"
	case drift.PhaseStrangers:
		return "strangers"
	}
	return "pages"
}

// sweepShare is the sweeps' share of Circle's monthly quota from the config.
func sweepShare(cfg *config.Config) float64 {
	if cfg.Reconcile.MaxQuotaShare > 0 {
		return cfg.Reconcile.MaxQuotaShare
	}
	return drift.DefaultMaxQuotaShare
}

// quietLogger logs warnings and errors only: the command prints its own report.
func quietLogger(w io.Writer, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelWarn}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func writeJSONTo(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeBudget(w io.Writer, b drift.Budget) {
	fmt.Fprintf(w, "Expected calls: Circle %d (%d list pages, %d lookups of unknown members, at most %d), Kit %d list pages.\n",
		b.CircleCalls(), b.CirclePages, b.Lookups, b.MaxLookups, b.KitPages)
	switch {
	case b.MonthlyQuota <= 0:
		fmt.Fprintln(w, "Circle budget: none (circle.monthly_quota is 0).")
	default:
		fmt.Fprintf(w, "Circle budget: %d of %d requests used this month (%d by sweeps); the sweeps may use %.0f%%, so this one may make %d.\n",
			b.CircleUsed, b.MonthlyQuota, b.SweepUsed, b.Share*100, b.Allowance)
	}
	if b.Forced {
		fmt.Fprintln(w, "Over budget: sweeping anyway (--force).")
	}
}

func writeReport(w io.Writer, rep drift.Report) {
	fmt.Fprintf(w, "Drift sweep #%d (%s), %s, %s: %d people compared, %d drifted, %d unknown, %d with a sync pending.\n",
		rep.ID, strings.ReplaceAll(rep.Mode, "_", " "), journey.FormatTime(rep.StartedAt), rep.FinishedAt.Sub(rep.StartedAt).Round(time.Millisecond),
		rep.People, rep.Drifted, rep.Unknown, rep.Pending)
	if rep.Unsynced > 0 {
		fmt.Fprintf(w, "%d people were never synced and were not compared.\n", rep.Unsynced)
	}
	if rep.Moved > 0 {
		fmt.Fprintf(w, "%d people were synced during the sweep and were left out.\n", rep.Moved)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "Problem: %s\n", p)
	}
	if len(rep.Differences) > 0 {
		var counts []string
		for _, k := range drift.Kinds() {
			if n := rep.Counts[k]; n > 0 {
				counts = append(counts, fmt.Sprintf("%s: %d", k.Describe(), n))
			}
		}
		if len(counts) > 0 {
			fmt.Fprintf(w, "  %s\n", strings.Join(counts, "; "))
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tPERSON\tEMAIL\tWHERE\tREMOTE ID\t")
		for i, d := range rep.Differences {
			if i == maxTableRows {
				fmt.Fprintf(tw, "… and %d more (--json prints them all)\t\t\t\t\t\n", len(rep.Differences)-maxTableRows)
				break
			}
			kind, person, email, remote := string(d.Kind), "-", d.Email, "-"
			if d.Pending {
				kind += " (sync pending)"
			}
			if d.PersonID != 0 {
				person = fmt.Sprint(d.PersonID)
			}
			if email == "" {
				email = "-"
			}
			if d.RemoteID != 0 {
				remote = fmt.Sprint(d.RemoteID)
			}
			where := fmt.Sprintf("circle access group %d", d.Target)
			if d.Provider == "kit" {
				where = fmt.Sprintf("kit tag %d", d.Target)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", kind, person, email, where, remote)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Calls: Circle %d, Kit %d, Stripe %d.\n", rep.Calls.Circle, rep.Calls.Kit, rep.Calls.Stripe)
	switch {
	case rep.Mode == drift.ModeRepair:
		fmt.Fprintf(w, "Queued a sync of %d people; a running serve converges them.\n", rep.Repaired)
	case rep.Drifted > 0:
		fmt.Fprintln(w, `Dry run: nothing changed. Run "membersync reconcile --repair" to queue a sync of each drifted person.`)
	}
	if rep.StrangersRemoved > 0 {
		fmt.Fprintf(w, "Queued the removal of %d strangers through their sync (reconcile.unknown_members: remove).\n", rep.StrangersRemoved)
	}
	if rep.StrangersReviewed > 0 {
		fmt.Fprintf(w, "%d strangers have a review item: Remove them or Comp them in the admin's review queue, or set reconcile.unknown_members: remove.\n", rep.StrangersReviewed)
	}
	if rep.Unknown > 0 && rep.StrangersRemoved+rep.StrangersReviewed == 0 {
		fmt.Fprintln(w, "Strangers (unknown members and subscribers) hold managed access without a plan: \"membersync reconcile --repair\" opens a review item for each (Remove / Comp), or removes them with reconcile.unknown_members: remove; if they pay, bring them under management with \"membersync reconcile --from-stripe --repair\".")
	}
}

func writeStripeReport(w io.Writer, rep drift.StripeReport, repair bool) {
	fmt.Fprintf(w, "Stripe: %d paying customers (active subscriptions and paid one-time purchases), %d known to membersync, %d unknown.\n",
		rep.Customers, rep.Known, len(rep.Unknown))
	for i, id := range rep.Unknown {
		if i == maxTableRows {
			fmt.Fprintf(w, "  … and %d more (--json prints them all)\n", len(rep.Unknown)-maxTableRows)
			break
		}
		fmt.Fprintf(w, "  %s\n", id)
	}
	fmt.Fprintf(w, "Calls: Stripe %d.\n", rep.Calls.Stripe)
	switch {
	case repair:
		fmt.Fprintf(w, "Brought %d customers under management; their syncs are queued.\n", rep.Adopted)
	case len(rep.Unknown) > 0:
		fmt.Fprintln(w, `Dry run: nothing changed. Run "membersync reconcile --from-stripe --repair" to bring them under management.`)
	}
}

// progress draws a bar on a terminal and prints plain lines otherwise (a log file, a pipe, cron).
type progress struct {
	w       io.Writer
	tty     bool
	phase   string
	drawn   bool      // a bar is on the current line
	last    time.Time // when the last plain line was printed
	step    int       // the last tenth printed in plain mode
	pending string    // plain mode: the latest line, not printed yet
	now     func() time.Time
}

func newProgress(w io.Writer) *progress {
	return &progress{w: w, tty: isTerminal(w), now: time.Now}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// update shows done of total units of phase (total 0: unknown).
func (p *progress) update(phase string, done, total int, unit string) {
	if phase != p.phase {
		p.finish()
		p.phase, p.step, p.last = phase, -1, time.Time{}
	}
	if p.tty {
		const width = 30
		line := fmt.Sprintf("%-8s %d %s", phase, done, unit)
		if total > 0 {
			n := min(width*done/total, width)
			line = fmt.Sprintf("%-8s [%s%s] %d/%d %s", phase, strings.Repeat("#", n), strings.Repeat(".", width-n), done, total, unit)
		}
		fmt.Fprintf(p.w, "\r%s\x1b[K", line)
		p.drawn = true
		return
	}
	tenth := 0
	if total > 0 {
		tenth = 10 * done / total
	}
	p.pending = fmt.Sprintf("%s: %d %s", phase, done, unit)
	if total > 0 {
		p.pending = fmt.Sprintf("%s: %d/%d %s", phase, done, total, unit)
	}
	if now := p.now(); (total > 0 && tenth != p.step) || now.Sub(p.last) >= 10*time.Second {
		p.step, p.last = tenth, now
		fmt.Fprintln(p.w, p.pending)
		p.pending = ""
	}
}

// finish ends the bar's line, or prints the last plain line.
func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
	if p.pending != "" {
		fmt.Fprintln(p.w, p.pending)
		p.pending = ""
	}
}
