// Package converge owns the per-person sync, the heart of membersync: for every trigger (a webhook, a
// resync, a timer, a backfill, the drift sweep) it re-reads the person's billing from Stripe, computes
// the desired entitlements, diffs them against the locally stored applied state and calls Circle,
// then Kit, only for the difference — each action idempotent, confirmed before it is recorded, and
// journaled. Failures are classified: transient ones retry, permanent ones become review items.
package converge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	stripebilling "github.com/membersync/membersync/internal/billing"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/metrics"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/store"
)

// billingReader is what the engine needs of Stripe.
type billingReader interface {
	Snapshot(ctx context.Context, customerIDs ...string) (entitlement.Billing, error)
	CustomerIDsByEmail(ctx context.Context, email string) ([]string, error)
}

// circleAPI is what the engine needs of Circle.
type circleAPI interface {
	EnsureMember(ctx context.Context, email, name string, skipInvitation bool) (circle.Member, bool, error)
	FindMember(ctx context.Context, email string) (circle.Member, error)
	CreateOrFindMember(ctx context.Context, email, name string, skipInvitation bool) (circle.Member, bool, error)
	AddToAccessGroup(ctx context.Context, groupID int64, email string) error
	RemoveFromAccessGroup(ctx context.Context, groupID int64, email string) error
}

// kitAPI is what the engine needs of Kit.
type kitAPI interface {
	UpsertSubscriber(ctx context.Context, email, firstName string) (kit.Subscriber, bool, error)
	TagSubscriber(ctx context.Context, tagID int64, email string) (bool, error)
	UntagSubscriber(ctx context.Context, tagID, subscriberID int64) error
	AddToSequence(ctx context.Context, sequenceID int64, email string) (bool, error)
}

// inserter enqueues jobs.
type inserter interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error
}

// syncStore is what the engine (and its Worker) needs of the database: the person and their sync
// generation, the applied grants, review items, the journal and the per-person lease. *store.Store
// implements it.
type syncStore interface {
	// The person and their identity.
	Person(ctx context.Context, id int64) (store.Person, error)
	PersonIDByEmail(ctx context.Context, email string) (int64, error)
	LinkCustomer(ctx context.Context, personID int64, customerID string) (bool, error)
	SetIdentity(ctx context.Context, personID int64, email, name string) error
	SetRemoteIDs(ctx context.Context, personID, circleMemberID, kitSubscriberID int64) error
	MergePerson(ctx context.Context, from, into int64) (needsSync bool, err error)
	SaveBilling(ctx context.Context, personID int64, billingJSON string) error
	// Comps are the person's comps: an entitlement input beside Stripe.
	Comps(ctx context.Context, personID int64) ([]store.Comp, error)

	// One sync: its generation, its lease, its result and the events it settles.
	StartSync(ctx context.Context, personID int64) (store.SyncStart, error)
	FinishSync(ctx context.Context, personID, generation int64) error
	SaveSyncResult(ctx context.Context, personID int64, desiredJSON string, nextChange time.Time, syncErr string) error
	SyncState(ctx context.Context, personID int64) (store.SyncState, error)
	// IndexPerson refreshes the people list's index of the person (plans, stage, access state).
	IndexPerson(ctx context.Context, personID int64) error
	MarkEventsConverged(ctx context.Context, personID int64, eventIDs []string) ([]time.Time, error)
	AcquireLease(ctx context.Context, personID int64, owner string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, personID int64, owner string) error

	// The grants confirmed in Circle and Kit.
	Applied(ctx context.Context, personID int64) ([]store.Applied, error)
	RecordApplied(ctx context.Context, a store.Applied) error
	RemoveApplied(ctx context.Context, a store.Applied) error

	// Review items and the journal.
	OpenReview(ctx context.Context, it store.ReviewItem) (created bool, err error)
	ResolveReviews(ctx context.Context, personID int64, kind, actionKey, by, resolution string) (int64, error)
	OpenActionKeys(ctx context.Context, personID int64) (map[string]bool, error)
	AppendJournal(ctx context.Context, e store.JournalEntry) error
}

var _ syncStore = (*store.Store)(nil)

// Engine syncs people. Its fields are set once and read concurrently.
type Engine struct {
	Store          syncStore
	Billing        billingReader
	Circle         circleAPI
	Kit            kitAPI
	Queue          inserter
	Plans          []config.Plan
	SkipInvitation bool
	Log            *slog.Logger
	Now            func() time.Time
	// OnReview is told about each newly opened review item (alerts); may be nil.
	OnReview func(store.ReviewItem)
	// HashKey keys the email hashes in logs.
	HashKey []byte
	// Metrics counts syncs, time to converge and review items; nil records nothing.
	Metrics *metrics.Metrics
	// RateLimitSnooze is how long a sync waits after a provider's 429 without Retry-After (default
	// 30 s: Kit's window is a minute).
	RateLimitSnooze time.Duration
	// EraseOnCustomerDeleted erases a person once every Stripe customer of theirs is deleted
	// (config erasure.on_customer_deleted); ErasureKey keys the tombstone's email hash (erasure.go).
	EraseOnCustomerDeleted bool
	ErasureKey             []byte
}

func (e *Engine) rateLimitSnooze() time.Duration {
	if e.RateLimitSnooze > 0 {
		return e.RateLimitSnooze
	}
	return 30 * time.Second
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Outcome summarizes one sync.
type Outcome struct {
	PersonID  int64
	Converged bool // every desired action was confirmed
	Calls     int  // provider HTTP calls made (Stripe included)
	Actions   []string
	Desired   entitlement.Desired
}

// errRetry carries a retryable failure and the longest wait a provider asked for.
type errRetry struct {
	err    error
	snooze time.Duration // >0 when only rate limits failed: snooze without burning an attempt
}

func (e *errRetry) Error() string { return e.err.Error() }
func (e *errRetry) Unwrap() error { return e.err }

// Sync converges one person. It returns an error only when the sync must be retried (a transient
// failure of Stripe or of a provider action); permanent failures become review items and return nil.
func (e *Engine) Sync(ctx context.Context, personID int64, reason string, attempt int) (Outcome, error) {
	out := Outcome{PersonID: personID}
	start := e.now()
	// The generation and the events it covers are read together: the events this sync marks
	// converged are exactly those whose dirty marks it consumes (a later event re-runs it).
	begun, err := e.Store.StartSync(ctx, personID)
	if err != nil {
		return out, err
	}
	person, err := e.Store.Person(ctx, personID)
	if err != nil {
		return out, err
	}
	log := e.Log.With("person_id", personID, "reason", reason, "attempt", attempt)
	hashed := person.Email != ""
	if hashed {
		log = log.With("person", identity.Hash(e.HashKey, person.Email))
	}
	j := &journal{e: e, ctx: ctx, personID: personID, attempt: attempt, log: log}
	ctx = provider.WithObserver(ctx, j.call)

	// 0. Erasure (erasure.go): an erasing person syncs to no access without reading Stripe.
	erasing, done, err := e.erasureStep(ctx, j, person, begun)
	if rerr := (*errRetry)(nil); errors.As(err, &rerr) {
		return out, e.failed(ctx, j, log, person, attempt, "stripe", rerr.err)
	}
	if err != nil {
		return out, err
	}
	if done {
		return out, nil
	}
	var billing entitlement.Billing
	var ahead *memberSearch
	email, name, merged := person.Email, person.Name, false
	if !erasing {
		// 1. Billing: every Stripe customer of the person, including others with the same email; for a
		// new person, Circle's member search beside it (searchAhead).
		ahead = e.searchAhead(ctx, person)
		defer ahead.stop()
		bctx := ctx
		if ahead != nil {
			bctx = stripebilling.WithCustomerSeen(ctx, ahead.seen)
		}
		var stripeErr error
		billing, stripeErr, err = e.readBilling(bctx, j, person)
		if err != nil {
			return out, err
		}
		if stripeErr != nil {
			return out, e.failed(ctx, j, log, person, attempt, "stripe", stripeErr)
		}
		if erasing, err = e.eraseDeleted(ctx, j, person, billing, begun); err != nil {
			return out, err
		}
	}
	if !erasing {
		// 2. Identity: the person's email as Stripe holds it now.
		email, name, merged, err = e.resolveIdentity(ctx, j, &person, billing)
		if err != nil {
			return out, err
		}
	} else {
		billing = entitlement.Billing{}
	}
	if !hashed && email != "" {
		log = log.With("person", identity.Hash(e.HashKey, email))
		j.setLog(log)
	}
	if merged {
		j.add("sync", "sync", "", "merged", 0, 0, "merged into the person with the same email")
		e.Metrics.Sync("merged", e.now().Sub(start))
		return out, nil
	}

	// 3. Desired state: the pure function, of Stripe's billing and the operator's comps.
	comps, err := e.Store.Comps(ctx, personID)
	if err != nil {
		return out, err
	}
	if !erasing {
		billing.Comps = store.EntitlementComps(comps)
	}
	desired := entitlement.Compute(billing, e.Plans, e.now())
	out.Desired = desired
	// The snapshot lets the status pages show each Stripe customer only what it bought.
	if billingJSON, err := json.Marshal(billing); err != nil {
		return out, fmt.Errorf("encoding the billing snapshot: %w", err)
	} else if err := e.Store.SaveBilling(ctx, personID, string(billingJSON)); err != nil {
		return out, err
	}
	for _, r := range desired.Reviews {
		e.review(ctx, j, store.ReviewItem{PersonID: personID, Kind: r.Kind, ActionKey: r.Source, Reason: r.Detail})
	}

	// 4. Converge: Circle first, then Kit gated on Circle.
	applied, err := e.Store.Applied(ctx, personID)
	if err != nil {
		return out, err
	}
	blocked, err := e.Store.OpenActionKeys(ctx, personID)
	if err != nil {
		return out, err
	}
	c := &converger{e: e, ctx: ctx, j: j, person: &person, email: email, name: name, desired: desired, applied: applied, blocked: blocked, ahead: ahead}
	if e.Queue != nil && !erasing {
		// Kit paces a launch (120 requests a minute): a sync that would wait for it hands Kit to
		// its own job, so that the next buyers' Circle access does not wait behind this email.
		c.handoff, c.kctx = true, provider.WithMaxWait(ctx, kitInlineWait)
	}
	c.circle()
	c.kit()
	out.Actions, out.Calls = c.actions, int(j.calls.Load())

	// 5. Record, schedule the next clock-driven change, settle the generation.
	desiredJSON, _ := json.Marshal(desired)
	syncErr := ""
	if c.retry != nil {
		syncErr = c.retry.Error()
	}
	if err := e.Store.SaveSyncResult(ctx, personID, string(desiredJSON), desired.NextChange, syncErr); err != nil {
		return out, err
	}
	if err := e.Store.IndexPerson(ctx, personID); err != nil {
		// The index is rebuilt before the people list's next read: a miss costs nothing else.
		log.Warn("indexing the person for the people list", "err", err)
	}
	if !desired.NextChange.IsZero() {
		at := desired.NextChange.Add(time.Second)
		if err := scheduleSync(ctx, e.Queue, personID, at); err != nil {
			return out, fmt.Errorf("scheduling the sync at %s: %w", at.Format(time.RFC3339), err)
		}
	}
	dur := e.now().Sub(start)
	if c.retry != nil {
		e.Metrics.Sync("retry", dur)
		j.add("sync", "sync", reason, "retry", 0, dur, c.retry.Error())
		log.Warn("sync incomplete", "action", "sync", "result", "retry", "actions", len(c.actions), "err", safeError(c.retry))
		return out, e.failed(ctx, j, log, person, attempt, "", c.retry)
	}
	if _, err := e.Store.ResolveReviews(ctx, personID, "sync_failing", "*", "membersync", "a later sync succeeded"); err != nil {
		return out, err
	}
	if _, err := e.Store.ResolveReviews(ctx, personID, reviewMemberLimit, "*", "membersync", "a later sync succeeded"); err != nil {
		return out, err
	}
	if err := e.Store.FinishSync(ctx, personID, begun.Generation); err != nil {
		return out, err
	}
	out.Converged = !c.partial && c.kitDefer == 0
	result := "converged"
	switch {
	case c.kitDefer > 0:
		// Circle is converged; the Kit job settles the events once Kit is.
		result = "kit_deferred"
		if err := deferKit(ctx, e.Queue, personID, begun.Events, c.kitDefer); err != nil {
			return out, err
		}
		j.add("sync", "kit", "", "deferred", 0, 0, fmt.Sprintf("Kit's rate limit is spent; its step runs in %s in its own job", c.kitDefer.Round(time.Millisecond)))
	case c.partial:
		result = "blocked" // some actions wait on review items
	default:
		// Every action for the events this sync started from is confirmed.
		received, err := e.Store.MarkEventsConverged(ctx, personID, begun.Events)
		if err != nil {
			return out, err
		}
		for _, at := range received {
			e.Metrics.Converged(e.now().Sub(at))
		}
	}
	e.Metrics.Sync(result, dur)
	j.add("sync", "sync", reason, result, 0, dur, fmt.Sprintf("%d action(s), %d call(s)", len(c.actions), j.calls.Load()))
	log.Info("sync", "action", "sync", "result", result, "actions", len(c.actions), "calls", j.calls.Load(), "duration_ms", dur.Milliseconds())
	if erasing && result == "converged" {
		return out, e.finishErasure(ctx, personID)
	}
	return out, nil
}

// failedAfter is how many failed attempts make a sync a review item (and an alert) while it retries.
const failedAfter = 3

// failed turns a failure into the job's answer: retryable ones retry (rate limits snooze), a
// provider's limit opens its review item and snoozes until the limit lifts, others become review
// items.
func (e *Engine) failed(ctx context.Context, j *journal, log *slog.Logger, person store.Person, attempt int, prov string, err error) error {
	var rerr *errRetry
	if errors.As(err, &rerr) {
		err = rerr.err
	}
	kind := provider.KindOf(err)
	if prov != "" {
		j.add("sync", "sync", prov, "failed", 0, 0, safeError(err))
	}
	if kind == provider.Limit && rerr == nil {
		// A provider's limit outside the converger (which opens its own item): say so, wait it out.
		e.review(ctx, j, e.limitItem(person.ID, prov, err))
		return &errRetry{err: err, snooze: e.snoozeFor(err)}
	}
	switch {
	case kind == provider.Config:
		e.review(ctx, j, store.ReviewItem{PersonID: person.ID, Kind: "credentials", ActionKey: prov,
			Reason: configReason("a provider rejected membersync's credentials; fix the key and retry", err), LastError: safeError(err)})
		return nil
	case kind == provider.Permanent || kind == provider.NotFound:
		e.review(ctx, j, store.ReviewItem{PersonID: person.ID, Kind: "action_failed", ActionKey: prov,
			Reason: "a request can never succeed as sent", LastError: safeError(err)})
		return nil
	}
	if attempt >= failedAfter {
		e.review(ctx, j, store.ReviewItem{PersonID: person.ID, Kind: "sync_failing", ActionKey: "sync",
			Reason: fmt.Sprintf("the sync has failed %d times and keeps retrying", attempt), LastError: safeError(err)})
	}
	if rerr != nil && rerr.snooze > 0 {
		return &errRetry{err: err, snooze: rerr.snooze}
	}
	if kind == provider.RateLimited {
		return &errRetry{err: err, snooze: e.rateLimitSnooze()}
	}
	return &errRetry{err: err}
}

// reviewMemberLimit is the review item of Circle refusing a new member because the community
// reached its daily member limit or its plan's member cap (a provider.Limit): not a token problem.
// There is one per person (its action key is the provider, which blocks no action); the sync
// snoozes until the limit lifts and the item resolves when a later sync succeeds. The alert of the
// same name fires once while any is open.
const reviewMemberLimit = "circle_member_limit"

// limitItem is the review item of a provider.Limit failure of prov: what it means in the founder's
// words and when membersync tries again.
func (e *Engine) limitItem(personID int64, prov string, err error) store.ReviewItem {
	next := e.now().Add(e.snoozeFor(err)).UTC().Round(time.Minute).Format("2006-01-02 15:04 UTC")
	it := store.ReviewItem{PersonID: personID, Kind: reviewMemberLimit, ActionKey: prov, LastError: safeError(err),
		Reason: "Circle refused a new member: the community reached its daily member limit (or its plan's member cap). " +
			"Not a token problem. membersync retries automatically after the limit lifts (next try " + next + "); " +
			"upgrade the Circle plan if this happens on every launch"}
	if prov != "circle" {
		// No other provider reports a limit today; should one, its item says so in general words.
		it.Kind = prov + "_limit"
		it.Reason = prov + " refused the request: the account reached a limit of its plan. Not a token problem. " +
			"membersync retries automatically after the limit lifts (next try " + next + ")"
	}
	return it
}

func (e *Engine) review(ctx context.Context, j *journal, it store.ReviewItem) {
	created, err := e.Store.OpenReview(ctx, it)
	if err != nil {
		e.Log.Error("opening review item", "err", err, "kind", it.Kind)
		return
	}
	if created {
		e.Metrics.ReviewOpened(it.Kind)
		j.add("review", it.Kind, it.ActionKey, "opened", 0, 0, it.Reason+trimErr(it.LastError))
		if e.OnReview != nil {
			e.OnReview(it)
		}
	}
}

func trimErr(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// resolveIdentity settles the person's email from billing. A first sight sets it (merging into an
// existing person with that email); a change updates it unless another person holds the new email,
// which is a review item and leaves the old one.
func (e *Engine) resolveIdentity(ctx context.Context, j *journal, p *store.Person, b entitlement.Billing) (email, name string, merged bool, err error) {
	emails := map[string]string{} // normalized → name
	for _, c := range b.Customers {
		if c.Deleted || c.Email == "" {
			continue
		}
		n := identity.NormalizeEmail(c.Email)
		if _, ok := emails[n]; !ok || emails[n] == "" {
			emails[n] = c.Name
		}
	}
	switch len(emails) {
	case 0:
		return p.Email, p.Name, false, nil
	case 1:
		for k, v := range emails {
			email, name = k, v
		}
	default:
		if _, ok := emails[p.Email]; ok {
			e.review(ctx, j, store.ReviewItem{PersonID: p.ID, Kind: "email_conflict", ActionKey: "identity",
				Reason: "this person's Stripe customers now have different emails; membersync keeps the current one until someone decides"})
			return p.Email, emails[p.Email], false, nil
		}
		keys := make([]string, 0, len(emails))
		for k := range emails {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		email, name = keys[0], emails[keys[0]]
	}
	if email == p.Email {
		if name != p.Name && name != "" {
			if err := e.Store.SetIdentity(ctx, p.ID, email, name); err != nil {
				return "", "", false, err
			}
			p.Name = name
		}
		return email, name, false, nil
	}
	other, err := e.Store.PersonIDByEmail(ctx, email)
	switch {
	case err == nil && other != p.ID && p.Email == "":
		// Two customers with one email were first seen separately: one person.
		need, err := e.Store.MergePerson(ctx, p.ID, other)
		if err != nil {
			return "", "", false, err
		}
		if need {
			if err := syncMarked(ctx, e.Queue, other, "merge"); err != nil {
				return "", "", false, err
			}
		}
		return email, name, true, nil
	case err == nil && other != p.ID:
		e.review(ctx, j, store.ReviewItem{PersonID: p.ID, Kind: "email_conflict", ActionKey: "identity",
			Reason: "the customer's new email in Stripe already belongs to another person; membersync keeps the old one until someone decides"})
		return p.Email, p.Name, false, nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", "", false, err
	}
	if err := e.Store.SetIdentity(ctx, p.ID, email, name); err != nil {
		if errors.Is(err, store.ErrConflict) && p.Email == "" {
			// Another sync took the email between the lookup and now: the same person, merge.
			other, lerr := e.Store.PersonIDByEmail(ctx, email)
			if lerr != nil {
				return "", "", false, lerr
			}
			need, merr := e.Store.MergePerson(ctx, p.ID, other)
			if merr != nil {
				return "", "", false, merr
			}
			if need {
				if err := syncMarked(ctx, e.Queue, other, "merge"); err != nil {
					return "", "", false, err
				}
			}
			return email, name, true, nil
		}
		if errors.Is(err, store.ErrConflict) {
			e.review(ctx, j, store.ReviewItem{PersonID: p.ID, Kind: "email_conflict", ActionKey: "identity",
				Reason: "the customer's email already belongs to another person"})
			return p.Email, p.Name, false, nil
		}
		return "", "", false, err
	}
	if p.Email != "" {
		p.CircleMemberID, p.KitSubscriberID = 0, 0 // the old address's records (SetIdentity forgot them)
		j.add("sync", "email_changed", "", "updated", 0, 0, "the customer's email changed in Stripe; access follows the new email")
		if _, err := e.Store.ResolveReviews(ctx, p.ID, "email_conflict", "*", "membersync", "the email settled"); err != nil {
			return "", "", false, err
		}
	}
	p.Email, p.Name = email, name
	return email, name, false, nil
}

// safeError words err for the journal, review items and logs (provider.Explain): never a transport
// error's URL or a query string.
func safeError(err error) string {
	call, msg := provider.Explain(err)
	if call == "" {
		return msg
	}
	return call + ": " + msg
}

func firstName(name string) string {
	f, _, _ := strings.Cut(strings.TrimSpace(name), " ")
	return f
}
