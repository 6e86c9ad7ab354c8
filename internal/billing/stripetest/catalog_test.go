package stripetest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"

	"github.com/membersync/membersync/internal/billing/stripetest"
)

// TestListPrices: GET /v1/prices lists prices newest first with Stripe's filters, expands their
// products on request, and refuses filter values Stripe refuses.
func TestListPrices(t *testing.T) {
	srv := newServer(t, stripetest.Options{})
	pro := srv.CreateProduct("Pro")
	monthly := srv.CreatePrice(pro, 2900, true)
	annual := srv.CreatePriceWith(pro, stripetest.PriceSpec{UnitAmount: 29000, Currency: "EUR", Interval: "year"})
	course := srv.CreatePrice(srv.CreateProduct("Course"), 19900, false)
	srv.ArchivePrice(monthly)
	srv.RenameProduct(pro, "Pro membership")

	type price struct {
		ID        string `json:"id"`
		Active    bool   `json:"active"`
		Currency  string `json:"currency"`
		Type      string `json:"type"`
		Product   any    `json:"product"`
		Recurring *struct {
			Interval      string `json:"interval"`
			IntervalCount int64  `json:"interval_count"`
		} `json:"recurring"`
	}
	list := func(query string) (int, []price) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/v1/prices?"+query, nil)
		req.Header.Set("Authorization", "Bearer "+srv.SecretKey())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var out struct {
			Object string  `json:"object"`
			Data   []price `json:"data"`
		}
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(body, &out); err != nil || out.Object != "list" {
				t.Fatalf("%s: %v %s", query, err, body)
			}
		}
		return resp.StatusCode, out.Data
	}
	ids := func(ps []price) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", []string{course, annual, monthly}},
		{"active=true", []string{course, annual}},
		{"active=false", []string{monthly}},
		{"type=one_time", []string{course}},
		{"type=recurring&recurring[interval]=year", []string{annual}},
		{"currency=eur", []string{annual}},
		{"product=" + pro, []string{annual, monthly}},
		{"product=prod_missing", nil},
		{"limit=1&starting_after=" + course, []string{annual}},
	} {
		status, got := list(tt.query)
		if status != 200 || !slices.Equal(ids(got), tt.want) {
			t.Errorf("?%s: %d %v, want %v", tt.query, status, ids(got), tt.want)
		}
	}
	_, got := list("expand[]=data.product&currency=eur")
	if len(got) != 1 || got[0].Currency != "eur" || got[0].Recurring == nil || got[0].Recurring.Interval != "year" ||
		got[0].Recurring.IntervalCount != 1 {
		t.Fatalf("annual price: %+v", got)
	}
	if p, ok := got[0].Product.(map[string]any); !ok || p["name"] != "Pro membership" || p["id"] != pro {
		t.Errorf("expanded product = %v, want the renamed product", got[0].Product)
	}
	if _, got := list("type=one_time"); len(got) != 1 {
		t.Errorf("one-time prices: %+v", got)
	} else if id, ok := got[0].Product.(string); !ok || id == "" {
		t.Errorf("unexpanded product = %v, want its id", got[0].Product)
	}
	for _, q := range []string{"active=yes", "type=licensed", "recurring[interval]=fortnight", "limit=0"} {
		if status, _ := list(q); status != 400 {
			t.Errorf("?%s: status %d, want 400", q, status)
		}
	}
	if n := srv.Faults.Calls("GET /v1/prices"); n != 15 {
		t.Errorf("calls counted %d, want 15", n)
	}
}
