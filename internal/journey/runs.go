package journey

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// This file reads the journal as the sync engine writes it (internal/converge: journal.go and
// engine.go) back into syncs: each sync's provider calls, the review items it opened and how it
// ended. The story and an event's consequences are told from these runs.

// run is one sync as the journal recorded it. A sync writes one "call" entry per provider HTTP
// attempt (at the call's start), "review" entries for the items it opens, and ends with a "sync"
// entry whose action is "sync" (at its end, with its duration, its reason as target and its result:
// converged, blocked, retry, failed, merged, or kit_deferred when it handed Kit to its own job, with
// a "sync"/"kit"/"deferred" marker just before). A Kit step (converge.SyncKit) is a run too, ended by
// a "sync" entry whose action is "kit" (converged, blocked or retry). Syncs and Kit steps of one
// person never overlap (the lease), so the calls between two ends belong to the later one.
type run struct {
	start, end time.Time
	reason     string // what triggered it: event, resync, timer, retry, replay, reconcile, …
	result     string // converged | blocked | retry | failed | merged; "" while unfinished
	detail     string
	calls      []store.JournalEntry
	reviews    []store.JournalEntry // review items it opened
	side       []store.JournalEntry // other "sync" entries: link_customer, email_changed
	last       store.JournalEntry   // the "sync" entry that ended it
}

// unfinished reports whether the run did not converge: it retries, failed, handed Kit to a Kit step
// that has not run yet, or never recorded its end.
func (r *run) unfinished() bool {
	switch r.result {
	case "", "retry", "failed", "kit_deferred":
		return true
	}
	return false
}

// reviewGrace is how long after a sync ends the review items it opens may still be journaled (the
// engine journals a retrying sync's end before the review item its failure opens).
const reviewGrace = 5 * time.Second

// runsOf groups the journal into syncs, oldest first. Entries of other kinds (events, admin
// actions, notes) are left out.
func runsOf(journal []store.JournalEntry) []*run {
	entries := sortedJournal(journal)
	var runs []*run
	cur := &run{}
	empty := func() bool { return len(cur.calls) == 0 && len(cur.reviews) == 0 && len(cur.side) == 0 }
	for _, e := range entries {
		switch e.Kind {
		case "call":
			cur.calls = append(cur.calls, e)
		case "review":
			if last := lastRun(runs); empty() && last != nil && e.At.Sub(last.end) <= reviewGrace {
				last.reviews = append(last.reviews, e)
			} else {
				cur.reviews = append(cur.reviews, e)
			}
		case "sync":
			if e.Action != "sync" && (e.Action != "kit" || e.Result == "deferred") {
				cur.side = append(cur.side, e)
				continue
			}
			r := cur
			r.end, r.result, r.detail, r.last = e.At, e.Result, e.Detail, e
			switch {
			case e.Action == "kit":
				r.reason = "kit"
			case r.result != "failed":
				r.reason = e.Target // a failure names the provider instead
			}
			r.start = e.At
			if e.Duration > 0 {
				r.start = e.At.Add(-e.Duration)
			}
			if first, ok := r.first(); ok && first.Before(r.start) {
				r.start = first
			}
			runs = append(runs, r)
			cur = &run{}
		}
	}
	if !empty() {
		first, _ := cur.first()
		cur.start, cur.end = first, first
		for _, c := range cur.calls {
			if c.At.After(cur.end) {
				cur.end = c.At
			}
		}
		runs = append(runs, cur)
	}
	return runs
}

// entries returns the run's journal entries, its end included, oldest first.
func (r *run) entries() []store.JournalEntry {
	var out []store.JournalEntry
	out = append(out, r.calls...)
	out = append(out, r.reviews...)
	out = append(out, r.side...)
	if r.result != "" {
		out = append(out, r.last)
	}
	return sortedJournal(out)
}

func lastRun(runs []*run) *run {
	if len(runs) == 0 {
		return nil
	}
	return runs[len(runs)-1]
}

// first returns the time of the run's earliest entry.
func (r *run) first() (time.Time, bool) {
	var t time.Time
	for _, es := range [][]store.JournalEntry{r.calls, r.reviews, r.side} {
		for _, e := range es {
			if t.IsZero() || e.At.Before(t) {
				t = e.At
			}
		}
	}
	return t, !t.IsZero()
}

func sortedJournal(journal []store.JournalEntry) []store.JournalEntry {
	out := make([]store.JournalEntry, len(journal))
	copy(out, journal)
	sort.SliceStable(out, func(i, k int) bool {
		if !out[i].At.Equal(out[k].At) {
			return out[i].At.Before(out[k].At)
		}
		return out[i].ID < out[k].ID
	})
	return out
}

// act is one provider action a sync confirmed, or one failed call.
type act struct {
	at       time.Time
	provider string // circle | kit | stripe
	op       string // add_access_group, tag_subscriber, …
	kind     actKind
	target   int64
	failed   bool
	result   string // the failure's kind (transient, config, …) when failed
	status   int
	detail   string
}

type actKind int

const (
	actOther  actKind = iota
	actGrant          // circle:add_access_group
	actRevoke         // circle:remove_access_group
	actTag            // kit:tag_subscriber
	actUntag          // kit:untag_subscriber
	actEnroll         // kit:add_to_sequence
)

// writes maps the journal action of each call that changes what a person holds.
var writes = map[string]actKind{
	"circle:add_access_group":    actGrant,
	"circle:remove_access_group": actRevoke,
	"kit:tag_subscriber":         actTag,
	"kit:untag_subscriber":       actUntag,
	"kit:add_to_sequence":        actEnroll,
}

// acts returns the run's confirmed changes and failed calls, in order. Reads that succeeded
// (Stripe, Circle's member search, Kit's subscriber upsert) are left out.
func (r *run) acts() []act {
	var out []act
	for _, c := range r.calls {
		prov, op, _ := strings.Cut(c.Action, ":")
		a := act{at: c.At, provider: prov, op: op, kind: writes[c.Action], target: targetID(c.Target), status: c.Status, detail: c.Detail}
		if c.Result != "ok" {
			a.failed, a.result = true, c.Result
			out = append(out, a)
			continue
		}
		if a.kind != actOther {
			out = append(out, a)
		}
	}
	return out
}

// eventful reports whether the run changed something, failed, or opened a review item: a sync
// that found everything in place tells no story.
func (r *run) eventful() bool {
	return len(r.acts()) > 0 || len(r.reviews) > 0 || r.result != "converged" && r.result != "merged"
}

// targetID reads the id of a call's target: "access_group:11", "tag:1001 subscriber:9",
// "sequence:5", or a bare "11". It is 0 when the target names no number.
func targetID(target string) int64 {
	f := strings.Fields(target)
	if len(f) == 0 {
		return 0
	}
	s := f[0]
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0
	}
	return n
}
