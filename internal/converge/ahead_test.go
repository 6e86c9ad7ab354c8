package converge_test

import (
	"slices"
	"testing"
)

// Circle's member search for a new person runs beside the Stripe reads (issue 22): the calls are
// those of the sequential path — one search, a create only when Circle has nobody, one add — and a
// member Circle already has is found, not created again. A new person who is not entitled spends
// the one search and nothing else.
func TestSearchAheadMakesTheSameCalls(t *testing.T) {
	t.Parallel()
	const search, create, add = "GET /api/admin/v2/community_members/search", "POST /api/admin/v2/community_members",
		"POST /api/admin/v2/access_groups/{id}/community_members"
	forEachDialect(t, func(t *testing.T, e *env) {
		counts := func() []int {
			return []int{e.circle.Faults.Calls(search), e.circle.Faults.Calls(create), e.circle.Faults.Calls(add)}
		}
		// New to Circle: search, create, add.
		cus := e.stripe.CreateCustomer("new@example.test", "New")
		e.stripe.Subscribe(cus, e.proPrice, 0)
		n, res := e.deliver(0)
		e.sync(res.PersonID)
		if got := counts(); !slices.Equal(got, []int{1, 1, 1}) {
			t.Errorf("new member: search, create, add = %v, want [1 1 1]", got)
		}
		if !slices.Contains(e.circle.GroupMemberEmails(e.proGroup), "new@example.test") {
			t.Error("the new member has no access")
		}

		// Already in the community: found by the search ahead, added, not created.
		e.circle.CreateMemberDirect("known@example.test", "Known")
		cus = e.stripe.CreateCustomer("known@example.test", "Known")
		e.stripe.Subscribe(cus, e.proPrice, 0)
		n, res = e.deliver(n)
		e.sync(res.PersonID)
		if got := counts(); !slices.Equal(got, []int{2, 1, 2}) {
			t.Errorf("known member: search, create, add = %v, want [2 1 2]", got)
		}

		// Not entitled (a customer with no purchase): one search spent, nothing else.
		e.stripe.CreateCustomer("browser@example.test", "Browser")
		_, res = e.deliver(n)
		if res.PersonID != 0 {
			e.sync(res.PersonID)
			if got := counts(); !slices.Equal(got, []int{3, 1, 2}) && !slices.Equal(got, []int{2, 1, 2}) {
				t.Errorf("not entitled: search, create, add = %v, want at most one more search", got)
			}
		}
	})
}
