package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

func TestForgetForm(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			f := newFixture(t, d)
			ctx := context.Background()
			base := fmt.Sprintf("/admin/people/%d", f.personID)
			// good returns a fresh form each time: postForm adds the client's CSRF token to it.
			good := func() url.Values {
				return url.Values{"reason": {"Art. 17 request by ada@example.com"}, "confirm": {"ADA@example.com"}}
			}

			// The form is on the page for an admin only.
			support := f.login(RoleSupport)
			if _, page := support.get(base); strings.Contains(page, `id="forget-form"`) {
				t.Error("a support operator sees the erase form")
			}
			admin := f.login(RoleAdmin)
			if _, page := admin.get(base); !strings.Contains(page, `id="forget-form"`) {
				t.Error("an admin does not see the erase form")
			}

			// Refused: a support operator (form and API), a forged CSRF token, no reason, a wrong
			// confirmation, a missing person. Nothing is stored.
			if resp, _ := support.postForm(base+"/forget", good()); resp.StatusCode != http.StatusForbidden {
				t.Errorf("support forget: got %d, want 403", resp.StatusCode)
			}
			if resp, _ := f.withToken(RoleSupport, RoleSupport).postJSON("/api/v1/people/"+fmt.Sprint(f.personID)+"/forget",
				map[string]any{"reason": "x", "confirm": "FORGET"}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("support token forget: got %d, want 403", resp.StatusCode)
			}
			forged := good()
			forged.Set("csrf", "forged")
			if resp, _ := admin.postForm(base+"/forget", forged); resp.StatusCode != http.StatusForbidden {
				t.Errorf("forget without CSRF: got %d, want 403", resp.StatusCode)
			}
			for _, tc := range []struct {
				name string
				path string
				form url.Values
				code int
				want string
			}{
				{"no reason", base + "/forget", url.Values{"reason": {"  "}, "confirm": {"FORGET"}}, http.StatusBadRequest, "needs a reason"},
				{"wrong confirmation", base + "/forget", url.Values{"reason": {"asked"}, "confirm": {"bob@example.com"}}, http.StatusBadRequest, "type the person"},
				{"no confirmation", base + "/forget", url.Values{"reason": {"asked"}}, http.StatusBadRequest, "type the person"},
				{"missing person", "/admin/people/99999/forget", url.Values{"reason": {"asked"}, "confirm": {"FORGET"}}, http.StatusNotFound, ""},
			} {
				resp, body := admin.postForm(tc.path, tc.form)
				if resp.StatusCode != tc.code || !strings.Contains(body, tc.want) {
					t.Errorf("%s: got %d %.300s, want %d with %q", tc.name, resp.StatusCode, body, tc.code, tc.want)
				}
			}
			if state, _ := f.st.ErasureState(ctx, f.personID); state != "" || len(f.resyncCalls()) != 0 || len(f.audit("person.forget")) != 0 {
				t.Fatalf("refused requests left state %q, resyncs %v or audit entries", state, f.resyncCalls())
			}

			// Begun: marked erasing, its sync queued, audited without the email.
			resp, _ := admin.postForm(base+"/forget", good())
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != base+"?m=forgetting" {
				t.Fatalf("forget: got %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if state, _ := f.st.ErasureState(ctx, f.personID); state != store.Erasing {
				t.Errorf("state = %q, want erasing", state)
			}
			if got := f.resyncCalls(); !slices.Equal(got, []string{fmt.Sprintf("%d:erasure", f.personID)}) {
				t.Errorf("resyncs = %v", got)
			}
			audit := f.audit("person.forget")
			if len(audit) != 1 || audit[0].Actor != email(RoleAdmin) || audit[0].PersonID != f.personID ||
				!strings.Contains(audit[0].Note, "erased by "+email(RoleAdmin)+" because Art. 17 request by "+store.Redacted) ||
				strings.Contains(audit[0].Note+audit[0].After, "ada@example.com") {
				t.Errorf("audit = %+v", audit)
			}
			// The page says so.
			if _, page := admin.get(base + "?m=forgetting"); !strings.Contains(page, "Erasure begun") {
				t.Error("no flash after the erase form")
			} else if !strings.Contains(page, `id="erasure"`) || !strings.Contains(page, "Being erased since") {
				t.Error("the person page does not say the erasure is under way")
			}
		})
	}
}

func TestForgetAPILocalOnly(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			f := newFixture(t, d)
			ctx := context.Background()
			path := fmt.Sprintf("/api/v1/people/%d/forget", f.personID)
			admin := f.withToken(RoleAdmin, RoleAdmin)
			if resp, body := admin.postJSON(path, map[string]any{"confirm": "FORGET", "local_only": true}); resp.StatusCode != http.StatusBadRequest ||
				!strings.Contains(body, `"reason_required"`) {
				t.Errorf("no reason: got %d %s", resp.StatusCode, body)
			}
			// An admin-scoped request through a lesser token is refused.
			if resp, _ := f.withToken(RoleAdmin, RoleSupport).postJSON(path, map[string]any{"reason": "x", "confirm": "FORGET"}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("support-scoped token: got %d, want 403", resp.StatusCode)
			}
			resp, body := admin.postJSON(path, map[string]any{"reason": "asked by phone", "confirm": "FORGET", "local_only": true})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("forget: got %d %s", resp.StatusCode, body)
			}
			var got forgetResult
			if err := json.Unmarshal([]byte(body), &got); err != nil || got.Status != store.Erased || !got.LocalOnly ||
				!slices.Equal(got.Customers, []string{"cus_ada"}) || got.PersonID != f.personID {
				t.Errorf("answer = %s (%v)", body, err)
			}
			p, err := f.st.Person(ctx, f.personID)
			if err != nil || p.Email != "" || p.Name != "" {
				t.Errorf("person after a local erasure: %+v, %v", p, err)
			}
			if len(f.resyncCalls()) != 0 {
				t.Errorf("a local-only erasure queued syncs: %v", f.resyncCalls())
			}
			ev, err := f.st.Event(ctx, f.eventID)
			if err != nil || len(ev.Payload) != 0 {
				t.Errorf("event after erasure: %q, %v", ev.Payload, err)
			}
			// The person says who erased them and why.
			_, page := admin.get(fmt.Sprintf("/api/v1/people/%d", f.personID))
			var pv struct {
				Erasure *erasureNote `json:"erasure"`
			}
			if err := json.Unmarshal([]byte(page), &pv); err != nil || pv.Erasure == nil || pv.Erasure.State != store.Erased ||
				pv.Erasure.Reason != "asked by phone" || !pv.Erasure.LocalOnly || pv.Erasure.ErasedAt.IsZero() {
				t.Errorf("the person's erasure = %+v (%v)", pv.Erasure, err)
			}
			if resp, body := admin.postJSON(path, map[string]any{"reason": "again", "confirm": "FORGET"}); resp.StatusCode != http.StatusConflict ||
				!strings.Contains(body, "already erased") {
				t.Errorf("forget twice: got %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestForgetInOneTransaction: with Deps.Forget (serve's converge.Forget) the form hands the whole
// request to it, the mark and the sync's job together, instead of marking and then resyncing.
func TestForgetInOneTransaction(t *testing.T) {
	var got []store.EraseRequest
	f := newFixture(t, storetest.Dialects()[0], func(d *Deps) {
		d.Forget = func(ctx context.Context, r store.EraseRequest) (store.Erasure, error) {
			got = append(got, r)
			return store.Erasure{PersonID: r.PersonID, State: store.Erasing}, nil
		}
	})
	admin := f.login(RoleAdmin)
	resp, _ := admin.postForm(fmt.Sprintf("/admin/people/%d/forget", f.personID),
		url.Values{"reason": {"asked by email"}, "confirm": {"FORGET"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("forget: %d", resp.StatusCode)
	}
	if len(got) != 1 || got[0].PersonID != f.personID || got[0].Reason != "asked by email" || got[0].By != email(RoleAdmin) ||
		got[0].LocalOnly || len(got[0].Key) == 0 {
		t.Errorf("Forget got %+v", got)
	}
	if calls := f.resyncCalls(); len(calls) != 0 {
		t.Errorf("the form also resynced: %v", calls)
	}
}
