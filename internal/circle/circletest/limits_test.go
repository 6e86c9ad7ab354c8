package circletest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// DailyMemberLimit refuses creates beyond the limit with Circle's documented 403 until 00:00 UTC of
// the fake's clock; refused creates, rejected duplicates and members added through the control API
// do not count.
func TestDailyMemberLimit(t *testing.T) {
	t.Parallel()
	// 20:00 in UTC-5 is 01:00 UTC the next day: the day is UTC's, whatever the clock's zone.
	clk := providertest.NewClock(time.Date(2026, 3, 1, 20, 0, 0, 0, time.FixedZone("EST", -5*3600)))
	s := start(t, circletest.Options{Now: clk.Now, DailyMemberLimit: 2})
	create := func(email string) answer {
		t.Helper()
		return call(t, s, "POST", "/community_members", map[string]any{"email": email})
	}
	s.CreateMemberDirect("joined@example.com", "") // not through the API: does not count

	for _, email := range []string{"a@example.com", "b@example.com"} {
		if a := create(email); a.status != 201 {
			t.Fatalf("create %s within the limit: %d %s", email, a.status, a.raw)
		}
	}
	if a := create("a@example.com"); a.status != 422 {
		t.Fatalf("duplicate create: %d %s, want 422 (a duplicate is refused before the limit)", a.status, a.raw)
	}
	const want = `{"errors":"Daily member limit exceeded.","success":false}`
	for i := range 2 {
		a := create("c@example.com")
		if a.status != 403 || strings.TrimSpace(a.raw) != want {
			t.Fatalf("create %d beyond the limit: %d %s, want 403 %s", i+1, a.status, a.raw, want)
		}
	}
	if _, ok := s.MemberByEmail("c@example.com"); ok {
		t.Fatal("a refused create added the member")
	}

	clk.Set(time.Date(2026, 3, 2, 23, 59, 59, 0, time.UTC)) // the same UTC day
	if a := create("c@example.com"); a.status != 403 {
		t.Fatalf("create at 23:59:59 UTC: %d %s, want 403 until the day ends", a.status, a.raw)
	}
	clk.Advance(time.Second) // 00:00 UTC: a new day
	for _, email := range []string{"c@example.com", "d@example.com"} {
		if a := create(email); a.status != 201 {
			t.Fatalf("create %s on the next UTC day: %d %s, want 201", email, a.status, a.raw)
		}
	}
	if a := create("e@example.com"); a.status != 403 {
		t.Fatalf("third create on the next day: %d %s, want 403", a.status, a.raw)
	}
	if got := len(s.Members()); got != 5 {
		t.Errorf("%d members, want 5 (one direct, four created)", got)
	}
}

// Without DailyMemberLimit the fake creates any number of members in a day.
func TestNoDailyMemberLimitByDefault(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{})
	for i := range 30 {
		email := "m" + strings.Repeat("x", i) + "@example.com"
		if a := call(t, s, "POST", "/community_members", map[string]any{"email": email}); a.status != 201 {
			t.Fatalf("create %d: %d %s", i+1, a.status, a.raw)
		}
	}
}
