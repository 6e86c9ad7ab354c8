package kittest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// The production Kit client talks to the fake over HTTP. The test creates the account's tags and
// sequences through the control API, lets the client act, and reads the outcome back from the fake.
func Example() {
	now := func() time.Time { return time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC) }
	fake := kittest.New(kittest.Options{Now: now})
	defer fake.Close()
	active := fake.CreateTag("pro: active")
	onboarding := fake.CreateSequence("pro: welcome", true)

	client := kit.New(kit.Config{BaseURL: fake.URL, APIKey: kittest.DefaultAPIKey, Now: now})
	ctx := context.Background()
	sub, created, err := client.UpsertSubscriber(ctx, "ada@example.com", "Ada")
	if err != nil {
		panic(err)
	}
	fmt.Println("subscriber:", sub.Email, sub.State, "created:", created)
	for range 2 { // the second tagging finds the tag already there
		added, err := client.TagSubscriber(ctx, active, "ada@example.com")
		if err != nil {
			panic(err)
		}
		fmt.Println("tag added:", added)
	}
	if _, err := client.AddToSequence(ctx, onboarding, "ada@example.com"); err != nil {
		panic(err)
	}

	fmt.Println("tag", active, "sequence", onboarding)
	fmt.Println("ada holds tags", fake.TagsOf("ada@example.com"), "and sequences", fake.SequencesOf("ada@example.com"))
	// Output:
	// subscriber: ada@example.com active created: true
	// tag added: true
	// tag added: false
	// tag 1001 sequence 1002
	// ada holds tags [1001] and sequences [1002]
}

// The fake enforces Kit's per-key rate limit on its own clock: past the limit it answers 429, which the
// client reports as RateLimited (the sync job snoozes); once the window has passed, requests go through
// again.
func Example_rateLimit() {
	clock := providertest.NewClock(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	fake := kittest.New(kittest.Options{Now: clock.Now, RateLimit: 2})
	defer fake.Close()

	client := kit.New(kit.Config{BaseURL: fake.URL, APIKey: kittest.DefaultAPIKey, MaxRetries: -1, Now: clock.Now})
	ctx := context.Background()
	for i := range 3 {
		if _, err := client.Tags(ctx); err != nil {
			fmt.Println("request", i+1, "failed:", provider.KindOf(err))
		} else {
			fmt.Println("request", i+1, "ok")
		}
	}
	clock.Advance(kittest.DefaultRateWindow)
	if _, err := client.Tags(ctx); err == nil {
		fmt.Println("a minute later: ok")
	}
	// Output:
	// request 1 ok
	// request 2 ok
	// request 3 failed: rate_limited
	// a minute later: ok
}
