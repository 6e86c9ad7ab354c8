package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/web"
)

// fixture is a migrated store with one person (events, a sync, grants, an open review item), an
// operator per role, and the admin handler served over real HTTP behind web's security headers.
type fixture struct {
	t        *testing.T
	st       *store.Store
	h        *Handler
	srv      *httptest.Server
	clock    *providertest.Clock
	personID int64
	itemID   int64
	eventID  string
	// targetID is a user the admin routes act on; tokenID one of its tokens.
	targetID int64
	tokenID  int64

	mu      sync.Mutex
	resyncs []string // "personID:reason", guarded by mu
}

// Passwords of the fixture's operators, by role.
var passwords = map[Role]string{RoleViewer: "viewer-password-1", RoleSupport: "support-password-1", RoleAdmin: "admin-password-1"}

func email(r Role) string { return string(r) + "@ops.example.com" }

const testSecretKey = "sk_test_SECRETstripekey123456"

func testConfig() *config.Config {
	return &config.Config{
		Listen: ":8080", PublicURL: "https://members.example.com", DatabaseURL: "postgres://membersync:dbpass-SECRET@db.internal/membersync",
		Circle: config.CircleConfig{BaseURL: "https://app.circle.so", CommunityURL: "https://community.example.com"},
		Plans: []config.Plan{{ID: "pro", Name: "Pro membership", Stripe: config.PlanStripe{Prices: []string{"price_pro"}},
			Circle: config.PlanCircle{AccessGroups: []int64{11}},
			Kit:    config.PlanKit{Tags: map[string]int64{"active": 21, "canceled": 22}, OnboardingSequence: 31}}},
		Secrets: config.Secrets{StripeSecretKey: testSecretKey, StripeWebhookSecrets: []string{"whsec_SECRETwebhook1", "whsec_SECRETwebhook2"},
			CircleAPIToken: "circle-SECRET-token", KitAPIKey: "kit-SECRET-key", SigningKey: "signing-SECRET-key"},
	}
}

func newFixture(t *testing.T, dialect string, opts ...func(*Deps)) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, st: storetest.Open(t, dialect), clock: providertest.NewClock(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))}
	f.st.Now = f.clock.Now
	f.seed(ctx)
	d := Deps{
		Store: f.st, Config: testConfig(), Now: f.clock.Now,
		Resync: func(ctx context.Context, personID int64, reason string) error {
			f.mu.Lock()
			f.resyncs = append(f.resyncs, fmt.Sprintf("%d:%s", personID, reason))
			f.mu.Unlock()
			// Stands in for the engine: the sync it runs shows in the journey.
			// The worker runs it a moment after the request.
			return f.st.AppendJournal(ctx, store.JournalEntry{PersonID: personID, At: f.clock.Now().Add(time.Second), Kind: "sync", Action: "sync", Target: reason,
				Result: "converged", Duration: 42 * time.Millisecond, Detail: "2 action(s), 3 call(s)"})
		},
		// Stands in for converge.Resyncer.Who: every customer is the seeded person.
		ResyncCustomer: func(ctx context.Context, who string) (int64, []string, error) {
			return f.personID, nil, f.st.AppendJournal(ctx, store.JournalEntry{PersonID: f.personID, At: f.clock.Now().Add(time.Second),
				Kind: "sync", Action: "sync", Target: "resync", Result: "converged", Detail: "0 action(s), 2 call(s)"})
		},
		CheckConnections: func(ctx context.Context) []ConnectionCheck {
			return []ConnectionCheck{{Name: "stripe", OK: true, Message: "account acct_1 reachable"}, {Name: "kit", OK: false, Message: "401: the API key was refused"}}
		},
	}
	for _, o := range opts {
		o(&d)
	}
	f.h = New(d)
	f.srv = httptest.NewServer((&web.Server{Mounts: []web.Mounter{f.h}}).Routes())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) seed(ctx context.Context) {
	t := f.t
	t.Helper()
	var res store.IngestResult
	err := f.st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		res, err = tx.IngestEvent(ctx, store.Event{ID: "evt_1", Type: "customer.subscription.updated", CustomerID: "cus_ada", Actionable: true,
			Created: f.clock.Now(), Payload: []byte(`{"id":"evt_1","type":"customer.subscription.updated","data":{"object":{"id":"sub_1","customer":"cus_ada","customer_email":"ada@example.com","items":{"data":[{"price":{"id":"price_pro"}}]}}}}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f.personID, f.eventID = res.PersonID, "evt_1"
	if err := f.st.SetIdentity(ctx, f.personID, "ada@example.com", "Ada Lovelace"); err != nil {
		t.Fatal(err)
	}
	d := entitlement.Desired{Plans: []entitlement.PlanState{{PlanID: "pro", Entitled: true, Stage: entitlement.StageActive, Reason: "subscription_active",
		Explanation: "The subscription is active.", AccessGroups: []int64{11}, Tags: []int64{21}}},
		AccessGroups: []int64{11}, Tags: []int64{21}, Sequences: []entitlement.Enrollment{{PlanID: "pro", SequenceID: 31, Kind: entitlement.SequenceOnboarding}}}
	dj, _ := json.Marshal(d)
	if err := f.st.SaveSyncResult(ctx, f.personID, string(dj), time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetRemoteIDs(ctx, f.personID, 501, 601); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RecordApplied(ctx, store.Applied{PersonID: f.personID, Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: 11, Email: "ada@example.com", RemoteID: 501}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []store.JournalEntry{
		{Kind: "call", Action: "circle:add_access_group", Target: "11", Result: "ok", Status: 200, Attempt: 1, Duration: 80 * time.Millisecond},
		{Kind: "call", Action: "kit:tag_subscriber", Target: "21", Result: "server", Status: 502, Attempt: 1, Duration: 90 * time.Millisecond, Detail: "kit answered 502"},
		{Kind: "sync", Action: "sync", Target: "event", Result: "retry", Detail: "kit answered 502"},
	} {
		f.clock.Advance(700 * time.Millisecond)
		e.PersonID = f.personID
		if err := f.st.AppendJournal(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(time.Second)
	if _, err := f.st.OpenReview(ctx, store.ReviewItem{PersonID: f.personID, Kind: "action_failed", ActionKey: "kit:tag:21",
		Reason: "Kit refused the tag", LastError: "kit answered 422"}); err != nil {
		t.Fatal(err)
	}
	items, err := f.st.Reviews(ctx, "open", f.personID, 1)
	if err != nil || len(items) != 1 {
		t.Fatalf("review item: %v %v", items, err)
	}
	f.itemID = items[0].ID
	// Operators get cheap hashes (verification reads the parameters from the hash): the tests sign
	// in often. TestPasswords and the users tests cover the real parameters.
	for _, r := range Roles {
		if _, err := f.st.CreateAdminUser(ctx, email(r), string(r), hashPasswordWith(passwords[r], 1, 64)); err != nil {
			t.Fatal(err)
		}
	}
	target, err := f.st.CreateAdminUser(ctx, "target@ops.example.com", string(RoleViewer), hashPasswordWith("target-password-1", 1, 64))
	if err != nil {
		t.Fatal(err)
	}
	f.targetID = target.ID
	_, tok, err := IssueToken(ctx, f.st, "test", target, "target-token", RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	f.tokenID = tok.ID
}

func (f *fixture) resyncCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.resyncs...)
}

// client is a browser stand-in: a cookie jar, no redirect following, and the page's CSRF token.
type client struct {
	f     *fixture
	http  *http.Client
	csrf  string
	token string // API token, sent as a bearer
}

func (f *fixture) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{f: f, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var (
	csrfField      = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	loginCSRFField = regexp.MustCompile(`name="login_csrf" value="([^"]+)"`)
)

// do sends a request and returns the response with its body read.
func (c *client) do(method, path string, body io.Reader, header http.Header) (*http.Response, string) {
	c.f.t.Helper()
	req, err := http.NewRequest(method, c.f.srv.URL+path, body)
	if err != nil {
		c.f.t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) get(path string) (*http.Response, string) { return c.do("GET", path, nil, nil) }

// postForm sends a form with the session's CSRF token (unless the form sets csrf itself).
func (c *client) postForm(path string, form url.Values) (*http.Response, string) {
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok && c.csrf != "" {
		form.Set("csrf", c.csrf)
	}
	return c.do("POST", path, strings.NewReader(form.Encode()), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
}

// postJSON sends a JSON body with the X-CSRF-Token header when the client has a session.
func (c *client) postJSON(path string, v any) (*http.Response, string) {
	b, _ := json.Marshal(v)
	h := http.Header{"Content-Type": {"application/json"}}
	if c.csrf != "" {
		h.Set("X-CSRF-Token", c.csrf)
	}
	return c.do("POST", path, strings.NewReader(string(b)), h)
}

// tryLogin submits the sign-in form.
func (c *client) tryLogin(email, password string) (*http.Response, string) {
	c.f.t.Helper()
	_, page := c.get("/login")
	m := loginCSRFField.FindStringSubmatch(page)
	if m == nil {
		c.f.t.Fatalf("no login_csrf on the sign-in page: %s", page)
	}
	return c.postForm("/login", url.Values{"email": {email}, "password": {password}, "login_csrf": {m[1]}})
}

// login signs in as the role's operator and keeps the CSRF token of the overview page.
func (f *fixture) login(r Role) *client {
	f.t.Helper()
	c := f.client()
	resp, body := c.tryLogin(email(r), passwords[r])
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		f.t.Fatalf("login as %s: %d %s %s", r, resp.StatusCode, resp.Header.Get("Location"), body)
	}
	resp, page := c.get("/admin")
	m := csrfField.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		f.t.Fatalf("overview after login as %s: %d", r, resp.StatusCode)
	}
	c.csrf = m[1]
	return c
}

// withToken returns a client that authenticates with an API token of the role's operator.
func (f *fixture) withToken(user Role, scope Role) *client {
	f.t.Helper()
	u, err := f.st.AdminUserByEmail(context.Background(), email(user))
	if err != nil {
		f.t.Fatal(err)
	}
	token, _, err := CreateAPIToken(context.Background(), f.st, u, "test "+string(scope), scope)
	if err != nil {
		f.t.Fatal(err)
	}
	c := f.client()
	c.token = token
	return c
}

func (f *fixture) audit(action string) []store.AuditEntry {
	f.t.Helper()
	es, err := f.st.Audit(context.Background(), store.AuditFilter{Action: action})
	if err != nil {
		f.t.Fatal(err)
	}
	return es
}
