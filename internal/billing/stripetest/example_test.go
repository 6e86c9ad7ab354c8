package stripetest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
)

// The Control API changes the fake's state the way Stripe would (here a customer subscribes, then a
// renewal payment fails) and the production billing reader reads it back over HTTP with stripe-go.
func Example() {
	fake := stripetest.New(stripetest.Options{Now: func() time.Time { return time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC) }})
	defer fake.Close()
	monthly := fake.CreatePrice(fake.CreateProduct("Pro membership"), 2900, true)
	cus := fake.CreateCustomer("ada@example.com", "Ada Lovelace")
	sub := fake.Subscribe(cus, monthly, 0)

	reader := billing.NewReader(billing.Config{SecretKey: fake.SecretKey(), BaseURL: fake.URL, Now: fake.Now})
	ctx := context.Background()
	show := func() {
		b, err := reader.Snapshot(ctx, cus)
		if err != nil {
			panic(err)
		}
		c := b.Customers[0]
		s := c.Subscriptions[0]
		fmt.Printf("%s: %s, period ends %s", c.Email, s.Status, s.Items[0].CurrentPeriodEnd.Format(time.DateOnly))
		if !s.FirstFailedPaymentAt.IsZero() {
			fmt.Printf(", failing since %s", s.FirstFailedPaymentAt.Format(time.DateOnly))
		}
		fmt.Println()
	}
	show()

	fake.Advance(31 * 24 * time.Hour)
	failedAt := fake.Now()
	fake.FailPayment(sub)
	show()

	// The fake recorded the events Stripe would send; Deliver posts them, signed, to a webhook URL.
	for _, e := range fake.Events() {
		if !e.Created.Before(failedAt) {
			fmt.Println("event", e.Type)
		}
	}
	// Output:
	// ada@example.com: active, period ends 2026-06-01
	// ada@example.com: past_due, period ends 2026-07-01, failing since 2026-06-01
	// event invoice.created
	// event invoice.finalized
	// event charge.failed
	// event payment_intent.payment_failed
	// event invoice.payment_failed
	// event customer.subscription.updated
}
