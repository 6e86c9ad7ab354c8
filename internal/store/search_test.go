package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

func TestSearchPeopleAndEventsPage(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := t0
		st.Now = func() time.Time { return clock }
		people := map[string]int64{}
		for i, c := range []struct{ cus, email, name, typ string }{
			{"cus_ada1", "ada@example.com", "Ada Lovelace", "customer.subscription.updated"},
			{"cus_bob1", "bob_smith@example.com", "Bob Smith", "invoice.payment_failed"},
			{"cus_cy", "cy@example.org", "Cy 100%", "customer.subscription.updated"},
		} {
			clock = t0.Add(time.Duration(i) * time.Minute)
			res := ingest(t, st, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: c.typ, CustomerID: c.cus, Actionable: true, Created: clock, Payload: []byte(`{}`)})
			if err := st.SetIdentity(ctx, res.PersonID, c.email, c.name); err != nil {
				t.Fatal(err)
			}
			people[c.cus] = res.PersonID
		}
		ingest(t, st, store.Event{ID: "evt_ignored", Type: "product.created", Created: clock, Payload: []byte(`{}`)})
		if _, err := st.OpenReview(ctx, store.ReviewItem{PersonID: people["cus_bob1"], Kind: "action_failed", ActionKey: "circle:add:1", Reason: "x"}); err != nil {
			t.Fatal(err)
		}
		search := []struct {
			q    string
			want []string
		}{
			{"ADA@", []string{"cus_ada1"}},
			{"smith", []string{"cus_bob1"}},
			{"cus_cy", []string{"cus_cy"}},
			{"cus_", []string{"cus_cy", "cus_bob1", "cus_ada1"}},
			{"_smith", []string{"cus_bob1"}}, // _ is literal, not LIKE's any-character
			{"100%", []string{"cus_cy"}},
			{"example.org", []string{"cus_cy"}},
			{"nobody", nil},
			{"", []string{"cus_cy", "cus_bob1", "cus_ada1"}},
			{fmt.Sprint(people["cus_bob1"]), []string{"cus_bob1"}},
		}
		for _, c := range search {
			got, err := st.SearchPeople(ctx, c.q, 10)
			if err != nil {
				t.Fatalf("search %q: %v", c.q, err)
			}
			var cus []string
			for _, p := range got {
				cus = append(cus, strings.Join(p.CustomerIDs, "+"))
			}
			if strings.Join(cus, ",") != strings.Join(c.want, ",") {
				t.Errorf("search %q: got %v, want %v", c.q, cus, c.want)
			}
		}
		if got, _ := st.SearchPeople(ctx, "bob", 10); len(got) != 1 || got[0].OpenReviews != 1 || got[0].Name != "Bob Smith" {
			t.Errorf("bob: got %+v", got)
		}

		events := []struct {
			name string
			f    store.EventFilter
			want []string
		}{
			{"all", store.EventFilter{}, []string{"evt_ignored", "evt_2", "evt_1", "evt_0"}},
			{"type", store.EventFilter{Type: "customer.subscription.updated"}, []string{"evt_2", "evt_0"}},
			{"state", store.EventFilter{State: store.EventIgnored}, []string{"evt_ignored"}},
			{"since", store.EventFilter{Since: t0.Add(time.Minute)}, []string{"evt_ignored", "evt_2", "evt_1"}},
			{"until", store.EventFilter{Until: t0.Add(time.Minute)}, []string{"evt_0"}},
		}
		for _, c := range events {
			page, err := st.EventsPage(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var ids []string
			for _, ev := range page.Events {
				ids = append(ids, ev.ID)
			}
			if strings.Join(ids, ",") != strings.Join(c.want, ",") || page.Next != "" {
				t.Errorf("%s: got %v next %q, want %v", c.name, ids, page.Next, c.want)
			}
		}
		// Paging walks every event once, newest first, even when two share a receipt time.
		var walked []string
		f := store.EventFilter{Limit: 1}
		for range 10 {
			page, err := st.EventsPage(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range page.Events {
				walked = append(walked, ev.ID)
			}
			if page.Next == "" {
				break
			}
			f.Cursor = page.Next
		}
		if got := strings.Join(walked, ","); got != "evt_ignored,evt_2,evt_1,evt_0" {
			t.Errorf("paging: got %s", got)
		}
		if _, err := st.EventsPage(ctx, store.EventFilter{Cursor: "garbage"}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("bad cursor: got %v", err)
		}
		types, err := st.EventTypes(ctx)
		if err != nil || strings.Join(types, ",") != "customer.subscription.updated,invoice.payment_failed,product.created" {
			t.Errorf("types: got %v, %v", types, err)
		}
	})
}
