package journey

import (
	"strings"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/store"
)

// maxEffectSyncs is how many syncs Caused tells one by one; further retries are counted.
const maxEffectSyncs = 5

// Effect is what one Stripe event caused.
type Effect struct {
	// Lines say it in words.
	Lines []Line `json:"lines"`
	// Steps are the journal entries of the syncs it caused (their calls, the review items they
	// opened, their ends) as timeline steps, oldest first: the raw record under the words.
	Steps []Step `json:"-"`
}

// Caused tells what a Stripe event caused, for the event page: the sync that covered it (the first
// that started after it was received: a sync reads Stripe whole, so an event is a signal, never a
// delta), the syncs that retried after it, and what each changed, in words. f is the facts of the
// event's person (f.Journal above all); names names groups, tags and sequences (nil: by id).
func Caused(ev store.Event, f Facts, names catalog.Names) Effect {
	t := newTeller(f, names)
	var eff Effect
	switch {
	case ev.State == store.EventIgnored:
		t.say("", "membersync does not act on %s events: it was stored for the record and changed nothing.", ev.Type)
		eff.Lines = t.lines
		return eff
	case ev.PersonID == 0 || ev.State == store.EventUnresolved:
		t.say("warn", "It names no Stripe customer (a refund or a dispute names only its charge): membersync asks Stripe whose it is, then syncs that person.")
		eff.Lines = t.lines
		return eff
	}
	got := ev.ReceivedAt
	runs := runsOf(f.Journal)
	first := -1
	for i, r := range runs {
		if !r.start.Before(got) {
			first = i
			break
		}
		if r.end.After(got) && len(r.acts()) > 0 {
			t.say("", "It arrived during a sync that had started %s earlier: %s.", span(got.Sub(r.start)), t.summary(r))
		}
	}
	for _, e := range f.Journal {
		if e.Kind == "admin" && e.Action == "replay" && e.EventID == ev.ID {
			t.say("", "%s on %s.", t.actionCause(e, nil), t.moment(e.At))
		}
	}
	if first < 0 {
		p := f.Person
		if p.SyncedGeneration < p.Generation || p.Queued {
			t.say("warn", "No sync has started since it arrived; one is queued.")
		} else {
			t.say("warn", "No sync has started since it arrived.")
		}
		eff.Lines = t.lines
		return eff
	}
	chain := []*run{runs[first]}
	for _, r := range runs[first+1:] {
		if !lastRun(chain).unfinished() {
			break
		}
		chain = append(chain, r)
	}
	for i, r := range chain {
		if i == maxEffectSyncs {
			t.say("", "%d more attempts followed (on the person's timeline).", len(chain)-i)
			break
		}
		which := "The sync that covered it ran"
		switch {
		case i == 0:
		case r.reason == "kit":
			which = "Its Kit step ran"
		case chain[i-1].result == "kit_deferred":
			which = "The next sync ran"
		default:
			which = "Its retry ran"
		}
		t.say("", "%s at %s (%s after it arrived, for %s): %s.", which, t.precise(r.start), span(r.start.Sub(got)),
			span(r.end.Sub(r.start)), t.summary(r))
	}
	for _, r := range chain {
		for _, e := range r.entries() {
			eff.Steps = append(eff.Steps, StepOf(e))
		}
	}
	last := lastRun(chain)
	switch {
	case last.result == "converged":
		t.say("ok", "Circle and Kit matched Stripe %s after it arrived.", span(last.end.Sub(got)))
	case last.result == "merged":
		t.say("ok", "The person was merged into the one with the same email, whose sync carries on.")
	case last.result == "blocked":
		t.say("bad", "Some changes wait on a review item (see the person's page).")
	default:
		t.say("warn", "membersync is still retrying.")
	}
	eff.Lines = t.lines
	return eff
}

// summary words what one sync did: "Circle access granted (Pro members) and tagged pro-active",
// "Circle was down (HTTP 503); the sync failed and retries", "nothing to change".
func (t *teller) summary(r *run) string {
	var parts []string
	acts := r.acts()
	seen := map[string]bool{}
	for i := 0; i < len(acts); {
		a := acts[i]
		if a.failed {
			key := a.provider + " " + a.result
			if !seen[key] {
				seen[key] = true
				parts = append(parts, t.failure(a))
			}
			i++
			continue
		}
		k := i
		for k < len(acts) && !acts[k].failed && acts[k].provider == a.provider {
			k++
		}
		parts = append(parts, t.changes(acts[i:k], nil))
		i = k
	}
	for _, e := range r.reviews {
		title, _ := ReviewOf(store.ReviewItem{Kind: e.Action, ActionKey: e.Target, Reason: e.Detail}, t.names)
		parts = append(parts, "review item opened ("+lowerFirst(title)+")")
	}
	switch {
	case len(parts) > 0:
	case r.result == "merged":
		return "merged into the person with the same email"
	case r.end.Before(t.f.CallsPruned.Horizon) && r.result == "converged":
		return "it converged; what it changed is no longer known (provider calls are pruned after " + span(t.f.CallsPruned.Keep) + ", see retention)"
	case r.result == "converged":
		return "nothing to change, Circle and Kit already matched"
	case r.result == "":
		return "still running"
	case r.result == "kit_deferred":
		return "nothing to change in Circle; Kit's step was handed to its own job, for when Kit's rate limit has room"
	default:
		return "it failed" + detailSuffix(r.detail) + " and retries"
	}
	s := strings.Join(parts, ", then ")
	switch r.result {
	case "retry", "failed":
		what := "the sync"
		if r.reason == "kit" {
			what = "the Kit step"
		}
		s += "; " + what + " failed" + detailSuffix(r.detail) + " and retries"
	case "kit_deferred":
		s += "; Kit's step was handed to its own job, for when Kit's rate limit has room"
	}
	return s
}

func detailSuffix(d string) string {
	if d == "" {
		return ""
	}
	return " (" + d + ")"
}
