package admin

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// addMember stores a person as a sync would leave them: the plans the sync computed, the Circle
// groups it confirmed, and a completed sync (converged) or none.
func (f *fixture) addMember(email, name, customer string, plans []entitlement.PlanState, held []int64, converged bool) int64 {
	f.t.Helper()
	ctx := context.Background()
	var res store.IngestResult
	if err := f.st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		res, err = tx.IngestEvent(ctx, store.Event{ID: "evt_" + customer, Type: "invoice.paid", CustomerID: customer, Actionable: true,
			Created: f.clock.Now(), Payload: []byte(`{}`)})
		return err
	}); err != nil {
		f.t.Fatal(err)
	}
	pid := res.PersonID
	if err := f.st.SetIdentity(ctx, pid, email, name); err != nil {
		f.t.Fatal(err)
	}
	d := entitlement.Desired{Plans: plans}
	for _, p := range plans {
		if p.Entitled {
			d.AccessGroups = append(d.AccessGroups, p.AccessGroups...)
		}
	}
	dj, _ := json.Marshal(d)
	if err := f.st.SaveSyncResult(ctx, pid, string(dj), f.clock.Now().Add(0), ""); err != nil {
		f.t.Fatal(err)
	}
	for _, g := range held {
		if err := f.st.RecordApplied(ctx, store.Applied{PersonID: pid, Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: g, Email: email}); err != nil {
			f.t.Fatal(err)
		}
	}
	if converged {
		p, err := f.st.Person(ctx, pid)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.st.FinishSync(ctx, pid, p.Generation); err != nil {
			f.t.Fatal(err)
		}
		if err := f.st.AppendJournal(ctx, store.JournalEntry{PersonID: pid, Kind: "sync", Action: "sync", Result: "converged"}); err != nil {
			f.t.Fatal(err)
		}
	}
	return pid
}

func pro(stage entitlement.Stage, entitled bool) []entitlement.PlanState {
	return []entitlement.PlanState{{PlanID: "pro", Stage: stage, Entitled: entitled, AccessGroups: []int64{11}}}
}

// seedList adds, beside the fixture's Ada (pro active, held, her last sync retrying, a review item
// open): Bob past due in grace, Cy canceled and still in the group, Dee active and not in it yet,
// and Eve refunded, whose checkout name is a spreadsheet formula.
func seedList(f *fixture) {
	f.clock.Advance(1)
	f.addMember("bob@example.com", "Bob", "cus_bob", pro(entitlement.StagePastDue, true), []int64{11}, true)
	f.clock.Advance(1)
	f.addMember("cy@example.com", "Cy", "cus_cy", pro(entitlement.StageCanceled, false), []int64{11}, true)
	f.clock.Advance(1)
	f.addMember("dee@example.com", "Dee", "cus_dee", pro(entitlement.StageActive, true), nil, true)
	f.clock.Advance(1)
	f.addMember("eve@example.com", `=HYPERLINK("http://evil.example","Eve")`, "cus_eve", pro(entitlement.StageRefunded, false), nil, true)
}

func TestPeopleListFilters(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			seedList(f)
			c := f.login(RoleViewer)
			all := []string{"ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com"}
			tests := []struct {
				query string
				want  []string
				text  []string // more the page must say
			}{
				{"", all, []string{"<strong>5</strong> people", "Pro membership · active", "Pro membership · past due"}},
				{"?plan=pro&stage=past_due", []string{"bob@example.com"}, []string{"<strong>1</strong> person matches", `<option value="past_due" selected>past due</option>`,
					`<option value="pro" selected>Pro membership</option>`, `href="/admin/people.csv?plan=pro&amp;stage=past_due"`}},
				{"?plan=pro&stage=entitled", []string{"ada@example.com", "bob@example.com", "dee@example.com"}, nil},
				{"?stage=lapsed", []string{"cy@example.com", "eve@example.com"}, []string{"Pro membership · canceled", "Pro membership · refunded"}},
				{"?stage=refunded", []string{"eve@example.com"}, nil},
				{"?access=failing", []string{"ada@example.com"}, []string{`<span class="pill bad">failing</span>`}},
				{"?access=in_sync", []string{"bob@example.com", "cy@example.com", "dee@example.com", "eve@example.com"}, []string{`<span class="pill ok">in sync</span>`}},
				{"?only=paid_no_access", []string{"dee@example.com"}, []string{`<option value="paid_no_access" selected>Paid but no access</option>`}},
				{"?only=access_not_paid", []string{"cy@example.com"}, nil},
				{"?q=cus_bo&plan=pro", []string{"bob@example.com"}, nil},
				{"?plan=pro&access=in_review", nil, []string{"Nobody matches these filters."}},
			}
			for _, tt := range tests {
				resp, page := c.get("/admin/people" + tt.query)
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s: %d", tt.query, resp.StatusCode)
					continue
				}
				for _, e := range all {
					if got, want := strings.Contains(page, ">"+e+"</a>"), contains(tt.want, e); got != want {
						t.Errorf("%s: lists %s: %v, want %v", tt.query, e, got, want)
					}
				}
				for _, s := range tt.text {
					if !strings.Contains(page, s) {
						t.Errorf("%s: the page lacks %q", tt.query, s)
					}
				}
			}

			// The API: the same filters, each person's plans and stage.
			resp, body := c.get("/api/v1/people?stage=lapsed")
			var got struct {
				Total  int         `json:"total"`
				Stage  string      `json:"stage"`
				People []personRow `json:"people"`
			}
			if err := json.Unmarshal([]byte(body), &got); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("API: %d %v %s", resp.StatusCode, err, body)
			}
			if got.Total != 2 || got.Stage != "lapsed" || len(got.People) != 2 || got.People[0].Email != "eve@example.com" ||
				got.People[0].Stage != "refunded" || len(got.People[0].Plans) != 1 || got.People[0].Plans[0].Name != "Pro membership" ||
				got.People[0].Plans[0].Entitled || got.People[0].Access != store.AccessInSync {
				t.Errorf("API lapsed people: %+v", got)
			}

			// Values it does not know are refused, saying what it takes.
			for q, want := range map[string]string{
				"?plan=gold":        "plan must be one of the configured plans (pro).",
				"?stage=sleeping":   "stage must be one of entitled, lapsed, active, trialing",
				"?access=asleep":    "access must be one of in_sync, pending, failing, in_review.",
				"?only=rich":        "only must be paid_no_access or access_not_paid.",
				"?after=not-a-page": "The page link is malformed",
			} {
				resp, page := c.get("/admin/people" + q)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, want) {
					t.Errorf("%s: %d, want 400 saying %q", q, resp.StatusCode, want)
				}
				resp, body := c.get("/api/v1/people" + q)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"error": "bad_`) {
					t.Errorf("API %s: %d %s, want a 400 JSON error", q, resp.StatusCode, body)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestPeopleListPages walks a list longer than a page: every person once, in order.
func TestPeopleListPages(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	for i := range 60 {
		f.clock.Advance(1)
		f.addMember(fmt.Sprintf("m%02d@example.com", i), "", fmt.Sprintf("cus_m%02d", i), pro(entitlement.StageActive, true), []int64{11}, true)
	}
	c := f.login(RoleViewer)
	seen := map[string]bool{}
	next := "/api/v1/people?plan=pro&stage=active"
	pages := 0
	for next != "" {
		pages++
		if pages > 5 {
			t.Fatal("the pages never end")
		}
		_, body := c.get(next)
		var got struct {
			Total  int         `json:"total"`
			Next   string      `json:"next"`
			People []personRow `json:"people"`
		}
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if got.Total != 61 {
			t.Errorf("page %d: total %d, want 61 (60 and Ada)", pages, got.Total)
		}
		for _, p := range got.People {
			if seen[p.Email] {
				t.Errorf("%s on two pages", p.Email)
			}
			seen[p.Email] = true
		}
		next = got.Next
		if next != "" && !strings.Contains(next, "plan=pro") {
			t.Errorf("the next page %s drops the filter", next)
		}
	}
	if pages != 2 || len(seen) != 61 {
		t.Errorf("%d pages, %d people; want 2 pages of 61 people", pages, len(seen))
	}
	_, page := c.get("/admin/people?plan=pro")
	if !strings.Contains(page, `id="next" href="/admin/people?after=`) {
		t.Error("the page has no link to the next one")
	}
}

// TestPeopleExport downloads the filtered list as CSV with the list's role, records it in the
// audit log, and keeps a name typed at checkout from running as a spreadsheet formula.
func TestPeopleExport(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			seedList(f)
			c := f.login(RoleViewer)
			resp, body := c.get("/admin/people.csv?plan=pro&stage=lapsed")
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
				!strings.Contains(resp.Header.Get("Content-Disposition"), `attachment; filename="membersync-people-2025-03-01.csv"`) {
				t.Fatalf("export: %d %v", resp.StatusCode, resp.Header)
			}
			rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
			if err != nil {
				t.Fatalf("export is not CSV: %v\n%s", err, body)
			}
			if len(rows) != 3 || strings.Join(rows[0], ",") != "id,email,name,stripe_customer_ids,stage,plans,access,open_review_items,last_sync" {
				t.Fatalf("export rows: %q", rows)
			}
			eve, cy := rows[1], rows[2]
			if eve[1] != "eve@example.com" || eve[2] != `'=HYPERLINK("http://evil.example","Eve")` || eve[3] != "cus_eve" || eve[4] != "refunded" ||
				eve[5] != "Pro membership: refunded" || eve[6] != "in sync" || eve[8] == "" {
				t.Errorf("Eve's row: %q", eve)
			}
			if cy[1] != "cy@example.com" || cy[4] != "canceled" {
				t.Errorf("Cy's row: %q", cy)
			}
			es := f.audit("people.export")
			if len(es) != 1 || es[0].Actor != email(RoleViewer) || es[0].Note != "CSV of 2 people (plan=pro&stage=lapsed)" {
				t.Errorf("audit: %+v", es)
			}

			// The page's link exports what the page shows.
			_, page := c.get("/admin/people?only=paid_no_access")
			if !strings.Contains(page, `href="/admin/people.csv?only=paid_no_access"`) {
				t.Error("the page's export link lacks its filter")
			}
			_, body = c.get("/admin/people.csv?only=paid_no_access")
			if rows, _ := csv.NewReader(strings.NewReader(body)).ReadAll(); len(rows) != 2 || rows[1][1] != "dee@example.com" {
				t.Errorf("paid but no access export: %q", rows)
			}

			// A script exports with a viewer token; a bad filter exports nothing and records nothing.
			api := f.withToken(RoleViewer, RoleViewer)
			resp, body = api.get("/api/v1/people.csv")
			if rows, _ := csv.NewReader(strings.NewReader(body)).ReadAll(); resp.StatusCode != http.StatusOK || len(rows) != 6 {
				t.Errorf("API export: %d, %d rows, want 200 with a header and 5 people", resp.StatusCode, len(rows))
			}
			resp, body = api.get("/api/v1/people.csv?stage=sleeping")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `"bad_filter"`) {
				t.Errorf("bad filter export: %d %s", resp.StatusCode, body)
			}
			if es := f.audit("people.export"); len(es) != 3 || !strings.Contains(es[0].Note, "everyone") && !strings.Contains(es[len(es)-1].Note, "everyone") {
				t.Errorf("audit after three exports and a refused one: %+v", es)
			}
		})
	}
}

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "",
		"Ada":               "Ada",
		"=1+1":              "'=1+1",
		"+33 6 12":          "'+33 6 12",
		"-2":                "'-2",
		"@SUM(A1)":          "'@SUM(A1)",
		"\tx":               "'\tx",
		"ada@example.com":   "ada@example.com",
		"Pro membership: a": "Pro membership: a",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPlanNoLongerConfigured: people still holding a plan removed from the config are counted on
// the overview under its id, and its figure opens their list.
func TestPlanNoLongerConfigured(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	f.clock.Advance(1)
	f.addMember("old@example.com", "Old", "cus_old", []entitlement.PlanState{{PlanID: "legacy", Stage: entitlement.StageActive, Entitled: true, AccessGroups: []int64{99}}}, []int64{99}, true)
	c := f.login(RoleViewer)
	_, body := c.get("/api/v1/overview")
	var o overviewJSON
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	if m := o.Membership; m == nil || len(m.Plans) != 2 || m.Plans[0].PlanID != "pro" || m.Plans[1].PlanID != "legacy" ||
		m.Plans[1].Stages["active"] != 1 || m.Members != 2 {
		t.Fatalf("membership: %+v", o.Membership)
	}
	_, page := c.get("/admin")
	if !strings.Contains(page, `href="/admin/people?plan=legacy&amp;stage=active"`) {
		t.Error("the overview does not link the legacy plan's figure to its people")
	}
	resp, page := c.get("/admin/people?plan=legacy&stage=active")
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, ">old@example.com</a>") || strings.Contains(page, ">ada@example.com</a>") ||
		!strings.Contains(page, "legacy (no longer configured)") {
		t.Errorf("legacy plan's people: %d", resp.StatusCode)
	}
	if resp, _ := c.get("/admin/people?plan=nobody-has-it"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a plan neither configured nor held: %d, want 400", resp.StatusCode)
	}
}
