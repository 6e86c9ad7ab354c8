package entitlement

import (
	"slices"
	"time"
)

// This file holds what the operator's lists derive from a computed Desired and the billing snapshot
// it came from: one stage for a person across their plans, and when a plan's deciding source began
// and ended. Like the rest of the package it does no I/O.

// stageOrder lists every stage but StageNone in the order PersonStage prefers them: the stages
// that grant access first (the fullest access first), then the lapsed ones, those a payment could
// still mend first.
var stageOrder = []Stage{
	StageActive, StageTrialing, StageComp, StageCanceling, StagePastDue,
	StageGraceExpired, StageUnpaid, StageDisputed, StageRefunded, StageCanceled, StageExpired, StagePaused, StageIncomplete,
}

// Stages returns every lifecycle stage a plan can be in once bought (StageNone left out), in the
// order PersonStage prefers them.
func Stages() []Stage { return slices.Clone(stageOrder) }

// PersonStage is the one stage that describes a person across their plans. A plan that grants
// access beats every plan that does not, whatever their stages; among plans that grant access the
// order is active, trialing, comp, canceling, past_due; among the others grace_expired, unpaid,
// disputed, refunded, canceled, expired, paused, incomplete. A stage this package does not know
// ranks after the known ones on its side. StageNone means no plan was ever bought.
func PersonStage(plans []PlanState) Stage {
	best, bestRank := StageNone, 0
	for _, p := range plans {
		if p.Stage == StageNone || p.Stage == "" {
			continue
		}
		r := stageRank(p)
		if best == StageNone || r < bestRank {
			best, bestRank = p.Stage, r
		}
	}
	return best
}

// stageRank is p's place in PersonStage's order (lower is preferred).
func stageRank(p PlanState) int {
	i := slices.Index(stageOrder, p.Stage)
	if i < 0 {
		i = len(stageOrder) // unknown: after the known stages
	}
	if !p.Entitled {
		i += 2 * len(stageOrder) // every stage with access first
	}
	return i
}

// SourceStarted returns when the subscription, one-time purchase or comp named source began: the
// subscription's creation (its trial included), the purchase's payment or the comp's grant; zero
// when b does not hold source (a snapshot older than the state).
func SourceStarted(b Billing, source string) time.Time {
	if c := findComp(b, source); c != nil {
		return c.Granted
	}
	sub, pu := find(b, source)
	switch {
	case sub != nil:
		return sub.Created
	case pu != nil:
		return pu.PaidAt
	}
	return time.Time{}
}

// SourceEnded returns when the subscription named source ended by Stripe's record: its EndedAt,
// else the cancellation it was scheduled for (CancelAt) when that has passed by now. Zero for a
// purchase, a subscription that did not end, or a source b does not hold: a refund, a dispute or
// an expired grace period leaves no such instant in the snapshot. A comp ended at its revocation,
// else at its Until once that has passed.
func SourceEnded(b Billing, source string, now time.Time) time.Time {
	if c := findComp(b, source); c != nil {
		switch {
		case !c.Revoked.IsZero():
			return c.Revoked
		case !c.Until.IsZero() && !c.Until.After(now):
			return c.Until
		}
		return time.Time{}
	}
	sub, _ := find(b, source)
	switch {
	case sub == nil:
		return time.Time{}
	case !sub.EndedAt.IsZero():
		return sub.EndedAt
	case !sub.CancelAt.IsZero() && !sub.CancelAt.After(now):
		return sub.CancelAt
	}
	return time.Time{}
}

// findComp returns the comp of b named source (CompSource), or nil.
func findComp(b Billing, source string) *Comp {
	for i := range b.Comps {
		if source != "" && CompSource(b.Comps[i].ID) == source {
			return &b.Comps[i]
		}
	}
	return nil
}

// find returns the subscription or purchase of b with the id source.
func find(b Billing, source string) (*Subscription, *Purchase) {
	if source == "" {
		return nil, nil
	}
	for ci := range b.Customers {
		c := &b.Customers[ci]
		for i := range c.Subscriptions {
			if c.Subscriptions[i].ID == source {
				return &c.Subscriptions[i], nil
			}
		}
		for i := range c.Purchases {
			if c.Purchases[i].SessionID == source {
				return nil, &c.Purchases[i]
			}
		}
	}
	return nil, nil
}
