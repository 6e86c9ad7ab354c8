package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/store"
)

// maxForgetReason bounds the reason kept in the tombstone and the audit log.
const maxForgetReason = 2000

const forgetSynopsis = `Erase one person (a GDPR Art. 17 request to be forgotten, or similar): their email, name, the
Stripe payloads of their events, their journal's detail and every other copy of the email in the
database are removed. Kept: a tombstone with a keyed hash of the email (not the email), their Stripe
customer ids, the event ids (so a redelivery still answers "duplicate"), and the audit entry
"erased by … because …".

By default the person is first synced to no access: their Circle access groups and Kit tags that
membersync manages are removed through the normal sync (a running serve does it within moments), and
the scrub runs once every removal is confirmed. --local-only scrubs the database now and leaves Circle
and Kit as they are (remove them there yourself if you must). Running forget again on a person whose
erasure is under way resumes it; on an erased one it prints the tombstone.

A later webhook for an erased customer is managed as a new person only if Stripe still has the
customer; delete the customer in Stripe too to stop that.`

const forgetExamples = `  membersync forget ada@example.com --reason "Art. 17 request by email, ticket 4411"
  membersync forget cus_Q2x8… --reason "asked to be forgotten" --by "dana"
  membersync forget ada@example.com --reason "request 12" --local-only`

func cmdForget(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "forget [flags] EMAIL|cus_…", forgetSynopsis, forgetExamples)
	cfgPath := configFlag(fs)
	reason := fs.String("reason", "", "why (required): kept in the tombstone and the audit log, the email cut out")
	localOnly := fs.Bool("local-only", false, "scrub the database only; leave Circle access and Kit tags as they are")
	by := fs.String("by", "", "who asked for the erasure, for the audit log (default $USER)")
	if err := fs.Parse(reorderFlags(args)); err != nil {
		return usageErr(err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	*reason = strings.TrimSpace(*reason)
	if *reason == "" {
		return errors.New("forget needs --reason \"…\": it is kept in the tombstone and the audit log (say who asked and how)")
	}
	if len(*reason) > maxForgetReason {
		return fmt.Errorf("--reason is %d characters; keep it under %d", len(*reason), maxForgetReason)
	}
	actor := cliActor
	if name := strings.TrimSpace(*by); name != "" {
		actor += " (" + name + ")"
	} else if u := e.getenv("USER"); u != "" {
		actor += " (" + u + ")"
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
	who := strings.TrimSpace(fs.Arg(0))
	key := cfg.Secrets.ErasureKey()
	pid, err := findPerson(ctx, a.store, who)
	if err != nil {
		// An erased person's email is gone: the tombstone answers by its hash.
		if strings.Contains(who, "@") {
			if es, terr := a.store.ErasuresByEmail(ctx, key, who); terr == nil && len(es) > 0 {
				printErasure(e, es[0])
				return nil
			}
		}
		return err
	}
	res, err := converge.Forget(ctx, a.store, a.queue, store.EraseRequest{PersonID: pid, Reason: *reason, By: actor, LocalOnly: *localOnly, Key: key})
	if errors.Is(err, store.ErrErased) {
		printErasure(e, res)
		return nil
	}
	if err != nil {
		return err
	}
	if res.State == store.Erased {
		fmt.Fprintf(e.stdout, "erased person %d (local only: Circle and Kit left as they are)\n", pid)
		return nil
	}
	fmt.Fprintf(e.stdout, "erasing person %d: a sync removes their Circle access and Kit tags, then scrubs them.\n"+
		"A running serve does it within moments; run this command again to see the state.\n", pid)
	return nil
}

// printErasure prints a tombstone (never an email).
func printErasure(e env, t store.Erasure) {
	when := t.ErasedAt
	state := "erased"
	if t.State != store.Erased {
		when, state = t.RequestedAt, "erasing since"
	}
	fmt.Fprintf(e.stdout, "person %d: %s %s by %s because %s", t.PersonID, state, when.Format(time.RFC3339), t.By, t.Reason)
	if len(t.CustomerIDs) > 0 {
		fmt.Fprintf(e.stdout, " (Stripe customers %s)", strings.Join(t.CustomerIDs, ", "))
	}
	fmt.Fprintln(e.stdout)
}

// reorderFlags moves flags after the positional argument in front of it, so that both
// "forget EMAIL --reason …" and "forget --reason … EMAIL" work (the flag package stops at the
// first non-flag).
func reorderFlags(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if !strings.Contains(name, "=") && name != "local-only" && name != "h" && name != "help" && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(flags, pos...)
}
