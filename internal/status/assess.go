package status

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/store"
)

// Page states, from the customer's point of view.
const (
	stateConfirming = "confirming" // Stripe has not confirmed the payment yet (welcome page)
	stateSettingUp  = "setting_up" // paid; access is being set up
	stateReady      = "ready"      // every plan in force has its community access confirmed
	stateTrouble    = "trouble"    // a provider or a person is holding the access up: we are on it
	stateAction     = "action"     // the customer must update their payment method
	stateEnded      = "ended"      // no plan gives access now
)

// Plan tones, for the badge colour.
const (
	toneOK     = "ok"
	toneWait   = "wait"
	toneAction = "action"
	toneEnded  = "ended"
)

// snapshot is what the store says about one person, read for one page view.
type snapshot struct {
	Person  store.Person
	Sync    store.SyncState
	Applied []store.Applied
	Reviews []store.ReviewItem // open ones
	// Scoped, when set, replaces the person's desired state (Sync.Desired): the entitlements of
	// one Stripe customer alone, for a link scoped to that customer.
	Scoped *entitlement.Desired
}

// load reads a person's snapshot; store.ErrNotFound when the person does not exist. A non-empty
// customerID scopes the plans to what that Stripe customer bought (computed from the billing
// snapshot of the last sync), so that a buyer who typed someone else's email sees nothing of
// theirs.
func (h *Handler) load(ctx context.Context, personID int64, customerID string) (snapshot, error) {
	var s snapshot
	var err error
	if s.Person, err = h.d.Store.Person(ctx, personID); err != nil {
		return s, err
	}
	if s.Sync, err = h.d.Store.SyncState(ctx, personID); err != nil {
		return s, err
	}
	if s.Applied, err = h.d.Store.Applied(ctx, personID); err != nil {
		return s, err
	}
	if s.Reviews, err = h.d.Store.Reviews(ctx, "open", personID, 20); err != nil {
		return s, err
	}
	if customerID != "" {
		raw, err := h.d.Store.Billing(ctx, personID)
		if err != nil {
			return s, err
		}
		s.Scoped, err = scopedDesired(raw, customerID, h.d.Config.Plans, h.now())
		if err != nil {
			return s, err
		}
		if s.Scoped == nil {
			s.Sync.Desired = "" // never fall back to everyone's plans: "setting up" until a sync records the snapshot
		}
	}
	return s, nil
}

// scopedDesired computes the entitlements of one Stripe customer from a person's billing snapshot:
// nil when no sync has recorded a snapshot yet (the page then says "setting up").
func scopedDesired(billingJSON, customerID string, plans []config.Plan, now time.Time) (*entitlement.Desired, error) {
	if billingJSON == "" {
		return nil, nil
	}
	var all entitlement.Billing
	if err := json.Unmarshal([]byte(billingJSON), &all); err != nil {
		return nil, fmt.Errorf("reading the billing snapshot: %w", err)
	}
	var mine entitlement.Billing
	for _, c := range all.Customers {
		if c.ID == customerID {
			mine.Customers = append(mine.Customers, c)
		}
	}
	d := entitlement.Compute(mine, plans, now)
	return &d, nil
}

// view is one person's state in the words the pages use.
type view struct {
	State   string
	Synced  bool // a sync has computed the plans at least once
	Pending bool // a sync is waiting or running
	Plans   []planView
	// Trouble is what holds the access up, if anything; nil when nothing does.
	Trouble *trouble
	// EmailHint is the person's email, masked (a•••@example.com): the address to sign in with.
	EmailHint string
	// Title and Message say the state in a heading and a sentence or two.
	Title, Message string
	// Note adds a line about trouble that does not hold the access up (late emails).
	Note string
}

// planView is one plan the person has or had.
type planView struct {
	Name   string
	Tone   string
	Label  string // a badge: Active, Payment failed, Ended…
	Detail string // what it means and until when
	// Access is "ready" or "setting_up" for a plan in force that grants community access; "" otherwise.
	Access string
	// Payment means the way forward is the billing portal (or the support contact).
	Payment bool
	// Support means the way forward is a person (the support contact).
	Support bool
	// Refunded means the plan ended because its payment was refunded.
	Refunded bool
}

// refunded reports whether every plan the person had was refunded: the page then says so rather
// than "no active membership" (or, worse, "setting up").
func (v view) refunded() bool {
	for _, p := range v.Plans {
		if !p.Refunded {
			return false
		}
	}
	return len(v.Plans) > 0
}

// trouble is what holds a person's access up.
type trouble struct {
	Provider string // Circle, Stripe, Kit, or "" when a person must look
	Kind     string // outage (retrying by itself), limit (Circle takes no new member now), stuck (a request that cannot succeed), review
	Since    time.Time
	Alerted  bool // an open review item: the founder was alerted
}

// assess turns a snapshot into the view. It is a pure function of its arguments.
func assess(s snapshot, plans []config.Plan, now time.Time) view {
	v := view{
		Pending:   s.Person.SyncedGeneration < s.Person.Generation,
		EmailHint: maskEmail(s.Person.Email),
	}
	var d entitlement.Desired
	switch {
	case s.Scoped != nil:
		d, v.Synced = *s.Scoped, true
	case s.Sync.Desired != "" && json.Unmarshal([]byte(s.Sync.Desired), &d) == nil:
		v.Synced = true
	}
	names := map[string]string{}
	for _, p := range plans {
		names[p.ID] = p.Name
	}
	anyEntitled, allReady, needsPayment := false, true, false
	for _, ps := range d.Plans {
		if ps.Stage == entitlement.StageNone || ps.Stage == "" {
			continue
		}
		pv := describePlan(ps, names[ps.PlanID], now)
		if ps.Entitled {
			anyEntitled = true
			if len(ps.AccessGroups) > 0 {
				pv.Access = "setting_up"
				if confirmed(s.Applied, s.Person.Email, ps.AccessGroups) {
					pv.Access = "ready"
				} else {
					allReady = false
				}
			}
		}
		needsPayment = needsPayment || pv.Payment
		v.Plans = append(v.Plans, pv)
	}
	accessReady := anyEntitled && allReady
	t, kitOnly := findTrouble(s)
	// Trouble matters when it holds the access up; Kit's only delays emails.
	switch {
	case t != nil && !kitOnly && !accessReady:
		v.Trouble = t
	case t != nil && kitOnly && accessReady:
		v.Note = "Our welcome emails may arrive a little late; your community access is not affected."
	}
	switch {
	case !v.Synced && v.Trouble == nil:
		v.State = stateSettingUp
	case needsPayment:
		v.State = stateAction
	case v.Trouble != nil && !accessReady:
		v.State = stateTrouble
	case accessReady:
		v.State = stateReady
	case anyEntitled || v.Pending:
		v.State = stateSettingUp
	case v.Trouble != nil:
		v.State = stateTrouble
	default:
		v.State = stateEnded
	}
	v.Title, v.Message = words(v)
	return v
}

// confirmed reports whether every group is recorded as granted to email in Circle.
func confirmed(applied []store.Applied, email string, groups []int64) bool {
	for _, g := range groups {
		found := false
		for _, a := range applied {
			if a.Provider == store.ProviderCircle && a.Kind == store.KindAccessGroup && a.TargetID == g && a.Email == email {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// findTrouble reads the open review items and the last sync's error. kitOnly is true when only
// Kit is in trouble (emails, never access).
func findTrouble(s snapshot) (t *trouble, kitOnly bool) {
	var all []trouble
	for _, r := range s.Reviews {
		prov := providerOf(r.ActionKey)
		if prov == "" {
			prov = providerOf(r.LastError)
		}
		kind := "review"
		switch r.Kind {
		case "sync_failing", "retries_exhausted":
			kind = "outage"
		case "action_failed", "credentials":
			kind = "stuck"
		case "circle_member_limit":
			kind = "limit" // retried by itself once Circle's member limit lifts
		}
		if kind != "review" && prov == "" {
			kind = "review"
		}
		all = append(all, trouble{Provider: prov, Kind: kind, Since: r.CreatedAt, Alerted: true})
	}
	if s.Sync.Error != "" {
		prov := providerOf(s.Sync.Error)
		kind := "outage"
		switch {
		case prov == "":
			kind = "review"
		case strings.Contains(s.Sync.Error, ": limit (HTTP "): // provider.Limit, as provider.Explain words it
			kind = "limit"
		}
		all = append(all, trouble{Provider: prov, Kind: kind, Since: s.Sync.SyncedAt})
	}
	if len(all) == 0 {
		return nil, false
	}
	// The one that matters most: access (Circle, Stripe, a person) before email (Kit); a request
	// that cannot succeed before an outage; the earliest noticed.
	rank := func(x trouble) int {
		r := 0
		if x.Provider == "Kit" {
			r += 10
		}
		switch x.Kind {
		case "outage":
			r += 2
		case "review", "limit":
			r++ // a limit explains the sync error it causes (an "outage" of the same provider)
		}
		return r
	}
	best := all[0]
	for _, x := range all[1:] {
		if rank(x) < rank(best) || rank(x) == rank(best) && x.Since.Before(best.Since) {
			best = x
		}
	}
	// Noticed when the first sign of it came; alerted when a review item about it is open.
	for _, x := range all {
		if x.Provider == best.Provider {
			if !x.Since.IsZero() && x.Since.Before(best.Since) {
				best.Since = x.Since
			}
			best.Alerted = best.Alerted || x.Alerted
		}
	}
	return &best, best.Provider == "Kit"
}

// providerOf reads the provider an action key ("circle:add_access_group:12", "stripe") or a stored
// error ("circle create_member: unavailable (HTTP 503)") is about.
func providerOf(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	for _, p := range []struct{ prefix, name string }{{"circle", "Circle"}, {"stripe", "Stripe"}, {"kit", "Kit"}} {
		if s == p.prefix || strings.HasPrefix(s, p.prefix+":") || strings.HasPrefix(s, p.prefix+" ") {
			return p.name
		}
	}
	return ""
}

// describePlan says one plan's state in plain words.
func describePlan(ps entitlement.PlanState, name string, now time.Time) planView {
	if name == "" {
		name = "Your membership"
	}
	pv := planView{Name: name}
	until := ""
	if !ps.Until.IsZero() {
		until = ps.Until.UTC().Format("2 January 2006")
	}
	purchase := strings.HasPrefix(ps.Source, "cs_")
	switch ps.Stage {
	case entitlement.StageActive:
		pv.Tone, pv.Label = toneOK, "Active"
		switch {
		case until != "":
			pv.Detail = "Your access runs until " + until + "."
		case purchase:
			pv.Detail = "Lifetime access."
		default:
			pv.Detail = "Your membership is active and renews automatically."
		}
	case entitlement.StageTrialing:
		pv.Tone, pv.Label = toneOK, "Free trial"
		pv.Detail = "Your free trial is active."
		if until != "" {
			pv.Detail = "Your free trial runs until " + until + "."
		}
	case entitlement.StageCanceling:
		pv.Tone, pv.Label = toneWait, "Ending"
		pv.Detail = "Your membership is set to end. You keep full access until the end of the current billing period."
		if until != "" {
			pv.Detail = "Your membership is set to end. You keep full access until " + until + "."
		}
	case entitlement.StagePastDue:
		pv.Tone, pv.Label, pv.Payment = toneAction, "Payment failed", true
		pv.Detail = "Your last payment did not go through. You keep access for a few more days; update your payment method to keep it."
		if ps.Entitled && until != "" {
			pv.Detail = "Your last payment did not go through. You keep access until " + until + "; update your payment method to keep it."
		}
	case entitlement.StageGraceExpired, entitlement.StageUnpaid:
		pv.Tone, pv.Label, pv.Payment = toneAction, "Payment failed", true
		pv.Detail = "Your payment did not go through, so community access is paused. Update your payment method and it comes back right away."
	case entitlement.StagePaused:
		pv.Tone, pv.Label, pv.Payment = toneAction, "Paused", true
		pv.Detail = "Your trial ended without a payment method. Add one to continue."
	case entitlement.StageIncomplete:
		pv.Tone, pv.Label, pv.Support = toneAction, "Payment not completed", true
		pv.Detail = "The first payment was not completed, so this membership has not started."
	case entitlement.StageCanceled:
		pv.Tone, pv.Label = toneEnded, "Ended"
		pv.Detail = "This membership has ended, so it no longer includes community access."
	case entitlement.StageRefunded:
		pv.Tone, pv.Label, pv.Refunded = toneEnded, "Refunded", true
		pv.Detail = "This payment was refunded, so it no longer includes community access."
	case entitlement.StageDisputed:
		pv.Tone, pv.Label, pv.Support = toneAction, "Payment disputed", true
		pv.Detail = "This payment is disputed with your bank, so access is paused until the dispute is settled."
	case entitlement.StageExpired:
		pv.Tone, pv.Label = toneEnded, "Expired"
		pv.Detail = "Access from this purchase has ended."
		if until != "" && !ps.Until.After(now) {
			pv.Detail = "Access from this purchase ended on " + until + "."
		}
	default:
		pv.Tone, pv.Label = toneWait, "Being checked"
		pv.Detail = "We are checking this plan's state."
	}
	return pv
}

// words says the page's state in a heading and a sentence or two.
func words(v view) (title, message string) {
	switch v.State {
	case stateReady:
		msg := "Your community access is ready."
		if v.EmailHint != "" {
			msg += " Sign in to Circle with " + v.EmailHint + "; if it is your first visit, Circle has emailed you an invitation."
		}
		return "You're in", msg
	case stateAction:
		return "Update your payment method", "A payment did not go through. Update your payment method to keep your membership; nothing else is needed."
	case stateTrouble:
		return "We're on it", troubleWords(v.Trouble)
	case stateEnded:
		if len(v.Plans) == 0 {
			return "No membership yet", "We have no purchase on record for this link. If you just paid, this page updates by itself in a minute."
		}
		if v.refunded() {
			return "Your purchase was refunded", "The payment was refunded, so it no longer includes community access. If you did not ask for a refund, contact us."
		}
		return "No active membership", "You have no community access right now. Here is what you had."
	}
	return "Setting up your community access", "Your payment is confirmed. We're adding you to the community now; this usually takes less than a minute."
}

func troubleWords(t *trouble) string {
	if t == nil {
		return ""
	}
	switch {
	case t.Kind == "outage" && t.Provider == "Circle":
		return "Circle, where the community lives, is not answering right now. Your access is saved and will appear automatically; you don't need to do anything."
	case t.Kind == "outage" && t.Provider == "Stripe":
		return "Stripe, our payment provider, is not answering right now. Your payment is safe and your access will appear automatically once it answers."
	case t.Kind == "limit" && t.Provider == "Circle":
		return "Circle, where the community lives, is not accepting new members right now. Your access is saved and will appear automatically as soon as Circle accepts it; you don't need to do anything."
	case t.Kind == "stuck" && t.Provider != "":
		return fmt.Sprintf("We could not finish setting up your access in %s. Your access is saved, and we will finish it by hand.", t.Provider)
	}
	return "Your payment is confirmed, but your access needs a quick check by a person. You don't need to do anything."
}

// maskEmail keeps the first character of the local part and the domain: a•••@example.com.
func maskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" {
		return ""
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "•••@" + domain
}
