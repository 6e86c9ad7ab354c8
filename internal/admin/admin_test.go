package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestRouteRoles checks every route of the table for anonymous requests and each role: anonymous
// pages redirect to sign-in and the API answers 401; a role below the route's gets 403; a role at
// or above it gets through (GET pages answer 200).
func TestRouteRoles(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			clients := map[string]*client{"anonymous": f.client()}
			for _, r := range Roles {
				clients[string(r)] = f.login(r)
			}
			fill := strings.NewReplacer("{person}", fmt.Sprint(f.personID), "{item}", fmt.Sprint(f.itemID), "{event}", f.eventID,
				"{user}", fmt.Sprint(f.targetID), "{token}", fmt.Sprint(f.tokenID))
			n := 0
			for _, rt := range f.h.routes() {
				for _, who := range []string{"anonymous", "viewer", "support", "admin"} {
					n++
					c := clients[who]
					if rt.path == "/logout" && who != "anonymous" {
						c = f.login(Role(who)) // signing out must not end the session the other routes use
					}
					path := fill.Replace(rt.path)
					if strings.HasSuffix(path, "/") {
						path += "nothing-here"
					}
					var resp *http.Response
					var body string
					switch {
					case rt.path == "/login" && rt.method == "POST":
						resp, body = f.client().tryLogin(email(RoleViewer), passwords[RoleViewer])
					case rt.method == "POST" && rt.api():
						resp, body = c.postJSON(path, map[string]string{"note": "checked by the route test"})
					case rt.method == "POST":
						resp, body = c.postForm(path, url.Values{"note": {"checked by the route test"}, "role": {"viewer"},
							"name": {"route-test"}, "email": {fmt.Sprintf("new%d@ops.example.com", n)}})
					default:
						resp, body = c.get(path)
					}
					status, loc := resp.StatusCode, resp.Header.Get("Location")
					toLogin := status == http.StatusFound && strings.HasPrefix(loc, "/login")
					name := fmt.Sprintf("%s as %s", rt.pattern(), who)
					switch {
					case rt.min == "":
						if status == http.StatusUnauthorized || status == http.StatusForbidden || toLogin {
							t.Errorf("%s (public): got %d %s", name, status, loc)
						}
					case who == "anonymous" && rt.api():
						if status != http.StatusUnauthorized || !strings.Contains(body, `"unauthenticated"`) {
							t.Errorf("%s: got %d %s, want 401 JSON", name, status, body)
						}
					case who == "anonymous":
						if !toLogin {
							t.Errorf("%s: got %d %q, want a redirect to /login", name, status, loc)
						}
					case !Role(who).Allows(rt.min):
						if status != http.StatusForbidden {
							t.Errorf("%s: got %d, want 403 (needs %s)", name, status, rt.min)
						}
					default:
						if status == http.StatusUnauthorized || status == http.StatusForbidden || toLogin || status >= 500 {
							t.Errorf("%s: got %d %s %.200s, want it allowed", name, status, loc, body)
						}
						if rt.method == "GET" && status != http.StatusOK {
							t.Errorf("%s: got %d, want 200", name, status)
						}
						if rt.method == "" && status != http.StatusNotFound {
							t.Errorf("%s: got %d, want 404", name, status)
						}
					}
				}
			}
			if want := len(f.h.routes()) * 4; n != want {
				t.Errorf("checked %d route × role pairs, want %d", n, want)
			}
		})
	}
}

// TestRoutesCoverTheSurface guards the table against a route registered elsewhere: every admin
// handler method that serves requests is reached through it.
func TestRoutesCoverTheSurface(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	seen := map[string]bool{}
	for _, rt := range f.h.routes() {
		if seen[rt.pattern()] {
			t.Errorf("route %s listed twice", rt.pattern())
		}
		seen[rt.pattern()] = true
		if rt.min != "" && rt.min.rank() == 0 {
			t.Errorf("route %s: unknown role %q", rt.pattern(), rt.min)
		}
		if strings.HasPrefix(rt.path, "/api/") || strings.HasPrefix(rt.path, "/admin") {
			if rt.min == "" {
				t.Errorf("route %s is public", rt.pattern())
			}
		}
		if rt.method == "POST" && rt.min != "" && rt.min == RoleViewer && rt.path != "/logout" {
			t.Errorf("route %s changes state but a viewer may use it", rt.pattern())
		}
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	c := f.login(RoleSupport)
	resync := fmt.Sprintf("/admin/people/%d/resync", f.personID)
	apiResync := fmt.Sprintf("/api/v1/people/%d/resync", f.personID)
	cases := []struct {
		name string
		send func() (*http.Response, string)
		want int
	}{
		{"form without token", func() (*http.Response, string) { return c.postForm(resync, url.Values{"csrf": {""}}) }, http.StatusForbidden},
		{"form with another token", func() (*http.Response, string) {
			return c.postForm(resync, url.Values{"csrf": {"not-the-token"}})
		}, http.StatusForbidden},
		{"API with the cookie but no header", func() (*http.Response, string) {
			return c.do("POST", apiResync, strings.NewReader(`{}`), http.Header{"Content-Type": {"application/json"}})
		}, http.StatusForbidden},
		{"cross-site form with the token", func() (*http.Response, string) {
			return c.do("POST", resync, strings.NewReader("csrf="+url.QueryEscape(c.csrf)),
				http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Sec-Fetch-Site": {"cross-site"}})
		}, http.StatusForbidden},
		{"sign-in without the login token", func() (*http.Response, string) {
			return f.client().postForm("/login", url.Values{"email": {email(RoleAdmin)}, "password": {passwords[RoleAdmin]}})
		}, http.StatusForbidden},
	}
	for _, tc := range cases {
		resp, body := tc.send()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
		if strings.Contains(body, "goroutine") || strings.Contains(body, ".go:") {
			t.Errorf("%s: the answer shows internals: %s", tc.name, body)
		}
	}
	if got := f.resyncCalls(); len(got) != 0 {
		t.Fatalf("refused requests resynced: %v", got)
	}
	if got := f.audit("person.resync"); len(got) != 0 {
		t.Fatalf("refused requests were audited as done: %+v", got)
	}
	// The same requests with the token pass.
	if resp, _ := c.postForm(resync, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("form with the token: got %d, want 303", resp.StatusCode)
	}
	if resp, body := c.postJSON(apiResync, map[string]string{}); resp.StatusCode != http.StatusAccepted {
		t.Errorf("API with the header: got %d %s, want 202", resp.StatusCode, body)
	}
	// An API token carries no cookie and needs no CSRF token.
	tc := f.withToken(RoleSupport, RoleSupport)
	if resp, body := tc.do("POST", apiResync, nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Errorf("API token: got %d %s, want 202", resp.StatusCode, body)
	}
	if got := f.resyncCalls(); len(got) != 3 {
		t.Errorf("resyncs: got %v, want 3", got)
	}
}

func TestSessionExpiry(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0], func(d *Deps) {
		d.IdleTimeout = 30 * time.Minute
		d.SessionLifetime = 2 * time.Hour
	})
	ctx := context.Background()
	viewer, _ := f.st.AdminUserByEmail(ctx, email(RoleViewer))

	t.Run("idle", func(t *testing.T) {
		c := f.login(RoleViewer)
		f.clock.Advance(29 * time.Minute)
		if resp, _ := c.get("/admin/people"); resp.StatusCode != http.StatusOK {
			t.Fatalf("after 29 min idle: got %d, want 200", resp.StatusCode)
		}
		f.clock.Advance(30 * time.Minute)
		resp, _ := c.get("/admin/people")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("after 30 min idle: got %d %s, want a redirect to /login", resp.StatusCode, resp.Header.Get("Location"))
		}
		if n, _ := f.st.AdminSessionCount(ctx, viewer.ID); n != 0 {
			t.Errorf("the expired session is still stored (%d)", n)
		}
		if resp, _ := c.do("GET", "/api/v1/me", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("API after expiry: got %d, want 401", resp.StatusCode)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		c := f.login(RoleViewer)
		for elapsed := time.Duration(0); elapsed < 2*time.Hour-25*time.Minute; elapsed += 25 * time.Minute {
			f.clock.Advance(25 * time.Minute)
			if resp, _ := c.get("/admin"); resp.StatusCode != http.StatusOK {
				t.Fatalf("active use at %v: got %d, want 200", elapsed+25*time.Minute, resp.StatusCode)
			}
		}
		f.clock.Advance(25 * time.Minute) // 2 h 5 min after sign-in, though used 25 minutes ago
		resp, _ := c.get("/admin")
		if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
			t.Fatalf("past the absolute lifetime: got %d, want a redirect to /login", resp.StatusCode)
		}
	})
	t.Run("cookie", func(t *testing.T) {
		c := f.client()
		resp, _ := c.tryLogin(email(RoleViewer), passwords[RoleViewer])
		var sc *http.Cookie
		for _, k := range resp.Cookies() {
			if k.Name == "membersync_session" {
				sc = k
			}
		}
		if sc == nil || !sc.HttpOnly || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" {
			t.Fatalf("session cookie: %+v", sc)
		}
		if sc.MaxAge != int((2 * time.Hour).Seconds()) {
			t.Errorf("cookie max-age %d, want the absolute lifetime", sc.MaxAge)
		}
		// Signing out ends the session on the server, not only in the browser.
		_, page := c.get("/admin")
		c.csrf = csrfField.FindStringSubmatch(page)[1]
		if resp, _ := c.postForm("/logout", nil); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("logout: got %d", resp.StatusCode)
		}
		replay := f.client()
		u, _ := url.Parse(f.srv.URL)
		replay.http.Jar.SetCookies(u, []*http.Cookie{{Name: sc.Name, Value: sc.Value}})
		if resp, _ := replay.get("/admin"); resp.StatusCode != http.StatusFound {
			t.Errorf("the cookie of a signed-out session: got %d, want a redirect", resp.StatusCode)
		}
	})
	t.Run("secure", func(t *testing.T) {
		sf := newFixture(t, storetest.Dialects()[0], func(d *Deps) { d.Secure = true })
		resp, _ := sf.client().tryLogin(email(RoleViewer), passwords[RoleViewer])
		var found bool
		for _, k := range resp.Cookies() {
			if k.Name == "__Host-membersync_session" {
				found = k.Secure && k.HttpOnly
			}
		}
		if !found {
			t.Errorf("behind https the session cookie must be __Host- and Secure: %v", resp.Header["Set-Cookie"])
		}
	})
}

func TestLoginThrottling(t *testing.T) {
	dialect := storetest.Dialects()[0]
	t.Run("per account", func(t *testing.T) {
		f := newFixture(t, dialect)
		c := f.client()
		for i := range AccountFailures {
			resp, body := c.tryLogin(email(RoleViewer), "wrong-password-"+fmt.Sprint(i))
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Email or password is not right") {
				t.Fatalf("failure %d: got %d", i+1, resp.StatusCode)
			}
		}
		resp, body := c.tryLogin(email(RoleViewer), passwords[RoleViewer])
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(body, "Too many failed sign-ins") {
			t.Fatalf("the right password after %d failures: got %d, want 429 with Retry-After", AccountFailures, resp.StatusCode)
		}
		// Another account from the same address is not blocked.
		if resp, _ := f.client().tryLogin(email(RoleAdmin), passwords[RoleAdmin]); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("another account: got %d, want 303", resp.StatusCode)
		}
		// The account is slowed, not locked: after the pause, one attempt passes.
		f.clock.Advance(AccountDelay)
		if resp, _ := c.tryLogin(email(RoleViewer), "wrong-password-again"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("an attempt after %s: got %d, want 401", AccountDelay, resp.StatusCode)
		}
		if resp, _ := c.tryLogin(email(RoleViewer), passwords[RoleViewer]); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("the next attempt at once: got %d, want 429", resp.StatusCode)
		}
		f.clock.Advance(2 * AccountDelay)
		if resp, _ := c.tryLogin(email(RoleViewer), passwords[RoleViewer]); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("after the doubled pause: got %d, want 303", resp.StatusCode)
		}
	})
	t.Run("success resets the account", func(t *testing.T) {
		f := newFixture(t, dialect)
		c := f.client()
		for range AccountFailures - 1 {
			c.tryLogin(email(RoleSupport), "wrong-password")
		}
		if resp, _ := c.tryLogin(email(RoleSupport), passwords[RoleSupport]); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in: got %d", resp.StatusCode)
		}
		for i := range AccountFailures - 1 {
			if resp, _ := f.client().tryLogin(email(RoleSupport), "wrong-password"); resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("failure %d after a success: got %d, want 401", i+1, resp.StatusCode)
			}
		}
	})
	t.Run("per address", func(t *testing.T) {
		f := newFixture(t, dialect)
		for i := range AddressFailures {
			resp, body := f.client().tryLogin(fmt.Sprintf("guess%d@ops.example.com", i), "wrong-password")
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Email or password is not right") {
				t.Fatalf("guess %d: got %d (unknown accounts must look like wrong passwords)", i, resp.StatusCode)
			}
		}
		if resp, _ := f.client().tryLogin(email(RoleAdmin), passwords[RoleAdmin]); resp.StatusCode != http.StatusTooManyRequests {
			t.Errorf("right credentials from a blocked address: got %d, want 429", resp.StatusCode)
		}
		// The same credentials from another address pass.
		mux := http.NewServeMux()
		f.h.Register(mux)
		get := httptest.NewRequest("GET", "/login", nil)
		get.RemoteAddr = "192.0.2.7:4000"
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, get)
		lc := loginCSRFField.FindStringSubmatch(rec.Body.String())[1]
		form := url.Values{"email": {email(RoleAdmin)}, "password": {passwords[RoleAdmin]}, "login_csrf": {lc}}
		post := httptest.NewRequest("POST", "/login", strings.NewReader(form.Encode()))
		post.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		post.RemoteAddr = "192.0.2.7:4000"
		for _, k := range rec.Result().Cookies() {
			post.AddCookie(k)
		}
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, post)
		if rec.Code != http.StatusSeeOther {
			t.Errorf("another address: got %d, want 303", rec.Code)
		}
	})
	t.Run("disabled account", func(t *testing.T) {
		f := newFixture(t, dialect)
		u, _ := f.st.AdminUserByEmail(context.Background(), email(RoleViewer))
		if err := SetDisabled(context.Background(), f.st, "test", u, true); err != nil {
			t.Fatal(err)
		}
		if resp, _ := f.client().tryLogin(email(RoleViewer), passwords[RoleViewer]); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("disabled account: got %d, want 401", resp.StatusCode)
		}
	})
}

func TestAPITokens(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	resync := fmt.Sprintf("/api/v1/people/%d/resync", f.personID)
	cases := []struct {
		name        string
		user, scope Role
		wantMe      string
		wantResync  int
	}{
		{"support token of a support user", RoleSupport, RoleSupport, "support", http.StatusAccepted},
		{"viewer token of an admin", RoleAdmin, RoleViewer, "viewer", http.StatusForbidden},
		{"admin token of a support user acts as support", RoleSupport, RoleAdmin, "support", http.StatusAccepted},
		{"admin token of a viewer acts as viewer", RoleViewer, RoleAdmin, "viewer", http.StatusForbidden},
	}
	for _, tc := range cases {
		c := f.withToken(tc.user, tc.scope)
		resp, body := c.get("/api/v1/me")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"role": "`+tc.wantMe+`"`) || !strings.Contains(body, `"via": "token"`) {
			t.Errorf("%s: me = %d %s", tc.name, resp.StatusCode, body)
		}
		if resp, _ := c.do("POST", resync, nil, nil); resp.StatusCode != tc.wantResync {
			t.Errorf("%s: resync = %d, want %d", tc.name, resp.StatusCode, tc.wantResync)
		}
	}
	// Tokens work only on the API, not on the pages.
	c := f.withToken(RoleAdmin, RoleAdmin)
	if resp, _ := c.get("/admin"); resp.StatusCode != http.StatusFound {
		t.Errorf("a token on a page: got %d, want a redirect to sign in", resp.StatusCode)
	}
	// The audit log names the token.
	if es := f.audit("person.resync"); len(es) == 0 || !strings.Contains(es[0].Actor, "(token test admin)") {
		t.Errorf("audit actor of a token request: %+v", es)
	}
	for name, header := range map[string]string{
		"revoked":   "Bearer " + revokedToken(t, f),
		"malformed": "Bearer nope",
		"basic":     "Basic YWRtaW46YWRtaW4=",
	} {
		resp, _ := f.client().do("GET", "/api/v1/me", nil, http.Header{"Authorization": {header}})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s token: got %d, want 401", name, resp.StatusCode)
		}
	}
}

func revokedToken(t *testing.T, f *fixture) string {
	ctx := context.Background()
	u, _ := f.st.AdminUserByEmail(ctx, email(RoleAdmin))
	token, tok, err := CreateAPIToken(ctx, f.st, u, "to revoke", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.RevokeAPIToken(ctx, tok.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	return token
}

// TestActionsLeaveATrail checks that each state-changing action does what it says and writes the
// audit log and the person's journal.
func TestActionsLeaveATrail(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			ctx := context.Background()
			c := f.login(RoleSupport)

			resp, _ := c.postForm(fmt.Sprintf("/admin/people/%d/resync", f.personID), url.Values{"note": {"customer wrote in"}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != fmt.Sprintf("/admin/people/%d?m=resync", f.personID) {
				t.Fatalf("resync: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if es := f.audit("person.resync"); len(es) != 1 || es[0].Actor != email(RoleSupport) || es[0].PersonID != f.personID ||
				es[0].Note != "customer wrote in" || !strings.Contains(es[0].Before, `"generation"`) {
				t.Errorf("resync audit: %+v", es)
			}

			// Resolving needs a note.
			if resp, _ := c.postForm(fmt.Sprintf("/admin/review/%d/resolve", f.itemID), url.Values{"note": {"  "}}); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("resolve without a note: got %d, want 400", resp.StatusCode)
			}
			resp, _ = c.postForm(fmt.Sprintf("/admin/review/%d/resolve", f.itemID), url.Values{"note": {"tag added by hand in Kit"}, "back": {"/admin/review?status=open"}})
			if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/review?m=resolved&status=open" {
				t.Fatalf("resolve: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			it, _ := f.st.Review(ctx, f.itemID)
			if it.Status != "resolved" || it.Resolution != "tag added by hand in Kit" || it.ResolvedBy != email(RoleSupport) {
				t.Errorf("item after resolve: %+v", it)
			}
			if es := f.audit("review.resolve"); len(es) != 1 || !strings.Contains(es[0].Before, `"status":"open"`) || !strings.Contains(es[0].After, `"status":"resolved"`) {
				t.Errorf("resolve audit: %+v", es)
			}
			if resp, body := c.postJSON(fmt.Sprintf("/api/v1/review/%d/resolve", f.itemID), map[string]string{"note": "again"}); resp.StatusCode != http.StatusConflict || !strings.Contains(body, "not_open") {
				t.Errorf("resolving twice: got %d %s, want 409", resp.StatusCode, body)
			}

			// Retry resolves with the note "retry" and resyncs.
			if _, err := f.st.OpenReview(ctx, store.ReviewItem{PersonID: f.personID, Kind: "sync_failing", ActionKey: "sync", Reason: "failing"}); err != nil {
				t.Fatal(err)
			}
			open, _ := f.st.Reviews(ctx, "open", f.personID, 1)
			resp, body := c.postJSON(fmt.Sprintf("/api/v1/review/%d/retry", open[0].ID), nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("retry: %d %s", resp.StatusCode, body)
			}
			if it, _ := f.st.Review(ctx, open[0].ID); it.Status != "resolved" || it.Resolution != "retry" {
				t.Errorf("item after retry: %+v", it)
			}

			// Replay resyncs the event's person.
			if resp, body := c.postJSON("/api/v1/events/"+f.eventID+"/replay", nil); resp.StatusCode != http.StatusAccepted {
				t.Fatalf("replay: %d %s", resp.StatusCode, body)
			}
			if es := f.audit("event.replay"); len(es) != 1 || es[0].Target != "event:evt_1" {
				t.Errorf("replay audit: %+v", es)
			}
			want := []string{fmt.Sprintf("%d:resync", f.personID), fmt.Sprintf("%d:retry", f.personID), fmt.Sprintf("%d:replay", f.personID)}
			if got := f.resyncCalls(); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("resyncs: got %v, want %v", got, want)
			}

			// Every action is in the person's journal as kind admin.
			entries, _ := f.st.Journal(ctx, f.personID)
			var admin []string
			for _, e := range entries {
				if e.Kind == "admin" {
					admin = append(admin, e.Action)
					if !strings.Contains(e.Detail, "by "+email(RoleSupport)) {
						t.Errorf("journal entry without its actor: %+v", e)
					}
				}
			}
			if got := strings.Join(admin, ","); got != "resync,resolve,retry,replay" {
				t.Errorf("admin journal: got %s", got)
			}
			// And the audit page finds the resolution by its note.
			_, page := c.get("/admin/audit?action=review.resolve")
			if !strings.Contains(page, "tag added by hand in Kit") {
				t.Errorf("audit page misses the note")
			}
		})
	}
}

func TestUsersPages(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	ctx := context.Background()
	c := f.login(RoleAdmin)
	resp, page := c.postForm("/admin/users", url.Values{"email": {"New.Person@Ops.example.com"}, "role": {"support"}})
	m := regexp.MustCompile(`value="([^"]+)" class="mono" id="secret-value"`).FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("add user: %d", resp.StatusCode)
	}
	pw := m[1]
	u, err := f.st.AdminUserByEmail(ctx, "new.person@ops.example.com")
	if err != nil || u.Role != "support" || !VerifyPassword(u.PasswordHash, pw) || strings.Contains(u.PasswordHash, pw) {
		t.Fatalf("added user: %+v %v", u, err)
	}
	if resp, _ := f.client().tryLogin("new.person@ops.example.com", pw); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the shown password does not sign in: %d", resp.StatusCode)
	}
	if resp, _ := c.postForm("/admin/users", url.Values{"email": {"new.person@ops.example.com"}, "role": {"viewer"}}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("duplicate user: got %d, want 400", resp.StatusCode)
	}
	me, _ := f.st.AdminUserByEmail(ctx, email(RoleAdmin))
	if resp, _ := c.postForm(fmt.Sprintf("/admin/users/%d/disable", me.ID), nil); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("disabling yourself: got %d, want 400", resp.StatusCode)
	}
	if resp, _ := c.postForm(fmt.Sprintf("/admin/users/%d/disable", u.ID), nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("disable: got %d", resp.StatusCode)
	}
	if resp, _ := f.client().tryLogin("new.person@ops.example.com", pw); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a disabled user signs in: %d", resp.StatusCode)
	}
	for _, action := range []string{"user.add", "user.disable", "session.login"} {
		if len(f.audit(action)) == 0 {
			t.Errorf("no audit entry %s", action)
		}
	}
}

func TestSecurityHeadersAndErrors(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	c := f.login(RoleViewer)
	for _, path := range []string{"/login", "/admin", "/api/v1/overview", "/static/admin/admin.css", "/admin/people/999999"} {
		cl := c
		if path == "/login" {
			cl = f.client()
		}
		resp, _ := cl.get(path)
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") == "" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
	resp, body := c.get("/admin/people/999999")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "Nothing here") {
		t.Errorf("missing person: %d", resp.StatusCode)
	}
	resp, body = c.get("/admin/events?from=yesterday")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "from must be a date") {
		t.Errorf("bad date: %d", resp.StatusCode)
	}
	// A failure inside shows a reference, never the error.
	f.st.Close()
	resp, body = c.get("/admin/people?q=ada")
	if resp.StatusCode < 500 || strings.Contains(body, "sql") || strings.Contains(body, "database is closed") || strings.Contains(body, "people p") {
		t.Errorf("internal error: %d %s", resp.StatusCode, body)
	}
}

// TestTemplatesHaveNoInlineCode keeps the pages within the CSP: no inline scripts, styles or event
// handlers.
func TestTemplatesHaveNoInlineCode(t *testing.T) {
	inlineScript := regexp.MustCompile(`(?i)<script>|<script\s+[^>]*>\s*[^<\s]`)
	other := regexp.MustCompile(`(?i)<style|\sstyle=|\son[a-z]+=|javascript:`)
	err := fs.WalkDir(assets, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(assets, path)
		for _, re := range []*regexp.Regexp{inlineScript, other} {
			if m := re.FindString(string(b)); m != "" {
				t.Errorf("%s: %q is refused by the CSP", path, m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSettingsMaskSecrets(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	c := f.login(RoleSupport)
	_, page := c.get("/admin/settings")
	_, api := c.get("/api/v1/settings")
	resp, checked := c.postForm("/admin/settings/check", nil)
	for name, body := range map[string]string{"page": page, "api": api, "check": checked} {
		for _, secret := range []string{testSecretKey, "whsec_SECRETwebhook1", "circle-SECRET-token", "kit-SECRET-key", "signing-SECRET-key", "dbpass-SECRET"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows a secret (%s)", name, secret[:6])
			}
		}
	}
	for _, want := range []string{"set (test mode)", "2 set (rotation)", "price_pro", "Pro membership", "circle.community_url", "postgres://membersync:xxxxx@db.internal/membersync"} {
		if !strings.Contains(page, want) {
			t.Errorf("settings page lacks %q", want)
		}
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(checked, "401: the API key was refused") || len(f.audit("settings.check_connections")) != 1 {
		t.Errorf("check connections: %d", resp.StatusCode)
	}
}

func TestRedactPayload(t *testing.T) {
	raw := []byte(`{"id":"evt_1","data":{"object":{"id":"cs_1","customer":"cus_1","customer_email":"ada@example.com",
		"customer_details":{"email":"ada@example.com","name":"Ada","address":{"line1":"1 Way"}},"amount_total":4900,
		"charges":[{"billing_details":{"name":"Ada L"},"payment_method_details":{"card":{"last4":"4242","brand":"visa"}}}],"email":""}}}`)
	got, depth, err := redactPayload(raw)
	if err != nil || depth != 7 {
		t.Fatalf("got depth %d, %v; want 7", depth, err)
	}
	s := string(got)
	for _, gone := range []string{"ada@example.com", "Ada", "1 Way", "4242"} {
		if strings.Contains(s, gone) {
			t.Errorf("redacted payload still holds %q: %s", gone, s)
		}
	}
	for _, kept := range []string{`"customer":"cus_1"`, `"amount_total":4900`, `"brand":"visa"`, `"id":"cs_1"`, `"email":""`} {
		if !strings.Contains(s, kept) {
			t.Errorf("redacted payload lost %s: %s", kept, s)
		}
	}
	if !strings.HasPrefix(s, `{"id":"evt_1","data":{"object":{"id":"cs_1","customer":"cus_1","customer_email":"[redacted]","customer_details":"[redacted]"`) {
		t.Errorf("key order or nesting changed: %s", s)
	}
	// Every kind of value, compacted; laid out exactly as json.Indent does.
	in := `{ "a" : [1, 2.5e3, true, null, "x\"]", {}, [], {"b": [ ]}], "metadata": {"k": [1]}, "phone": 5, "name": null, "e": false }`
	got, _, err = redactPayload([]byte(in))
	if want := `{"a":[1,2.5e3,true,null,"x\"]",{},[],{"b":[]}],"metadata":"[redacted]","phone":"[redacted]","name":null,"e":false}`; err != nil || string(got) != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
	var want bytes.Buffer
	_ = json.Indent(&want, got, "", "  ")
	if pretty, ok := indentBounded(got, 1<<20); !ok || pretty != want.String() {
		t.Errorf("indentBounded: got %v\n%s\nwant\n%s", ok, pretty, want.String())
	}
	if _, ok := indentBounded(got, 40); ok {
		t.Error("indentBounded passed its limit")
	}
	for _, bad := range []string{"not json", `{"a":1} {"b":2}`, `{"a":`, `[1,]`, `{"a" 1}`} {
		if _, _, err := redactPayload([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestPasswords(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash format: %s", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	cases := []struct {
		hash, pw string
		want     bool
	}{
		{h, "correct horse battery", true},
		{h, "correct horse batterY", false},
		{h, "", false},
		{"", "correct horse battery", false},
		{"$argon2id$v=19$m=0,t=2,p=1$c2FsdA$aGFzaA", "x", false},
		{strings.Replace(h, "argon2id", "argon2i", 1), "correct horse battery", false},
	}
	for _, c := range cases {
		if got := VerifyPassword(c.hash, c.pw); got != c.want {
			t.Errorf("VerifyPassword(%.30s…, %q) = %v, want %v", c.hash, c.pw, got, c.want)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("a 5-character password was accepted")
	}
	if p := GeneratePassword(); len(p) != 23 || !VerifyPassword(mustHash(t, p), p) {
		t.Errorf("generated password %q", p)
	}
}

func mustHash(t *testing.T, pw string) string {
	h, err := HashPassword(pw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestSafeNext(t *testing.T) {
	cases := map[string]string{
		"":                         "/admin",
		"/admin/people?q=ada":      "/admin/people?q=ada",
		"https://evil.example/":    "/admin",
		"//evil.example/admin":     "/admin",
		"/login":                   "/admin",
		"/admin/people/3":          "/admin/people/3",
		"javascript:alert(1)":      "/admin",
		"/admin/../../etc/passwd":  "/admin",
		"/adminfoo":                "/admin",
		"/\\evil.example/admin":    "/admin",
		"/api/v1/people":           "/admin",
		"/admin\r\nLocation: evil": "/admin",
	}
	for in, want := range cases {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestProbes(t *testing.T) {
	check := Probes(nil,
		Probe{Name: "stripe", Call: func(ctx context.Context) error { return nil }},
		Probe{Name: "kit", Call: func(ctx context.Context) error { return fmt.Errorf("kit: list tags: 401 unauthorized") }},
		Probe{Name: "circle", Call: func(ctx context.Context) error {
			if _, ok := ctx.Deadline(); !ok {
				return fmt.Errorf("no deadline")
			}
			return nil
		}},
	)
	got := check(context.Background())
	if len(got) != 3 || got[0].Name != "stripe" || !got[0].OK || got[1].OK || !strings.Contains(got[1].Message, "401 unauthorized") || !got[2].OK {
		t.Errorf("checks: %+v", got)
	}
}

func TestOverviewShowsAlerts(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0], func(d *Deps) {
		d.Alerts = func(ctx context.Context) []FiringAlert {
			return []FiringAlert{{Rule: "webhook_silence", Title: "No webhook for 2 h", Detail: "Stripe has sent nothing since 10:00.", Since: time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)}}
		}
	})
	c := f.login(RoleViewer)
	_, page := c.get("/admin")
	for _, want := range []string{"No webhook for 2 h", "1 alert(s) firing", "1 review item(s) wait for a person"} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	resp, body := c.get("/api/v1/overview")
	for _, want := range []string{`"rule": "webhook_silence"`, `"open_review_items": 1`, `"hour": 1`, `"hours": [`} {
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("overview JSON lacks %s: %d %s", want, resp.StatusCode, body)
		}
	}
}

func TestOverviewShowsShareDriftAndAudit(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	c := f.login(RoleViewer)
	_, page := c.get("/admin")
	for _, want := range []string{"no sweep yet", "not scheduled"} {
		if !strings.Contains(page, want) {
			t.Errorf("overview before any sweep or audit lacks %q", want)
		}
	}
	ctx := context.Background()
	now := f.clock.Now()
	if _, err := f.st.SaveDriftReport(ctx, store.DriftReport{StartedAt: now, FinishedAt: now, Mode: "repair", Status: "complete", People: 40, Drifted: 3}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.SaveDoctorReport(ctx, store.DoctorReport{At: now, Domain: "example.com", Fails: 2, Warns: 1, JSON: "{}"}); err != nil {
		t.Fatal(err)
	}
	_, page = c.get("/admin")
	for _, want := range []string{"drifted of 40 people", "the last drift sweep found 3 drifted people",
		"2 fail", "the launch audit of example.com has 2 failing check(s)", "Needed a person", "bar &lt; 1%"} {
		if !strings.Contains(page, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
}
