package journey

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/plan"
	"github.com/membersync/membersync/internal/store"
)

// Facts is what a person's story is told from: what membersync stores about them, the plan
// mapping and the clock. Tell reads nothing else.
type Facts struct {
	Person store.Person
	// Events are the person's Stripe events in any order. Payload is read only from the latest
	// invoice.payment_failed (when Stripe retries); Load fills it there alone.
	Events []store.Event
	// Journal is the person's journal in any order (store.Journal).
	Journal []store.JournalEntry
	// Billing is the last billing snapshot a sync read; nil before the first sync.
	Billing *entitlement.Billing
	// Desired is the desired state the last sync computed; nil before the first sync.
	Desired *entitlement.Desired
	Sync    store.SyncState
	// Applied is what Circle and Kit confirmed and still hold.
	Applied []store.Applied
	// Reviews are the person's review items, any status; only open ones count.
	Reviews []store.ReviewItem
	// Comps are the person's manual grants (see Comp).
	Comps []Comp
	Plans []plan.Plan
	Now   time.Time
	// CallsPruned is retention's last pass over provider calls (Journey.CallsPruned).
	CallsPruned store.PruneHorizon
}

// Comp is an operator's manual grant of a plan: an entitlement input beside Stripe, with a reason
// and an optional end.
//
// Load fills Facts.Comps from the store (store.Comps); the admin journals each comp and revocation
// as an "admin" entry whose Action is "comp" or "revoke_comp" and whose Target is the plan id, with
// "by ACTOR: REASON" as Detail as every admin entry has. Tell then names the comp as the cause of the sync that follows ("Comped Pro
// by ann@… on 3 Dec 14:02 → Circle access granted 0.4 s later") and says where each comp in force
// stands ("Pro is a comp by ann@… (speaker), until 1 Jan.").
type Comp struct {
	PlanID  string
	By      string
	Reason  string
	At      time.Time
	Until   time.Time // zero: no end
	Revoked time.Time // zero while in force
}

// Line is one sentence of a story.
type Line struct {
	Text string `json:"text"`
	// Tone is "ok" (nothing needs you), "warn" (membersync is on it), "bad" (a person must act), or
	// "" for what happened.
	Tone string `json:"tone,omitempty"`
	// ReviewID is the open review item the sentence asks about; 0 for none.
	ReviewID int64 `json:"review_id,omitempty"`
}

// Story is a person's journey in a few plain sentences: the latest changes (each one a chain of
// steps with the time between them, as the journal recorded them), where each plan stands when it
// is not simply active, the open review items with what to do about them, and whether anything
// needs a person.
type Story struct {
	Lines []Line `json:"lines"`
	// NeedsYou is true while a review item about the person is open.
	NeedsYou bool `json:"needs_you"`
	// Settled is true when nothing needs anyone: no review item is open, no sync is pending or
	// retrying, and Circle and Kit hold exactly what the plans want. The story then ends "Nothing
	// needs you."
	Settled bool `json:"settled"`
}

// String returns the story as one paragraph.
func (s Story) String() string {
	parts := make([]string, len(s.Lines))
	for i, l := range s.Lines {
		parts[i] = l.Text
	}
	return strings.Join(parts, " ")
}

// WriteText prints the story for a terminal: a heading, then one sentence a line.
func (s Story) WriteText(w io.Writer) error {
	var b strings.Builder
	b.WriteString("Story (times in UTC):\n")
	for _, l := range s.Lines {
		b.WriteString("  " + l.Text + "\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// maxEpisodes is how many changes a story tells; earlier ones stay on the timeline.
const maxEpisodes = 4

// Tell tells a person's story from f, naming groups, tags, sequences and prices through names (nil
// names them by kind and id). It is pure: same facts, same story. Every claim that a person has
// access rests on f.Applied: a grant the journal recorded that Circle no longer holds is marked
// "(not held now)" unless the story tells its removal, and "Nothing needs you." is said only when
// Story.Settled.
func Tell(f Facts, names catalog.Names) Story {
	t := newTeller(f, names)
	return t.tell()
}

// teller holds what one Tell works from.
type teller struct {
	f     Facts
	names catalog.Names
	held  map[holding]bool
	open  []store.ReviewItem           // open review items, oldest first
	used  map[int64]bool               // review items a sentence already asked about
	told  map[string]entitlement.Stage // plans whose present stage a change already told
	lines []Line
}

type holding struct {
	provider, kind string
	id             int64
}

func newTeller(f Facts, names catalog.Names) *teller {
	t := &teller{f: f, names: catalog.Or(names), held: map[holding]bool{}, used: map[int64]bool{},
		told: map[string]entitlement.Stage{}}
	for _, a := range f.Applied {
		t.held[holding{a.Provider, a.Kind, a.TargetID}] = true
	}
	for _, r := range f.Reviews {
		if r.Status == "open" {
			t.open = append(t.open, r)
		}
	}
	sort.SliceStable(t.open, func(i, k int) bool { return t.open[i].ID < t.open[k].ID })
	return t
}

func (t *teller) say(tone, format string, args ...any) {
	t.lines = append(t.lines, Line{Text: fmt.Sprintf(format, args...), Tone: tone})
}

func (t *teller) tell() Story {
	runs := runsOf(t.f.Journal)
	eps, later := episodes(runs, t.signals())
	if len(eps) > maxEpisodes {
		t.say("", "(%d earlier changes are on the timeline.)", len(eps)-maxEpisodes)
	}
	prev := ""
	for i, ep := range eps {
		if i >= len(eps)-maxEpisodes {
			t.episode(ep, prev, eps[i+1:])
		}
		prev = classOf(ep)
	}
	if len(later) > 0 {
		sig := strongest(later)
		after := ""
		if len(runs) > 0 {
			after = ", after the last sync"
		}
		t.say("warn", "%s on %s%s.", t.cause(sig, nil, prev), t.moment(sig.at), after)
	}
	t.present(len(eps) > 0)
	t.reviews()
	return t.verdict()
}

// signal is something that can cause a sync: a Stripe event, an operator's action, a note.
type signal struct {
	at    time.Time
	class string
	rank  int
	event *store.Event
	entry *store.JournalEntry
}

// signals returns the person's events and the journal's operator actions and notes, oldest first.
func (t *teller) signals() []signal {
	var out []signal
	for i := range t.f.Events {
		ev := &t.f.Events[i]
		class, rank := eventClass(ev.Type)
		out = append(out, signal{at: ev.ReceivedAt, class: class, rank: rank, event: ev})
	}
	for i := range t.f.Journal {
		e := &t.f.Journal[i]
		if e.Kind != "admin" && e.Kind != "note" {
			continue
		}
		class, rank := "action:"+e.Action, 15
		switch e.Action {
		case "comp", "revoke_comp":
			rank = 95 // a deliberate grant explains the sync better than any event
		case "drift", "adopt", "stranger":
			rank = 16
		case "resolve", "status_link_emailed", "billing_portal":
			continue // causes no sync
		}
		out = append(out, signal{at: e.At, class: class, rank: rank, entry: e})
	}
	sort.SliceStable(out, func(i, k int) bool { return out[i].at.Before(out[k].at) })
	return out
}

// eventClass sorts Stripe event types by what they mean for access; a higher rank explains a sync
// better.
func eventClass(typ string) (string, int) {
	switch typ {
	case "charge.dispute.created", "charge.dispute.funds_withdrawn", "charge.dispute.updated":
		return "dispute", 90
	case "charge.dispute.closed", "charge.dispute.funds_reinstated":
		return "dispute_closed", 85
	case "charge.refunded", "refund.created", "refund.updated", "charge.refund.updated":
		return "refund", 80
	case "invoice.payment_failed", "charge.failed", "payment_intent.payment_failed", "invoice.payment_action_required":
		return "failed", 70
	case "customer.subscription.deleted":
		return "ended", 60
	case "checkout.session.completed", "checkout.session.async_payment_succeeded", "invoice.paid", "invoice.payment_succeeded":
		return "paid", 50
	case "customer.subscription.created":
		return "paid", 45
	case "charge.succeeded", "payment_intent.succeeded":
		return "paid", 40
	case "customer.subscription.updated", "customer.subscription.paused", "customer.subscription.resumed", "customer.subscription.trial_will_end":
		return "updated", 30
	case "customer.updated", "customer.created":
		return "customer", 20
	}
	return "other", 10
}

// strongest returns the signal that best explains a sync: the highest rank, the earliest among equals.
func strongest(sigs []signal) signal {
	best := sigs[0]
	for _, s := range sigs[1:] {
		if s.rank > best.rank {
			best = s
		}
	}
	return best
}

// episode is one change: the signals since the sync before it and the syncs that carried it out
// (one, or several when it failed and retried).
type episode struct {
	signals []signal
	runs    []*run
}

// episodes groups runs into changes. A sync that found everything in place starts none (its
// signals caused nothing); a sync after one that did not converge continues its change. Signals
// after the last sync are returned apart: they wait for a sync.
//
// A sync's signals are those received after the sync before it started and before it ended: an
// event that arrives during a sync makes another sync follow, and either may carry out the change
// it brought.
func episodes(runs []*run, sigs []signal) (eps []*episode, later []signal) {
	lo, hi := 0, 0
	var prevStart time.Time
	for _, r := range runs {
		for lo < len(sigs) && !prevStart.IsZero() && !sigs[lo].at.After(prevStart) {
			lo++
		}
		for hi < len(sigs) && !sigs[hi].at.After(r.end) {
			hi++
		}
		window := sigs[min(lo, hi):hi]
		prevStart = r.start
		var last *episode
		if len(eps) > 0 {
			last = eps[len(eps)-1]
		}
		switch {
		case last != nil && lastRun(last.runs).unfinished():
			last.runs = append(last.runs, r)
			last.signals = append(last.signals, window...)
		case r.eventful():
			eps = append(eps, &episode{signals: slices.Clone(window), runs: []*run{r}})
		}
	}
	for i := hi; i < len(sigs); i++ {
		if sigs[i].rank >= 20 || strings.HasPrefix(sigs[i].class, "action:") && sigs[i].rank > 15 {
			later = append(later, sigs[i])
		}
	}
	return eps, later
}

// acts returns the episode's confirmed changes and failures, in order.
func (ep *episode) acts() []act {
	var out []act
	for _, r := range ep.runs {
		out = append(out, r.acts()...)
	}
	return out
}

// classOf names what the episode was about, for the one after it ("Payment went through" after
// "Card failed").
func classOf(ep *episode) string {
	if len(ep.signals) == 0 {
		return "run:" + ep.runs[0].reason
	}
	return strongest(ep.signals).class
}

// episode tells one change as a chain: its cause, then each step with the time since the previous.
func (t *teller) episode(ep *episode, prevClass string, after []*episode) {
	plans := t.touched(ep)
	first := ep.runs[0]
	var sig *signal
	if len(ep.signals) > 0 {
		s := strongest(ep.signals)
		sig = &s
	}
	anchor := first.start
	if sig != nil {
		anchor = sig.at
		// The cause is dated by the first signal of its kind; a step never comes before it.
		for _, s := range ep.signals {
			if s.class == sig.class && s.at.Before(anchor) {
				anchor = s.at
			}
		}
	}
	if acts := ep.acts(); len(acts) > 0 && acts[0].at.Before(anchor) {
		// The change began before its strongest signal arrived: date it by the earliest signal,
		// else by the sync's start.
		anchor = first.start
		for _, s := range ep.signals {
			if !s.at.After(acts[0].at) && s.at.Before(anchor) {
				anchor = s.at
			}
		}
	}
	var b strings.Builder
	if sig != nil {
		b.WriteString(t.cause(*sig, plans, prevClass))
	} else {
		b.WriteString(t.runCause(first, plans))
	}
	if st := toldStage(sig, first); st != "" {
		for _, p := range plans {
			cur, ok := t.stage(p.ID)
			timed := st == "timer" && (cur.Stage == entitlement.StageGraceExpired || cur.Stage == entitlement.StageCanceled || cur.Stage == entitlement.StageExpired)
			if ok && (cur.Stage == st || timed) {
				t.told[p.ID] = cur.Stage
			}
		}
	}
	b.WriteString(" on " + t.moment(anchor))

	steps := t.steps(ep, after)
	prev := anchor
	tone := ""
	for _, s := range steps {
		switch {
		case s.failing:
			b.WriteString(" → " + s.text)
			tone = "bad"
			if s.review == 0 {
				tone = "warn"
			}
		case s.fail:
			b.WriteString(" → " + s.text + " at " + t.clockAfter(s.at, prev))
		case s.recovered:
			b.WriteString(fmt.Sprintf("; membersync retried: %s at %s (%s later)", s.text, t.clockAfter(s.at, prev), span(s.at.Sub(s.since))))
		case s.at.Sub(prev) < 10*time.Millisecond:
			b.WriteString(" → " + s.text + " right after")
		default:
			b.WriteString(fmt.Sprintf(" → %s %s later", s.text, span(s.at.Sub(prev))))
		}
		prev = s.at
	}
	if len(steps) == 0 {
		b.WriteString(" → " + quietEnd(lastRun(ep.runs)))
	}
	l := Line{Text: ensureStop(b.String()), Tone: tone}
	for _, s := range steps {
		if s.review != 0 {
			l.ReviewID = s.review
		}
	}
	t.lines = append(t.lines, l)
}

// toldStage is the stage a change's cause tells the plan entered ("Refunded …"), so that the
// present tense need not repeat it; "" when the cause tells none.
func toldStage(sig *signal, first *run) entitlement.Stage {
	if sig == nil {
		if first.reason == "timer" {
			return "timer" // the grace, paid or access period ended: runCause named which
		}
		return ""
	}
	switch sig.class {
	case "refund":
		return entitlement.StageRefunded
	case "dispute":
		return entitlement.StageDisputed
	case "ended":
		return entitlement.StageCanceled
	}
	return ""
}

// quietEnd says how a change without a confirmed step ended.
func quietEnd(r *run) string {
	switch r.result {
	case "blocked":
		return "some actions wait on a review item"
	case "":
		return "a sync is running"
	case "retry", "failed":
		return "the sync failed and retries"
	case "kit_deferred":
		return "Kit's step waits for room in Kit's rate limit"
	}
	return "nothing needed changing"
}

// step is one link of an episode's chain.
type step struct {
	at        time.Time
	text      string
	fail      bool      // a provider failed here (it recovered later in the chain)
	failing   bool      // a provider failed here and has not recovered: the chain ends with it
	recovered bool      // the first success of a provider after it failed
	since     time.Time // when the recovered provider first failed
	review    int64     // the open review item a failing step points to
}

// steps turns the episode's calls into steps: consecutive confirmed changes of one provider in one
// sync are one step; a provider's failures are one step until it recovers. A failure that never
// recovered ends the chain as "failing since …" with the open review item about it.
func (t *teller) steps(ep *episode, after []*episode) []step {
	var out []step
	down := map[string]int{} // provider → the index of its failure step not recovered yet
	var failed []act         // by step index: the failure behind each failure step
	add := func(s step, a act) {
		out = append(out, s)
		failed = append(failed, a)
	}
	for _, r := range ep.runs {
		acts := r.acts()
		for i := 0; i < len(acts); {
			a := acts[i]
			if a.failed {
				if _, ok := down[a.provider]; !ok {
					down[a.provider] = len(out)
					add(step{at: a.at, text: t.failure(a), fail: true}, a)
				}
				i++
				continue
			}
			k := i
			for k < len(acts) && !acts[k].failed && acts[k].provider == a.provider {
				k++
			}
			s := step{at: a.at, text: t.changes(acts[i:k], after)}
			if fi, ok := down[a.provider]; ok {
				s.recovered, s.since = true, out[fi].at
				delete(down, a.provider)
			}
			add(s, act{})
			i = k
		}
	}
	last := lastRun(ep.runs)
	provs := make([]string, 0, len(down))
	for prov := range down {
		provs = append(provs, prov)
	}
	sort.Slice(provs, func(i, k int) bool { return down[provs[i]] < down[provs[k]] })
	for _, prov := range provs {
		i := down[prov]
		if last.unfinished() || last.result == "blocked" {
			out[i].fail, out[i].failing = false, true
			out[i].text, out[i].review = t.stillFailing(prov, failed[i], last)
			continue
		}
		// The sync converged after all: the provider answered in the end.
		out = append(out, step{at: last.end, text: providerName(prov) + " answered", recovered: true, since: out[i].at})
	}
	return out
}

// failure words a failed call: "Circle was down (HTTP 503)".
func (t *teller) failure(a act) string {
	p := providerName(a.provider)
	switch a.result {
	case "transient":
		if a.status > 0 {
			return fmt.Sprintf("%s was down (HTTP %d)", p, a.status)
		}
		return p + " did not answer"
	case "rate_limited":
		return p + " asked membersync to slow down"
	case "config":
		return p + " refused membersync's credentials"
	case "limit":
		return p + " reached a limit of its plan"
	}
	return fmt.Sprintf("%s refused to %s", p, t.opWords(a))
}

// stillFailing words a failure that has not recovered, and the open review item about it.
func (t *teller) stillFailing(prov string, f act, last *run) (string, int64) {
	what := providerName(prov)
	switch {
	case prov == "stripe":
		what = "Reading Stripe"
	case f.kind == actRevoke:
		what += " removal"
	case f.kind == actTag || f.kind == actUntag:
		what += " tagging"
	case f.kind == actEnroll:
		what += " enrollment"
	case prov == "circle":
		what += " grant"
	}
	text := fmt.Sprintf("%s failing since %s (%s)", what, t.moment(f.at), failureReason(f))
	if it, ok := t.reviewAbout(prov); ok {
		t.used[it.ID] = true
		_, action := ReviewOf(it, t.names)
		return fmt.Sprintf("%s: review item #%d — %s", text, it.ID, lowerFirst(action)), it.ID
	}
	if last.result == "blocked" {
		return text, 0
	}
	return text + "; membersync keeps retrying", 0
}

// failureReason words a failure in a few words: "HTTP 503", "rate-limited", "credentials refused".
func failureReason(a act) string {
	switch a.result {
	case "transient":
		if a.status > 0 {
			return fmt.Sprintf("HTTP %d", a.status)
		}
		return "no answer"
	case "rate_limited":
		return "rate-limited"
	case "config":
		return "credentials refused"
	case "limit":
		return "plan limit reached"
	}
	if a.status > 0 {
		return fmt.Sprintf("refused, HTTP %d", a.status)
	}
	return "refused"
}

// reviewAbout finds the open review item about a provider's failure.
func (t *teller) reviewAbout(prov string) (store.ReviewItem, bool) {
	for _, it := range t.open {
		if t.used[it.ID] {
			continue
		}
		switch {
		case it.ActionKey == prov, strings.HasPrefix(it.ActionKey, prov+":"):
			return it, true
		case it.Kind == "sync_failing" || it.Kind == "retries_exhausted":
			return it, true
		}
	}
	return store.ReviewItem{}, false
}

// opWords words a provider operation for "Circle refused to …".
func (t *teller) opWords(a act) string {
	switch a.kind {
	case actGrant:
		return "add them to " + t.names.AccessGroup(a.target)
	case actRevoke:
		return "remove them from " + t.names.AccessGroup(a.target)
	case actTag:
		return "tag them " + t.tag(a.target)
	case actUntag:
		return "untag " + t.tag(a.target)
	case actEnroll:
		return "enroll them in " + t.sequence(a.target)
	}
	switch a.op {
	case "create_member":
		return "create their member"
	case "find_member", "get_member":
		return "look them up"
	case "upsert_subscriber":
		return "create their subscriber"
	}
	return strings.ReplaceAll(a.op, "_", " ")
}

// changes words consecutive confirmed changes of one provider: "Circle access granted (Pro
// members)", "tagged pro-active and enrolled in Onboarding".
func (t *teller) changes(acts []act, after []*episode) string {
	var granted, revoked, tagged, untagged, enrolled, other []string
	for _, a := range acts {
		switch a.kind {
		case actGrant:
			name := t.names.AccessGroup(a.target)
			if !t.held[holding{store.ProviderCircle, store.KindAccessGroup, a.target}] && !removedLater(a.target, after) {
				name += ", not held now"
			}
			granted = appendNew(granted, name)
		case actRevoke:
			revoked = appendNew(revoked, t.names.AccessGroup(a.target))
		case actTag:
			if name, ok := t.tagName(a.target); ok {
				tagged = appendNew(tagged, name)
			} else {
				other = appendNew(other, name+" added")
			}
		case actUntag:
			if name, ok := t.tagName(a.target); ok {
				untagged = appendNew(untagged, name)
			} else {
				other = appendNew(other, name+" removed")
			}
		case actEnroll:
			enrolled = appendNew(enrolled, t.sequence(a.target))
		}
	}
	var parts []string
	if len(granted) > 0 {
		parts = append(parts, "Circle access granted ("+strings.Join(granted, "; ")+")")
	}
	if len(revoked) > 0 {
		parts = append(parts, "Circle access removed ("+strings.Join(revoked, "; ")+")")
	}
	if len(tagged) > 0 {
		parts = append(parts, "tagged "+andList(tagged))
	}
	if len(untagged) > 0 {
		parts = append(parts, "untagged "+andList(untagged))
	}
	parts = append(parts, other...)
	if len(enrolled) > 0 {
		parts = append(parts, "enrolled in "+andList(enrolled))
	}
	return andList(parts)
}

// removedLater reports whether a later change the story tells removed the access group.
func removedLater(group int64, after []*episode) bool {
	for _, ep := range after {
		for _, a := range ep.acts() {
			if a.kind == actRevoke && !a.failed && a.target == group {
				return true
			}
		}
	}
	return false
}

// tagName returns a Kit tag's name, or "Kit tag 21" and false when the catalog does not know it.
func (t *teller) tagName(id int64) (string, bool) {
	name := t.names.Tag(id)
	if name == (catalog.Fallback{}).Tag(id) {
		return fmt.Sprintf("Kit tag %d", id), false
	}
	return name, true
}

func (t *teller) tag(id int64) string {
	name, _ := t.tagName(id)
	return name
}

func (t *teller) sequence(id int64) string {
	name := t.names.Sequence(id)
	if name == (catalog.Fallback{}).Sequence(id) {
		return "Kit sequence " + fmt.Sprint(id)
	}
	return name
}

// touched returns the plans whose groups, tags or sequences the episode changed, in config order;
// when it changed none of them, the plans the person bought.
func (t *teller) touched(ep *episode) []plan.Plan {
	var out []plan.Plan
	acts := ep.acts()
	for _, p := range t.f.Plans {
		for _, a := range acts {
			if a.failed && a.kind == actOther {
				continue
			}
			if planHas(p, a) {
				out = append(out, p)
				break
			}
		}
	}
	if len(out) == 0 && t.f.Desired != nil {
		for _, ps := range t.f.Desired.Plans {
			if p, ok := t.plan(ps.PlanID); ok && ps.Stage != entitlement.StageNone {
				out = append(out, p)
			}
		}
	}
	return out
}

func planHas(p plan.Plan, a act) bool {
	switch a.kind {
	case actGrant, actRevoke:
		return slices.Contains(p.Circle.AccessGroups, a.target)
	case actTag, actUntag:
		for _, id := range p.Kit.Tags {
			if id == a.target {
				return true
			}
		}
	case actEnroll:
		return a.target == p.Kit.OnboardingSequence || a.target == p.Kit.RetentionSequence
	}
	return false
}

func (t *teller) plan(id string) (plan.Plan, bool) {
	for _, p := range t.f.Plans {
		if p.ID == id {
			return p, true
		}
	}
	return plan.Plan{}, false
}

func planName(p plan.Plan) string {
	if p.Name != "" {
		return p.Name
	}
	return p.ID
}

func planNames(ps []plan.Plan) string {
	var names []string
	for _, p := range ps {
		names = append(names, planName(p))
	}
	return andList(names)
}

// cause words what started a change: "Paid Pro (€29/month)", "Card failed", "Refunded".
func (t *teller) cause(s signal, plans []plan.Plan, prev string) string {
	if s.entry != nil {
		return t.actionCause(*s.entry, plans)
	}
	what := planNames(plans)
	switch s.class {
	case "dispute":
		return "Chargeback opened"
	case "dispute_closed":
		return "Chargeback closed"
	case "refund":
		if t.bought() > 1 && what != "" {
			return what + " refunded"
		}
		return "Refunded"
	case "failed":
		return "Card failed"
	case "ended":
		if what != "" {
			return what + " ended"
		}
		return "Subscription ended"
	case "paid":
		if prev == "failed" {
			return "Payment went through"
		}
		if len(plans) == 1 {
			if t.trialAt(plans[0], s.at) {
				return "Started a free trial of " + planName(plans[0])
			}
			return "Paid " + t.priced(plans[0])
		}
		if what != "" {
			return "Paid " + what
		}
		return "Paid"
	case "updated":
		for _, p := range plans {
			if st, ok := t.stage(p.ID); ok && (st.Stage == entitlement.StageCanceling || st.Stage == entitlement.StageCanceled) {
				return "Set " + planName(p) + " to cancel"
			}
		}
		return "Stripe updated the subscription"
	case "customer":
		return "Customer details changed in Stripe"
	}
	return "Stripe sent " + s.event.Type
}

// actionCause words an operator's action or a note that started a change.
func (t *teller) actionCause(e store.JournalEntry, plans []plan.Plan) string {
	by := strings.TrimPrefix(e.Detail, "by ")
	if i := strings.Index(by, ": "); i >= 0 {
		by = by[:i]
	}
	if e.Kind != "admin" || !strings.HasPrefix(e.Detail, "by ") {
		by = ""
	}
	with := ""
	if by != "" {
		with = " by " + by
	}
	switch e.Action {
	case "comp", "revoke_comp":
		name := e.Target
		if p, ok := t.plan(e.Target); ok {
			name = planName(p)
		}
		if e.Action == "comp" {
			return "Comped " + name + with
		}
		return "Comp of " + name + " revoked" + with
	case "resync":
		return "Resync" + with
	case "retry":
		return "Retried" + with
	case "replay":
		return "Event replayed" + with
	case "drift":
		return "The drift sweep found a difference"
	case "stranger":
		return "Removal as a stranger (in a managed group without a plan or comp)"
	case "remove_stranger":
		return "Removed as a stranger" + with
	case "adopt":
		return "Found paying in Stripe by reconcile"
	case "welcome_page":
		return "The buyer opened the welcome page"
	case "resend_invitation":
		return "The customer asked to resend the invitation"
	}
	return strings.ReplaceAll(e.Action, "_", " ") + with
}

// runCause words what started a sync that no signal explains, from its reason.
func (t *teller) runCause(r *run, plans []plan.Plan) string {
	switch r.reason {
	case "timer":
		for _, p := range plans {
			st, ok := t.stage(p.ID)
			if !ok {
				continue
			}
			switch st.Stage {
			case entitlement.StageGraceExpired:
				return "The grace period of " + planName(p) + " ended"
			case entitlement.StageCanceled:
				return "The paid period of " + planName(p) + " ended"
			case entitlement.StageExpired:
				return "The access period of " + planName(p) + " ended"
			}
		}
		return "A scheduled check"
	case "reconcile":
		return "The drift sweep found a difference"
	case "merge":
		return "Two Stripe customers with one email became one person"
	case "backfill":
		return "Backfill from Stripe's event log"
	case "resync", "retry", "replay":
		return "Resync"
	}
	return "A sync"
}

// stage returns the plan's desired state.
func (t *teller) stage(planID string) (entitlement.PlanState, bool) {
	if t.f.Desired == nil {
		return entitlement.PlanState{}, false
	}
	return t.f.Desired.Plan(planID)
}

// source returns the subscription or purchase that decides the plan's state, with its items.
func (t *teller) source(planID string) (*entitlement.Subscription, *entitlement.Purchase) {
	st, ok := t.stage(planID)
	if !ok || t.f.Billing == nil || st.Source == "" {
		return nil, nil
	}
	for ci := range t.f.Billing.Customers {
		c := &t.f.Billing.Customers[ci]
		for i := range c.Subscriptions {
			if c.Subscriptions[i].ID == st.Source {
				return &c.Subscriptions[i], nil
			}
		}
		for i := range c.Purchases {
			if c.Purchases[i].SessionID == st.Source {
				return nil, &c.Purchases[i]
			}
		}
	}
	return nil, nil
}

// priced names a plan by the price that bought it ("Pro (€29/month)") when the catalog knows the
// price, else by the plan's name.
func (t *teller) priced(p plan.Plan) string {
	sub, pu := t.source(p.ID)
	var items []entitlement.Item
	switch {
	case sub != nil:
		items = sub.Items
	case pu != nil:
		items = pu.Items
	}
	for _, it := range items {
		if it.PriceID == "" || !slices.Contains(p.Stripe.Prices, it.PriceID) && !slices.Contains(p.Stripe.Products, it.ProductID) {
			continue
		}
		if name := t.names.Price(it.PriceID); name != (catalog.Fallback{}).Price(it.PriceID) {
			return name
		}
	}
	return planName(p)
}

// trialAt reports whether the plan's subscription was in its free trial at instant at.
func (t *teller) trialAt(p plan.Plan, at time.Time) bool {
	sub, _ := t.source(p.ID)
	return sub != nil && !sub.TrialEnd.IsZero() && sub.TrialEnd.After(at)
}

// bought is how many plans the person bought (whatever their stage now).
func (t *teller) bought() int {
	n := 0
	if t.f.Desired != nil {
		for _, ps := range t.f.Desired.Plans {
			if ps.Stage != entitlement.StageNone {
				n++
			}
		}
	}
	return n
}

// heldAll reports whether Circle holds every access group of the plan.
func (t *teller) heldAll(p plan.Plan) bool {
	for _, g := range p.Circle.AccessGroups {
		if !t.held[holding{store.ProviderCircle, store.KindAccessGroup, g}] {
			return false
		}
	}
	return len(p.Circle.AccessGroups) > 0
}

// present says where each plan stands when that is more than "active" (or when no change is on
// record to tell it), and where each comp in force stands.
func (t *teller) present(told bool) {
	d := t.f.Desired
	if d == nil {
		return
	}
	for _, ps := range d.Plans {
		p, ok := t.plan(ps.PlanID)
		if !ok {
			p = plan.Plan{ID: ps.PlanID}
		}
		name := planName(p)
		held := t.heldAll(p)
		if !ps.Entitled && t.told[ps.PlanID] == ps.Stage {
			continue // the change that led here is told above
		}
		switch ps.Stage {
		case entitlement.StageNone, entitlement.StageComp:
			continue // a comp in force is told with the comps below
		case entitlement.StageActive:
			if told {
				continue
			}
			if held {
				t.say("", "%s is active; Circle holds the access.", name)
			} else {
				t.say("", "%s is active.", name)
			}
		case entitlement.StageTrialing:
			sub, _ := t.source(p.ID)
			if sub != nil && !sub.TrialEnd.IsZero() {
				t.say("", "Free trial of %s until %s.", name, t.day(sub.TrialEnd))
			} else {
				t.say("", "Free trial of %s.", name)
			}
		case entitlement.StageCanceling:
			switch {
			case ps.Until.IsZero():
				t.say("", "%s is set to cancel at the end of the period.", name)
			case held:
				t.say("", "%s is set to cancel: access kept until %s.", name, t.day(ps.Until))
			default:
				t.say("", "%s is set to cancel on %s.", name, t.day(ps.Until))
			}
		case entitlement.StagePastDue:
			t.pastDue(p, ps, held)
		case entitlement.StageGraceExpired:
			failed := ""
			if sub, _ := t.source(p.ID); sub != nil && !sub.FirstFailedPaymentAt.IsZero() {
				failed = "Card failed on " + t.day(sub.FirstFailedPaymentAt) + "; "
			}
			s := failed + "the grace period of " + name + " is over"
			if held {
				s += ", and its access is still to be removed"
			} else {
				s += ": no access"
			}
			t.say("", "%s.", upperFirst(s))
		default:
			// Not entitled: entitlement's explanation never claims access.
			t.say("", "%s: %s", name, lowerFirst(ps.Explanation))
		}
	}
	for _, c := range t.f.Comps {
		if !c.Revoked.IsZero() || !c.Until.IsZero() && !c.Until.After(t.f.Now) {
			continue
		}
		name := c.PlanID
		if p, ok := t.plan(c.PlanID); ok {
			name = planName(p)
		}
		s := fmt.Sprintf("%s is a comp by %s", name, c.By)
		if c.Reason != "" {
			s += " (" + c.Reason + ")"
		}
		if !c.Until.IsZero() {
			s += ", until " + t.day(c.Until)
		}
		t.say("", "%s.", s)
	}
}

// pastDue words a failing payment in its grace period: "Card failed on 5 Dec; access kept until
// 8 Dec (grace); Stripe retries on 7 Dec."
func (t *teller) pastDue(p plan.Plan, ps entitlement.PlanState, held bool) {
	name := planName(p)
	s := "Card failed"
	if t.bought() > 1 {
		s = "Card failed for " + name
	}
	sub, _ := t.source(p.ID)
	if sub != nil && !sub.FirstFailedPaymentAt.IsZero() {
		s += " on " + t.day(sub.FirstFailedPaymentAt)
	}
	switch {
	case ps.Until.IsZero():
	case held:
		s += "; access kept until " + t.day(ps.Until) + " (grace)"
	default:
		s += "; grace until " + t.day(ps.Until) + ", but Circle does not hold the access yet"
	}
	if next, ok := t.nextAttempt(ps.Source); ok {
		s += "; Stripe retries on " + t.day(next)
	}
	t.say("", "%s.", s)
}

// nextAttempt reads when Stripe next retries the failing invoice of a subscription, from the latest
// invoice.payment_failed event (Invoice.next_payment_attempt).
func (t *teller) nextAttempt(subID string) (time.Time, bool) {
	var latest *store.Event
	for i := range t.f.Events {
		ev := &t.f.Events[i]
		if ev.Type == "invoice.payment_failed" && len(ev.Payload) > 0 && (latest == nil || ev.ReceivedAt.After(latest.ReceivedAt)) {
			latest = ev
		}
	}
	if latest == nil {
		return time.Time{}, false
	}
	var body struct {
		Data struct {
			Object struct {
				NextPaymentAttempt *int64 `json:"next_payment_attempt"`
				Parent             *struct {
					SubscriptionDetails *struct {
						Subscription json.RawMessage `json:"subscription"`
					} `json:"subscription_details"`
				} `json:"parent"`
			} `json:"object"`
		} `json:"data"`
	}
	if err := json.Unmarshal(latest.Payload, &body); err != nil || body.Data.Object.NextPaymentAttempt == nil {
		return time.Time{}, false
	}
	o := body.Data.Object
	if o.Parent != nil && o.Parent.SubscriptionDetails != nil {
		var id string
		if json.Unmarshal(o.Parent.SubscriptionDetails.Subscription, &id) == nil && id != "" && subID != "" && id != subID {
			return time.Time{}, false // another subscription's invoice
		}
	}
	next := time.Unix(*o.NextPaymentAttempt, 0).UTC()
	if !next.After(t.f.Now) {
		return time.Time{}, false
	}
	return next, true
}

// reviews asks about each open review item no sentence has asked about yet.
func (t *teller) reviews() {
	for _, it := range t.open {
		if t.used[it.ID] {
			continue
		}
		t.used[it.ID] = true
		title, action := ReviewOf(it, t.names)
		t.lines = append(t.lines, Line{Text: fmt.Sprintf("%s: review item #%d — %s", title, it.ID, ensureStop(lowerFirst(action))), Tone: "bad", ReviewID: it.ID})
	}
}

// verdict ends the story: what, if anything, needs a person.
func (t *teller) verdict() Story {
	s := Story{NeedsYou: len(t.open) > 0}
	p := t.f.Person
	pending := p.SyncedGeneration < p.Generation || p.Queued
	switch {
	case s.NeedsYou:
		n := len(t.open)
		if n == 1 {
			t.say("bad", "This needs you.")
		} else {
			t.say("bad", "%d review items need you.", n)
		}
	case t.f.Sync.Error != "":
		t.say("warn", "membersync is retrying by itself (%s); a review item opens if it keeps failing.", t.f.Sync.Error)
	case t.f.Desired == nil && len(t.f.Journal) == 0 && len(t.f.Events) == 0:
		t.say("warn", "Nothing is recorded yet.")
	case t.f.Desired == nil:
		t.say("warn", "Not synced yet: the first sync reads Stripe, then grants what was bought.")
	case pending:
		t.say("warn", "A sync is on its way.")
	default:
		if diff := t.differences(); diff != "" {
			t.say("warn", "Circle and Kit differ from the plans (%s); a resync fixes it.", diff)
			break
		}
		s.Settled = true
		t.say("ok", "Nothing needs you.")
	}
	s.Lines = t.lines
	return s
}

// differences words what Circle and Kit hold that the desired state does not want, or lack.
func (t *teller) differences() string {
	d := t.f.Desired
	var out []string
	for _, g := range d.AccessGroups {
		if !t.held[holding{store.ProviderCircle, store.KindAccessGroup, g}] {
			out = append(out, t.names.AccessGroup(g)+" missing")
		}
	}
	for h := range t.held {
		switch {
		case h.provider == store.ProviderCircle && h.kind == store.KindAccessGroup && slices.Contains(d.ManagedAccessGroups, h.id) && !slices.Contains(d.AccessGroups, h.id):
			out = append(out, t.names.AccessGroup(h.id)+" to remove")
		case h.provider == store.ProviderKit && h.kind == store.KindTag && slices.Contains(d.ManagedTags, h.id) && !slices.Contains(d.Tags, h.id):
			out = append(out, "Kit tag "+t.names.Tag(h.id)+" to remove")
		}
	}
	for _, tag := range d.Tags {
		if !t.held[holding{store.ProviderKit, store.KindTag, tag}] {
			out = append(out, "Kit tag "+t.names.Tag(tag)+" missing")
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
