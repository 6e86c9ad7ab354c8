package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

func TestE2EPaymentGrantsOnceAndDuplicatesCostNothing(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			w := newWorld(t, worldOptions{dialect: d})
			cus := w.stripe.CreateCustomer("Ada.Lovelace@Example.com", "Ada Lovelace")
			w.stripe.Subscribe(cus, w.proPrice, 0)
			w.deliver(stripetest.DeliveryOptions{})
			w.settle()

			email := "ada.lovelace@example.com"
			if got := w.access(email); !slices.Equal(got, []int64{w.proGroup}) {
				t.Fatalf("Circle access: got %v, want [%d]", got, w.proGroup)
			}
			if got := w.kit.TagsOf(email); !slices.Equal(got, []int64{w.tagActive}) {
				t.Errorf("Kit tags: got %v, want [%d]", got, w.tagActive)
			}
			if got := w.kit.SequencesOf(email); !slices.Equal(got, []int64{w.seqOnboarding}) {
				t.Errorf("Kit sequences: got %v, want [%d]", got, w.seqOnboarding)
			}
			circleCalls, kitCalls := w.circle.Faults.TotalCalls(), w.kit.Faults.TotalCalls()
			t.Logf("new purchase: %d Circle calls, %d Kit calls", circleCalls, kitCalls)

			// Every event again, twice, shuffled and concurrent: nothing new anywhere.
			w.rewind()
			w.deliver(stripetest.DeliveryOptions{Duplicate: true, Shuffle: true, Seed: 7, Concurrency: 4})
			w.settle()
			if c, k := w.circle.Faults.TotalCalls()-circleCalls, w.kit.Faults.TotalCalls()-kitCalls; c != 0 || k != 0 {
				t.Errorf("duplicate deliveries cost %d Circle and %d Kit calls, want 0", c, k)
			}
			w.noDuplicates()
		})
	}
}

func TestE2EFailedPaymentNeverGrantsAndGraceExpires(t *testing.T) {
	w := newWorld(t, worldOptions{})
	cus := w.stripe.CreateCustomer("bob@example.com", "Bob")
	sub := w.stripe.Subscribe(cus, w.proPrice, 0)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()

	w.stripe.Advance(31 * 24 * time.Hour)
	w.stripe.FailPayment(sub)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	if got := w.access("bob@example.com"); len(got) != 1 {
		t.Fatalf("within grace: access %v, want kept", got)
	}
	if got := w.kit.TagsOf("bob@example.com"); !slices.Equal(got, []int64{w.tagPastDue}) {
		t.Errorf("within grace: tags %v, want only past_due %d", got, w.tagPastDue)
	}

	// The grace period ends by the clock alone: a resync (as the timer would) revokes.
	w.stripe.Advance(4 * 24 * time.Hour)
	resync(t, w, "bob@example.com")
	if got := w.access("bob@example.com"); len(got) != 0 {
		t.Fatalf("after grace: access %v, want none", got)
	}
	// A redelivered old payment event never grants access back.
	w.rewind()
	w.deliver(stripetest.DeliveryOptions{Shuffle: true, Seed: 3})
	w.settle()
	if got := w.access("bob@example.com"); len(got) != 0 {
		t.Fatalf("after replays: access %v, want none", got)
	}

	carol := w.stripe.CreateCustomer("carol@example.com", "Carol")
	w.stripe.ExpireUnpaid(w.stripe.Subscribe(carol, w.proPrice, 0))
	w.skip() // the grant's events never arrived; only the final state is seen
	w.stripe.ChangeEmail(carol, "carol@example.com")
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	if got := w.access("carol@example.com"); len(got) != 0 {
		t.Errorf("unpaid subscription: access %v, want none", got)
	}
}

func resync(t *testing.T, w *world, email string) {
	t.Helper()
	out, _, err := runCmd(t, w.env(), "resync", "--config", w.cfgFile(), email)
	if err != nil {
		t.Fatalf("resync: %v", err)
	}
	if !strings.Contains(out, "queued") {
		t.Errorf("resync output %q", out)
	}
	w.settle()
}

func TestE2ERefundRevokesEvenThroughACircleOutage(t *testing.T) {
	w := newWorld(t, worldOptions{})
	cus := w.stripe.CreateCustomer("dan@example.com", "Dan")
	_, charge := w.stripe.Purchase(cus, w.coursePrice)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	if got := w.access("dan@example.com"); !slices.Equal(got, []int64{w.courseGroup}) {
		t.Fatalf("after purchase: access %v", got)
	}

	w.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
	w.stripe.Refund(charge, 19900)
	w.deliver(stripetest.DeliveryOptions{})
	// While Circle is down the sync retries and, after a few attempts, raises a review item.
	waitFor(t, "a sync_failing review item", func() bool {
		items, _ := w.store.Reviews(context.Background(), "open", 0, 0)
		return slices.ContainsFunc(items, func(it store.ReviewItem) bool { return it.Kind == "sync_failing" })
	})
	if got := w.access("dan@example.com"); len(got) != 1 {
		t.Fatalf("Circle down: access %v should still be there (the revoke cannot be applied yet)", got)
	}
	w.circle.Faults.Heal()
	w.settle()
	if got := w.access("dan@example.com"); len(got) != 0 {
		t.Fatalf("after heal: access %v, want revoked", got)
	}
	items, _ := w.store.Reviews(context.Background(), "open", 0, 0)
	if slices.ContainsFunc(items, func(it store.ReviewItem) bool { return it.Kind == "sync_failing" }) {
		t.Errorf("the sync_failing item must resolve itself once a sync succeeds: %+v", items)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestE2EKitOnlyAfterCircleAccess(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 500})
	cus := w.stripe.CreateCustomer("erin@example.com", "Erin")
	w.stripe.Subscribe(cus, w.proPrice, 0)
	w.deliver(stripetest.DeliveryOptions{})
	waitFor(t, "a few failed sync attempts", func() bool { return w.circle.Faults.TotalCalls() >= 6 })
	if tags, seqs := w.kit.TagsOf("erin@example.com"), w.kit.SequencesOf("erin@example.com"); len(tags)+len(seqs) > 0 {
		t.Fatalf("Circle down: Kit got tags %v and sequences %v before access existed", tags, seqs)
	}
	w.circle.Faults.Heal()
	w.settle()
	if got := w.kit.SequencesOf("erin@example.com"); !slices.Equal(got, []int64{w.seqOnboarding}) {
		t.Fatalf("after heal: sequences %v", got)
	}
	// Order across the fakes' mutation logs: the grant precedes the first Kit mutation.
	var grant, firstKit time.Time
	for _, m := range w.circle.Faults.Mutations() {
		if strings.Contains(m.Endpoint, "access_groups") && grant.IsZero() {
			grant = m.At
		}
	}
	for _, m := range w.kit.Faults.Mutations() {
		if strings.Contains(m.Endpoint, "tags") || strings.Contains(m.Endpoint, "sequences") {
			firstKit = m.At
			break
		}
	}
	if grant.IsZero() || firstKit.IsZero() || firstKit.Before(grant) {
		t.Errorf("Circle grant at %v, first Kit tag/sequence at %v: email must follow access", grant, firstKit)
	}
}

func TestE2EKitOutageNeverDelaysCircle(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.kit.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
	cus := w.stripe.CreateCustomer("fay@example.com", "Fay")
	w.stripe.Subscribe(cus, w.proPrice, 0)
	w.deliver(stripetest.DeliveryOptions{})
	waitFor(t, "Circle access while Kit is down", func() bool { return len(w.access("fay@example.com")) == 1 })
	w.kit.Faults.Heal()
	w.settle()
	if got := w.kit.TagsOf("fay@example.com"); !slices.Equal(got, []int64{w.tagActive}) {
		t.Errorf("after Kit heals: tags %v", got)
	}
}

func TestE2EEventDuringSlowSyncIsNotLost(t *testing.T) {
	w := newWorld(t, worldOptions{})
	w.circle.Faults.SetLatency(300 * time.Millisecond)
	w.circle.Faults.ResetCalls() // the start's catalog refresh listed the access groups: count the sync's calls only
	cus := w.stripe.CreateCustomer("gus@example.com", "Gus")
	w.stripe.Subscribe(cus, w.proPrice, 0)
	w.deliver(stripetest.DeliveryOptions{})
	waitFor(t, "the first sync to reach Circle", func() bool { return w.circle.Faults.TotalCalls() > 0 })
	w.stripe.Purchase(cus, w.coursePrice) // bought while the first sync is in flight
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	if got := w.access("gus@example.com"); !slices.Equal(got, []int64{w.proGroup, w.courseGroup}) {
		t.Fatalf("access %v, want both plans", got)
	}
	w.noDuplicates()
}

func TestE2ETwoCustomersOneEmailAreOnePerson(t *testing.T) {
	w := newWorld(t, worldOptions{})
	a := w.stripe.CreateCustomer("hal@example.com", "Hal")
	b := w.stripe.CreateCustomer("HAL@example.com ", "Hal")
	sub := w.stripe.Subscribe(a, w.proPrice, 0)
	w.stripe.Purchase(b, w.coursePrice)
	w.deliver(stripetest.DeliveryOptions{Concurrency: 4})
	w.settle()
	if got := w.access("hal@example.com"); !slices.Equal(got, []int64{w.proGroup, w.courseGroup}) {
		t.Fatalf("access %v, want the union of both customers' plans", got)
	}
	if n, _ := w.store.PeopleCount(context.Background()); n != 1 {
		t.Errorf("%d people, want 1", n)
	}
	w.stripe.CancelNow(sub)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	if got := w.access("hal@example.com"); !slices.Equal(got, []int64{w.courseGroup}) {
		t.Errorf("after canceling one: access %v, want only the course", got)
	}
	if got := w.kit.SequencesOf("hal@example.com"); !slices.Contains(got, w.seqRetention) {
		t.Errorf("sequences %v: the retention sequence should start on cancellation", got)
	}
	w.noDuplicates()
}

func TestE2EEmailChangeMovesAccess(t *testing.T) {
	w := newWorld(t, worldOptions{})
	cus := w.stripe.CreateCustomer("ivy@old.example", "Ivy")
	w.stripe.Subscribe(cus, w.proPrice, 0)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	w.stripe.ChangeEmail(cus, "ivy@new.example")
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	if got := w.access("ivy@new.example"); len(got) != 1 {
		t.Errorf("new email access %v", got)
	}
	if got := w.access("ivy@old.example"); len(got) != 0 {
		t.Errorf("old email keeps access %v", got)
	}

	// A change to an email another person holds is a review item, never a guess.
	other := w.stripe.CreateCustomer("jay@example.com", "Jay")
	w.stripe.Subscribe(other, w.proPrice, 0)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	w.stripe.ChangeEmail(cus, "jay@example.com")
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	items, _ := w.store.Reviews(context.Background(), "open", 0, 0)
	if !slices.ContainsFunc(items, func(it store.ReviewItem) bool { return it.Kind == "email_conflict" }) {
		t.Errorf("want an email_conflict review item, got %+v", items)
	}
	if got := w.access("ivy@new.example"); len(got) != 1 {
		t.Errorf("during the conflict the person keeps access under the email they had: %v", got)
	}
}
