package status_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/status"
	"github.com/membersync/membersync/internal/store/storetest"
)

const getSession = "GET /v1/checkout/sessions/{id}"

// progressJSON mirrors GET /welcome/progress.
type progressJSON struct {
	State        string `json:"state"`
	Done         bool   `json:"done"`
	Title        string `json:"title"`
	Message      string `json:"message"`
	NoticedAt    string `json:"noticed_at"`
	Alerted      bool   `json:"alerted"`
	CommunityURL string `json:"community_url"`
	StatusURL    string `json:"status_url"`
	PollMS       int    `json:"poll_ms"`
	Steps        []struct {
		ID, Status, Label string
	} `json:"steps"`
	Error string `json:"error"`
}

func (p progressJSON) steps() string {
	var s []string
	for _, st := range p.Steps {
		s = append(s, st.Status)
	}
	return strings.Join(s, ",")
}

func (c *testClient) progress(sessionID string) (int, progressJSON) {
	c.w.t.Helper()
	code, _, body := c.do("GET", "/welcome/progress?session_id="+url.QueryEscape(sessionID))
	var p progressJSON
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		c.w.t.Fatalf("progress answer %d is not JSON: %v\n%s", code, err, body)
	}
	return code, p
}

// subscribe has a new customer subscribe to Pro through Checkout; nothing is delivered.
func (w *world) subscribe(email string) (customerID, sessionID, subID string) {
	customerID = w.stripe.CreateCustomer(email, "Ada Lovelace")
	sessionID, subID = w.stripe.SubscribeViaCheckout(customerID, w.proPrice, 0)
	return customerID, sessionID, subID
}

func TestWelcomeProgress(t *testing.T) {
	type want struct {
		code      int
		state     string
		steps     string
		done      bool
		resyncs   int // Resync calls made by the page
		community bool
		noticed   bool
		alerted   bool
	}
	cases := []struct {
		name  string
		setup func(w *world) string // returns the session id to ask about
		want  want
		check func(t *testing.T, w *world, p progressJSON)
	}{
		{name: "malformed session id costs no Stripe call",
			setup: func(w *world) string { return "cs_test_<script>" },
			want:  want{code: 404},
			check: func(t *testing.T, w *world, p progressJSON) {
				if n := w.stripe.Faults.Calls(getSession); n != 0 {
					t.Errorf("Stripe was asked %d times about a malformed id", n)
				}
			}},
		{name: "unknown session id",
			setup: func(w *world) string { return "cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsT" },
			want:  want{code: 404}},
		{name: "webhook not arrived: the page asks for the sync itself",
			setup: func(w *world) string { _, cs, _ := w.subscribe("ada@example.com"); return cs },
			want:  want{code: 200, state: "setting_up", steps: "done,active,todo", resyncs: 1},
			check: func(t *testing.T, w *world, p progressJSON) {
				c := w.client("10.0.0.1")
				c.progress(w.resyncRequests()[0].reasonSession(t, w))
				if n := len(w.resyncRequests()); n != 1 {
					t.Errorf("a second look asked for %d syncs in all, want 1", n)
				}
				if got := w.resyncRequests()[0].Reason; got != "welcome" {
					t.Errorf("resync reason %q, want welcome", got)
				}
				if !journaled(t, w, w.resyncRequests()[0].PersonID, "welcome_page") {
					t.Error("the page's sync request is not in the journal")
				}
				if n := w.stripe.Faults.Calls(getSession); n != 1 {
					t.Errorf("Stripe was asked %d times about a paid session, want 1", n)
				}
			}},
		{name: "webhook arrived, sync not run yet",
			setup: func(w *world) string { _, cs, _ := w.subscribe("ada@example.com"); w.deliver(); return cs },
			want:  want{code: 200, state: "setting_up", steps: "done,active,todo"}},
		{name: "webhook arrived and synced",
			setup: func(w *world) string {
				cus, cs, _ := w.subscribe("ada@example.com")
				w.deliver()
				w.mustSync(w.person(cus))
				return cs
			},
			want: want{code: 200, state: "ready", steps: "done,done,done", done: true, community: true},
			check: func(t *testing.T, w *world, p progressJSON) {
				if !strings.HasPrefix(p.StatusURL, "/status/") {
					t.Errorf("status_url %q is not a status link", p.StatusURL)
				}
			}},
		{name: "one-time purchase",
			setup: func(w *world) string {
				cus := w.stripe.CreateCustomer("grace@example.com", "Grace Hopper")
				cs, _ := w.stripe.Purchase(cus, w.coursePrice)
				w.deliver()
				w.mustSync(w.person(cus))
				return cs
			},
			want: want{code: 200, state: "ready", steps: "done,done,done", done: true, community: true}},
		{name: "a returning member's second purchase waits for its own sync",
			setup: func(w *world) string {
				cus, _, _ := w.subscribe("ada@example.com")
				w.deliver()
				w.mustSync(w.person(cus))
				w.clock.Advance(time.Minute)
				cs, _ := w.stripe.Purchase(cus, w.coursePrice)
				return cs
			},
			want: want{code: 200, state: "setting_up", steps: "done,active,todo", resyncs: 1}},
		{name: "circle not answering",
			setup: func(w *world) string {
				cus, cs, _ := w.subscribe("ada@example.com")
				w.deliver()
				w.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
				if err := w.sync(w.person(cus), 1); err == nil {
					t.Fatal("the sync succeeded while Circle was down")
				}
				return cs
			},
			want: want{code: 200, state: "trouble", steps: "done,attention,todo", noticed: true}},
		{name: "circle not answering, retries exhausted: alerted",
			setup: func(w *world) string {
				cus, cs, _ := w.subscribe("ada@example.com")
				w.deliver()
				w.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
				for attempt := 1; attempt <= 3; attempt++ {
					_ = w.sync(w.person(cus), attempt)
				}
				return cs
			},
			want: want{code: 200, state: "trouble", steps: "done,attention,todo", noticed: true, alerted: true}},
		{name: "refunded purchase: says refunded, not setting up",
			setup: func(w *world) string {
				cus := w.stripe.CreateCustomer("grace@example.com", "Grace Hopper")
				cs, ch := w.stripe.Purchase(cus, w.coursePrice)
				w.stripe.Refund(ch, 0)
				w.deliver()
				w.mustSync(w.person(cus))
				return cs
			},
			want: want{code: 200, state: "ended", steps: "done,attention,todo", done: true},
			check: func(t *testing.T, w *world, p progressJSON) {
				if p.Title != "Your purchase was refunded" || p.Steps[1].Label != "Refunded: no community access" {
					t.Errorf("title %q, access step %q: want the refund said, not setting up", p.Title, p.Steps[1].Label)
				}
			}},
		{name: "payment failed after checkout",
			setup: func(w *world) string {
				cus, cs, sub := w.subscribe("ada@example.com")
				w.stripe.FailPayment(sub)
				w.deliver()
				w.mustSync(w.person(cus))
				return cs
			},
			want: want{code: 200, state: "action", steps: "done,attention,todo", done: true}},
	}
	for _, d := range storetest.Dialects() {
		for _, c := range cases {
			t.Run(d+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, worldOptions{dialect: d})
				id := c.setup(w)
				code, p := w.client("10.0.0.1").progress(id)
				got := want{code: code, state: p.State, steps: p.steps(), done: p.Done, resyncs: len(w.resyncRequests()),
					community: p.CommunityURL != "", noticed: p.NoticedAt != "", alerted: p.Alerted}
				if got != c.want {
					t.Errorf("got  %+v\nwant %+v", got, c.want)
				}
				if code == 200 && (p.Title == "" || p.Message == "" || p.PollMS <= 0) {
					t.Errorf("incomplete progress: %+v", p)
				}
				if c.want.community && p.CommunityURL != w.cfg.Circle.CommunityURL {
					t.Errorf("community_url %q, want %q", p.CommunityURL, w.cfg.Circle.CommunityURL)
				}
				if c.check != nil {
					c.check(t, w, p)
				}
			})
		}
	}
}

// reasonSession finds the session of the only checkout (tests with one customer).
func (r resync) reasonSession(t *testing.T, w *world) string {
	t.Helper()
	for _, e := range w.stripe.Events() {
		if e.Type == "checkout.session.completed" {
			var ev struct {
				Data struct {
					Object struct {
						ID string `json:"id"`
					} `json:"object"`
				} `json:"data"`
			}
			if err := json.Unmarshal(e.JSON, &ev); err != nil {
				t.Fatal(err)
			}
			return ev.Data.Object.ID
		}
	}
	t.Fatal("no checkout session")
	return ""
}

func journaled(t *testing.T, w *world, personID int64, action string) bool {
	t.Helper()
	entries, err := w.store.Journal(context.Background(), personID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Action == action {
			return true
		}
	}
	return false
}

func (w *world) mustSync(personID int64) {
	w.t.Helper()
	if err := w.sync(personID, 1); err != nil {
		w.t.Fatalf("sync of person %d: %v", personID, err)
	}
}

// TestWelcomeAfterLateWebhookIsReady walks the page's race: the page asks first, the webhook's
// events arrive later, one sync serves both, and the page ends ready without a second request.
func TestWelcomeAfterLateWebhookIsReady(t *testing.T) {
	w := newWorld(t, worldOptions{})
	cus, cs, _ := w.subscribe("ada@example.com")
	c := w.client("10.0.0.1")
	if _, p := c.progress(cs); p.State != "setting_up" {
		t.Fatalf("before any sync: %s, want setting_up", p.State)
	}
	w.deliver() // the webhook arrives late: the person is already waiting for a sync
	w.mustSync(w.person(cus))
	_, p := c.progress(cs)
	if p.State != "ready" || !p.Done {
		t.Fatalf("after the sync: %s done=%v, want ready", p.State, p.Done)
	}
	if got := w.circle.GroupMemberEmails(w.proGroup); len(got) != 1 || got[0] != "ada@example.com" {
		t.Errorf("Pro group members = %v", got)
	}
	if n := len(w.resyncRequests()); n != 1 {
		t.Errorf("%d sync requests, want 1", n)
	}
}

func TestWelcomeWhileStripeIsDown(t *testing.T) {
	// One failed lookup would hold the client back: Stripe's failures must not count as such.
	w := newWorld(t, worldOptions{limits: status.Limits{LookupFailures: 1}})
	_, cs, _ := w.subscribe("ada@example.com")
	c := w.client("10.0.0.1")
	path := "/welcome?session_id=" + cs
	w.stripe.Faults.FailNext(2, providertest.Fault{Status: 500})
	code, h, body := c.do("GET", path)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Errorf("welcome while Stripe fails: %d, Retry-After %q; want 503 with Retry-After", code, h.Get("Retry-After"))
	}
	if !strings.Contains(body, `href="`+strings.ReplaceAll(path, "&", "&amp;")+`">Try again`) {
		t.Errorf("the 503 page does not offer to try again:\n%s", body)
	}
	if code, p := c.progress(cs); code != http.StatusServiceUnavailable || p.Error != "unavailable" {
		t.Errorf("progress while Stripe fails: %d %q, want 503 unavailable", code, p.Error)
	}
	if code, _, _ := c.do("GET", path); code != 200 {
		t.Errorf("once Stripe answers: %d, want 200", code)
	}
}

func TestStatusLinks(t *testing.T) {
	w := newWorld(t, worldOptions{})
	cus, _, _ := w.subscribe("ada@example.com")
	w.deliver()
	pid := w.person(cus)
	w.mustSync(pid)
	good := w.link(pid, time.Hour)
	tok := strings.TrimPrefix(good, "/status/")
	tampered := "/status/" + tok[:10] + string(rune(tok[10]^1)) + tok[11:]
	cases := []struct {
		name string
		path string
		code int
	}{
		{"valid", good, 200},
		{"tampered", tampered, 404},
		{"expired", "/status/" + status.NewToken([]byte(signingKey), pid, time.Hour, w.clock.Now().Add(-2*time.Hour)), 404},
		{"signed with another key", "/status/" + status.NewToken([]byte("another-key-0123456789"), pid, time.Hour, w.clock.Now()), 404},
		{"a person that does not exist", w.link(pid+1000, time.Hour), 404},
		{"garbage", "/status/hello", 404},
	}
	var neutral string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, h, body := w.client("10.0.0.1").do("GET", c.path)
			if code != c.code {
				t.Fatalf("status %d, want %d", code, c.code)
			}
			if cc := h.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if c.code == 200 {
				for _, want := range []string{"Pro membership", "Enter the community", "a•••@example.com"} {
					if !strings.Contains(body, want) {
						t.Errorf("the status page does not say %q", want)
					}
				}
				return
			}
			if neutral == "" {
				neutral = body
			} else if body != neutral {
				t.Errorf("the answer differs from another failed link's: a failure reveals which kind it is")
			}
			for _, leak := range []string{"Pro membership", "a•••", "ada@", "expired at", "signature"} {
				if strings.Contains(body, leak) {
					t.Errorf("a failed link reveals %q", leak)
				}
			}
		})
	}
}

func TestLookupRateLimit(t *testing.T) {
	w := newWorld(t, worldOptions{limits: status.Limits{LookupFailures: 3, LookupWindow: 10 * time.Minute}})
	cus, cs, _ := w.subscribe("ada@example.com")
	w.deliver()
	pid := w.person(cus)
	w.mustSync(pid)
	good := w.link(pid, time.Hour)
	attacker, customer := w.client("203.0.113.9"), w.client("198.51.100.7")
	steps := []struct {
		c    *testClient
		path string
		code int
	}{
		{attacker, "/status/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", 404},
		{attacker, "/welcome?session_id=cs_test_guess000000000000000001", 404},
		{attacker, "/welcome/progress?session_id=cs_test_guess000000000000000002", 404},
		// The limit is reached: even a real link or session answers 429 to this client…
		{attacker, good, 429},
		{attacker, "/welcome?session_id=" + cs, 429},
		{attacker, "/welcome/progress?session_id=" + cs, 429},
		// …while another client is served.
		{customer, good, 200},
		{customer, "/welcome?session_id=" + cs, 200},
	}
	for i, s := range steps {
		code, h, _ := s.c.do("GET", s.path)
		if code != s.code {
			t.Errorf("step %d %s: status %d, want %d", i, s.path, code, s.code)
		}
		if code == 429 && h.Get("Retry-After") == "" {
			t.Errorf("step %d: 429 without Retry-After", i)
		}
	}
	if n := w.stripe.Faults.Calls(getSession); n != 3 {
		t.Errorf("Stripe was asked about %d sessions, want 3 (two guesses and the customer's)", n)
	}
	w.clock.Advance(10 * time.Minute)
	if code, _, _ := attacker.do("GET", good); code != 200 {
		t.Errorf("after the window: status %d, want 200", code)
	}
}

func TestResend(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			w := newWorld(t, worldOptions{dialect: d, limits: status.Limits{Resends: 2, ResendWindow: time.Hour}})
			cus, _, _ := w.subscribe("ada@example.com")
			w.deliver()
			pid := w.person(cus)
			link := w.link(pid, 24*time.Hour)
			c := w.client("10.0.0.1")
			for i, want := range []string{"resend-sent", "resend-sent", "resend-wait"} {
				code, h, _ := c.do("POST", link+"/resend")
				if code != http.StatusSeeOther {
					t.Fatalf("resend %d: status %d, want 303", i, code)
				}
				if loc := h.Get("Location"); loc != link+"?done="+want+"#flash" {
					t.Errorf("resend %d: Location %q, want the page with %s", i, loc, want)
				}
			}
			reqs := w.resyncRequests()
			if len(reqs) != 2 || reqs[0] != (resync{pid, "resend_invitation"}) {
				t.Errorf("sync requests %+v, want two resend_invitation for person %d", reqs, pid)
			}
			entries, err := w.store.Journal(context.Background(), pid)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range entries {
				if e.Action == "resend_invitation" {
					n++
				}
			}
			if n != 2 {
				t.Errorf("%d resend_invitation journal entries, want 2", n)
			}
			code, _, body := c.do("GET", link+"?done=resend-wait")
			if code != 200 || !strings.Contains(body, "Please wait a while") {
				t.Errorf("the page after a refused resend (status %d) does not say to wait", code)
			}
			w.clock.Advance(time.Hour)
			if _, h, _ := c.do("POST", link+"/resend"); !strings.Contains(h.Get("Location"), "resend-sent") {
				t.Errorf("after the window the resend was refused: %s", h.Get("Location"))
			}
			if code, _, _ := c.do("POST", "/status/forged/resend"); code != 404 {
				t.Errorf("resend with a forged link: %d, want 404", code)
			}
			if code, _, _ := c.do("GET", link+"/resend"); code != http.StatusMethodNotAllowed {
				t.Errorf("GET of the resend action: %d, want 405", code)
			}
		})
	}
}

func TestPortal(t *testing.T) {
	portalLink := regexp.MustCompile(`href="(http://[^"]+/p/session/bps_[^"]+)"`)
	t.Run("enabled", func(t *testing.T) {
		w := newWorld(t, worldOptions{limits: status.Limits{Portals: 2, PortalWindow: time.Hour}})
		cus, _, sub := w.subscribe("ada@example.com")
		w.stripe.FailPayment(sub)
		w.deliver()
		pid := w.person(cus)
		w.mustSync(pid)
		link := w.link(pid, time.Hour)
		c := w.client("10.0.0.1")
		code, _, body := c.do("GET", link)
		if code != 200 || !strings.Contains(body, `action="`+link+`/portal"`) || !strings.Contains(body, "Update payment method") {
			t.Fatalf("the past-due page (status %d) has no portal button", code)
		}
		code, _, body = c.do("POST", link+"/portal")
		m := portalLink.FindStringSubmatch(body)
		if code != 200 || m == nil {
			t.Fatalf("portal: status %d, no link to the fake billing portal\n%s", code, body)
		}
		resp, err := http.Get(m[1])
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("the portal link does not open: %v %v", resp, err)
		}
		resp.Body.Close()
		if !journaled(t, w, pid, "billing_portal") {
			t.Error("opening the portal is not in the journal")
		}
		c.do("POST", link+"/portal")
		if code, _, _ := c.do("POST", link+"/portal"); code != http.StatusTooManyRequests {
			t.Errorf("third portal session in the hour: %d, want 429", code)
		}
		if n := w.stripe.Faults.Calls("POST /v1/billing_portal/sessions"); n != 2 {
			t.Errorf("%d portal sessions created, want 2", n)
		}
	})
	t.Run("stripe failing", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		cus, _, _ := w.subscribe("ada@example.com")
		w.deliver()
		pid := w.person(cus)
		w.stripe.Faults.FailNext(1, providertest.Fault{Status: 500})
		code, _, body := w.client("10.0.0.1").do("POST", w.link(pid, time.Hour)+"/portal")
		if code != http.StatusServiceUnavailable || !strings.Contains(body, "help@example.test") {
			t.Errorf("portal while Stripe fails: status %d; want 503 with the support contact", code)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		w := newWorld(t, worldOptions{noPortal: true})
		cus, _, sub := w.subscribe("ada@example.com")
		w.stripe.FailPayment(sub)
		w.deliver()
		pid := w.person(cus)
		w.mustSync(pid)
		link := w.link(pid, time.Hour)
		_, _, body := w.client("10.0.0.1").do("GET", link)
		if strings.Contains(body, "/portal") || !strings.Contains(body, "mailto:help@example.test") {
			t.Errorf("with the portal disabled the page must offer the support contact, not the portal")
		}
		code, _, body := w.client("10.0.0.1").do("POST", link+"/portal")
		if code != 200 || !strings.Contains(body, "mailto:help@example.test") {
			t.Errorf("portal when disabled: status %d, want the support contact", code)
		}
		if n := w.stripe.Faults.Calls("POST /v1/billing_portal/sessions"); n != 0 {
			t.Errorf("%d portal sessions created while disabled", n)
		}
	})
}

// TestPagesKeepToThePolicy fetches every kind of page: security headers from web.Server, no inline
// script or style (the CSP would block them), assets served, and nothing internal revealed.
func TestPagesKeepToThePolicy(t *testing.T) {
	w := newWorld(t, worldOptions{})
	cus, cs, _ := w.subscribe("ada@example.com")
	w.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
	c := w.client("10.0.0.1")
	c.do("GET", "/welcome?session_id="+cs)
	pid := w.person(cus)
	_ = w.sync(pid, 1)
	link := w.link(pid, time.Hour)
	scriptTag := regexp.MustCompile(`(?is)<script([^>]*)>(.*?)</script>`)
	inlineStyle := regexp.MustCompile(`(?i)\sstyle=|<style|\son[a-z]+=|javascript:`)
	pages := []struct {
		method, path string
		code         int
	}{
		{"GET", "/welcome?session_id=" + cs, 200},
		{"GET", "/welcome?session_id=nope", 404},
		{"GET", link, 200},
		{"GET", "/status/nope", 404},
		{"POST", link + "/portal", 200},
	}
	for _, p := range pages {
		code, h, body := c.do(p.method, p.path)
		if code != p.code {
			t.Errorf("%s %s: status %d, want %d", p.method, p.path, code, p.code)
		}
		if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", p.path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" {
			t.Errorf("%s: missing security headers", p.path)
		}
		for _, m := range scriptTag.FindAllStringSubmatch(body, -1) {
			if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
				t.Errorf("%s has an inline script: %q", p.path, m[0])
			}
		}
		if m := inlineStyle.FindString(body); m != "" {
			t.Errorf("%s has an inline style or handler: %q", p.path, m)
		}
		for _, leak := range []string{cus, "sub_", "ada@example.com", "HTTP 503", "create_member", "person_id"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s reveals %q", p.path, leak)
			}
		}
	}
	if _, _, body := c.do("GET", link); !strings.Contains(body, "Circle, where the community lives, is not answering") {
		t.Error("the status page does not explain Circle's outage")
	}
	for path, ctype := range map[string]string{"/static/status/status.css": "text/css", "/static/status/status.js": "text/javascript"} {
		code, h, _ := c.do("GET", path)
		if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), ctype) {
			t.Errorf("%s: %d %s", path, code, h.Get("Content-Type"))
		}
	}
	if code, _, _ := c.do("GET", "/static/status/"); code != 404 {
		t.Errorf("the static folder lists its files: %d", code)
	}
}

// The welcome page polls fast (500 ms) for the first seconds after a checkout, while access is
// being set up, then at the configured pace; a page in trouble slows down.
func TestWelcomePollsFastAtFirst(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOptions{poll: 2 * time.Second})
	_, cs, _ := w.subscribe("ada@example.com")
	w.deliver()
	code, p := w.client("10.0.0.1").progress(cs)
	if code != 200 || p.Done || p.PollMS != 500 {
		t.Fatalf("just after the checkout: %d, state %s, poll_ms %d; want setting up at 500", code, p.State, p.PollMS)
	}
	w.clock.Advance(time.Minute)
	if code, p = w.client("10.0.0.1").progress(cs); code != 200 || p.PollMS != 2000 {
		t.Fatalf("a minute later: %d, state %s, poll_ms %d; want 2000", code, p.State, p.PollMS)
	}
}
