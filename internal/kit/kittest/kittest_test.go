package kittest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/provider/providertest"
)

type answer struct {
	status int
	header http.Header
	body   string
}

// call sends one request with the default API key (unless header overrides it) and returns the
// answer.
func call(t *testing.T, s *Server, method, path, body string, header ...string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Kit-Api-Key", DefaultAPIKey)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Del("X-Kit-Api-Key")
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, string(b)}
}

func start(t *testing.T, opts Options) (*Server, *providertest.Clock) {
	t.Helper()
	c := providertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	if opts.Now == nil {
		opts.Now = c.Now
	}
	s := New(opts)
	t.Cleanup(s.Close)
	return s, c
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Options{})
	for _, tc := range []struct {
		name   string
		header []string
		want   int
	}{
		{"api key", nil, 200},
		{"wrong key", []string{"X-Kit-Api-Key", "nope"}, 401},
		{"no credential", []string{"Accept", "application/json"}, 401},
		{"oauth token", []string{"Authorization", "Bearer " + DefaultOAuthToken}, 200},
		{"wrong token", []string{"Authorization", "Bearer nope"}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, s, "GET", "/v4/tags", "", tc.header...)
			if a.status != tc.want {
				t.Fatalf("status = %d, want %d", a.status, tc.want)
			}
			if tc.want == 401 && strings.TrimSpace(a.body) != `{"errors":["The access token is invalid"]}` {
				t.Errorf("body = %s", a.body)
			}
		})
	}
}

func TestRateLimitWindow(t *testing.T) {
	t.Parallel()
	s, c := start(t, Options{})
	for i := range DefaultRateLimit {
		if a := call(t, s, "GET", "/v4/tags", ""); a.status != 200 {
			t.Fatalf("request %d: status %d", i+1, a.status)
		}
		c.Advance(100 * time.Millisecond) // 120 requests over 12 s
	}
	a := call(t, s, "GET", "/v4/tags", "")
	if a.status != 429 || a.body != "Retry later" || a.header.Get("Retry-After") != "" ||
		!strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("121st answer = %d %q %v, want 429 plain-text Retry later without Retry-After", a.status, a.body, a.header)
	}
	// The OAuth token has its own, larger budget.
	if a := call(t, s, "GET", "/v4/tags", "", "Authorization", "Bearer "+DefaultOAuthToken); a.status != 200 {
		t.Errorf("oauth status = %d, want 200", a.status)
	}
	// The window slides: 48 s later the first request (at 0 s) has left it, the second has not.
	c.Advance(48 * time.Second)
	if a := call(t, s, "GET", "/v4/tags", ""); a.status != 200 {
		t.Errorf("after the first slot freed: status %d, want 200", a.status)
	}
	if a := call(t, s, "GET", "/v4/tags", ""); a.status != 429 {
		t.Errorf("second request in the same instant: status %d, want 429", a.status)
	}
}

func TestRateLimitOff(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Options{RateLimit: -1})
	for i := range DefaultRateLimit + 5 {
		if a := call(t, s, "GET", "/v4/tags", ""); a.status != 200 {
			t.Fatalf("request %d: status %d", i+1, a.status)
		}
	}
}

func TestFaultBodiesHaveKitShape(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Options{})
	s.Faults.FailNext(1, providertest.Fault{Status: 502})
	s.Faults.FailNext(1, providertest.Fault{Status: 429})
	s.Faults.FailNext(1, providertest.Fault{Status: 500, Body: `{"errors":["custom"]}`})

	want := []answer{
		{502, nil, `{"errors":["Bad Gateway"]}`},
		{429, nil, `Retry later`},
		{500, nil, `{"errors":["custom"]}`},
		{200, nil, `{"pagination":{"has_previous_page":false,"has_next_page":false,"start_cursor":null,"end_cursor":null,"per_page":500},"tags":[]}`},
	}
	for i, w := range want {
		a := call(t, s, "GET", "/v4/tags", "")
		if a.status != w.status || strings.TrimSpace(a.body) != w.body {
			t.Errorf("answer %d = %d %s, want %d %s", i+1, a.status, a.body, w.status, w.body)
		}
	}
	if n := s.Faults.Calls("GET /v4/tags"); n != 4 {
		t.Errorf("calls = %d, want 4", n)
	}
}

func TestSubscribers(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Options{})
	a := call(t, s, "POST", "/v4/subscribers", `{"email_address":"Kim@Example.com","first_name":"Kim"}`)
	if a.status != 201 {
		t.Fatalf("create: %d %s", a.status, a.body)
	}
	var created struct {
		Subscriber struct {
			ID        int64          `json:"id"`
			FirstName string         `json:"first_name"`
			Email     string         `json:"email_address"`
			State     string         `json:"state"`
			CreatedAt string         `json:"created_at"`
			Fields    map[string]any `json:"fields"`
		} `json:"subscriber"`
	}
	if err := json.Unmarshal([]byte(a.body), &created); err != nil {
		t.Fatal(err)
	}
	got := created.Subscriber
	if got.Email != "kim@example.com" || got.State != "active" || got.CreatedAt != "2026-03-01T12:00:00Z" || got.Fields == nil {
		t.Errorf("created = %+v", got)
	}
	id := "/v4/subscribers/" + jsonInt(got.ID)

	if a := call(t, s, "POST", "/v4/subscribers", `{"email_address":"kim@example.com","first_name":"Kimberly","state":"cancelled"}`); a.status != 200 {
		t.Errorf("upsert existing: %d", a.status)
	}
	if sub, _ := s.Subscriber("kim@example.com"); sub.FirstName != "Kimberly" || sub.State != "active" {
		t.Errorf("after upsert: %+v, want only first_name changed", sub)
	}
	if a := call(t, s, "POST", "/v4/subscribers", `{"first_name":"x"}`); a.status != 422 {
		t.Errorf("missing email: %d, want 422", a.status)
	}
	if a := call(t, s, "POST", id+"/unsubscribe", ""); a.status != 204 {
		t.Errorf("unsubscribe: %d, want 204", a.status)
	}
	q := "/v4/subscribers?email_address=" + url.QueryEscape("kim@example.com")
	if a := call(t, s, "GET", q, ""); !strings.Contains(a.body, `"subscribers":[]`) {
		t.Errorf("default status active still lists the cancelled subscriber: %s", a.body)
	}
	if a := call(t, s, "GET", q+"&status=all", ""); !strings.Contains(a.body, `"state":"cancelled"`) {
		t.Errorf("status=all misses the cancelled subscriber: %s", a.body)
	}
	s.CreateSubscriber("lee@example.com", "")
	if a := call(t, s, "PUT", id, `{"email_address":"lee@example.com"}`); a.status != 422 {
		t.Errorf("PUT taken email: %d, want 422", a.status)
	}
	if a := call(t, s, "PUT", id, `{"email_address":"kim2@example.com"}`); a.status != 200 {
		t.Errorf("PUT email: %d, want 200", a.status)
	}
	if a := call(t, s, "GET", id, ""); !strings.Contains(a.body, `"email_address":"kim2@example.com"`) {
		t.Errorf("GET after PUT: %s", a.body)
	}
	if a := call(t, s, "GET", "/v4/subscribers/999999", ""); a.status != 404 || strings.TrimSpace(a.body) != `{"errors":["Not Found"]}` {
		t.Errorf("unknown id: %d %s", a.status, a.body)
	}
	if d := s.DuplicateEntries(); len(d) != 0 {
		t.Errorf("duplicates: %v", d)
	}
}

func TestTagsAndTaggings(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Options{})
	if a := call(t, s, "POST", "/v4/tags", `{"name":"member"}`); a.status != 201 {
		t.Fatalf("create tag: %d", a.status)
	}
	if a := call(t, s, "POST", "/v4/tags", `{"name":"member"}`); a.status != 200 {
		t.Errorf("create tag again: %d, want 200", a.status)
	}
	tag := s.CreateTag("member")
	sub := s.CreateSubscriber("ola@example.com", "")
	tp := "/v4/tags/" + jsonInt(tag) + "/subscribers"
	byID := tp + "/" + jsonInt(sub.ID)

	for _, step := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", tp, `{"email_address":"nobody@example.com"}`, 404},
		{"POST", tp, `{}`, 422},
		{"POST", "/v4/tags/999999/subscribers", `{"email_address":"ola@example.com"}`, 404},
		{"POST", tp, `{"email_address":"OLA@example.com"}`, 201},
		{"POST", tp, `{"email_address":"ola@example.com"}`, 200},
		{"POST", byID, "", 200},
		{"DELETE", byID, "", 204},
		{"DELETE", byID, "", 404},
		{"POST", byID, "", 201},
		{"DELETE", tp, `{"email_address":"ola@example.com"}`, 204},
		{"DELETE", tp, `{"email_address":"ola@example.com"}`, 404},
	} {
		if a := call(t, s, step.method, step.path, step.body); a.status != step.want {
			t.Errorf("%s %s %s = %d %s, want %d", step.method, step.path, step.body, a.status, a.body, step.want)
		}
	}
	var muts []string
	for _, m := range s.Faults.Mutations() {
		if m.Endpoint != controlEndpoint {
			muts = append(muts, m.Endpoint)
		}
	}
	want := []string{
		"POST /v4/tags",
		"POST /v4/tags/{tag_id}/subscribers",
		"DELETE /v4/tags/{tag_id}/subscribers/{id}",
		"POST /v4/tags/{tag_id}/subscribers/{id}",
		"DELETE /v4/tags/{tag_id}/subscribers",
	}
	if strings.Join(muts, "\n") != strings.Join(want, "\n") {
		t.Errorf("mutations =\n%s\nwant\n%s", strings.Join(muts, "\n"), strings.Join(want, "\n"))
	}
	already := s.AlreadyAnswers()
	if already["POST /v4/tags"] != 1 || already["POST /v4/tags/{tag_id}/subscribers"] != 1 || already["POST /v4/tags/{tag_id}/subscribers/{id}"] != 1 {
		t.Errorf("already answers = %v", already)
	}
	if len(s.TagsOf("ola@example.com")) != 0 {
		t.Errorf("tags = %v, want none", s.TagsOf("ola@example.com"))
	}
}

func TestCursorPagination(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Options{})
	tag := s.CreateTag("member")
	for _, e := range []string{"a@x.io", "b@x.io", "c@x.io", "d@x.io", "e@x.io"} {
		if err := s.TagDirect(tag, e); err != nil {
			t.Fatal(err)
		}
	}
	type page struct {
		Subscribers []struct {
			Email    string `json:"email_address"`
			TaggedAt string `json:"tagged_at"`
		} `json:"subscribers"`
		Pagination pagination `json:"pagination"`
	}
	get := func(query string) page {
		t.Helper()
		a := call(t, s, "GET", "/v4/tags/"+jsonInt(tag)+"/subscribers?per_page=2"+query, "")
		var p page
		if err := json.Unmarshal([]byte(a.body), &p); err != nil {
			t.Fatalf("%d %s: %v", a.status, a.body, err)
		}
		return p
	}
	emails := func(p page) string {
		var out []string
		for _, s := range p.Subscribers {
			out = append(out, s.Email[:1])
		}
		return strings.Join(out, "")
	}
	p1 := get("")
	p2 := get("&after=" + url.QueryEscape(*p1.Pagination.EndCursor))
	p3 := get("&after=" + url.QueryEscape(*p2.Pagination.EndCursor))
	back := get("&before=" + url.QueryEscape(*p3.Pagination.StartCursor))
	if got := emails(p1) + "|" + emails(p2) + "|" + emails(p3) + "|" + emails(back); got != "ab|cd|e|cd" {
		t.Errorf("pages = %s, want ab|cd|e|cd", got)
	}
	if !p1.Pagination.HasNextPage || p1.Pagination.HasPreviousPage || p3.Pagination.HasNextPage || !p3.Pagination.HasPreviousPage {
		t.Errorf("flags: first %+v, last %+v", p1.Pagination, p3.Pagination)
	}
	if p1.Subscribers[0].TaggedAt == "" || p1.Pagination.PerPage != 2 {
		t.Errorf("first page = %+v", p1)
	}
	if a := call(t, s, "GET", "/v4/tags/"+jsonInt(tag)+"/subscribers?after=bogus", ""); a.status != 422 {
		t.Errorf("bogus cursor: %d, want 422", a.status)
	}
	if a := call(t, s, "GET", "/v4/tags/"+jsonInt(tag)+"/subscribers?per_page=5000", ""); !strings.Contains(a.body, `"per_page":1000`) {
		t.Errorf("per_page above the maximum is not capped at 1000: %s", a.body)
	}
}

func TestSequences(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Options{})
	active := s.CreateSequence("onboarding", true)
	paused := s.CreateSequence("paused", false)
	s.CreateSubscriber("pia@example.com", "")
	path := func(id int64) string { return "/v4/sequences/" + jsonInt(id) + "/subscribers" }
	for _, step := range []struct {
		path, body string
		want       int
		wantBody   string
	}{
		{path(active), `{"email_address":"pia@example.com"}`, 201, ""},
		{path(active), `{"email_address":"pia@example.com"}`, 200, ""},
		{path(active), `{"email_address":"nobody@example.com"}`, 404, `{"errors":["Not Found"]}`},
		{path(999999), `{"email_address":"pia@example.com"}`, 404, ""},
		{path(paused), `{"email_address":"pia@example.com"}`, 422, `{"errors":["Sequence is inactive"]}`},
	} {
		a := call(t, s, "POST", step.path, step.body)
		if a.status != step.want || (step.wantBody != "" && strings.TrimSpace(a.body) != step.wantBody) {
			t.Errorf("POST %s %s = %d %s, want %d %s", step.path, step.body, a.status, a.body, step.want, step.wantBody)
		}
	}
	if got := s.SequencesOf("pia@example.com"); len(got) != 1 || got[0] != active {
		t.Errorf("sequences = %v, want [%d]", got, active)
	}
	if !s.SetSequenceActive(paused, true) {
		t.Fatal("SetSequenceActive: no such sequence")
	}
	if a := call(t, s, "POST", path(paused), `{"email_address":"pia@example.com"}`); a.status != 201 {
		t.Errorf("after activation: %d, want 201", a.status)
	}
}

func TestControlAPI(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Options{})
	tag := s.CreateTag("member")
	if err := s.TagDirect(tag, "Quin@Example.com"); err != nil {
		t.Fatal(err)
	}
	if err := s.TagDirect(999999, "quin@example.com"); err == nil {
		t.Error("TagDirect to an unknown tag succeeded")
	}
	s.CreateSubscriber("rae@example.com", "")
	if err := s.SetSubscriberEmail("quin@example.com", "RAE@example.com"); err == nil {
		t.Error("SetSubscriberEmail onto a taken email succeeded")
	}
	if err := s.SetSubscriberEmail("quin@example.com", "quinn@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := s.TagsOf("quinn@example.com"); len(got) != 1 || got[0] != tag {
		t.Errorf("tags after email change = %v", got)
	}
	if _, ok := s.Subscriber("quin@example.com"); ok {
		t.Error("the old email still finds the subscriber")
	}
	if !s.UntagDirect(tag, "quinn@example.com") || s.UntagDirect(tag, "quinn@example.com") {
		t.Error("UntagDirect should report true once, then false")
	}
	if d := s.DuplicateEntries(); len(d) != 0 {
		t.Errorf("duplicates: %v", d)
	}
	// DuplicateEntries is able to see a corrupt state.
	s.mu.Lock()
	q := s.subscribers[s.byEmail["rae@example.com"]]
	dup := *q
	dup.ID = s.nextID()
	s.subscribers[dup.ID] = &dup
	s.mu.Unlock()
	if d := s.DuplicateEntries(); len(d) == 0 {
		t.Error("DuplicateEntries misses two subscribers with one email")
	}
}

func jsonInt(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
