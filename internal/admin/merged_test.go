package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/converge"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// A merged person's page (an old alert's link, a bookmark) answers 404 with a link to the person it
// was merged into, following a second merge; a person that never existed answers the plain 404.
func TestMergedPersonLinksToTheSurvivor(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			f := newFixture(t, d)
			ctx := context.Background()
			newPerson := func(cus string) int64 {
				var id int64
				if err := f.st.InTx(ctx, func(tx *store.Tx) error {
					var err error
					id, _, err = tx.PersonForCustomer(ctx, cus)
					return err
				}); err != nil {
					t.Fatal(err)
				}
				return id
			}
			a, b := newPerson("cus_merge_a"), newPerson("cus_merge_b")
			if _, err := f.st.MergePerson(ctx, a, b); err != nil {
				t.Fatal(err)
			}
			if _, err := f.st.MergePerson(ctx, b, f.personID); err != nil {
				t.Fatal(err)
			}
			c := f.login(RoleViewer)
			resp, page := c.get(fmt.Sprintf("/admin/people/%d", a))
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, fmt.Sprintf(`href="/admin/people/%d"`, f.personID)) {
				t.Fatalf("merged person's page: %d, want 404 linking to person %d:\n%s", resp.StatusCode, f.personID, page)
			}
			resp, body := c.get(fmt.Sprintf("/api/v1/people/%d", a))
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"merged"`) || !strings.Contains(body, fmt.Sprintf("/admin/people/%d", f.personID)) {
				t.Fatalf("merged person in the API: %d %s", resp.StatusCode, body)
			}
			resp, page = c.get("/admin/people/999999")
			if resp.StatusCode != http.StatusNotFound || strings.Contains(page, "merged-into") {
				t.Fatalf("a person that never existed: %d %s", resp.StatusCode, page)
			}
		})
	}
}

// The people page's "resync a customer" form resyncs by customer id or email through
// Deps.ResyncCustomer (which adopts a customer no webhook named), audits it, and leads to the
// person; support role only; an unknown customer gets a 404 that says so; empty input a 400.
func TestResyncCustomerForm(t *testing.T) {
	var asked []string
	f := newFixture(t, storetest.Dialects()[0], func(d *Deps) {
		d.ResyncCustomer = func(ctx context.Context, who string) (int64, []string, error) {
			asked = append(asked, who)
			if who == "cus_nobody" {
				return 0, nil, fmt.Errorf("Stripe has no customer cus_nobody: %w", converge.ErrUnknownCustomer)
			}
			return 1, []string{"cus_missed"}, nil
		}
	})
	c := f.login(RoleSupport)
	resp, _ := c.postForm("/admin/resync", url.Values{"csrf": {c.csrf}, "who": {"cus_missed"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/admin/people/1") {
		t.Fatalf("resync of a missed customer: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if a := f.audit("person.resync"); len(a) != 1 || !strings.Contains(a[0].After, "cus_missed") {
		t.Fatalf("audit %+v", a)
	}
	if resp, body := c.postForm("/admin/resync", url.Values{"csrf": {c.csrf}, "who": {"cus_nobody"}}); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "no customer cus_nobody") {
		t.Fatalf("unknown customer: %d %s", resp.StatusCode, body)
	}
	if resp, _ := c.postForm("/admin/resync", url.Values{"csrf": {c.csrf}, "who": {"  "}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("empty input: %d", resp.StatusCode)
	}
	if resp, _ := c.postForm("/admin/resync", url.Values{"csrf": {"forged"}, "who": {"cus_missed"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("without CSRF: %d", resp.StatusCode)
	}
	v := f.login(RoleViewer)
	if resp, _ := v.postForm("/admin/resync", url.Values{"csrf": {v.csrf}, "who": {"cus_missed"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer: %d", resp.StatusCode)
	}
	if len(asked) != 2 {
		t.Fatalf("ResyncCustomer asked %q, want the two valid requests only", asked)
	}
	_, page := c.get("/admin/people")
	if !strings.Contains(page, `id="resync-customer"`) {
		t.Fatal("no resync form on the people page for support")
	}
	_, page = v.get("/admin/people")
	if strings.Contains(page, `id="resync-customer"`) {
		t.Fatal("a viewer sees the resync form")
	}
}
