package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/store"
)

// source is a fixed set of cached names.
type source []store.CatalogName

func (s source) CatalogNames(context.Context) ([]store.CatalogName, error) { return s, nil }

func testNames(t *testing.T) *catalog.Cached {
	t.Helper()
	at := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	c, err := catalog.Load(context.Background(), source{
		{Provider: "circle", Kind: "access_group", ID: "11", Name: "Pro members", FetchedAt: at},
		{Provider: "circle", Kind: "access_group", ID: "12", Name: "Old cohort", Detail: "archived", FetchedAt: at},
		{Provider: "kit", Kind: "tag", ID: "1001", Name: "pro-active", FetchedAt: at},
		{Provider: "kit", Kind: "sequence", ID: "7", Name: "Welcome to Pro", FetchedAt: at},
		{Provider: "stripe", Kind: "price", ID: "price_1Pro", Name: "Pro", Detail: "€29/month", FetchedAt: at},
		{Provider: "stripe", Kind: "product", ID: "prod_Pro", Name: "Pro", FetchedAt: at},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNames(t *testing.T) {
	t.Parallel()
	c := testNames(t)
	for _, tt := range []struct{ got, want string }{
		{c.AccessGroup(11), "Pro members"},
		{c.AccessGroup(12), "Old cohort (archived)"},
		{c.AccessGroup(99), "access group 99"},
		{c.Tag(1001), "pro-active"},
		{c.Tag(11), "tag 11"}, // a group's id is not a tag's
		{c.Sequence(7), "Welcome to Pro"},
		{c.Sequence(8), "sequence 8"},
		{c.Price("price_1Pro"), "Pro (€29/month)"},
		{c.Price("price_X"), "price price_X"},
		{c.Product("prod_Pro"), "Pro"},
		{catalog.Product(catalog.Fallback{}, "prod_Pro"), "product prod_Pro"},
		{catalog.Product(c, "prod_Pro"), "Pro"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
	var none *catalog.Cached
	if got := none.AccessGroup(11); got != "access group 11" {
		t.Errorf("nil Cached: %q", got)
	}
	if es := c.Entries(); len(es) != 6 || es[0].ID != "11" || es[1].ID != "12" || es[2].Kind != catalog.KindTag || es[5].Kind != catalog.KindProduct {
		t.Errorf("entries out of order: %+v", es)
	}
}

func TestLabel(t *testing.T) {
	t.Parallel()
	c := testNames(t)
	for _, tt := range []struct {
		l                  catalog.Label
		str, idText, title string
		known              bool
	}{
		{catalog.AccessGroupLabel(c, 11), "Pro members (#11)", "#11", "Circle access group 11", true},
		{catalog.AccessGroupLabel(nil, 11), "access group 11", "#11", "Circle access group 11", false},
		{catalog.TagLabel(c, 1001), "pro-active (#1001)", "#1001", "Kit tag 1001", true},
		{catalog.SequenceLabel(c, 8), "sequence 8", "#8", "Kit sequence 8", false},
		{catalog.PriceLabel(c, "price_1Pro"), "Pro (€29/month) · price_1Pro", "price_1Pro", "Stripe price price_1Pro", true},
		{catalog.ProductLabel(c, "prod_Pro"), "Pro · prod_Pro", "prod_Pro", "Stripe product prod_Pro", true},
		{catalog.ProductLabel(catalog.Fallback{}, "prod_Pro"), "product prod_Pro", "prod_Pro", "Stripe product prod_Pro", false},
		{catalog.LabelOf(c, catalog.KindTag, "x"), "tag x", "#x", "Kit tag x", false},
	} {
		if got := tt.l.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		if tt.l.IDText() != tt.idText || tt.l.Title() != tt.title || tt.l.Known != tt.known {
			t.Errorf("%q: IDText %q, Title %q, Known %t; want %q, %q, %t", tt.str, tt.l.IDText(), tt.l.Title(), tt.l.Known, tt.idText, tt.title, tt.known)
		}
	}
}

func TestAnnotate(t *testing.T) {
	t.Parallel()
	c := testNames(t)
	for _, tt := range []struct{ in, want string }{
		{"Circle has no access group 11, which the plans name", `Circle has no access group "Pro members" (#11), which the plans name`},
		{"add_access_group access_group:11", `add_access_group access_group "Pro members" (#11)`},
		{"circle:add_access_group:11", `circle:add_access_group "Pro members" (#11)`},
		{"kit:tag:1001 and kit:untag:1001", `kit:tag "pro-active" (#1001) and kit:untag "pro-active" (#1001)`},
		{"tag:1001 subscriber:5", `tag "pro-active" (#1001) subscriber:5`},
		{"kit:add_to_sequence:7", `kit:add_to_sequence "Welcome to Pro" (#7)`},
		{"Tag 1001 failed", `Tag "pro-active" (#1001) failed`},
		{"unmapped price price_1Pro", `unmapped price "Pro (€29/month)" (price_1Pro)`},
		{"product prod_Pro", `product "Pro" (prod_Pro)`},
		// Unknown ids, other numbers and longer words stay as they are.
		{"access group 99, tag 5, sequence 8, price_Other", "access group 99, tag 5, sequence 8, price_Other"},
		{"DS key tag11 and hashtag 1001 and tags 1001", "DS key tag11 and hashtag 1001 and tags 1001"},
		{"HTTP 404 for person 11", "HTTP 404 for person 11"},
		{"", ""},
	} {
		got := catalog.Annotate(c, tt.in)
		if got != tt.want {
			t.Errorf("Annotate(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if again := catalog.Annotate(c, got); again != got {
			t.Errorf("Annotate twice changed %q to %q", got, again)
		}
		if none := catalog.Annotate(nil, tt.in); none != tt.in {
			t.Errorf("Annotate(nil, %q) = %q", tt.in, none)
		}
	}
}
