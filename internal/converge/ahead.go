package converge

import (
	"context"
	"slices"
	"sync"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/store"
)

// memberSearch is Circle's member search for a new person, started before the sync knows whether it
// will need it: as soon as an email is known (the person's, else the first one a Stripe customer
// record shows, while the rest of the snapshot is still being read).
type memberSearch struct {
	e      *Engine
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	done   chan struct{}
	email  string // normalized; set once, before done is closed
	member circle.Member
	err    error
}

// searchAhead returns the search for a new person — never synced, no Circle member linked — when
// some plan grants Circle access, or nil. The search is the first of a grant's three sequential
// Circle calls (search, create, add) and a new person is almost always a buyer about to be
// granted: running it beside the Stripe reads takes one round trip off the path from payment to
// access. A new person who turns out not to be entitled has spent one Circle request. Every other
// sync searches only when it must.
func (e *Engine) searchAhead(ctx context.Context, person store.Person) *memberSearch {
	if person.CircleMemberID != 0 || person.SyncedGeneration != 0 ||
		!slices.ContainsFunc(e.Plans, func(p config.Plan) bool { return len(p.Circle.AccessGroups) > 0 }) {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &memberSearch{e: e, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	s.start(person.Email)
	return s
}

// start begins the search for email, once; an empty email waits for the next one.
func (s *memberSearch) start(email string) {
	if s == nil || email == "" {
		return
	}
	s.once.Do(func() {
		s.email = identity.NormalizeEmail(email)
		go func() {
			defer close(s.done)
			s.member, s.err = s.e.Circle.FindMember(s.ctx, s.email)
		}()
	})
}

// seen is the billing.WithCustomerSeen callback: a customer record's email starts the search.
func (s *memberSearch) seen(_, email string) { s.start(email) }

// stop releases the search; nil-safe.
func (s *memberSearch) stop() {
	if s != nil {
		s.cancel()
	}
}

// result returns the search's answer when it was started for email. A search never started is
// closed off here, so that a late customer record cannot start it.
func (s *memberSearch) result(email string) (circle.Member, error, bool) {
	if s == nil {
		return circle.Member{}, nil, false
	}
	s.once.Do(func() { close(s.done) })
	<-s.done
	if s.email == "" || s.email != email {
		return circle.Member{}, nil, false
	}
	return s.member, s.err, true
}

// ensureMember is Circle's EnsureMember, using the search started ahead when it was for this email.
func (c *converger) ensureMember() (circle.Member, bool, error) {
	if m, err, ok := c.ahead.result(c.email); ok {
		switch {
		case err == nil:
			return m, false, nil
		case provider.KindOf(err) == provider.NotFound:
			return c.e.Circle.CreateOrFindMember(c.ctx, c.email, c.name, c.e.SkipInvitation)
		default:
			return circle.Member{}, false, err
		}
	}
	return c.e.Circle.EnsureMember(c.ctx, c.email, c.name, c.e.SkipInvitation)
}
