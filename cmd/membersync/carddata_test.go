package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestStoredPayloadsHoldNoCardData drives subscriptions, a one-time purchase, a failed and a
// recovered payment, a refund and a dispute through the fake Stripe and the webhook endpoint, then
// scans everything stored from them (webhook events, billing snapshots, desired states, the journal)
// for card data: Stripe sends none, and membersync must store none.
func TestStoredPayloadsHoldNoCardData(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			w := newWorld(t, worldOptions{dialect: d})
			ada := w.stripe.CreateCustomer("ada@example.com", "Ada Lovelace")
			sub := w.stripe.Subscribe(ada, w.proPrice, 0)
			_, charge := w.stripe.Purchase(w.stripe.CreateCustomer("bo@example.com", "Bo"), w.coursePrice)
			_, cs := w.stripe.SubscribeViaCheckout(w.stripe.CreateCustomer("cy@example.com", "Cy"), w.proPrice, 7)
			w.deliver(stripetest.DeliveryOptions{})
			w.settle()
			w.stripe.Advance(31 * 24 * time.Hour)
			w.stripe.FailPayment(sub)
			w.stripe.RecoverPayment(sub)
			w.stripe.Refund(charge, 1000)
			w.stripe.Dispute(w.stripe.LatestCharge(sub))
			w.stripe.CancelNow(cs)
			w.deliver(stripetest.DeliveryOptions{})
			w.settle()

			scanned, cards := 0, 0
			for _, q := range []string{
				"SELECT id, payload FROM stripe_events",
				"SELECT CAST(id AS TEXT), billing FROM people",
				"SELECT CAST(id AS TEXT), desired FROM people",
				"SELECT CAST(id AS TEXT), detail FROM journal",
			} {
				for id, payload := range storedTexts(t, w.store, q) {
					scanned++
					if strings.Contains(payload, `"last4"`) {
						cards++ // a card object was stored and scanned: the scan is not vacuous
					}
					for _, f := range storetest.CardData([]byte(payload)) {
						t.Errorf("%s, row %s: %s", q, id, f)
					}
				}
			}
			if scanned < 20 || cards == 0 {
				t.Fatalf("scanned only %d stored payloads, %d with a card object", scanned, cards)
			}
			t.Logf("scanned %d stored payloads, %d with a card object", scanned, cards)
		})
	}
}

// storedTexts runs a query of two text columns (a row's id and a payload) on either dialect.
func storedTexts(t *testing.T, st *store.Store, query string) map[string]string {
	t.Helper()
	ctx := context.Background()
	if db := st.SQLDB(); db != nil {
		rows, err := db.QueryContext(ctx, query)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		return scanTexts(t, rows)
	}
	rows, err := st.Pool().Query(ctx, query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return scanTexts(t, rows)
}

// textRows is what database/sql's and pgx's rows have in common.
type textRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanTexts reads (id, text) rows into a map.
func scanTexts(t *testing.T, rows textRows) map[string]string {
	t.Helper()
	out := map[string]string{}
	for rows.Next() {
		var id, v string
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		out[id] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
