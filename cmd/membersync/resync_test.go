package main

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/converge"
)

// TestE2EResyncAdoptsUnseenCustomer: the webhooks of a subscription never arrived, so no person has
// the customer; `membersync resync cus_…` (and by email) looks the customer up in Stripe, adopts it
// and syncs, which grants access.
func TestE2EResyncAdoptsUnseenCustomer(t *testing.T) {
	w := newWorld(t, worldOptions{})
	const eve, fay = "eve@example.com", "fay@example.com"
	cusEve := w.stripe.CreateCustomer(eve, "Eve")
	w.stripe.Subscribe(cusEve, w.proPrice, 0)
	cusFay := w.stripe.CreateCustomer(fay, "Fay")
	w.stripe.Subscribe(cusFay, w.proPrice, 0)
	w.skip() // every webhook lost
	ctx := context.Background()
	if n, _ := w.store.PeopleCount(ctx); n != 0 {
		t.Fatalf("%d people before any resync", n)
	}

	out, err := runDirect(t, w, cmdResync, cusEve)
	if err != nil {
		t.Fatalf("resync %s: %v", cusEve, err)
	}
	if !strings.Contains(out, "adopted Stripe customer "+cusEve) || !strings.Contains(out, "queued a sync of person") {
		t.Errorf("resync output:\n%s", out)
	}
	w.settle()
	if !slices.Contains(w.access(eve), w.proGroup) {
		t.Errorf("Eve's access after resync %s: %v, want the pro group", cusEve, w.access(eve))
	}

	// By email: Stripe's customers-by-email lookup finds Fay's customer.
	out, err = runDirect(t, w, cmdResync, "Fay@Example.com")
	if err != nil || !strings.Contains(out, "adopted Stripe customer "+cusFay) {
		t.Fatalf("resync by email: %v\n%s", err, out)
	}
	w.settle()
	if !slices.Contains(w.access(fay), w.proGroup) {
		t.Errorf("Fay's access after resync by email: %v", w.access(fay))
	}

	// A known person is resynced, not adopted again.
	out, err = runDirect(t, w, cmdResync, cusEve)
	if err != nil || strings.Contains(out, "adopted") {
		t.Errorf("second resync: %v\n%s", err, out)
	}
	w.settle()
	if n, _ := w.store.PeopleCount(ctx); n != 2 {
		t.Errorf("%d people, want 2", n)
	}

	// Stripe does not know these either: clear errors, nobody created.
	deleted := w.stripe.CreateCustomer("gone@example.com", "")
	w.stripe.DeleteCustomer(deleted)
	w.skip()
	for _, tc := range []struct{ who, want string }{
		{"cus_doesnotexist", "Stripe has no customer cus_doesnotexist"},
		{deleted, "Stripe customer " + deleted + " is deleted"},
		{"nobody@example.com", "no person with email nobody@example.com is known and Stripe has no customer with it"},
		{"ada", "neither an email nor a Stripe customer id"},
	} {
		_, err := runDirect(t, w, cmdResync, tc.who)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("resync %s: error %v, want one containing %q", tc.who, err, tc.want)
		}
		if tc.who != "ada" && !errors.Is(err, converge.ErrUnknownCustomer) {
			t.Errorf("resync %s: error %v does not wrap ErrUnknownCustomer", tc.who, err)
		}
	}
	if n, _ := w.store.PeopleCount(ctx); n != 2 {
		t.Errorf("%d people after failed resyncs, want 2", n)
	}
}
