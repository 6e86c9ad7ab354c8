package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// modelPerson is the test's own, independent model of one person's billing: what they should
// have, derived from the operations applied, not from membersync's code.
type modelPerson struct {
	emails    []string // every email the person had, the last one current
	customers []string
	twin      bool // a second Stripe customer with the same email exists (no email changes then)

	sub        string // the pro subscription, if any
	subStatus  string // active, past_due, canceling, canceled
	firstFail  time.Time
	everPro    bool
	course     string // the course charge, if bought
	refunded   bool
	dispute    string
	disputeSt  string // open, won, lost
	courseCust int    // index of the customer that bought the course
}

func (p *modelPerson) email() string { return p.emails[len(p.emails)-1] }

// proStage is the model's lifecycle stage of the pro plan at now.
func (p *modelPerson) proStage(now time.Time) string {
	switch {
	case p.sub == "":
		return "none"
	case p.subStatus == "past_due" && now.Before(p.firstFail.Add(72*time.Hour)):
		return "past_due"
	case p.subStatus == "past_due":
		return "grace_expired"
	}
	return p.subStatus
}

func (p *modelPerson) courseEntitled() bool {
	return p.course != "" && !p.refunded && (p.dispute == "" || p.disputeSt == "won")
}

// TestModelConvergence is the model-based property test of the sync engine: random customer
// histories (purchases, failures and recoveries, cancellations, refunds, disputes, email changes,
// a second customer with the same email), delivered at random (batched, duplicated, shuffled,
// concurrent, some dropped and healed by a resync), with random Circle and Kit faults. After
// quiescence, Circle and Kit must hold exactly what the model says, for the current and every
// former email, with no duplicate member, tagging or sequence entry; and every stored actionable
// event must have ended converged, or be covered by an open review item of its person. It runs on
// SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
//
// MEMBERSYNC_MODEL_CHECKS sets how many histories run (default 20; rapid's -rapid.seed replays one).
func TestModelConvergence(t *testing.T) {
	if testing.Short() {
		t.Skip("runs many end-to-end histories")
	}
	checks := 20
	if v, err := strconv.Atoi(os.Getenv("MEMBERSYNC_MODEL_CHECKS")); err == nil && v > 0 {
		checks = v
	}
	if f := flag.Lookup("rapid.checks"); f != nil && f.Value.String() == f.DefValue {
		flag.Set("rapid.checks", strconv.Itoa(checks))
		defer flag.Set("rapid.checks", f.DefValue)
	}
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			w := newWorld(t, worldOptions{dialect: d})
			iter := 0
			start := time.Now()
			rapid.Check(t, func(rt *rapid.T) {
				iter++
				runModelHistory(rt, w, iter)
			})
			t.Logf("%d histories (shrinking included) in %s", iter, time.Since(start).Round(time.Millisecond))
		})
	}
}

func runModelHistory(rt *rapid.T, w *world, iter int) {
	n := rapid.IntRange(1, 3).Draw(rt, "people")
	people := make([]*modelPerson, n)
	for i := range people {
		e := fmt.Sprintf("m%d-%d@model.test", iter, i)
		people[i] = &modelPerson{emails: []string{e}, customers: []string{w.stripe.CreateCustomer(e, fmt.Sprintf("Model %d", i))}}
	}
	pending := 0 // events recorded but not yet delivered
	flush := func(label string) {
		if rapid.Float64Range(0, 1).Draw(rt, label+"-drop") < 0.15 {
			w.skip() // lost webhooks: only a resync heals them
			return
		}
		w.deliver(stripetest.DeliveryOptions{
			Duplicate:   rapid.Bool().Draw(rt, label+"-dup"),
			Shuffle:     true,
			Seed:        uint64(rapid.IntRange(0, 1<<30).Draw(rt, label+"-seed")),
			Concurrency: rapid.IntRange(1, 4).Draw(rt, label+"-conc"),
		})
	}
	// Most people start paying; the random steps then change their story.
	for i, p := range people {
		if rapid.Float64Range(0, 1).Draw(rt, fmt.Sprintf("p%d-subscribes", i)) < 0.7 {
			p.sub, p.subStatus, p.everPro = w.stripe.Subscribe(p.customers[0], w.proPrice, 0), "active", true
		}
		if rapid.Float64Range(0, 1).Draw(rt, fmt.Sprintf("p%d-buys", i)) < 0.4 {
			_, p.course = w.stripe.Purchase(p.customers[0], w.coursePrice)
		}
	}
	if rapid.Bool().Draw(rt, "deliver-start") {
		flush("start")
	}
	steps := rapid.IntRange(1, 10).Draw(rt, "steps")
	for s := range steps {
		p := people[rapid.IntRange(0, n-1).Draw(rt, "who")]
		switch op := rapid.SampledFrom([]string{"subscribe", "fail", "recover", "cancel_end", "cancel_now", "course", "course_twin", "refund", "partial_refund", "dispute", "close_dispute", "email", "email", "advance", "circle_fault", "kit_fault"}).Draw(rt, "op"); op {
		case "subscribe":
			if p.sub == "" {
				p.sub, p.subStatus, p.everPro = w.stripe.Subscribe(p.customers[0], w.proPrice, 0), "active", true
			}
		case "fail":
			if p.subStatus == "active" || p.subStatus == "past_due" {
				w.stripe.FailPayment(p.sub)
				if p.subStatus == "active" {
					p.subStatus, p.firstFail = "past_due", w.stripe.Now()
				}
			}
		case "recover":
			if p.subStatus == "past_due" {
				w.stripe.RecoverPayment(p.sub)
				p.subStatus = "active"
			}
		case "cancel_end":
			if p.subStatus == "active" {
				w.stripe.CancelAtPeriodEnd(p.sub)
				p.subStatus = "canceling"
			}
		case "cancel_now":
			if p.sub != "" && p.subStatus != "canceled" {
				w.stripe.CancelNow(p.sub)
				p.subStatus = "canceled"
			}
		case "course", "course_twin":
			if p.course != "" {
				break
			}
			idx := 0
			if op == "course_twin" && len(p.emails) == 1 {
				twinEmail := strings.ToUpper(p.email()[:1]) + p.email()[1:] // same person, other spelling
				p.customers = append(p.customers, w.stripe.CreateCustomer(twinEmail, "Twin"))
				p.twin, idx = true, len(p.customers)-1
			}
			_, p.course = w.stripe.Purchase(p.customers[idx], w.coursePrice)
			p.courseCust = idx
		case "refund":
			if p.course != "" && !p.refunded {
				w.stripe.Refund(p.course, 19900-partialRefunded(p))
				p.refunded = true
			}
		case "partial_refund":
			if p.course != "" && !p.refunded && !slices.Contains(p.emails, "partial") {
				w.stripe.Refund(p.course, 5000)
				p.emails = append([]string{"partial"}, p.emails...) // marker, never an address: see partialRefunded
			}
		case "dispute":
			if p.course != "" && p.dispute == "" {
				p.dispute, p.disputeSt = w.stripe.Dispute(p.course), "open"
			}
		case "close_dispute":
			if p.disputeSt == "open" {
				won := rapid.Bool().Draw(rt, "won")
				w.stripe.CloseDispute(p.dispute, won)
				p.disputeSt = map[bool]string{true: "won", false: "lost"}[won]
			}
		case "email":
			if !p.twin && len(p.customers) == 1 {
				e := fmt.Sprintf("m%d-%d-new%d@model.test", iter, slices.Index(people, p), s)
				w.stripe.ChangeEmail(p.customers[0], e)
				p.emails = append(p.emails, e)
			}
		case "advance":
			w.stripe.Advance(time.Duration(rapid.IntRange(1, 2).Draw(rt, "days")) * 24 * time.Hour)
		case "circle_fault":
			w.circle.Faults.FailNext(rapid.IntRange(1, 4).Draw(rt, "n"), providertest.Fault{Status: rapid.SampledFrom([]int{500, 503, 429}).Draw(rt, "status")})
		case "kit_fault":
			w.kit.Faults.FailNext(rapid.IntRange(1, 4).Draw(rt, "n"), providertest.Fault{Status: rapid.SampledFrom([]int{500, 502, 429}).Draw(rt, "status")})
		}
		pending++
		if rapid.Bool().Draw(rt, "deliver-now") {
			flush(fmt.Sprintf("step%d", s))
			pending = 0
		}
	}
	if pending > 0 {
		flush("final")
	}
	w.settle()
	w.circle.Faults.Heal()
	w.kit.Faults.Heal()
	var customers []string
	for _, p := range people {
		customers = append(customers, p.customers...)
	}
	w.resyncCustomers(customers)
	w.settle()
	checkModel(rt, w, people)
	checkEventsConverged(rt, w, customers)
}

// partialRefunded returns the amount already refunded by a partial refund.
func partialRefunded(p *modelPerson) int64 {
	if slices.Contains(p.emails, "partial") {
		return 5000
	}
	return 0
}

func checkModel(rt *rapid.T, w *world, people []*modelPerson) {
	now := w.stripe.Now()
	for i, p := range people {
		var emails []string
		for _, e := range p.emails {
			if e != "partial" {
				emails = append(emails, e)
			}
		}
		cur := emails[len(emails)-1]
		stage := p.proStage(now)
		var wantGroups, wantTags []int64
		switch stage {
		case "active", "canceling", "past_due":
			wantGroups = append(wantGroups, w.proGroup)
		}
		switch stage {
		case "active":
			wantTags = append(wantTags, w.tagActive)
		case "past_due":
			wantTags = append(wantTags, w.tagPastDue)
		case "canceling", "canceled", "grace_expired":
			wantTags = append(wantTags, w.tagCanceled)
		}
		if p.courseEntitled() {
			wantGroups = append(wantGroups, w.courseGroup)
			wantTags = append(wantTags, w.tagCourse)
		}
		slices.Sort(wantGroups)
		slices.Sort(wantTags)
		if got := w.access(cur); !slices.Equal(got, wantGroups) {
			rt.Fatalf("person %d (%s, pro %s, course %v): Circle groups %v, want %v", i, cur, stage, p.courseEntitled(), got, wantGroups)
		}
		gotTags := slices.Sorted(slices.Values(w.kit.TagsOf(cur)))
		if !slices.Equal(gotTags, wantTags) {
			rt.Fatalf("person %d (%s, pro %s, course %v): Kit tags %v, want %v\n%s", i, cur, stage, p.courseEntitled(), gotTags, wantTags, w.trace(cur))
		}
		for _, old := range emails[:len(emails)-1] {
			if g, tg := w.access(old), w.kit.TagsOf(old); len(g)+len(tg) > 0 {
				rt.Fatalf("person %d's former email %s still holds groups %v and tags %v", i, old, g, tg)
			}
		}
		var seqs []int64
		for _, e := range emails {
			seqs = append(seqs, w.kit.SequencesOf(e)...)
		}
		if (stage == "active" || stage == "canceling" || stage == "past_due") && !slices.Contains(seqs, w.seqOnboarding) {
			rt.Fatalf("person %d is entitled to pro but was never enrolled in onboarding: %v", i, seqs)
		}
		if !p.everPro && slices.Contains(seqs, w.seqOnboarding) {
			rt.Fatalf("person %d never bought pro but is in onboarding", i)
		}
		if wantRet := stage == "canceling" || stage == "canceled"; wantRet != slices.Contains(seqs, w.seqRetention) {
			rt.Fatalf("person %d (pro %s): retention enrolled %v, want %v", i, stage, !wantRet, wantRet)
		}
	}
	if d := w.circle.DuplicateMembers(); len(d) > 0 {
		rt.Fatalf("duplicate Circle members: %v", d)
	}
	if d := w.kit.DuplicateEntries(); len(d) > 0 {
		rt.Fatalf("duplicate Kit entries: %v", d)
	}
}

// checkEventsConverged fails unless every stored actionable event of the customers ended converged
// (processed, with its convergence time) or is covered by an open review item of its person: after
// quiescence no event may stay "queued" with no sync to come.
func checkEventsConverged(rt *rapid.T, w *world, customers []string) {
	ctx := context.Background()
	for _, c := range customers {
		evs, err := storedEvents(ctx, w.store, c)
		if err != nil {
			rt.Fatalf("reading the events of %s: %v", c, err)
		}
		for _, ev := range evs {
			if ev.state == store.EventProcessed && ev.convergedAt > 0 {
				continue
			}
			open, err := w.store.Reviews(ctx, "open", ev.personID, 0)
			if err != nil {
				rt.Fatalf("reading the review items of person %d: %v", ev.personID, err)
			}
			if len(open) == 0 {
				rt.Fatalf("event %s (%s) of person %d is %q (converged_at %d) after quiescence, with no open review item", ev.id, ev.typ, ev.personID, ev.state, ev.convergedAt)
			}
		}
	}
}

// storedEvent is an actionable event row as the inbox and the syncs left it.
type storedEvent struct {
	id, typ, state string
	personID       int64
	convergedAt    int64
}

// storedEvents reads the stored actionable events of a Stripe customer straight from the database.
func storedEvents(ctx context.Context, st *store.Store, customerID string) ([]storedEvent, error) {
	const q = "SELECT id, type, person_id, state, converged_at FROM stripe_events WHERE customer_id = %s AND state <> 'ignored' ORDER BY id"
	var r interface {
		Next() bool
		Scan(...any) error
		Err() error
	}
	if st.Dialect() == store.Postgres {
		rows, err := st.Pool().Query(ctx, fmt.Sprintf(q, "$1"), customerID)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		r = rows
	} else {
		rows, err := st.SQLDB().QueryContext(ctx, fmt.Sprintf(q, "?"), customerID)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		r = rows
	}
	var out []storedEvent
	for r.Next() {
		var ev storedEvent
		if err := r.Scan(&ev.id, &ev.typ, &ev.personID, &ev.state, &ev.convergedAt); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, r.Err()
}

// trace returns membersync's journey of the person with the email, for failure messages.
func (w *world) trace(email string) string {
	ctx := context.Background()
	pid, err := findPerson(ctx, w.store, email)
	if err != nil {
		return err.Error()
	}
	j, err := journey.Load(ctx, w.store, pid)
	if err != nil {
		return err.Error()
	}
	var b bytes.Buffer
	j.WriteText(&b)
	return b.String()
}
