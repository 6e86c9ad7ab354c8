package billing_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/provider"
)

func TestFormatAmount(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		amount   int64
		decimal  float64
		currency string
		want     string
	}{
		{2900, 0, "eur", "€29"},
		{2950, 0, "EUR", "€29.50"},
		{1999, 1999, "usd", "$19.99"},
		{5, 0, "usd", "$0.05"},
		{3000, 0, "jpy", "¥3000"},
		{29000, 0, "sek", "290 SEK"},
		{12345, 0, "kwd", "12.345 KWD"},
		{2900, 2900.5, "gbp", "£29.005"},
		{0, 0, "usd", "$0"},
		{700, 0, "", "7"},
	} {
		if got := billing.FormatAmount(tt.amount, tt.decimal, tt.currency); got != tt.want {
			t.Errorf("FormatAmount(%d, %v, %q) = %q, want %q", tt.amount, tt.decimal, tt.currency, got, tt.want)
		}
	}
}

func TestPriceLabel(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		p    billing.Price
		want string
	}{
		{billing.Price{ID: "price_1", ProductName: "Pro", Currency: "eur", UnitAmount: 2900, Interval: "month", IntervalCount: 1}, "Pro (€29/month)"},
		{billing.Price{ID: "price_2", ProductName: "Pro", Currency: "eur", UnitAmount: 29000, Interval: "year", IntervalCount: 2}, "Pro (€290 every 2 years)"},
		{billing.Price{ID: "price_3", ProductName: "Course", Currency: "usd", UnitAmount: 19900}, "Course ($199)"},
		{billing.Price{ID: "price_4", Nickname: "Founders", Currency: "usd", Tiered: true, Interval: "month", IntervalCount: 1}, "Founders (tiered/month)"},
		{billing.Price{ID: "price_5", Currency: "usd", CustomAmount: true}, "price_5 (customer chooses)"},
	} {
		if got := tt.p.Label(); got != tt.want {
			t.Errorf("%s: Label() = %q, want %q", tt.p.ID, got, tt.want)
		}
	}
}

// TestPrices: every price of the account, active and archived, comes back over HTTP with its
// product's name, currency and interval, through all pages; a renamed product shows its new name.
func TestPrices(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{MaxPageSize: 2})
	annual := e.srv.CreatePriceWith(e.pro, stripetest.PriceSpec{UnitAmount: 29000, Currency: "eur", Interval: "year"})
	quarterly := e.srv.CreatePriceWith(e.pro, stripetest.PriceSpec{UnitAmount: 8000, Currency: "eur", Interval: "month", IntervalCount: 3})
	e.srv.ArchivePrice(e.course)
	e.srv.RenameProduct(e.crs, "Lifetime course")

	e.calls.reset()
	got, err := e.r.Prices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]string{}
	active := map[string]bool{}
	var ids []string
	for _, p := range got {
		labels[p.ID], active[p.ID] = p.Label(), p.Active
		ids = append(ids, p.ID)
	}
	want := map[string]string{
		e.monthly: "Pro membership ($29/month)",
		e.course:  "Lifetime course ($299)",
		annual:    "Pro membership (€290/year)",
		quarterly: "Pro membership (€80 every 3 months)",
	}
	for id, label := range want {
		if labels[id] != label {
			t.Errorf("%s: %q, want %q", id, labels[id], label)
		}
	}
	if len(got) != len(want) || !slices.Equal(ids, []string{quarterly, annual, e.course, e.monthly}) {
		t.Errorf("prices %v, want the four newest first", ids)
	}
	if active[e.course] || !active[e.monthly] {
		t.Errorf("active = %v, want the course's price archived and the rest active", active)
	}
	for _, p := range got {
		if p.ProductID == "" {
			t.Errorf("%s has no product id", p.ID)
		}
	}
	if ops := e.calls.ops(); !slices.Equal(ops, []string{"list_prices", "list_prices"}) {
		t.Errorf("calls %v, want two pages of list_prices", ops)
	}
}

// TestPricesWithoutProductPermission: a restricted key with Read on Prices but not on Products
// still lists the prices, named by nickname or id; a key without Read on Prices is a Config error
// that names the permission.
func TestPricesWithoutProductPermission(t *testing.T) {
	t.Parallel()
	e := newEnv(t, stripetest.Options{RestrictedKeys: map[string][]string{
		"rk_test_prices":   {"rak_price_read"},
		"rk_test_noprices": {"rak_product_read"},
	}})
	got, err := e.reader("rk_test_prices").Prices(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ProductName != "" || got[0].Name() != got[0].ID || got[0].ProductID == "" {
		t.Errorf("prices without products: %+v", got)
	}
	_, err = e.reader("rk_test_noprices").Prices(context.Background())
	var pe *provider.Error
	if provider.KindOf(err) != provider.Config || !errors.As(err, &pe) || !strings.Contains(pe.Message, "Read on Prices") {
		t.Errorf("no Read on Prices: %v, want a Config error naming the permission", err)
	}
}
