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
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

func TestCompForms(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			f := newFixture(t, d)
			ctx := context.Background()
			base := fmt.Sprintf("/admin/people/%d", f.personID)

			// A viewer is refused, and nothing is stored.
			viewer := f.login(RoleViewer)
			if resp, _ := viewer.postForm(base+"/comps", url.Values{"plan": {"pro"}, "reason": {"speaker"}}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("viewer comp: got %d, want 403", resp.StatusCode)
			}
			support := f.login(RoleSupport)
			// Without the CSRF token the form is refused.
			if resp, _ := support.postForm(base+"/comps", url.Values{"plan": {"pro"}, "reason": {"speaker"}, "csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("comp without CSRF: got %d, want 403", resp.StatusCode)
			}
			for _, tc := range []struct {
				name string
				form url.Values
				code int
			}{
				{"no reason", url.Values{"plan": {"pro"}, "reason": {"  "}}, http.StatusBadRequest},
				{"unknown plan", url.Values{"plan": {"gold"}, "reason": {"speaker"}}, http.StatusBadRequest},
				{"past end", url.Values{"plan": {"pro"}, "reason": {"speaker"}, "until": {"2025-02-01"}}, http.StatusBadRequest},
				{"bad end", url.Values{"plan": {"pro"}, "reason": {"speaker"}, "until": {"soon"}}, http.StatusBadRequest},
			} {
				if resp, body := support.postForm(base+"/comps", tc.form); resp.StatusCode != tc.code {
					t.Errorf("%s: got %d, want %d: %s", tc.name, resp.StatusCode, tc.code, body)
				}
			}
			if resp, _ := support.postForm("/admin/people/99999/comps", url.Values{"plan": {"pro"}, "reason": {"speaker"}}); resp.StatusCode != http.StatusNotFound {
				t.Errorf("comp of a missing person: got %d, want 404", resp.StatusCode)
			}
			if cs, _ := f.st.Comps(ctx, f.personID); len(cs) != 0 || len(f.resyncCalls()) != 0 || len(f.audit("person.comp")) != 0 {
				t.Fatalf("refused requests left comps %v, resyncs %v or audit entries", cs, f.resyncCalls())
			}

			// Granted: stored, audited, journaled, synced, shown.
			resp, _ := support.postForm(base+"/comps", url.Values{"plan": {"pro"}, "reason": {"speaker at the meetup"}, "until": {"2025-03-31"}})
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), base) {
				t.Fatalf("comp: got %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			cs, err := f.st.Comps(ctx, f.personID)
			if err != nil || len(cs) != 1 {
				t.Fatalf("comps: %v %v", cs, err)
			}
			c := cs[0]
			if want := time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC); c.PlanID != "pro" || c.Reason != "speaker at the meetup" || c.GrantedBy != email(RoleSupport) || !c.Until.Equal(want) {
				t.Errorf("stored comp %+v, want pro by support until %v", c, want)
			}
			if got := f.resyncCalls(); !slices.Equal(got, []string{fmt.Sprintf("%d:comp", f.personID)}) {
				t.Errorf("resyncs: got %v", got)
			}
			au := f.audit("person.comp")
			if len(au) != 1 || au[0].Actor != email(RoleSupport) || au[0].PersonID != f.personID || au[0].Note != "speaker at the meetup" || !strings.Contains(au[0].After, `"plan_id":"pro"`) {
				t.Errorf("audit: got %+v", au)
			}
			entries, err := f.st.Journal(ctx, f.personID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(entries, func(e store.JournalEntry) bool {
				return e.Kind == "admin" && e.Action == "comp" && e.Target == "pro" && e.Detail == "by "+email(RoleSupport)+": speaker at the meetup"
			}) {
				t.Errorf("journal has no admin comp entry: %+v", entries)
			}
			_, page := support.get(base)
			for _, want := range []string{`id="comp-` + fmt.Sprint(c.ID) + `"`, "Pro membership", "comp · in force", "speaker at the meetup",
				"Comped Pro membership by support@ops.example.com", fmt.Sprintf(`action="%s/comps/%d/revoke"`, base, c.ID)} {
				if !strings.Contains(page, want) {
					t.Errorf("person page lacks %q", want)
				}
			}
			if _, page := viewer.get(base); strings.Contains(page, "/revoke") || strings.Contains(page, `id="comp-form"`) || !strings.Contains(page, "comp · in force") {
				t.Error("a viewer sees the comp forms, or not the comp")
			}

			// Revoked: reason required; then stored, audited, journaled, synced.
			revoke := fmt.Sprintf("%s/comps/%d/revoke", base, c.ID)
			if resp, _ := viewer.postForm(revoke, url.Values{"reason": {"x"}}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("viewer revoke: got %d, want 403", resp.StatusCode)
			}
			if resp, _ := support.postForm(revoke, url.Values{"reason": {""}}); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("revoke without a reason: got %d, want 400", resp.StatusCode)
			}
			if resp, _ := support.postForm(fmt.Sprintf("%s/comps/%d/revoke", base, c.ID+1), url.Values{"reason": {"x"}}); resp.StatusCode != http.StatusNotFound {
				t.Errorf("revoke of a missing comp: got %d, want 404", resp.StatusCode)
			}
			if resp, body := support.postForm(revoke, url.Values{"reason": {"the talk was canceled"}}); resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("revoke: got %d %s", resp.StatusCode, body)
			}
			if resp, _ := support.postForm(revoke, url.Values{"reason": {"again"}}); resp.StatusCode != http.StatusConflict {
				t.Errorf("second revoke: got %d, want 409", resp.StatusCode)
			}
			cs, _ = f.st.Comps(ctx, f.personID)
			if len(cs) != 1 || cs[0].RevokedAt.IsZero() || cs[0].RevokedBy != email(RoleSupport) {
				t.Errorf("after revoke: %+v", cs)
			}
			au = f.audit("person.revoke_comp")
			if len(au) != 1 || au[0].Note != "the talk was canceled" || !strings.Contains(au[0].Before, `"plan_id":"pro"`) || !strings.Contains(au[0].After, `"revoked_at"`) {
				t.Errorf("revoke audit: %+v", au)
			}
			if got := f.resyncCalls(); len(got) != 2 || got[1] != fmt.Sprintf("%d:revoke_comp", f.personID) {
				t.Errorf("resyncs: got %v", got)
			}
			entries, _ = f.st.Journal(ctx, f.personID)
			if !slices.ContainsFunc(entries, func(e store.JournalEntry) bool {
				return e.Kind == "admin" && e.Action == "revoke_comp" && e.Target == "pro" && e.Detail == "by "+email(RoleSupport)+": the talk was canceled"
			}) {
				t.Errorf("journal has no admin revoke_comp entry")
			}
			if _, page := support.get(base); !strings.Contains(page, "comp · revoked") || strings.Contains(page, "/revoke\"") {
				t.Error("person page does not show the comp as revoked, or still offers to revoke it")
			}
		})
	}
}

func TestCompAPI(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	path := fmt.Sprintf("/api/v1/people/%d/comps", f.personID)
	viewer := f.withToken(RoleViewer, RoleViewer)
	if resp, _ := viewer.postJSON(path, map[string]string{"plan": "pro", "reason": "speaker"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer token: got %d, want 403", resp.StatusCode)
	}
	// A support operator's token scoped to viewer acts as a viewer.
	if resp, _ := f.withToken(RoleSupport, RoleViewer).postJSON(path, map[string]string{"plan": "pro", "reason": "speaker"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer-scoped token: got %d, want 403", resp.StatusCode)
	}
	support := f.withToken(RoleSupport, RoleSupport)
	if resp, body := support.postJSON(path, map[string]string{"plan": "pro"}); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "reason_required") {
		t.Errorf("no reason: got %d %s", resp.StatusCode, body)
	}
	resp, body := support.postJSON(path, map[string]string{"plan": "pro", "reason": "beta tester", "until": "2025-06-01T00:00:00Z"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("grant: got %d %s", resp.StatusCode, body)
	}
	var granted struct {
		Comp compRow `json:"comp"`
	}
	if err := json.Unmarshal([]byte(body), &granted); err != nil || granted.Comp.ID == 0 || granted.Comp.Status != "in force" || granted.Comp.PlanName != "Pro membership" {
		t.Fatalf("grant answer %s (%v)", body, err)
	}
	_, body = viewer.get(path)
	if !strings.Contains(body, `"beta tester"`) || !strings.Contains(body, `"status": "in force"`) {
		t.Errorf("list: %s", body)
	}
	var person struct {
		Comps []compRow `json:"comps"`
	}
	if _, body := viewer.get(fmt.Sprintf("/api/v1/people/%d", f.personID)); json.Unmarshal([]byte(body), &person) != nil || len(person.Comps) != 1 || person.Comps[0].Reason != "beta tester" {
		t.Errorf("person API lacks the comp: %s", body)
	}
	resp, body = support.postJSON(fmt.Sprintf("%s/%d/revoke", path, granted.Comp.ID), map[string]string{"reason": "program ended"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"status": "revoked"`) {
		t.Fatalf("revoke: got %d %s", resp.StatusCode, body)
	}
	if au := f.audit("person.comp"); len(au) != 1 || !strings.Contains(au[0].Actor, "token") {
		t.Errorf("API comp audit: %+v", au)
	}
	if resp, _ := viewer.get("/api/v1/people/99999/comps"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("comps of a missing person: got %d, want 404", resp.StatusCode)
	}
}

func TestParseUntil(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"2025-03-31", time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), true},
		{"2025-03-01", time.Date(2025, 3, 2, 0, 0, 0, 0, time.UTC), true}, // through today
		{"2025-02-28", time.Time{}, false},
		{"2025-03-01T13:00:00+01:00", time.Time{}, false},
		{"2025-03-01T14:00:00+01:00", time.Date(2025, 3, 1, 13, 0, 0, 0, time.UTC), true},
		{"tomorrow", time.Time{}, false},
	}
	for _, tt := range tests {
		got, err := parseUntil(tt.in, now)
		if (err == nil) != tt.ok || !got.Equal(tt.want) {
			t.Errorf("parseUntil(%q): got %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
