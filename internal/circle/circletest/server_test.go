package circletest_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/provider/providertest"
)

func start(t *testing.T, opts circletest.Options) *circletest.Server {
	t.Helper()
	s := circletest.New(opts)
	t.Cleanup(s.Close)
	return s
}

type answer struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

// call sends one request with "Bearer <token>" unless auth is given, and decodes a JSON object.
func call(t *testing.T, s *circletest.Server, method, path string, body any, auth ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+"/api/admin/v2"+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if len(auth) > 0 {
		if auth[0] != "" {
			req.Header.Set("Authorization", auth[0])
		}
	} else {
		req.Header.Set("Authorization", "Bearer "+s.Token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answer{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// detail returns error_details.message of a Circle 404.
func detail(a answer) string {
	d, _ := a.body["error_details"].(map[string]any)
	s, _ := d["message"].(string)
	return s
}

func records(t *testing.T, a answer) []map[string]any {
	t.Helper()
	rs, ok := a.body["records"].([]any)
	if !ok {
		t.Fatalf("no records array in %s", a.raw)
	}
	out := make([]map[string]any, len(rs))
	for i, r := range rs {
		out[i] = r.(map[string]any)
	}
	return out
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{Token: "s3cret"})
	tests := []struct {
		auth string
		want int
	}{
		{"Bearer s3cret", 200},
		{"Token s3cret", 200},
		{"Bearer wrong", 401},
		{"Token ", 401},
		{"Basic s3cret", 401},
		{"s3cret", 401},
		{"", 401},
	}
	for _, tt := range tests {
		a := call(t, s, "GET", "/access_groups", nil, tt.auth)
		if a.status != tt.want {
			t.Errorf("Authorization %q: status %d, want %d", tt.auth, a.status, tt.want)
		}
		if tt.want == 401 {
			want := `{"success":false,"message":"The API token is invalid.","error_details":null}`
			if got := strings.TrimSpace(a.raw); got != want {
				t.Errorf("Authorization %q: body %s, want %s", tt.auth, got, want)
			}
		}
	}
}

func TestSearchMatchesNormalizedEmail(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{})
	m := s.CreateMemberDirect(" Ana.B+x@Example.COM", "Ana B")
	a := call(t, s, "GET", "/community_members/search?email=ana.b%2Bx%40example.com", nil)
	if a.status != 200 || a.body["id"] != float64(m.ID) || a.body["email"] != "ana.b+x@example.com" {
		t.Fatalf("search: %d %s, want member %d", a.status, a.raw, m.ID)
	}
	a = call(t, s, "GET", "/community_members/search?email=anab%2Bx%40example.com", nil)
	if a.status != 404 || detail(a) != "Missing record: community member" || a.body["success"] != false {
		t.Fatalf("search for another address: %d %s, want 404 Missing record", a.status, a.raw)
	}
}

func TestCreateMember(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{BlockedDomains: []string{"spam.test"}})
	a := call(t, s, "POST", "/community_members", map[string]any{"email": "New@Example.com", "name": "New Person"})
	if a.status != 201 {
		t.Fatalf("create: %d %s", a.status, a.raw)
	}
	cm, _ := a.body["community_member"].(map[string]any)
	if cm["active"] != false || cm["email"] != "new@example.com" || cm["first_name"] != "New" || a.body["message"] == "" {
		t.Errorf("create answered %s; want message and community_member with active:false", a.raw)
	}
	a = call(t, s, "POST", "/community_members", map[string]any{"email": "new@example.com"})
	if a.status != 422 || a.body["success"] != false || a.body["message"] == nil {
		t.Errorf("repeat create: %d %s, want 422 error body", a.status, a.raw)
	}
	if d := s.DuplicateMembers(); len(d) != 0 {
		t.Errorf("DuplicateMembers = %v, want none", d)
	}
	for _, email := range []string{"not-an-email", "x@spam.test"} {
		if a := call(t, s, "POST", "/community_members", map[string]any{"email": email}); a.status != 422 {
			t.Errorf("create %q: %d %s, want 422", email, a.status, a.raw)
		}
	}
	if got := len(s.Members()); got != 1 {
		t.Errorf("%d members, want 1", got)
	}
	muts := s.Faults.Mutations()
	if len(muts) != 1 || muts[0].Endpoint != "POST /api/admin/v2/community_members" {
		t.Errorf("mutations %+v, want one create", muts)
	}
}

func TestCreateMemberLimit(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{MemberLimit: 1})
	s.CreateMemberDirect("one@example.com", "")
	a := call(t, s, "POST", "/community_members", map[string]any{"email": "two@example.com"})
	if a.status != 403 || a.body["errors"] == nil {
		t.Fatalf("create beyond the limit: %d %s, want 403 with errors", a.status, a.raw)
	}
}

func TestDuplicatePolicies(t *testing.T) {
	t.Parallel()
	t.Run("create", func(t *testing.T) {
		s := start(t, circletest.Options{OnDuplicateCreate: circletest.DuplicateCreate})
		for range 2 {
			if a := call(t, s, "POST", "/community_members", map[string]any{"email": "twice@example.com"}); a.status != 201 {
				t.Fatalf("create: %d %s", a.status, a.raw)
			}
		}
		if got, want := s.DuplicateMembers(), []string{"twice@example.com"}; !reflect.DeepEqual(got, want) {
			t.Errorf("DuplicateMembers = %v, want %v", got, want)
		}
	})
	t.Run("return existing", func(t *testing.T) {
		s := start(t, circletest.Options{OnDuplicateCreate: circletest.DuplicateReturnExisting})
		m := s.CreateMemberDirect("once@example.com", "")
		a := call(t, s, "POST", "/community_members", map[string]any{"email": "ONCE@example.com"})
		cm, _ := a.body["community_member"].(map[string]any)
		if a.status != 201 || cm["id"] != float64(m.ID) || len(s.Members()) != 1 {
			t.Errorf("create existing: %d %s, want 201 with member %d and no new member", a.status, a.raw, m.ID)
		}
	})
}

func TestMemberReadUpdateDelete(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{})
	m := s.CreateMemberDirect("pat@example.com", "Pat")
	g := s.AddAccessGroup("Pro")
	if err := s.AddToGroupDirect(g, "pat@example.com"); err != nil {
		t.Fatal(err)
	}
	id := "/community_members/" + itoa(m.ID)
	if a := call(t, s, "GET", id, nil); a.status != 200 || a.body["name"] != "Pat" {
		t.Fatalf("get: %d %s", a.status, a.raw)
	}
	if a := call(t, s, "GET", id+"/access_groups", nil); a.status != 200 || len(records(t, a)) != 1 {
		t.Fatalf("member's access groups: %d %s, want one", a.status, a.raw)
	}
	a := call(t, s, "PUT", id, map[string]any{"first_name": "Patricia", "last_name": "Lee"})
	if cm, _ := a.body["community_member"].(map[string]any); a.status != 200 || cm["name"] != "Patricia Lee" {
		t.Fatalf("update: %d %s", a.status, a.raw)
	}
	if a := call(t, s, "DELETE", id, nil); a.status != 200 {
		t.Fatalf("delete: %d %s", a.status, a.raw)
	}
	if a := call(t, s, "GET", id, nil); a.status != 404 {
		t.Errorf("get after delete: %d, want 404", a.status)
	}
	if got := s.GroupMemberEmails(g); len(got) != 0 {
		t.Errorf("group still holds %v after the member left the community", got)
	}
	if a := call(t, s, "DELETE", id, nil); a.status != 404 {
		t.Errorf("second delete: %d, want 404", a.status)
	}
}

func TestListMembersByStatus(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{})
	s.CreateMemberDirect("a@example.com", "")
	s.CreateMemberDirect("b@example.com", "")
	call(t, s, "POST", "/community_members", map[string]any{"email": "invited@example.com"})
	for status, want := range map[string]int{"": 2, "active": 2, "inactive": 1, "all": 3} {
		a := call(t, s, "GET", "/community_members?status="+status, nil)
		if got := len(records(t, a)); got != want || a.body["count"] != float64(want) {
			t.Errorf("status %q: %d records (count %v), want %d", status, got, a.body["count"], want)
		}
	}
	s.ConfirmMember("invited@example.com")
	if a := call(t, s, "GET", "/community_members?status=inactive", nil); len(records(t, a)) != 0 {
		t.Errorf("a confirmed member is still listed as inactive")
	}
}

func TestAccessGroupMembership(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{})
	g := s.AddAccessGroup("Pro")
	m := s.CreateMemberDirect("kim@example.com", "Kim")
	base := "/access_groups/" + itoa(g)

	steps := []struct {
		method, path string
		body         any
		status       int
		detail       string
	}{
		{"GET", base + "/community_member?email=kim%40example.com", nil, 404, "Missing record: access group community member"},
		{"POST", base + "/community_members", map[string]string{"email": "KIM@example.com"}, 201, ""},
		{"POST", base + "/community_members", map[string]string{"email": "kim@example.com"}, 422, ""},
		{"GET", base + "/community_member?email=kim%40example.com", nil, 200, ""},
		{"DELETE", base + "/community_members?email=kim%40example.com", nil, 200, ""},
		{"DELETE", base + "/community_members?email=kim%40example.com", nil, 404, "Missing record: access group community member"},
		{"POST", "/access_groups/999/community_members", map[string]string{"email": "kim@example.com"}, 404, "Missing record: access group"},
		{"DELETE", "/access_groups/999/community_members?email=kim%40example.com", nil, 404, "Missing record: access group"},
		{"POST", base + "/community_members", map[string]string{"email": "nobody@example.com"}, 404, "Missing record: user"},
	}
	for i, st := range steps {
		a := call(t, s, st.method, st.path, st.body)
		if a.status != st.status || detail(a) != st.detail {
			t.Fatalf("step %d %s %s: %d %q, want %d %q (%s)", i, st.method, st.path, a.status, detail(a), st.status, st.detail, a.raw)
		}
		switch {
		case st.status == 422 && !strings.Contains(a.body["message"].(string), "already"):
			t.Errorf("repeat add says %q; want an \"already a member\" message", a.body["message"])
		case st.status == 200 && st.method == "GET":
			if a.body["community_member_id"] != float64(m.ID) || a.body["access_group_id"] != float64(g) {
				t.Errorf("membership record %s, want member %d in group %d", a.raw, m.ID, g)
			}
		}
	}
	var endpoints []string
	for _, mu := range s.Faults.Mutations() {
		if mu.Endpoint != "direct" {
			endpoints = append(endpoints, mu.Endpoint)
		}
	}
	want := []string{"POST /api/admin/v2/access_groups/{id}/community_members", "DELETE /api/admin/v2/access_groups/{id}/community_members"}
	if !reflect.DeepEqual(endpoints, want) {
		t.Errorf("HTTP mutations %v, want %v", endpoints, want)
	}
}

func TestPagination(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{})
	g := s.AddAccessGroup("Big")
	for i := range 25 {
		email := "m" + itoa(int64(i)) + "@example.com"
		s.CreateMemberDirect(email, "")
		if err := s.AddToGroupDirect(g, email); err != nil {
			t.Fatal(err)
		}
	}
	path := "/access_groups/" + itoa(g) + "/community_members"
	tests := []struct {
		query                   string
		page, perPage, n, pages int
		next                    bool
	}{
		{"", 1, 10, 10, 3, true},
		{"?page=3", 3, 10, 5, 3, false},
		{"?page=4", 4, 10, 0, 3, false},
		{"?per_page=1000", 1, 100, 25, 1, false},
		{"?per_page=0&page=-1", 1, 10, 10, 3, true},
		{"?per_page=24&page=2", 2, 24, 1, 2, false},
	}
	for _, tt := range tests {
		a := call(t, s, "GET", path+tt.query, nil)
		got := []any{a.body["page"], a.body["per_page"], len(records(t, a)), a.body["page_count"], a.body["has_next_page"], a.body["count"]}
		want := []any{float64(tt.page), float64(tt.perPage), tt.n, float64(tt.pages), tt.next, float64(25)}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: page, per_page, len, page_count, has_next_page, count = %v, want %v", tt.query, got, want)
		}
	}
	r := records(t, call(t, s, "GET", path+"?per_page=1", nil))[0]
	for _, k := range []string{"id", "access_group_id", "community_member_id", "community_id", "created_at"} {
		if _, ok := r[k]; !ok {
			t.Errorf("record %v lacks %q", r, k)
		}
	}
	if _, ok := r["email"]; ok {
		t.Errorf("record %v has an email; Circle's does not", r)
	}
}

func TestListAccessGroups(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{})
	pro := s.AddAccessGroup("Pro members")
	basic := s.AddAccessGroup("Basic")
	old := s.AddAccessGroup("Old pro")
	if err := s.ArchiveAccessGroup(old); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		query string
		want  []int64
	}{
		{"", []int64{pro, basic}},
		{"?status=archived", []int64{old}},
		{"?status=all", []int64{pro, basic, old}},
		{"?status=all&name=PRO", []int64{pro, old}},
		{"?status=all&ids[]=" + itoa(basic) + "&ids[]=" + itoa(old), []int64{basic, old}},
	}
	for _, tt := range tests {
		var got []int64
		for _, r := range records(t, call(t, s, "GET", "/access_groups"+tt.query, nil)) {
			got = append(got, int64(r["id"].(float64)))
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: ids %v, want %v", tt.query, got, tt.want)
		}
	}
}

func TestFaultsWrapRoutes(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{})
	s.Faults.FailNext(1, providertest.Fault{Status: 503})
	if a := call(t, s, "GET", "/community_members/search?email=a%40b.c", nil); a.status != 503 {
		t.Fatalf("status %d, want the injected 503", a.status)
	}
	if a := call(t, s, "GET", "/community_members/search?email=a%40b.c", nil); a.status != 404 {
		t.Fatalf("status %d, want 404 once the fault is spent", a.status)
	}
	call(t, s, "GET", "/access_groups/5/community_members", nil)
	want := map[string]int{
		"GET /api/admin/v2/community_members/search":             2,
		"GET /api/admin/v2/access_groups/{id}/community_members": 1,
	}
	if got := s.Faults.AllCalls(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

func TestRequestsThisMonth(t *testing.T) {
	t.Parallel()
	clk := providertest.NewClock(time.Date(2026, 1, 31, 23, 0, 0, 0, time.UTC))
	s := start(t, circletest.Options{Now: clk.Now})
	call(t, s, "GET", "/access_groups", nil)
	call(t, s, "GET", "/access_groups", nil, "Bearer wrong")
	call(t, s, "GET", "/no/such/route", nil)
	if got := s.RequestsThisMonth(); got != 3 {
		t.Errorf("RequestsThisMonth = %d, want 3 (every request counts)", got)
	}
	clk.Advance(2 * time.Hour)
	if got := s.RequestsThisMonth(); got != 0 {
		t.Errorf("RequestsThisMonth in a new month = %d, want 0", got)
	}
	call(t, s, "GET", "/access_groups", nil)
	if got := s.RequestsThisMonth(); got != 1 {
		t.Errorf("RequestsThisMonth = %d, want 1", got)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	clk := providertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	s := start(t, circletest.Options{Now: clk.Now, RateLimit: 2, RateWindow: time.Minute})
	for i, want := range []int{200, 200, 429} {
		a := call(t, s, "GET", "/access_groups", nil)
		if a.status != want {
			t.Fatalf("request %d: %d, want %d", i+1, a.status, want)
		}
		if want == 429 && a.header.Get("Retry-After") != "" {
			t.Errorf("Retry-After %q: Circle documents none", a.header.Get("Retry-After"))
		}
	}
	clk.Advance(30 * time.Second)
	if a := call(t, s, "GET", "/access_groups", nil); a.status != 429 {
		t.Errorf("mid-window: %d, want 429", a.status)
	}
	clk.Advance(30 * time.Second)
	if a := call(t, s, "GET", "/access_groups", nil); a.status != 200 {
		t.Errorf("next window: %d, want 200", a.status)
	}
}

func TestUnknownRoute(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{})
	a := call(t, s, "GET", "/no/such/route", nil)
	if a.status != 404 || a.body["success"] != false {
		t.Errorf("unknown route: %d %s, want a Circle-shaped 404", a.status, a.raw)
	}
}

func TestDirectControl(t *testing.T) {
	t.Parallel()
	s := start(t, circletest.Options{})
	g := s.AddAccessGroup("Pro")
	if err := s.AddToGroupDirect(g, "ghost@example.com"); err == nil {
		t.Error("AddToGroupDirect for a missing member succeeded")
	}
	if err := s.AddToGroupDirect(999, "ghost@example.com"); err == nil {
		t.Error("AddToGroupDirect to a missing group succeeded")
	}
	m := s.CreateMemberDirect("Lee@example.com", "")
	if again := s.CreateMemberDirect("lee@EXAMPLE.com", "Other"); again.ID != m.ID || again.Name != "lee" {
		t.Errorf("CreateMemberDirect of an existing email = %+v, want %+v unchanged", again, m)
	}
	for range 2 {
		if err := s.AddToGroupDirect(g, "lee@example.com"); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.GroupMemberEmails(g); !reflect.DeepEqual(got, []string{"lee@example.com"}) {
		t.Errorf("GroupMemberEmails = %v", got)
	}
	if err := s.RemoveFromGroupDirect(g, "lee@example.com"); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.MemberByEmail(" LEE@example.com"); !ok || got.ID != m.ID || !got.Active {
		t.Errorf("MemberByEmail = %+v, %v; want active member %d", got, ok, m.ID)
	}
	if !s.RemoveMemberDirect("lee@example.com") || len(s.Members()) != 0 {
		t.Errorf("RemoveMemberDirect left %v", s.Members())
	}
	for _, mu := range s.Faults.Mutations() {
		if mu.Endpoint != "direct" {
			t.Errorf("direct change logged under %q", mu.Endpoint)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
