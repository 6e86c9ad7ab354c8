package converge

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/membersync/membersync/internal/egress"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/store"
)

// converger runs one sync's ordered plan: Circle revocations and grants, then Kit. A provider that
// fails stops only its own actions (and the Kit actions gated on a Circle grant it did not confirm).
type converger struct {
	e       *Engine
	ctx     context.Context
	j       *journal
	person  *store.Person
	email   string
	name    string
	desired entitlement.Desired
	applied []store.Applied
	blocked map[string]bool // action keys with an open review item: not retried

	actions []string
	retry   *errRetry // the first retryable failure (the job retries after the sync)
	partial bool      // some action waits on a review item
	// circleDown is set when Circle failed: Kit actions gated on a grant wait.
	circleDown bool
	// ahead is Circle's member search started beside the Stripe reads, or nil.
	ahead *memberSearch
	// kctx is the context of Kit calls: in a sync that may hand Kit off (handoff), it waits for
	// Kit's budget at most kitInlineWait.
	kctx context.Context
	// handoff lets Kit's throttle move the Kit step to its own job (kitDefer) instead of failing
	// the sync: the sync job sets it, the Kit job does not.
	handoff bool
	// kitDefer, when positive, is how long Kit's budget asked to wait: the rest of the Kit step
	// runs in a Kit job that long from now.
	kitDefer time.Duration
}

// kitContext is the context of Kit calls (kctx, or ctx when none was set).
func (c *converger) kitContext() context.Context {
	if c.kctx != nil {
		return c.kctx
	}
	return c.ctx
}

func (c *converger) has(provider, kind string, target int64, email string) (store.Applied, bool) {
	for _, a := range c.applied {
		if a.Provider == provider && a.Kind == kind && a.TargetID == target && (email == "" || a.Email == email) {
			return a, true
		}
	}
	return store.Applied{}, false
}

// fail classifies a failed action: permanent ones become review items blocking that action,
// credential problems a review item for the provider, transient ones a retry of the whole sync. A
// provider's limit (Circle's member limits) opens a review item for the provider that blocks nothing
// and retries the sync once the limit lifts, as a rate limit does.
func (c *converger) fail(prov, key string, err error) {
	kind := provider.KindOf(err)
	if prov == "kit" && c.handoff && kind == provider.RateLimited {
		// Kit's budget is spent (a launch) or paused: Circle's part is done, so the sync is; the
		// rest of Kit waits in the Kit queue, not in this worker nor in a re-read of Stripe.
		c.kitDefer = max(c.kitDefer, c.e.snoozeFor(err))
		return
	}
	switch kind {
	case provider.Permanent, provider.NotFound:
		c.partial = true
		c.e.review(c.ctx, c.j, store.ReviewItem{PersonID: c.person.ID, Kind: "action_failed", ActionKey: key,
			Reason: "this action can never succeed as sent; fix it in " + prov + " or the plan mapping, then retry", LastError: safeError(err)})
	case provider.Config:
		c.partial = true
		c.e.review(c.ctx, c.j, store.ReviewItem{PersonID: c.person.ID, Kind: "credentials", ActionKey: prov,
			Reason: configReason(prov+" rejected membersync's credentials; fix the token, then retry", err), LastError: safeError(err)})
	default:
		if kind == provider.Limit {
			c.e.review(c.ctx, c.j, c.e.limitItem(c.person.ID, prov, err))
		}
		snooze := c.e.snoozeFor(err)
		switch {
		case c.retry == nil:
			c.retry = &errRetry{err: err, snooze: snooze}
		case snooze == 0:
			c.retry.snooze = 0 // a real failure among them: retry with backoff
		case c.retry.snooze > 0:
			c.retry.snooze = min(c.retry.snooze, snooze) // retry when the shortest wait is over
		}
	}
}

// limitSnooze is how long a sync waits after a provider's limit that did not say when it lifts.
const limitSnooze = time.Hour

// snoozeFor is how long the job waits before it retries after err, without burning an attempt: a
// rate limit's window (at least RateLimitSnooze), a limit's RetryAfter (Circle's daily member limit:
// the next 00:01 UTC). It is 0 for a failure that retries with backoff.
func (e *Engine) snoozeFor(err error) time.Duration {
	var pe *provider.Error
	if !errors.As(err, &pe) {
		return 0
	}
	switch pe.Kind {
	case provider.RateLimited:
		if pe.Throttled && pe.RetryAfter > 0 {
			// Never sent: membersync's own budget says when a slot is free (or its pause ends).
			// A little jitter spreads the jobs that heard the same answer.
			return pe.RetryAfter + rand.N(pe.RetryAfter/10+1)
		}
		return max(pe.RetryAfter, e.rateLimitSnooze())
	case provider.Limit:
		if pe.RetryAfter > 0 {
			return pe.RetryAfter
		}
		return limitSnooze
	}
	return 0
}

func (c *converger) did(action string) { c.actions = append(c.actions, action) }

// circle converges the managed access groups: revoke what is not entitled (or held by an old
// email), then grant what is.
func (c *converger) circle() {
	want := c.desired.AccessGroups
	managed := c.desired.ManagedAccessGroups
	// Revocations first: no access without payment.
	for _, a := range c.applied {
		if a.Provider != store.ProviderCircle || a.Kind != store.KindAccessGroup {
			continue
		}
		if slices.Contains(want, a.TargetID) && a.Email == c.email {
			continue
		}
		if !slices.Contains(managed, a.TargetID) && a.TargetID != 0 {
			// A group no plan manages any more: forget it, never touch it.
			if err := c.e.Store.RemoveApplied(c.ctx, a); err != nil {
				c.fail("store", "forget_unmanaged", err)
			}
			continue
		}
		c.revoke("circle", fmt.Sprintf("circle:remove_access_group:%d", a.TargetID), a,
			func() error { return c.e.Circle.RemoveFromAccessGroup(c.ctx, a.TargetID, a.Email) })
	}
	if len(want) == 0 || c.email == "" {
		return
	}
	var missing []int64
	for _, g := range want {
		if _, ok := c.has(store.ProviderCircle, store.KindAccessGroup, g, c.email); !ok {
			missing = append(missing, g)
		}
	}
	if len(missing) == 0 {
		return
	}
	if c.person.CircleMemberID == 0 || !c.remoteIsCurrent(store.ProviderCircle, c.person.CircleMemberID) {
		key := "circle:create_member"
		if c.blocked[key] {
			c.partial = true
			return
		}
		m, created, err := c.ensureMember()
		if err != nil {
			c.fail("circle", key, err)
			c.circleDown = true
			return
		}
		c.person.CircleMemberID = m.ID
		if err := c.e.Store.SetRemoteIDs(c.ctx, c.person.ID, m.ID, 0); err != nil {
			c.fail("store", key, err)
			return
		}
		if created {
			c.did(key)
		}
	}
	for _, g := range missing {
		a := store.Applied{PersonID: c.person.ID, Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: g, Email: c.email, RemoteID: c.person.CircleMemberID}
		c.grant("circle", fmt.Sprintf("circle:add_access_group:%d", g), a,
			func() error { return c.e.Circle.AddToAccessGroup(c.ctx, g, c.email) })
	}
}

// granted reports whether every access group of an entitled plan is confirmed in Circle for the
// current email: the gate for the Kit tags and sequences that announce it.
func (c *converger) granted(plan entitlement.PlanState) bool {
	for _, g := range plan.AccessGroups {
		if _, ok := c.has(store.ProviderCircle, store.KindAccessGroup, g, c.email); !ok {
			return false
		}
	}
	return true
}

// kit converges managed tags and enrolls sequences once. Tags and onboarding of an entitled plan
// wait for its Circle grant; everything else (stage tags of lapsed plans, removals, retention)
// does not depend on Circle.
func (c *converger) kit() {
	if c.email == "" {
		return
	}
	wantTags := map[int64]bool{}    // present now
	keepTags := map[int64]bool{}    // desired but gated: neither added nor removed now
	gatedPlans := map[string]bool{} // entitled plans whose Circle grant is not confirmed
	for _, p := range c.desired.Plans {
		gated := p.Entitled && !c.granted(p)
		if gated {
			gatedPlans[p.PlanID] = true
			c.partial = c.partial || !c.circleDown // waits on a review item (or the next sync)
		}
		for _, t := range p.Tags {
			if gated {
				keepTags[t] = true
			} else {
				wantTags[t] = true
			}
		}
	}
	// Removals: managed tags applied but no longer desired at all, or applied to an old email.
	for _, a := range c.applied {
		if a.Provider != store.ProviderKit || a.Kind != store.KindTag {
			continue
		}
		if (wantTags[a.TargetID] || keepTags[a.TargetID]) && a.Email == c.email {
			continue
		}
		if !slices.Contains(c.desired.ManagedTags, a.TargetID) {
			if err := c.e.Store.RemoveApplied(c.ctx, a); err != nil {
				c.fail("store", "forget_unmanaged", err)
			}
			continue
		}
		c.revoke("kit", fmt.Sprintf("kit:untag:%d", a.TargetID), a,
			func() error { return c.e.Kit.UntagSubscriber(c.kitContext(), a.TargetID, a.RemoteID) })
	}
	var addTags []int64
	for t := range wantTags {
		if _, ok := c.has(store.ProviderKit, store.KindTag, t, c.email); !ok {
			addTags = append(addTags, t)
		}
	}
	slices.Sort(addTags)
	var addSeqs []entitlement.Enrollment
	for _, s := range c.desired.Sequences {
		if s.Kind == entitlement.SequenceOnboarding && gatedPlans[s.PlanID] {
			continue // email never announces access that does not exist yet
		}
		if s.Kind == entitlement.SequenceOnboarding && c.onboardingByAutomation() {
			continue // a Kit automation on the plan's tag, itself gated on Circle, enrolls it
		}
		if _, ok := c.has(store.ProviderKit, store.KindSequence, s.SequenceID, ""); ok {
			continue // enrolled once, whatever the email
		}
		addSeqs = append(addSeqs, s)
	}
	if len(addTags) == 0 && len(addSeqs) == 0 {
		return
	}
	// Kit v4 tags and enrolls only existing subscribers: reach the subscriber of this email first.
	if c.person.KitSubscriberID == 0 || !c.remoteIsCurrent(store.ProviderKit, c.person.KitSubscriberID) {
		var ok bool
		if addTags, ok = c.kitSubscriber(addTags); !ok {
			return
		}
	}
	for _, t := range addTags {
		a := store.Applied{PersonID: c.person.ID, Provider: store.ProviderKit, Kind: store.KindTag, TargetID: t, Email: c.email, RemoteID: c.person.KitSubscriberID}
		c.grant("kit", kitTagKey(t), a, func() error {
			_, err := c.e.Kit.TagSubscriber(c.kitContext(), t, c.email)
			return err
		})
	}
	for _, s := range addSeqs {
		a := store.Applied{PersonID: c.person.ID, Provider: store.ProviderKit, Kind: store.KindSequence, TargetID: s.SequenceID, Email: c.email, RemoteID: c.person.KitSubscriberID}
		c.grant("kit", fmt.Sprintf("kit:add_to_sequence:%d", s.SequenceID), a, func() error {
			_, err := c.e.Kit.AddToSequence(c.kitContext(), s.SequenceID, c.email)
			return err
		})
	}
}

// kitModes is what a Kit client may tell the engine beyond kitAPI about how the founder set Kit up
// (*kit.Client does, from kit.onboarding and kit.tag_first); a client without it keeps the defaults:
// membersync enrolls onboarding itself and creates a subscriber before tagging it.
type kitModes interface {
	// OnboardingByAutomation reports that a Kit automation on the plan's tag enrolls onboarding.
	OnboardingByAutomation() bool
	// TagFirst reports that a subscriber not linked yet is reached through TagOrCreate.
	TagFirst() bool
	TagOrCreate(ctx context.Context, tagID int64, email, firstName string) (sub kit.Subscriber, created, added bool, err error)
}

// onboardingByAutomation reports whether a Kit automation, not the engine, enrolls onboarding.
func (c *converger) onboardingByAutomation() bool {
	m, ok := c.e.Kit.(kitModes)
	return ok && m.OnboardingByAutomation()
}

// kitSubscriber links the person to the Kit subscriber of their current email, which Kit v4 needs
// before it tags or enrolls anyone. It creates the subscriber (UpsertSubscriber); or, when the client
// tags first, it tags with the first tag of addTags and lets Kit create the subscriber only if Kit
// does not know the email: one call instead of two for a buyer already on the list. It returns the
// tags still to add, and false when no Kit action can go on in this sync.
func (c *converger) kitSubscriber(addTags []int64) (rest []int64, ok bool) {
	const key = "kit:upsert_subscriber"
	if c.blocked[key] {
		c.partial = true
		return nil, false
	}
	m, isModes := c.e.Kit.(kitModes)
	i := slices.IndexFunc(addTags, func(t int64) bool { return !c.blocked[kitTagKey(t)] })
	if !isModes || !m.TagFirst() || i < 0 {
		sub, created, err := c.e.Kit.UpsertSubscriber(c.kitContext(), c.email, firstName(c.name))
		if err != nil {
			c.fail("kit", key, err)
			return nil, false
		}
		return addTags, c.linkKit(key, sub.ID, created)
	}
	t := addTags[i]
	rest = slices.Delete(slices.Clone(addTags), i, i+1)
	sub, created, _, err := m.TagOrCreate(c.kitContext(), t, c.email, firstName(c.name))
	if sub.ID != 0 && !c.linkKit(key, sub.ID, created) {
		return nil, false
	}
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) && pe.Operation == "upsert_subscriber" {
			c.fail("kit", key, err)
		} else {
			c.fail("kit", kitTagKey(t), err)
		}
		return rest, sub.ID != 0 // with the subscriber linked, the other actions go on
	}
	a := store.Applied{PersonID: c.person.ID, Provider: store.ProviderKit, Kind: store.KindTag, TargetID: t, Email: c.email, RemoteID: sub.ID}
	c.grant("kit", kitTagKey(t), a, func() error { return nil }) // Kit confirmed the tag above
	return rest, true
}

// linkKit records subscriber id as the person's Kit subscriber; created journals its creation.
func (c *converger) linkKit(key string, id int64, created bool) bool {
	c.person.KitSubscriberID = id
	if err := c.e.Store.SetRemoteIDs(c.ctx, c.person.ID, 0, id); err != nil {
		c.fail("store", key, err)
		return false
	}
	if created {
		c.did(key)
	}
	return true
}

func kitTagKey(tagID int64) string { return fmt.Sprintf("kit:tag:%d", tagID) }

// revoke removes one confirmed grant through call, then forgets it; a failure is classified and the
// grant stays recorded, so the next sync tries again.
func (c *converger) revoke(prov, key string, a store.Applied, call func() error) {
	if c.blocked[key] {
		c.partial = true
		return
	}
	if prov == "kit" && c.kitDefer > 0 {
		return // handed off to the Kit job
	}
	if err := call(); err != nil {
		c.fail(prov, key, err)
		c.circleDown = c.circleDown || (prov == "circle" && provider.Retryable(err))
		return
	}
	if err := c.e.Store.RemoveApplied(c.ctx, a); err != nil {
		c.fail("store", key, err)
		return
	}
	c.did(key)
}

// grant applies one grant through call and records it only once the provider confirmed it.
func (c *converger) grant(prov, key string, a store.Applied, call func() error) {
	if c.blocked[key] {
		c.partial = true
		return
	}
	if prov == "kit" && c.kitDefer > 0 {
		return // handed off to the Kit job
	}
	if err := call(); err != nil {
		c.fail(prov, key, err)
		c.circleDown = c.circleDown || (prov == "circle" && provider.Retryable(err))
		return
	}
	if err := c.e.Store.RecordApplied(c.ctx, a); err != nil {
		c.fail("store", key, err)
		return
	}
	c.applied = append(c.applied, a)
	c.did(key)
}

// remoteIsCurrent reports whether the recorded Circle member or Kit subscriber id was found for the
// current email: after an email change the remote record of the new email is needed.
func (c *converger) remoteIsCurrent(prov string, remoteID int64) bool {
	for _, a := range c.applied {
		if a.Provider == prov && a.RemoteID == remoteID {
			return a.Email == c.email
		}
	}
	return true
}

// configReason is the review reason of a Config failure: usual, unless the egress allowlist refused
// the connection, which no token fixes.
func configReason(usual string, err error) string {
	if re := egress.Refused(err); re != nil {
		return "membersync's outbound allowlist refused the connection to " + re.Target + "; fix the config key named below, then retry"
	}
	return usual
}
