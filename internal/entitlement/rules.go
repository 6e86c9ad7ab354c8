package entitlement

import (
	"fmt"
	"time"

	"github.com/membersync/membersync/internal/plan"
)

// eval returns the source's state for plan p at now.
func (s source) eval(p plan.Plan, now time.Time) verdict {
	if s.sub != nil {
		return verdict{state: subscriptionState(s.sub, s.items, p, now), since: s.sub.Created}
	}
	if s.comp != nil {
		return verdict{state: compState(s.comp, now), since: s.comp.Granted}
	}
	return verdict{state: purchaseState(s.purchase, p, now), since: s.purchase.PaidAt}
}

// boundaries returns every instant at which the source's state for plan p may change by the clock alone.
// It may include instants at which nothing changes.
func (s source) boundaries(p plan.Plan) []time.Time {
	var ts []time.Time
	if s.comp != nil {
		if !s.comp.Until.IsZero() {
			ts = append(ts, s.comp.Until)
		}
		return ts
	}
	if s.purchase != nil {
		if d := p.AccessDuration.D(); d > 0 {
			ts = append(ts, s.purchase.PaidAt.Add(d))
		}
		return ts
	}
	sub := s.sub
	switch sub.Status {
	case "trialing", "active":
		if end, _ := scheduledEnd(sub, s.items); !end.IsZero() {
			ts = append(ts, end)
		}
	case "past_due":
		if start, _, ok := graceStart(sub); ok {
			ts = append(ts, start.Add(grace(p)))
		}
	}
	return ts
}

// subscriptionState applies the subscription rules. A full refund or an open or lost dispute of the
// latest invoice's payment revokes whatever the status says; otherwise the status decides, Stripe's word
// being final: a trialing subscription past its TrialEnd stays trialing until Stripe says otherwise. A
// trialing or active subscription set to cancel (cancel_at_period_end or CancelAt) is canceling until the
// scheduled end and canceled from that instant on, before Stripe processes it. A past_due subscription's
// scheduled cancellation is left to Stripe: its grace period alone bounds its access.
func subscriptionState(s *Subscription, items []Item, p plan.Plan, now time.Time) PlanState {
	st := PlanState{Source: s.ID}
	charges := judgeCharges(s.LatestCharges, false)
	if charges.stage != "" {
		st.Stage, st.Reason, st.Explanation = charges.stage, charges.reason, charges.explanation
		return st
	}
	switch s.Status {
	case "trialing", "active":
		st.Entitled = true
		if s.Status == "trialing" {
			st.Stage, st.Reason = StageTrialing, "subscription_trialing"
			st.Explanation = "Free trial in progress."
			if !s.TrialEnd.IsZero() {
				st.Explanation = fmt.Sprintf("Free trial; Stripe reports it ends on %s.", date(s.TrialEnd))
			}
		} else {
			st.Stage, st.Reason = StageActive, "subscription_active"
			st.Explanation = "The subscription is active."
			if end := periodEnd(items); !end.IsZero() {
				st.Explanation = fmt.Sprintf("The subscription is active; the current period ends on %s.", date(end))
			}
		}
		end, scheduled := scheduledEnd(s, items)
		switch {
		case !scheduled:
			if charges.won && st.Stage == StageActive {
				st.Reason = "dispute_won"
				st.Explanation += " A chargeback on the payment was won, so access is restored."
			}
		case end.IsZero():
			st.Stage, st.Reason = StageCanceling, "cancel_scheduled"
			st.Explanation = "The subscription is set to cancel at the end of the current period; access continues until Stripe ends it."
		case now.Before(end):
			st.Stage, st.Reason, st.Until = StageCanceling, "cancel_scheduled", canon(end)
			st.Explanation = fmt.Sprintf("The subscription is set to cancel; access continues until %s.", date(end))
		default:
			st.Entitled = false
			st.Stage, st.Reason = StageCanceled, "cancellation_effective"
			st.Explanation = fmt.Sprintf("The subscription was set to cancel; access ended on %s.", date(end))
		}
	case "past_due":
		start, fallback, ok := graceStart(s)
		if !ok {
			st.Stage, st.Reason = StageGraceExpired, "grace_start_unknown"
			st.Explanation = "Payment is overdue and when it started failing is unknown, so no grace period applies."
			return st
		}
		end := start.Add(grace(p))
		failed := fmt.Sprintf("Payment failed on %s", date(start))
		if fallback {
			failed = fmt.Sprintf("Payment has been overdue since about %s", date(start))
		}
		if now.Before(end) {
			st.Entitled, st.Stage, st.Reason, st.Until = true, StagePastDue, "in_grace_period", canon(end)
			st.Explanation = fmt.Sprintf("%s; access continues until %s while Stripe retries.", failed, date(end))
		} else {
			st.Stage, st.Reason = StageGraceExpired, "grace_expired"
			st.Explanation = fmt.Sprintf("%s; the grace period ended on %s.", failed, date(end))
		}
	case "unpaid":
		st.Stage, st.Reason = StageUnpaid, "subscription_unpaid"
		st.Explanation = "Payments failed and Stripe stopped retrying; the subscription is unpaid."
	case "canceled":
		st.Stage, st.Reason = StageCanceled, "subscription_canceled"
		st.Explanation = "The subscription was canceled."
		if !s.EndedAt.IsZero() {
			st.Explanation = fmt.Sprintf("The subscription ended on %s.", date(s.EndedAt))
		}
	case "incomplete":
		st.Stage, st.Reason = StageIncomplete, "subscription_incomplete"
		st.Explanation = "The first payment of the subscription has not completed."
	case "incomplete_expired":
		st.Stage, st.Reason = StageIncomplete, "subscription_incomplete_expired"
		st.Explanation = "The first payment of the subscription never completed, so the subscription expired."
	case "paused":
		st.Stage, st.Reason = StagePaused, "subscription_paused"
		st.Explanation = "The subscription is paused: its trial ended without a payment method."
	default:
		st.Stage, st.Reason = StageIncomplete, "unknown_status"
		st.Explanation = "Stripe reports a subscription status membersync does not know, so access is withheld until someone checks."
	}
	return st
}

// scheduledEnd reports whether the subscription is set to cancel and when: the earlier of CancelAt and,
// with cancel_at_period_end, the latest period end of the plan's items. The end is zero when a
// cancellation is scheduled but its instant is unknown (access then lasts until Stripe cancels).
func scheduledEnd(s *Subscription, items []Item) (end time.Time, scheduled bool) {
	if s.CancelAtPeriodEnd {
		end = periodEnd(items)
	}
	if !s.CancelAt.IsZero() && (end.IsZero() || s.CancelAt.Before(end)) {
		end = s.CancelAt
	}
	return end, s.CancelAtPeriodEnd || !s.CancelAt.IsZero()
}

// periodEnd returns the latest CurrentPeriodEnd of items, or zero.
func periodEnd(items []Item) time.Time {
	var end time.Time
	for _, it := range items {
		if it.CurrentPeriodEnd.After(end) {
			end = it.CurrentPeriodEnd
		}
	}
	return end
}

// graceStart returns when a past_due subscription's dunning run began: FirstFailedPaymentAt when known.
// Otherwise (a send_invoice subscription has no failed charge; a reader may miss it) the failure is dated
// conservatively and without regard to the clock, so that the clock alone never grants access again: at
// the latest start of the subscription's item periods (the failing invoice opened the current period),
// else at the subscription's creation; fallback is then true. When neither is known, ok is false and no
// grace applies.
func graceStart(s *Subscription) (start time.Time, fallback, ok bool) {
	if !s.FirstFailedPaymentAt.IsZero() {
		return s.FirstFailedPaymentAt, false, true
	}
	for _, it := range s.Items {
		start = later(start, it.CurrentPeriodStart)
	}
	if start.IsZero() {
		start = s.Created
	}
	return start, true, !start.IsZero()
}

// grace returns plan p's grace period, DefaultGracePeriod when unset.
func grace(p plan.Plan) time.Duration {
	if d := p.GracePeriod.D(); d > 0 {
		return d
	}
	return DefaultGracePeriod
}

// purchaseState applies the one-time purchase rules: access from PaidAt for the plan's access duration
// (lifetime when zero), unless refunded (fully, or at all when the plan says so) or disputed while the
// dispute is open or lost. A purchase is entitled even when PaidAt is after now: Stripe says it is paid.
func purchaseState(pu *Purchase, p plan.Plan, now time.Time) PlanState {
	st := PlanState{Source: pu.SessionID}
	charges := judgeCharges(pu.Charges, p.RevokeOnPartialRefund)
	if charges.stage != "" {
		st.Stage, st.Reason, st.Explanation = charges.stage, charges.reason, charges.explanation
		return st
	}
	d := p.AccessDuration.D()
	switch end := pu.PaidAt.Add(d); {
	case d <= 0:
		st.Entitled, st.Stage, st.Reason = true, StageActive, "lifetime_purchase"
		st.Explanation = fmt.Sprintf("One-time purchase on %s with lifetime access.", date(pu.PaidAt))
	case now.Before(end):
		st.Entitled, st.Stage, st.Reason, st.Until = true, StageActive, "purchase_active", canon(end)
		st.Explanation = fmt.Sprintf("One-time purchase on %s; access continues until %s.", date(pu.PaidAt), date(end))
	default:
		st.Stage, st.Reason = StageExpired, "access_expired"
		st.Explanation = fmt.Sprintf("One-time purchase on %s; access ended on %s.", date(pu.PaidAt), date(end))
	}
	if charges.won && st.Entitled {
		st.Reason = "dispute_won"
		st.Explanation += " A chargeback on the payment was won, so access is restored."
	}
	return st
}

// compState applies the comp rules: a comp grants its plan at stage comp until its Until (for ever
// when zero) unless it is revoked. A comp that does not grant is not entitled; evaluate then ignores
// it.
func compState(c *Comp, now time.Time) PlanState {
	st := PlanState{Source: CompSource(c.ID)}
	switch {
	case !c.Revoked.IsZero():
		st.Stage, st.Reason = StageNone, "comp_revoked"
		st.Explanation = fmt.Sprintf("A comp of this plan was revoked on %s.", date(c.Revoked))
	case c.Until.IsZero():
		st.Entitled, st.Stage, st.Reason = true, StageComp, "comp"
		st.Explanation = fmt.Sprintf("Granted by an operator without payment on %s, with no end date.", date(c.Granted))
	case now.Before(c.Until):
		st.Entitled, st.Stage, st.Reason, st.Until = true, StageComp, "comp", canon(c.Until)
		st.Explanation = fmt.Sprintf("Granted by an operator without payment on %s; access continues until %s.", date(c.Granted), date(c.Until))
	default:
		st.Stage, st.Reason = StageNone, "comp_ended"
		st.Explanation = fmt.Sprintf("A comp of this plan ended on %s.", date(c.Until))
	}
	return st
}

// chargeVerdict is what a source's charges say about its access.
type chargeVerdict struct {
	stage       Stage // StageDisputed, StageRefunded, or empty when the charges do not revoke
	reason      string
	explanation string
	won         bool // a dispute was won (and none is open or lost)
}

type disputeKind int

const (
	disputeClosed  disputeKind = iota // won, warning_closed, prevented: as if no dispute
	disputeWon                        // won: as if no dispute, noted in the explanation
	disputeOpen                       // awaiting a response or under review
	disputeLost                       // lost
	disputeUnknown                    // a status this package does not know: treated as open
)

func disputeStatus(status string) disputeKind {
	switch status {
	case "warning_needs_response", "warning_under_review", "needs_response", "under_review":
		return disputeOpen
	case "lost":
		return disputeLost
	case "won":
		return disputeWon
	case "warning_closed", "prevented":
		return disputeClosed
	}
	return disputeUnknown
}

// judgeCharges decides whether charges revoke access. A lost dispute beats an open one, which beats a
// full refund (AmountRefunded >= Amount > 0 on any charge), which beats a partial refund (any refunded
// amount, only when revokeOnPartial).
func judgeCharges(charges []Charge, revokeOnPartial bool) chargeVerdict {
	var lost, open, won, full, partial bool
	var lostAt, openAt time.Time
	for _, c := range charges {
		switch {
		case c.Amount > 0 && c.AmountRefunded >= c.Amount:
			full = true
		case c.AmountRefunded > 0:
			partial = true
		}
		for _, d := range c.Disputes {
			switch disputeStatus(d.Status) {
			case disputeLost:
				lost, lostAt = true, later(lostAt, d.Created)
			case disputeOpen, disputeUnknown:
				open, openAt = true, later(openAt, d.Created)
			case disputeWon:
				won = true
			}
		}
	}
	switch {
	case lost:
		return chargeVerdict{stage: StageDisputed, reason: "dispute_lost",
			explanation: fmt.Sprintf("A chargeback opened on %s was lost, so access is revoked.", date(lostAt))}
	case open:
		return chargeVerdict{stage: StageDisputed, reason: "dispute_open",
			explanation: fmt.Sprintf("A chargeback opened on %s is open; access is suspended until it is resolved.", date(openAt))}
	case full:
		return chargeVerdict{stage: StageRefunded, reason: "full_refund",
			explanation: "The payment was refunded in full, so access is revoked."}
	case partial && revokeOnPartial:
		return chargeVerdict{stage: StageRefunded, reason: "partial_refund",
			explanation: "The payment was partly refunded, and this plan ends access on any refund."}
	}
	return chargeVerdict{won: won}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// date formats t for people, such as "6 Nov 2026 15:04 UTC".
func date(t time.Time) string {
	if t.IsZero() {
		return "an unknown date"
	}
	return t.UTC().Format("2 Jan 2006 15:04") + " UTC"
}
