package circletest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// The production Circle client talks to the fake over HTTP. The test sets the scene through the
// control API (an access group), lets the client act, and reads the outcome back from the fake.
func Example() {
	now := func() time.Time { return time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC) }
	fake := circletest.New(circletest.Options{Now: now})
	defer fake.Close()
	pro := fake.AddAccessGroup("Pro members")

	client := circle.New(circle.Config{BaseURL: fake.URL, Token: fake.Token, Now: now})
	ctx := context.Background()
	m, created, err := client.EnsureMember(ctx, "Ada@Example.com", "Ada Lovelace", true)
	if err != nil {
		panic(err)
	}
	fmt.Println("member:", m.ID, m.Email, "created:", created)
	for range 2 { // a repeated grant is "already done", not an error
		if err := client.AddToAccessGroup(ctx, pro, "ada@example.com"); err != nil {
			panic(err)
		}
	}

	fmt.Println("group", pro, "holds", fake.GroupMemberEmails(pro))
	fmt.Println("requests this month:", fake.RequestsThisMonth())
	// Output:
	// member: 1001 ada@example.com created: true
	// group 11 holds [ada@example.com]
	// requests this month: 4
}

// Faults makes the fake fail on purpose: here Circle is down for an hour, and a client that does not
// retry gets a Transient error, the kind a sync job retries later.
func Example_faults() {
	fake := circletest.New(circletest.Options{})
	defer fake.Close()
	fake.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})

	client := circle.New(circle.Config{BaseURL: fake.URL, Token: fake.Token, MaxRetries: -1})
	_, err := client.FindMember(context.Background(), "ada@example.com")
	fmt.Println(provider.KindOf(err), provider.Retryable(err))
	fmt.Println("searches:", fake.Faults.Calls("GET /api/admin/v2/community_members/search"))
	// Output:
	// transient true
	// searches: 1
}
