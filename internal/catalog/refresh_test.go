package catalog_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// world is the three fakes over real HTTP, the real clients and a migrated store.
type world struct {
	circle *circletest.Server
	kit    *kittest.Server
	stripe *stripetest.Server
	st     *store.Store
	clock  *providertest.Clock
	r      *catalog.Refresher
	names  *catalog.Cached

	pro, course        int64
	active, canceled   int64
	welcome            int64
	proPrice, proProd  string
	coursePrice, crsID string
}

func newWorld(t *testing.T, dialect string) *world {
	t.Helper()
	w := &world{circle: circletest.New(circletest.Options{}), kit: kittest.New(kittest.Options{}), stripe: stripetest.New(stripetest.Options{})}
	t.Cleanup(w.circle.Close)
	t.Cleanup(w.kit.Close)
	t.Cleanup(w.stripe.Close)
	w.st = storetest.Open(t, dialect)
	w.pro, w.course = w.circle.AddAccessGroup("Pro members"), w.circle.AddAccessGroup("Course")
	w.active, w.canceled = w.kit.CreateTag("pro-active"), w.kit.CreateTag("pro-canceled")
	w.welcome = w.kit.CreateSequence("Welcome to Pro", true)
	w.proProd = w.stripe.CreateProduct("Pro")
	w.proPrice = w.stripe.CreatePriceWith(w.proProd, stripetest.PriceSpec{UnitAmount: 2900, Currency: "eur", Interval: "month"})
	w.crsID = w.stripe.CreateProduct("Lifetime course")
	w.coursePrice = w.stripe.CreatePrice(w.crsID, 19900, false)

	w.names = catalog.NewCached(w.st)
	w.clock = providertest.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	w.r = &catalog.Refresher{
		Now:    w.clock.Now,
		Store:  w.st,
		Circle: circle.New(circle.Config{BaseURL: w.circle.URL, Token: w.circle.Token, MaxRetries: -1}),
		Kit:    kit.New(kit.Config{BaseURL: w.kit.URL, APIKey: kittest.DefaultAPIKey, MaxRetries: -1}),
		Stripe: billing.NewReader(billing.Config{SecretKey: w.stripe.SecretKey(), BaseURL: w.stripe.URL}),
		Names:  w.names,
	}
	return w
}

// TestRefresh: a refresh lists the four kinds from the three providers over HTTP, caches them in
// the database and reloads the names; a later refresh in which Kit is down updates Circle's and
// Stripe's names and keeps Kit's as they were.
func TestRefresh(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			w := newWorld(t, d)
			if got := w.names.AccessGroup(w.pro); !strings.HasPrefix(got, "access group ") {
				t.Fatalf("before any refresh: %q, want the fallback", got)
			}
			res := w.r.Refresh(ctx)
			if err := res.Err(); err != nil {
				t.Fatal(err)
			}
			if got, want := res.Summary(), "2 access groups, 2 tags, 1 sequence, 2 prices, 2 products"; got != want {
				t.Errorf("summary %q, want %q", got, want)
			}
			for _, tt := range []struct{ got, want string }{
				{w.names.AccessGroup(w.pro), "Pro members"},
				{w.names.Tag(w.canceled), "pro-canceled"},
				{w.names.Sequence(w.welcome), "Welcome to Pro"},
				{w.names.Price(w.proPrice), "Pro (€29/month)"},
				{w.names.Price(w.coursePrice), "Lifetime course ($199)"},
				{w.names.Product(w.crsID), "Lifetime course"},
			} {
				if tt.got != tt.want {
					t.Errorf("after the first refresh: %q, want %q", tt.got, tt.want)
				}
			}
			// A second instance reading the same database sees them.
			other, err := catalog.Load(ctx, w.st)
			if err != nil || other.Tag(w.active) != "pro-active" {
				t.Fatalf("loaded by another instance: %q, %v", other.Tag(w.active), err)
			}

			// Two hours later names change everywhere, and Kit goes down.
			w.clock.Advance(2 * time.Hour)
			if err := w.circle.RenameAccessGroup(w.pro, "Pro community"); err != nil {
				t.Fatal(err)
			}
			if err := w.circle.ArchiveAccessGroup(w.course); err != nil {
				t.Fatal(err)
			}
			w.kit.RenameTag(w.active, "renamed-while-down")
			w.stripe.RenameProduct(w.proProd, "Pro membership")
			w.kit.Faults.FailFor(time.Hour, providertest.Fault{Status: http.StatusServiceUnavailable})
			res = w.r.Refresh(ctx)
			if res.Err() == nil || !strings.Contains(res.Summary(), "kit tags not refreshed") ||
				!strings.Contains(res.Summary(), "kit sequences not refreshed") || !strings.Contains(res.Summary(), "2 access groups") {
				t.Errorf("refresh with Kit down: summary %q, err %v", res.Summary(), res.Err())
			}
			for _, tt := range []struct{ got, want string }{
				{w.names.AccessGroup(w.pro), "Pro community"},
				{w.names.AccessGroup(w.course), "Course (archived)"},
				{w.names.Price(w.proPrice), "Pro membership (€29/month)"},
				{w.names.Tag(w.active), "pro-active"}, // Kit failed: the cached name stays
				{w.names.Sequence(w.welcome), "Welcome to Pro"},
			} {
				if tt.got != tt.want {
					t.Errorf("after the refresh with Kit down: %q, want %q", tt.got, tt.want)
				}
			}

			// Stale lists only: with Kit still down, the lists an hour old or more are Kit's
			// (not refreshed since the start); Circle's and Stripe's were just read.
			circleCalls := w.circle.Faults.TotalCalls()
			res = w.r.RefreshStale(ctx, time.Hour)
			if len(res.Lists) != 2 || res.Lists[0].Kind != catalog.KindTag || res.Lists[1].Kind != catalog.KindSequence || res.Err() == nil {
				t.Errorf("RefreshStale with Kit down: %+v", res.Lists)
			}
			if w.circle.Faults.TotalCalls() != circleCalls {
				t.Error("RefreshStale listed Circle's fresh access groups again")
			}

			// Kit is back: the hourly job does nothing while every list is younger than a day, then
			// lists again what turned a day old, Kit's first (its last success is the oldest).
			w.kit.Faults.Heal()
			worker := &catalog.Worker{Refresher: w.r}
			kitCalls := w.kit.Faults.TotalCalls()
			if err := worker.Work(ctx, &river.Job[catalog.RefreshArgs]{}); err != nil {
				t.Fatal(err)
			}
			if w.kit.Faults.TotalCalls() != kitCalls || w.names.Tag(w.active) != "pro-active" {
				t.Errorf("the job listed Kit again before a day passed (%d calls)", w.kit.Faults.TotalCalls()-kitCalls)
			}
			w.clock.Advance(23 * time.Hour) // Kit's lists are 25 h old, Circle's and Stripe's 23 h
			if err := worker.Work(ctx, &river.Job[catalog.RefreshArgs]{}); err != nil {
				t.Fatal(err)
			}
			if got := w.names.Tag(w.active); got != "renamed-while-down" {
				t.Errorf("after a day: %q, want Kit's new name", got)
			}
			if w.circle.Faults.TotalCalls() != circleCalls {
				t.Error("the job listed Circle's access groups before they were a day old")
			}
		})
	}
}

// TestRefreshOneProviderOnly: a Refresher without Stripe lists Circle and Kit only; Stripe's cached
// names are not touched.
func TestRefreshOneProviderOnly(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, storetest.Dialects()[0])
	if err := w.r.Refresh(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	w.stripe.RenameProduct(w.proProd, "Changed")
	only := *w.r
	only.Stripe = nil
	res := only.Refresh(ctx)
	if len(res.Lists) != 3 || res.Err() != nil {
		t.Errorf("lists %+v, want access groups, tags and sequences", res.Lists)
	}
	if got := w.names.Price(w.proPrice); got != "Pro (€29/month)" {
		t.Errorf("Stripe's names changed without Stripe: %q", got)
	}
}
