// Package drift owns the drift sweep, membersync's correctness path beside the webhooks. It compares
// every known person's desired state (as their last sync stored it) with what Circle and Kit
// actually hold, read by listing each managed access group and each managed tag page by page, so
// that its cost grows with pages, not people; it reports each difference by kind, and with Repair it
// corrects the local record of applied grants and enqueues a sync of each drifted person, so that
// every fix goes through the normal journaled sync. A budget keeps the sweeps within a share of
// Circle's monthly API quota. FromStripe brings the Stripe customers membersync has never seen
// (subscriptions older than the install) under management.
package drift

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/store"
)

// Kind is a kind of difference between the desired state and a provider.
type Kind string

// The kinds of difference.
const (
	// PaidNoAccess is a person entitled to a managed access group that Circle does not list them in.
	PaidNoAccess Kind = "paid_no_access"
	// AccessWithoutEntitlement is a person in a managed access group they are not entitled to: a
	// revenue leak.
	AccessWithoutEntitlement Kind = "access_without_entitlement"
	// MissingTag is a managed Kit tag the person should hold and does not.
	MissingTag Kind = "missing_tag"
	// ExtraTag is a managed Kit tag the person holds and should not.
	ExtraTag Kind = "extra_tag"
	// UnknownMember is a stranger in a managed access group: a Circle member that no person maps
	// to, or whose person has no Stripe customer and no comp granting the group (a person the
	// sweep recorded for a stranger has PersonID set).
	UnknownMember Kind = "unknown_member"
	// UnknownSubscriber is a stranger with a managed Kit tag, as UnknownMember is in Circle.
	UnknownSubscriber Kind = "unknown_subscriber"
)

// Stranger reports whether the kind is a stranger's: someone in a managed group or with a managed
// tag with no entitlement and no comp, whom reconcile.unknown_members decides about.
func (k Kind) Stranger() bool { return k == UnknownMember || k == UnknownSubscriber }

// Kinds returns every kind, in report order.
func Kinds() []Kind {
	return []Kind{PaidNoAccess, AccessWithoutEntitlement, MissingTag, ExtraTag, UnknownMember, UnknownSubscriber}
}

// Describe says what the kind means, for operators.
func (k Kind) Describe() string {
	switch k {
	case PaidNoAccess:
		return "paid but no access"
	case AccessWithoutEntitlement:
		return "access without entitlement (revenue leak)"
	case MissingTag:
		return "missing managed tag"
	case ExtraTag:
		return "extra managed tag"
	case UnknownMember:
		return "unknown member in a managed access group"
	case UnknownSubscriber:
		return "unknown subscriber with a managed tag"
	}
	return string(k)
}

// Difference is one thing a provider holds differently from the desired state.
type Difference struct {
	Kind     Kind   `json:"kind"`
	Provider string `json:"provider"` // circle | kit
	Target   int64  `json:"target"`   // the access group or tag id
	// PersonID is 0 for an unknown member or subscriber.
	PersonID int64 `json:"person_id,omitempty"`
	// Email is the person's; for a tag Kit lists, the subscriber's as Kit holds it; for an unknown
	// member, the member's ('' when it was not looked up). Reports are for operators; emails never
	// go to the logs.
	Email string `json:"email,omitempty"`
	// RemoteID is the Circle member or Kit subscriber id, when known.
	RemoteID int64 `json:"remote_id,omitempty"`
	// Pending is true when a sync of the person is waiting or running: it converges them anyway, so
	// the difference is neither counted as drift nor repaired.
	Pending bool `json:"pending,omitempty"`
}

// Calls counts provider HTTP calls (every attempt).
type Calls struct {
	Circle int `json:"circle"`
	Kit    int `json:"kit"`
	Stripe int `json:"stripe"`
}

// Budget is what a sweep expects to spend, and what it may spend, of Circle's monthly quota.
type Budget struct {
	// CirclePages and KitPages are the expected list calls, estimated from the local state (the
	// people entitled to, or recorded in, each managed group and tag).
	CirclePages int `json:"circle_pages"`
	KitPages    int `json:"kit_pages"`
	// Lookups is how many unknown Circle members are expected to be looked up (as many as the last
	// sweep found, at most Options.MaxLookups).
	Lookups int `json:"lookups"`
	// MaxLookups bounds the lookups of this sweep.
	MaxLookups int `json:"max_lookups"`
	// CircleUsed is the Circle calls journaled this calendar month (UTC), SweepUsed those of sweeps.
	CircleUsed int `json:"circle_used"`
	SweepUsed  int `json:"sweep_used"`
	// MonthlyQuota is Circle's monthly quota; 0 means no budget is enforced.
	MonthlyQuota int     `json:"monthly_quota"`
	Share        float64 `json:"share"`
	// Allowance is how many Circle calls this sweep may make: the sweeps' share of the quota not yet
	// spent this month, and never more than the month has left. -1 means unlimited.
	Allowance int `json:"allowance"`
	// Forced is true when the sweep ran past the budget with Options.Force.
	Forced bool `json:"forced,omitempty"`
}

// CircleCalls is the expected number of Circle calls.
func (b Budget) CircleCalls() int { return b.CirclePages + b.Lookups }

// Report is the outcome of one sweep.
type Report struct {
	ID         int64     `json:"id,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Mode       string    `json:"mode"`   // dry_run | repair
	Status     string    `json:"status"` // complete | refused | failed
	Error      string    `json:"error,omitempty"`

	People     int `json:"people"`     // people whose desired state was compared
	Unsynced   int `json:"unsynced"`   // people never synced (no desired state yet): not compared
	Recomputed int `json:"recomputed"` // desired states recomputed because the clock passed their next change
	Pending    int `json:"pending"`    // people with a sync waiting or running
	Moved      int `json:"moved"`      // people whose sync ran during the sweep: their differences were dropped
	Drifted    int `json:"drifted"`    // people with at least one difference (pending ones excluded)
	Unknown    int `json:"unknown"`    // strangers: members and subscribers with no entitlement and no comp
	Repaired   int `json:"repaired"`   // drifted people whose sync was enqueued
	// StrangersReviewed is how many strangers have an open review item after this sweep (report),
	// StrangersRemoved how many had their removing sync enqueued (remove).
	StrangersReviewed int `json:"strangers_reviewed,omitempty"`
	StrangersRemoved  int `json:"strangers_removed,omitempty"`

	// Counts has the differences per kind, pending ones excluded.
	Counts      map[Kind]int `json:"counts"`
	Differences []Difference `json:"differences"`
	// Truncated is true when the stored report keeps only the first MaxStored differences.
	Truncated bool `json:"truncated,omitempty"`
	// Problems are things the sweep could not compare (a managed group Circle does not know).
	Problems []string `json:"problems,omitempty"`

	AccessGroups []int64 `json:"access_groups"`
	Tags         []int64 `json:"tags"`
	Budget       Budget  `json:"budget"`
	Calls        Calls   `json:"calls"`
}

// Report modes and statuses.
const (
	ModeDryRun = "dry_run"
	ModeRepair = "repair"

	StatusComplete = "complete"
	StatusRefused  = "refused"
	StatusFailed   = "failed"
)

// Phase names a step of a sweep, for progress.
type Phase string

// The phases of a sweep, in order.
const (
	PhaseCircle    Phase = "circle"    // listing managed access groups
	PhaseLookups   Phase = "lookups"   // looking up unknown Circle members
	PhaseKit       Phase = "kit"       // listing managed tags
	PhaseRepair    Phase = "repair"    // enqueueing syncs
	PhaseStrangers Phase = "strangers" // reviewing or removing strangers
	PhaseStripe    Phase = "stripe"    // FromStripe: listing Stripe customers
)

// Progress is one step forward of a sweep. Total is an estimate that may grow; Done never exceeds it.
type Progress struct {
	Phase Phase
	Done  int
	Total int
}

// Defaults of Options.
const (
	// DefaultMaxQuotaShare is the share of Circle's monthly quota the sweeps of a month may use.
	DefaultMaxQuotaShare = 0.2
	// DefaultMaxLookups bounds the lookups of unknown Circle members per sweep.
	DefaultMaxLookups = 50
	// DefaultInterval is the period of the scheduled sweep.
	DefaultInterval = 24 * time.Hour
	// MaxStored is how many differences a stored report keeps.
	MaxStored = 1000
)

// Options tune one sweep.
type Options struct {
	// Repair corrects the applied record and enqueues a sync of each drifted person, and deals with
	// the strangers as RemoveStrangers says.
	Repair bool
	// RemoveStrangers (config reconcile.unknown_members: remove) makes a repairing sweep remove each
	// stranger through the journaled sync; without it, each stranger gets a review item instead.
	RemoveStrangers bool
	// ReviewStrangers opens the strangers' review items even in a dry run (the scheduled sweep's);
	// a dry run never removes anyone.
	ReviewStrangers bool
	// Force runs the sweep even when it would exceed its share of Circle's quota.
	Force bool
	// MonthlyQuota is Circle's monthly request quota (config circle.monthly_quota); 0 enforces no budget.
	MonthlyQuota int
	// MaxQuotaShare is the share of MonthlyQuota that the month's sweeps may use together; zero means
	// DefaultMaxQuotaShare.
	MaxQuotaShare float64
	// MaxLookups bounds the lookups of unknown Circle members; zero means DefaultMaxLookups, negative
	// none.
	MaxLookups int
	// OnBudget is told the budget before any provider is called (the command prints it).
	OnBudget func(Budget)
	// Progress is told about each page read and each batch repaired.
	Progress func(Progress)
}

func (o Options) withDefaults() Options {
	if o.MaxQuotaShare <= 0 {
		o.MaxQuotaShare = DefaultMaxQuotaShare
	}
	if o.MaxLookups == 0 {
		o.MaxLookups = DefaultMaxLookups
	}
	if o.MaxLookups < 0 {
		o.MaxLookups = 0
	}
	return o
}

// ErrBusy means another sweep holds the lock (on this or another instance).
var ErrBusy = errors.New("another drift sweep is running")

// ErrOverBudget means the sweep was refused, or stopped, to stay within its share of Circle's
// monthly quota; the error wrapping it says why.
var ErrOverBudget = errors.New("over the sweep's Circle budget")

// circleAPI is what the sweep needs of Circle.
type circleAPI interface {
	AccessGroupMembers(ctx context.Context, groupID int64, page, perPage int) (circle.GroupMemberPage, error)
	Member(ctx context.Context, id int64) (circle.Member, error)
}

// kitAPI is what the sweep needs of Kit.
type kitAPI interface {
	TagSubscribers(ctx context.Context, tagID int64, after string, perPage int) (kit.SubscriberPage, error)
}

// billingAPI is what the sweep needs of Stripe: a snapshot to recompute a desired state the clock
// has changed, and the lists of FromStripe.
type billingAPI interface {
	Snapshot(ctx context.Context, customerIDs ...string) (entitlement.Billing, error)
	ActiveSubscriptionCustomers(ctx context.Context) iter.Seq2[string, error]
	PaidPaymentSessionCustomers(ctx context.Context, since time.Time) iter.Seq2[string, error]
}

// enqueuer inserts jobs inside a store transaction.
type enqueuer interface {
	InsertTx(ctx context.Context, tx *store.Tx, jobs []river.InsertManyParams) error
}

// Sweeper runs sweeps. Its fields are set once; one sweep runs at a time across every instance
// sharing the database (a lease in the store).
type Sweeper struct {
	Store   *store.Store
	Circle  circleAPI
	Kit     kitAPI
	Billing billingAPI // nil: desired states the clock has changed are compared as stored
	Queue   enqueuer   // needed by Repair and FromStripe's adoption
	Plans   []config.Plan
	Log     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// ErasureKey keys the erased emails' hashes (config.Secrets.ErasureKey): a stranger whose email
	// was erased (membersync forget --local-only leaves them in Circle and Kit) is left alone and
	// its email dropped from the report, so a sweep never brings a forgotten address back.
	ErasureKey []byte
}

func (s *Sweeper) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Sweeper) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// LatestReport returns the report of the most recent sweep (refused and failed ones included);
// store.ErrNotFound when none ran yet.
func (s *Sweeper) LatestReport(ctx context.Context) (Report, error) {
	return LatestReport(ctx, s.Store)
}

// LatestReport is Sweeper.LatestReport for callers that hold only the store (the admin overview).
func LatestReport(ctx context.Context, st *store.Store) (Report, error) {
	r, err := st.LatestDriftReport(ctx)
	if err != nil {
		return Report{}, err
	}
	var rep Report
	if err := json.Unmarshal([]byte(r.Detail), &rep); err != nil {
		return Report{}, errors.New("the stored drift report is unreadable: " + err.Error())
	}
	rep.ID = r.ID
	return rep, nil
}

func (s *Sweeper) save(ctx context.Context, rep *Report) error {
	stored := *rep
	if len(stored.Differences) > MaxStored {
		stored.Differences = stored.Differences[:MaxStored]
		stored.Truncated = true
	}
	detail, err := json.Marshal(stored)
	if err != nil {
		return err
	}
	id, err := s.Store.SaveDriftReport(ctx, store.DriftReport{
		StartedAt: rep.StartedAt, FinishedAt: rep.FinishedAt, Mode: rep.Mode, Status: rep.Status,
		People: rep.People, Drifted: rep.Drifted, CircleCalls: rep.Calls.Circle, KitCalls: rep.Calls.Kit,
		StripeCalls: rep.Calls.Stripe, Error: rep.Error, Detail: string(detail),
	})
	if err != nil {
		return err
	}
	rep.ID = id
	return nil
}
