package circle_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/provider/providertest"
)

const (
	epSearch      = "GET /api/admin/v2/community_members/search"
	epCreate      = "POST /api/admin/v2/community_members"
	epAdd         = "POST /api/admin/v2/access_groups/{id}/community_members"
	epRemove      = "DELETE /api/admin/v2/access_groups/{id}/community_members"
	epCheck       = "GET /api/admin/v2/access_groups/{id}/community_member"
	epGroupList   = "GET /api/admin/v2/access_groups/{id}/community_members"
	epAccessGroup = "GET /api/admin/v2/access_groups"
)

// calls records what the client's Observer saw.
type calls struct {
	mu   sync.Mutex
	list []provider.Call
}

func (c *calls) observe(call provider.Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, call)
}

func (c *calls) all() []provider.Call {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]provider.Call(nil), c.list...)
}

// summary is "operation status attempt" per call, in order.
func (c *calls) summary() []string {
	var out []string
	for _, call := range c.all() {
		out = append(out, call.Operation+" "+itoa(int64(call.Status))+" #"+itoa(int64(call.Attempt)))
	}
	return out
}

type env struct {
	fake   *circletest.Server
	client *circle.Client
	calls  *calls
}

// setup starts a fake and a client for it. cfg's zero fields point at the fake, with no throttle
// worth noticing. At cleanup it checks what every test owes: no email and no token in any call's
// target, path or error.
func setup(t *testing.T, opts circletest.Options, cfg circle.Config) *env {
	t.Helper()
	fake := circletest.New(opts)
	t.Cleanup(fake.Close)
	e := &env{fake: fake, calls: &calls{}}
	if cfg.BaseURL == "" {
		cfg.BaseURL = fake.URL
	}
	if cfg.Token == "" {
		cfg.Token = fake.Token
	}
	if cfg.RequestsPerMinute == 0 {
		cfg.RequestsPerMinute = 600_000
	}
	cfg.Observer = e.calls.observe
	e.client = circle.New(cfg)
	t.Cleanup(func() { checkCalls(t, e.calls.all(), cfg.Token) })
	return e
}

func checkCalls(t *testing.T, calls []provider.Call, token string) {
	t.Helper()
	for _, c := range calls {
		if c.Provider != "circle" || c.Operation == "" || c.Attempt < 1 || c.Method == "" {
			t.Errorf("incomplete call record %+v", c)
		}
		for what, s := range map[string]string{"target": c.Target, "path": c.Path, "error": errString(c.Err)} {
			if strings.Contains(s, "@") || strings.Contains(s, "%40") {
				t.Errorf("call %s %s: %s %q holds an email", c.Operation, c.Target, what, s)
			}
			if token != "" && strings.Contains(s, token) {
				t.Errorf("call %s: %s holds the token", c.Operation, what)
			}
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// wantKind fails unless err is a *provider.Error of kind, and returns it.
func wantKind(t *testing.T, err error, kind provider.Kind) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v, want a *provider.Error of kind %s", err, kind)
	}
	if pe.Kind != kind {
		t.Fatalf("error %v has kind %s, want %s", err, pe.Kind, kind)
	}
	return pe
}

func circleError(message string) string {
	return `{"success":false,"message":"` + message + `","error_details":null}`
}

func TestFindCreateEnsure(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	ctx := context.Background()

	_, err := e.client.FindMember(ctx, "ana@example.com")
	wantKind(t, err, provider.NotFound)

	m, err := e.client.CreateMember(ctx, " Ana@Example.com", "Ana Lima", true)
	if err != nil {
		t.Fatal(err)
	}
	if m.ID == 0 || m.Email != "ana@example.com" || m.Name != "Ana Lima" || m.Active {
		t.Errorf("CreateMember = %+v, want an invited (inactive) member ana@example.com", m)
	}
	got, err := e.client.FindMember(ctx, "ANA@example.com ")
	if err != nil || got != m {
		t.Errorf("FindMember = %+v, %v; want %+v", got, err, m)
	}
	got, err = e.client.Member(ctx, m.ID)
	if err != nil || got != m {
		t.Errorf("Member(%d) = %+v, %v; want %+v", m.ID, got, err, m)
	}
	_, err = e.client.Member(ctx, 424242)
	wantKind(t, err, provider.NotFound)

	got, created, err := e.client.EnsureMember(ctx, "ana@example.com", "Someone Else", false)
	if err != nil || created || got.ID != m.ID {
		t.Errorf("EnsureMember(existing) = %+v, %v, %v; want member %d, not created", got, created, err, m.ID)
	}
	bo, created, err := e.client.EnsureMember(ctx, "bo@example.com", "Bo", false)
	if err != nil || !created || bo.ID == 0 || bo.ID == m.ID {
		t.Errorf("EnsureMember(new) = %+v, %v, %v; want a new member", bo, created, err)
	}
	if n := len(e.fake.Members()); n != 2 {
		t.Errorf("fake holds %d members, want 2", n)
	}
	if d := e.fake.DuplicateMembers(); len(d) != 0 {
		t.Errorf("DuplicateMembers = %v", d)
	}
	_, err = e.client.FindMember(ctx, "  ")
	wantKind(t, err, provider.Permanent)
}

func TestEnsureMemberNeverDuplicates(t *testing.T) {
	t.Parallel()
	// With a Circle that would happily create a second member for the same email, EnsureMember
	// still creates one, because it searches first.
	e := setup(t, circletest.Options{OnDuplicateCreate: circletest.DuplicateCreate}, circle.Config{})
	for range 3 {
		if _, _, err := e.client.EnsureMember(context.Background(), "once@example.com", "", true); err != nil {
			t.Fatal(err)
		}
	}
	if d := e.fake.DuplicateMembers(); len(d) != 0 {
		t.Errorf("DuplicateMembers = %v, want none", d)
	}
	if got := e.fake.Faults.Calls(epCreate); got != 1 {
		t.Errorf("%d creates, want 1", got)
	}
}

func TestEnsureMemberCreatedMeanwhile(t *testing.T) {
	t.Parallel()
	// The search says absent (someone adds the person right after), the create is refused with 422:
	// EnsureMember searches again and returns the existing member.
	e := setup(t, circletest.Options{}, circle.Config{})
	existing := e.fake.CreateMemberDirect("late@example.com", "Late")
	e.fake.Faults.FailNext(1, providertest.Fault{Status: 404,
		Body: `{"success":false,"message":"Oops! Missing record. Please try again later.","error_details":{"message":"Missing record: community member"}}`})

	m, created, err := e.client.EnsureMember(context.Background(), "late@example.com", "Late", false)
	if err != nil || created || m.ID != existing.ID {
		t.Fatalf("EnsureMember = %+v, %v, %v; want existing member %d", m, created, err, existing.ID)
	}
	want := []string{"find_member 404 #1", "create_member 422 #1", "find_member 200 #1"}
	if got := e.calls.summary(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

func TestCreateMemberRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{BlockedDomains: []string{"blocked.test"}, MemberLimit: 1}, circle.Config{})
	ctx := context.Background()
	_, err := e.client.CreateMember(ctx, "x@blocked.test", "", false)
	pe := wantKind(t, err, provider.Permanent)
	if pe.Status != 422 || !strings.Contains(pe.Message, "domain") {
		t.Errorf("blocked domain: %v, want 422 with Circle's message", err)
	}
	e.fake.CreateMemberDirect("first@example.com", "")
	_, err = e.client.CreateMember(ctx, "second@example.com", "", false)
	pe = wantKind(t, err, provider.Limit) // not a bad token (limits_test.go)
	if !strings.Contains(pe.Message, "member limit") {
		t.Errorf("member limit: message %q, want Circle's \"errors\" text", pe.Message)
	}
}

func TestAddToAccessGroupTwice(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	ctx := context.Background()
	g := e.fake.AddAccessGroup("Pro")
	e.fake.CreateMemberDirect("kim@example.com", "Kim")

	for range 2 {
		if err := e.client.AddToAccessGroup(ctx, g, "Kim@Example.com"); err != nil {
			t.Fatalf("AddToAccessGroup: %v", err)
		}
	}
	if got := e.fake.GroupMemberEmails(g); !reflect.DeepEqual(got, []string{"kim@example.com"}) {
		t.Errorf("group members %v, want kim once", got)
	}
	want := []string{"add_access_group 201 #1", "add_access_group 422 #1"}
	if got := e.calls.summary(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	for _, c := range e.calls.all() {
		if c.Target != "access_group:"+itoa(g) {
			t.Errorf("target %q, want access_group:%d", c.Target, g)
		}
	}
	in, err := e.client.InAccessGroup(ctx, g, "kim@example.com")
	if err != nil || !in {
		t.Errorf("InAccessGroup = %v, %v; want true", in, err)
	}
}

func TestAddToAccessGroupOther422(t *testing.T) {
	t.Parallel()
	// Circle documents no answer for a repeat add. A 422 that does not say "already" is checked:
	// success when the member is in the group, Permanent otherwise.
	odd := providertest.Fault{Status: 422, Body: circleError("Validation failed")}
	e := setup(t, circletest.Options{}, circle.Config{})
	ctx := context.Background()
	g := e.fake.AddAccessGroup("Pro")
	e.fake.CreateMemberDirect("in@example.com", "")
	e.fake.CreateMemberDirect("out@example.com", "")
	if err := e.fake.AddToGroupDirect(g, "in@example.com"); err != nil {
		t.Fatal(err)
	}

	e.fake.Faults.FailNext(1, odd)
	if err := e.client.AddToAccessGroup(ctx, g, "in@example.com"); err != nil {
		t.Errorf("422 for a member who is in the group: %v, want nil", err)
	}
	e.fake.Faults.FailNext(1, odd)
	err := e.client.AddToAccessGroup(ctx, g, "out@example.com")
	if pe := wantKind(t, err, provider.Permanent); pe.Message != "Validation failed" {
		t.Errorf("message %q, want Circle's", pe.Message)
	}
	if got := e.fake.Faults.Calls(epCheck); got != 2 {
		t.Errorf("%d checks, want 2", got)
	}
	if got := e.fake.GroupMemberEmails(g); !reflect.DeepEqual(got, []string{"in@example.com"}) {
		t.Errorf("group members %v", got)
	}
}

func TestRemoveFromAccessGroupTwice(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	ctx := context.Background()
	g := e.fake.AddAccessGroup("Pro")
	e.fake.CreateMemberDirect("kim@example.com", "Kim")
	if err := e.fake.AddToGroupDirect(g, "kim@example.com"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.client.RemoveFromAccessGroup(ctx, g, "kim@example.com"); err != nil {
			t.Fatalf("RemoveFromAccessGroup: %v", err)
		}
	}
	// A person who is not in the community at all is not in the group either.
	if err := e.client.RemoveFromAccessGroup(ctx, g, "stranger@example.com"); err != nil {
		t.Errorf("RemoveFromAccessGroup(stranger): %v", err)
	}
	want := []string{"remove_access_group 200 #1", "remove_access_group 404 #1", "remove_access_group 404 #1"}
	if got := e.calls.summary(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	if got := e.fake.GroupMemberEmails(g); len(got) != 0 {
		t.Errorf("group members %v, want none", got)
	}
	in, err := e.client.InAccessGroup(ctx, g, "kim@example.com")
	if err != nil || in {
		t.Errorf("InAccessGroup = %v, %v; want false", in, err)
	}
}

func TestUnknownGroupIsNotFound(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	ctx := context.Background()
	e.fake.CreateMemberDirect("kim@example.com", "")
	const g = 987654
	checks := map[string]error{
		"add":    e.client.AddToAccessGroup(ctx, g, "kim@example.com"),
		"remove": e.client.RemoveFromAccessGroup(ctx, g, "kim@example.com"),
	}
	_, checks["check"] = e.client.InAccessGroup(ctx, g, "kim@example.com")
	_, checks["list"] = e.client.AccessGroupMembers(ctx, g, 1, 100)
	for name, err := range checks {
		t.Run(name, func(t *testing.T) {
			pe := wantKind(t, err, provider.NotFound)
			if !strings.Contains(pe.Message, "Missing record: access group") || pe.Status != 404 {
				t.Errorf("error %v, want 404 naming the access group", err)
			}
		})
	}
	g2 := e.fake.AddAccessGroup("Pro")
	err := e.client.AddToAccessGroup(ctx, g2, "nobody@example.com")
	if pe := wantKind(t, err, provider.NotFound); !strings.Contains(pe.Message, "Missing record: user") {
		t.Errorf("add of a non-member: %v, want NotFound naming the user", err)
	}
}

func TestRemoveUnexplained404IsNotFound(t *testing.T) {
	t.Parallel()
	// A 404 that names nothing (a proxy, a wrong base URL) must not pass for "already removed".
	e := setup(t, circletest.Options{}, circle.Config{})
	g := e.fake.AddAccessGroup("Pro")
	e.fake.Faults.FailNext(1, providertest.Fault{Status: 404, Body: "<html><body>Not Found</body></html>"})
	err := e.client.RemoveFromAccessGroup(context.Background(), g, "kim@example.com")
	if pe := wantKind(t, err, provider.NotFound); pe.Message != "<html><body>Not Found</body></html>" {
		t.Errorf("message %q", pe.Message)
	}

	wrong := setup(t, circletest.Options{}, circle.Config{BaseURL: e.fake.URL + "/wrong-prefix"})
	err = wrong.client.RemoveFromAccessGroup(context.Background(), g, "kim@example.com")
	wantKind(t, err, provider.NotFound)
}

func TestBadTokenIsConfig(t *testing.T) {
	t.Parallel()
	const token = "wrong-token-0123456789"
	e := setup(t, circletest.Options{}, circle.Config{Token: token})
	_, err := e.client.FindMember(context.Background(), "kim@example.com")
	pe := wantKind(t, err, provider.Config)
	if pe.Status != 401 || pe.Message != "The API token is invalid." {
		t.Errorf("error %v, want 401 with Circle's message", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error %q holds the token", err)
	}
	if got := e.fake.Faults.Calls(epSearch); got != 1 {
		t.Errorf("%d calls, want 1 (a configuration error is not retried)", got)
	}
}

func TestIneligibleCommunityIsConfig(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	e.fake.Faults.FailNext(1, providertest.Fault{Status: 403, Body: circleError("The community is not eligible for admin API v2 access.")})
	_, err := e.client.AccessGroups(context.Background())
	if pe := wantKind(t, err, provider.Config); !strings.Contains(pe.Message, "not eligible for admin API v2 access") {
		t.Errorf("message %q, want Circle's", pe.Message)
	}
}

func TestTokenEchoIsRedacted(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	e.fake.Faults.FailNext(1, providertest.Fault{Status: 422, Body: circleError("bad token " + e.fake.Token)})
	_, err := e.client.CreateMember(context.Background(), "kim@example.com", "", false)
	wantKind(t, err, provider.Permanent)
	if strings.Contains(err.Error(), e.fake.Token) {
		t.Errorf("error %q holds the token", err)
	}
}

func TestRetriesTransientFailures(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	g := e.fake.AddAccessGroup("Pro")
	e.fake.CreateMemberDirect("kim@example.com", "")
	e.fake.Faults.FailNext(2, providertest.Fault{Status: 500, Body: circleError("Internal server error")})

	if err := e.client.AddToAccessGroup(context.Background(), g, "kim@example.com"); err != nil {
		t.Fatalf("AddToAccessGroup after two 500s: %v", err)
	}
	want := []string{"add_access_group 500 #1", "add_access_group 500 #2", "add_access_group 201 #3"}
	if got := e.calls.summary(); !reflect.DeepEqual(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	for _, c := range e.calls.all()[:2] {
		if provider.KindOf(c.Err) != provider.Transient {
			t.Errorf("call %d error %v, want Transient", c.Attempt, c.Err)
		}
	}
	if got := e.fake.GroupMemberEmails(g); len(got) != 1 {
		t.Errorf("group members %v, want one", got)
	}
}

func TestOutageIsTransient(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	g := e.fake.AddAccessGroup("Pro")
	e.fake.CreateMemberDirect("kim@example.com", "")
	e.fake.Faults.FailFor(time.Hour, providertest.Fault{Status: 503, Body: circleError("Service Unavailable")})

	err := e.client.AddToAccessGroup(context.Background(), g, "kim@example.com")
	pe := wantKind(t, err, provider.Transient)
	if pe.Status != 503 || pe.Message != "Service Unavailable" {
		t.Errorf("error %v, want 503 with the parsed message", err)
	}
	if got := e.fake.Faults.Calls(epAdd); got != 3 {
		t.Errorf("%d attempts, want 3 (1 + MaxRetries 2)", got)
	}
	e.fake.Faults.Heal()
	if err := e.client.AddToAccessGroup(context.Background(), g, "kim@example.com"); err != nil {
		t.Errorf("after the outage: %v", err)
	}
}

func TestNoRetriesWhenNegative(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{MaxRetries: -1})
	e.fake.Faults.FailNext(1, providertest.Fault{Status: 502})
	_, err := e.client.FindMember(context.Background(), "kim@example.com")
	wantKind(t, err, provider.Transient)
	if got := e.fake.Faults.Calls(epSearch); got != 1 {
		t.Errorf("%d attempts, want 1", got)
	}
}

// A 429 is not retried in-process (Circle counts every answer against the monthly quota): it
// pauses the budget for Retry-After, and the next call waits the pause out before it is sent.
func TestRetryAfterPausesTheBudget(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	e.fake.CreateMemberDirect("kim@example.com", "")
	e.fake.Faults.FailNext(1, providertest.Fault{Status: 429, Header: http.Header{"Retry-After": {"1"}}})

	_, err := e.client.FindMember(context.Background(), "kim@example.com")
	if pe := wantKind(t, err, provider.RateLimited); pe.RetryAfter != time.Second {
		t.Fatalf("RetryAfter %s, want 1s", pe.RetryAfter)
	}
	if _, err := e.client.FindMember(context.Background(), "kim@example.com"); err != nil {
		t.Fatalf("FindMember after the pause: %v", err)
	}
	want := []string{"find_member 429 #1", "find_member 200 #1"}
	if got := e.calls.summary(); !reflect.DeepEqual(got, want) {
		t.Fatalf("calls %v, want %v", got, want)
	}
	calls := e.calls.all()
	if pe := wantKind(t, calls[0].Err, provider.RateLimited); pe.RetryAfter != time.Second {
		t.Errorf("RetryAfter %s, want 1s", pe.RetryAfter)
	}
	// A lower bound only: the client sleeps at least Retry-After (backoff alone would be ≤ 200 ms).
	if gap := calls[1].Started.Sub(calls[0].Started); gap < time.Second {
		t.Errorf("retried after %s, want at least the 1s Retry-After", gap)
	}
}

func TestRetryAfterBeyondMaxWait(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{MaxWait: 5 * time.Second})
	e.fake.Faults.FailNext(1, providertest.Fault{Status: 429, Header: http.Header{"Retry-After": {"120"}}})
	_, err := e.client.FindMember(context.Background(), "kim@example.com")
	if pe := wantKind(t, err, provider.RateLimited); pe.RetryAfter != 2*time.Minute {
		t.Errorf("RetryAfter %s, want 2m so that the job snoozes", pe.RetryAfter)
	}
	if got := e.fake.Faults.Calls(epSearch); got != 1 {
		t.Errorf("%d attempts, want 1 (no in-process wait beyond MaxWait)", got)
	}
}

func TestFakeRateLimitEmulation(t *testing.T) {
	t.Parallel()
	fixed := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	e := setup(t, circletest.Options{RateLimit: 2, RateWindow: time.Hour, Now: func() time.Time { return fixed }}, circle.Config{})
	ctx := context.Background()
	for range 2 {
		if _, err := e.client.AccessGroups(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err := e.client.AccessGroups(ctx)
	if pe := wantKind(t, err, provider.RateLimited); pe.RetryAfter != circle.RateLimitWindow || pe.Status != 429 {
		t.Errorf("error %v (RetryAfter %s), want 429 and Circle's recommended %s", err, pe.RetryAfter, circle.RateLimitWindow)
	}
	if got := e.fake.RequestsThisMonth(); got != 3 {
		t.Errorf("RequestsThisMonth = %d, want 3", got)
	}
}

func TestTimeoutIsTransient(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{Timeout: 50 * time.Millisecond, MaxRetries: -1})
	e.fake.Faults.SetLatency(10 * time.Second)
	_, err := e.client.FindMember(context.Background(), "slow@example.com")
	pe := wantKind(t, err, provider.Transient)
	if pe.Status != 0 || strings.Contains(err.Error(), "slow@") || strings.Contains(err.Error(), "slow%40") {
		t.Errorf("error %q: want no status and no email", err)
	}
}

func TestConnectionRefusedHidesEmail(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{MaxRetries: -1})
	e.fake.Close()
	err := e.client.RemoveFromAccessGroup(context.Background(), 12, "gone@example.com")
	wantKind(t, err, provider.Transient)
	if s := err.Error(); strings.Contains(s, "gone@") || strings.Contains(s, "gone%40") {
		t.Errorf("error %q holds the email", s)
	}
}

func TestAccessGroupMembersPagination(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	ctx := context.Background()
	g := e.fake.AddAccessGroup("Big")
	other := e.fake.AddAccessGroup("Other")
	want := map[int64]bool{}
	for i := range 250 {
		email := "m" + itoa(int64(i)) + "@example.com"
		m := e.fake.CreateMemberDirect(email, "")
		if err := e.fake.AddToGroupDirect(g, email); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if err := e.fake.AddToGroupDirect(other, email); err != nil {
				t.Fatal(err)
			}
		}
		want[m.ID] = true
	}

	got := map[int64]bool{}
	var sizes []int
	for page := 1; ; page++ {
		p, err := e.client.AccessGroupMembers(ctx, g, page, 100)
		if err != nil {
			t.Fatal(err)
		}
		if p.Page != page || p.Count != 250 {
			t.Errorf("page %d: Page %d Count %d, want %d and 250", page, p.Page, p.Count, page)
		}
		sizes = append(sizes, len(p.Records))
		for _, r := range p.Records {
			if r.AccessGroupID != g || r.ID == 0 || r.CreatedAt.IsZero() || got[r.CommunityMemberID] {
				t.Errorf("record %+v: want group %d, an id, a time and no repeat", r, g)
			}
			got[r.CommunityMemberID] = true
		}
		if !p.HasNextPage {
			break
		}
		if page > 10 {
			t.Fatal("HasNextPage never ends")
		}
	}
	if !reflect.DeepEqual(sizes, []int{100, 100, 50}) {
		t.Errorf("page sizes %v, want [100 100 50]", sizes)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %d member ids, want the %d members of the group", len(got), len(want))
	}
	if n := e.fake.Faults.Calls(epGroupList); n != 3 {
		t.Errorf("%d list calls, want 3", n)
	}
	// per_page beyond Circle's maximum is clamped by the client.
	p, err := e.client.AccessGroupMembers(ctx, g, 0, 1000)
	if err != nil || p.Page != 1 || len(p.Records) != 100 {
		t.Errorf("AccessGroupMembers(page 0, per_page 1000) = page %d with %d records, %v; want page 1 of 100", p.Page, len(p.Records), err)
	}
	for _, c := range e.calls.all() {
		if c.Operation != "list_access_group_members" || c.Target != "access_group:"+itoa(g) || c.Path != "/api/admin/v2/access_groups/"+itoa(g)+"/community_members" {
			t.Errorf("call %s %s %s", c.Operation, c.Target, c.Path)
		}
	}
}

func TestAccessGroupsAllPages(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	var want []circle.AccessGroup
	for i := range 120 {
		name := "group " + itoa(int64(i))
		id := e.fake.AddAccessGroup(name)
		status := "active"
		if i == 7 {
			if err := e.fake.ArchiveAccessGroup(id); err != nil {
				t.Fatal(err)
			}
			status = "archived"
		}
		want = append(want, circle.AccessGroup{ID: id, Name: name, Status: status})
	}
	got, err := e.client.AccessGroups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AccessGroups returned %d groups, want %d (archived included)", len(got), len(want))
	}
	if n := e.fake.Faults.Calls(epAccessGroup); n != 2 {
		t.Errorf("%d calls, want 2 pages of 100", n)
	}
}

func TestObserverSeesEveryCall(t *testing.T) {
	t.Parallel()
	e := setup(t, circletest.Options{}, circle.Config{})
	ctx := context.Background()
	g := e.fake.AddAccessGroup("Pro")

	m, _, err := e.client.EnsureMember(ctx, "obs@example.com", "Obs", true)
	if err != nil {
		t.Fatal(err)
	}
	steps := []error{
		e.client.AddToAccessGroup(ctx, g, "obs@example.com"),
		e.client.RemoveFromAccessGroup(ctx, g, "obs@example.com"),
	}
	_, err = e.client.InAccessGroup(ctx, g, "obs@example.com")
	steps = append(steps, err)
	_, err = e.client.Member(ctx, m.ID)
	steps = append(steps, err)
	_, err = e.client.AccessGroupMembers(ctx, g, 1, 10)
	steps = append(steps, err)
	_, err = e.client.AccessGroups(ctx)
	steps = append(steps, err)
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}

	type seen struct {
		Operation, Target, Method, Path string
		Status, Attempt                 int
	}
	group := "access_group:" + itoa(g)
	gpath := "/api/admin/v2/access_groups/" + itoa(g)
	want := []seen{
		{"find_member", "member", "GET", "/api/admin/v2/community_members/search", 404, 1},
		{"create_member", "member", "POST", "/api/admin/v2/community_members", 201, 1},
		{"add_access_group", group, "POST", gpath + "/community_members", 201, 1},
		{"remove_access_group", group, "DELETE", gpath + "/community_members", 200, 1},
		{"check_access_group", group, "GET", gpath + "/community_member", 404, 1},
		{"get_member", "member:" + itoa(m.ID), "GET", "/api/admin/v2/community_members/" + itoa(m.ID), 200, 1},
		{"list_access_group_members", group, "GET", gpath + "/community_members", 200, 1},
		{"list_access_groups", "access_groups", "GET", "/api/admin/v2/access_groups", 200, 1},
	}
	var got []seen
	for _, c := range e.calls.all() {
		got = append(got, seen{c.Operation, c.Target, c.Method, c.Path, c.Status, c.Attempt})
		if c.Started.IsZero() || c.Err != nil {
			t.Errorf("call %s: Started %v, Err %v", c.Operation, c.Started, c.Err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("observed\n%v\nwant\n%v", got, want)
	}
	if got, want := e.fake.RequestsThisMonth(), len(want); got != want {
		t.Errorf("fake counted %d requests, observer %d", got, want)
	}
}

func TestBaseURLWithPathPrefix(t *testing.T) {
	t.Parallel()
	fake := circletest.New(circletest.Options{})
	defer fake.Close()
	target, err := url.Parse(fake.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(http.StripPrefix("/proxy/circle", httputil.NewSingleHostReverseProxy(target)))
	defer proxy.Close()

	c := circle.New(circle.Config{BaseURL: proxy.URL + "/proxy/circle/", Token: fake.Token, RequestsPerMinute: 600_000})
	ctx := context.Background()
	g := fake.AddAccessGroup("Pro")
	if _, _, err := c.EnsureMember(ctx, "pre@example.com", "", true); err != nil {
		t.Fatal(err)
	}
	if err := c.AddToAccessGroup(ctx, g, "pre@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := fake.GroupMemberEmails(g); !reflect.DeepEqual(got, []string{"pre@example.com"}) {
		t.Errorf("group members %v", got)
	}
	if n := fake.Faults.Calls(epAdd); n != 1 {
		t.Errorf("%d adds reached the fake through the prefix, want 1", n)
	}
}

func TestRequestShape(t *testing.T) {
	t.Parallel()
	// The client authenticates with Bearer, sends JSON, and follows no redirect.
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("redirect followed to %s", r.URL)
	}))
	defer elsewhere.Close()
	var (
		mu  sync.Mutex
		got []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization")+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
	}))
	defer srv.Close()

	c := circle.New(circle.Config{BaseURL: srv.URL, Token: "tok-123"})
	err := c.AddToAccessGroup(context.Background(), 5, "A+b@Example.com")
	if pe := wantKind(t, err, provider.Permanent); pe.Status != http.StatusFound {
		t.Errorf("error %v, want the 302 as a Permanent error", err)
	}
	_, err = c.FindMember(context.Background(), "A+b@Example.com")
	wantKind(t, err, provider.Permanent)
	want := []string{
		"POST /api/admin/v2/access_groups/5/community_members Bearer tok-123 application/json",
		"GET /api/admin/v2/community_members/search?email=a%2Bb%40example.com Bearer tok-123 ",
	}
	mu.Lock()
	defer mu.Unlock()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("requests\n%q\nwant\n%q", got, want)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
