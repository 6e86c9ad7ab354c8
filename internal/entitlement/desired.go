package entitlement

import "time"

// Stage is where a plan stands in its lifecycle for one person. Each stage may map to a Kit tag in the
// plan's config (plan.Kit.Tags, keyed by the stage's string value).
type Stage string

// The lifecycle stages.
const (
	StageNone         Stage = "none"          // never bought
	StageTrialing     Stage = "trialing"      // subscription in its free trial
	StageActive       Stage = "active"        // paid subscription or one-time purchase in force
	StageCanceling    Stage = "canceling"     // set to cancel; access until the scheduled end
	StagePastDue      Stage = "past_due"      // payment failing; access during the grace period
	StageGraceExpired Stage = "grace_expired" // payment failing past the grace period
	StageCanceled     Stage = "canceled"      // subscription ended (or its scheduled cancellation passed)
	StageRefunded     Stage = "refunded"      // the payment was refunded
	StageDisputed     Stage = "disputed"      // the payment has an open or lost chargeback
	StageExpired      Stage = "expired"       // a one-time purchase's access duration ran out
	StageIncomplete   Stage = "incomplete"    // the first payment of a subscription never completed
	StagePaused       Stage = "paused"        // trial ended without a payment method
	StageUnpaid       Stage = "unpaid"        // Stripe stopped retrying and left the subscription unpaid
	StageComp         Stage = "comp"          // granted by an operator without payment (a Comp)
)

// Review kinds.
const (
	// ReviewUnmappedPrice is a paid or paying item whose price and product map to no plan.
	ReviewUnmappedPrice = "unmapped_price"
	// ReviewConflictingData is an item that the plan mapping claims for more than one plan.
	ReviewConflictingData = "conflicting_data"
	// ReviewUnknownStatus is a subscription or dispute status this package does not know; it is
	// treated conservatively (no access).
	ReviewUnknownStatus = "unknown_status"
)

// Enrollment kinds.
const (
	// SequenceOnboarding is enrolled when a plan is entitled.
	SequenceOnboarding = "onboarding"
	// SequenceRetention is enrolled when a bought plan is canceling or canceled.
	SequenceRetention = "retention"
)

// Desired is what the other systems should reflect for one person at one instant: the output of Compute.
// Its slices are sorted (Plans and Sequences in config order) and its times are UTC without monotonic
// readings, so equal answers are equal under reflect.DeepEqual.
type Desired struct {
	// Plans has one state per configured plan, in config order; Stage is StageNone if never bought.
	Plans []PlanState
	// AccessGroups is the sorted, deduplicated union of the entitled plans' Circle access groups.
	AccessGroups []int64
	// ManagedAccessGroups is every access group any plan names, sorted; membersync touches only these.
	ManagedAccessGroups []int64
	// Tags are the sorted Kit tags that should be present: the stage tag of each plan that has one.
	Tags []int64
	// ManagedTags is every tag any plan names, sorted; ManagedTags minus Tags must be absent.
	ManagedTags []int64
	// Sequences are the Kit sequences the person should be enrolled in (once, by the sync engine), in
	// config order, onboarding before retention.
	Sequences []Enrollment
	// NextChange is the first instant after now at which the answer changes by the clock alone (grace
	// end, scheduled cancellation, access expiry); zero if none. Compute at any instant in
	// [now, NextChange) gives the same answer.
	NextChange time.Time
	// Reviews are signals for a human, sorted by kind, source and detail.
	Reviews []Review
}

// PlanState is one plan's entitlement for one person.
type PlanState struct {
	PlanID   string
	Entitled bool
	Stage    Stage
	// Reason is short and machine-readable, such as "subscription_active" or "in_grace_period".
	Reason string
	// Explanation is a plain English sentence for operators and the customer page; it holds dates but
	// never emails or ids.
	Explanation string
	// Until is when the current answer of the deciding source ends by the clock; zero means open-ended.
	Until time.Time
	// Source is the subscription (sub_…), Checkout Session (cs_…) or comp (comp:ID, CompSource) that
	// decided the state; empty for StageNone.
	Source string
	// AccessGroups are the plan's Circle groups granted now, sorted; empty unless Entitled.
	AccessGroups []int64
	// Tags are the plan's Kit tags that should be present: the tag of Stage, if the plan maps one.
	Tags []int64
}

// Enrollment is a Kit sequence a person should be enrolled in because of a plan.
type Enrollment struct {
	PlanID     string
	SequenceID int64
	Kind       string // SequenceOnboarding or SequenceRetention
}

// Review is a signal for a human: data Compute could not decide on its own.
type Review struct {
	Kind   string // ReviewUnmappedPrice, ReviewConflictingData or ReviewUnknownStatus
	Detail string // for operators; may name Stripe ids, never emails
	Source string // the sub_… or cs_… it is about
}

// Plan returns the state of the plan with the given id, and false if no configured plan has that id.
func (d Desired) Plan(id string) (PlanState, bool) {
	for _, p := range d.Plans {
		if p.PlanID == id {
			return p, true
		}
	}
	return PlanState{}, false
}
