package doctor

import (
	"net/http"
	"strings"
	"testing"
)

// pageFixture serves h.test whose home page and /admin the test sets.
func pageFixture(t *testing.T, home, admin http.HandlerFunc) Report {
	f := newFixture(t, "h.test", "mta-sts.h.test")
	goodZone(t, f.dns, "h.test")
	goodSite(f, "h.test")
	if home != nil {
		f.routes["https://h.test/"] = home
	}
	if admin != nil {
		f.routes["https://h.test/admin"] = admin
	}
	return run(t, f.start().options("h.test", f.pki))
}

func TestHeadersGoodPass(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	r := run(t, goodOptions(f.start(), f.pki))
	for _, c := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy", "frame protection", "cookies"} {
		wantStatus(t, r, GroupHeaders, c, StatusPass)
	}
}

func TestHeadersUnsafeInlineAndInsecureCookieFail(t *testing.T) {
	t.Parallel()
	home := respond(200, homePage,
		"Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'",
		"Set-Cookie", "session=abc; Path=/",
		"Set-Cookie", "theme=dark; Path=/; Secure",
	)
	r := pageFixture(t, home, nil)
	csp := wantStatus(t, r, GroupHeaders, "Content-Security-Policy", StatusFail)
	joined := strings.Join(csp.Detail, "\n")
	for _, want := range []string{"'unsafe-inline'", "'unsafe-eval'", "no frame-ancestors"} {
		if !strings.Contains(joined, want) {
			t.Errorf("CSP detail lacks %q:\n%s", want, joined)
		}
	}
	cookies := wantStatus(t, r, GroupHeaders, "cookies", StatusFail)
	if got := strings.Join(cookies.Detail, "\n"); !strings.Contains(got, "session (no Secure, no HttpOnly, no SameSite)") || !strings.Contains(got, "theme (no HttpOnly") {
		t.Errorf("cookie detail:\n%s", got)
	}
	wantStatus(t, r, GroupHeaders, "X-Content-Type-Options", StatusWarn)
	wantStatus(t, r, GroupHeaders, "Referrer-Policy", StatusWarn)
	wantStatus(t, r, GroupHeaders, "frame protection", StatusWarn)
}

func TestCSP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		csp  string
		want Status
	}{
		{"default-src 'self'; frame-ancestors 'none'", StatusPass},
		{"script-src 'self' 'unsafe-inline' 'nonce-abc'; frame-ancestors 'self'", StatusPass},
		{"default-src 'self' 'unsafe-inline'; frame-ancestors 'none'", StatusFail},
		{"script-src 'self' 'UNSAFE-INLINE'; frame-ancestors 'none'", StatusFail},
		{"script-src 'self' 'unsafe-eval'; frame-ancestors 'none'", StatusWarn},
		{"script-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'", StatusWarn},
		{"default-src 'self'", StatusWarn},
		{"", StatusWarn},
	} {
		h := http.Header{}
		if tc.csp != "" {
			h.Set("Content-Security-Policy", tc.csp)
		}
		if got := checkCSP([]fetched{{Path: "/", Page: page{Header: h}}}); got.Status != tc.want {
			t.Errorf("CSP %q: got %s (%v), want %s", tc.csp, got.Status, got.Detail, tc.want)
		}
	}
}

func TestReferrerPolicy(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]Status{
		"no-referrer": StatusPass, "strict-origin-when-cross-origin": StatusPass, "unsafe-url, no-referrer": StatusPass,
		"no-referrer, unsafe-url": StatusWarn, "": StatusWarn, "bogus": StatusWarn,
	} {
		if got, _ := referrerPolicy(v); got != want {
			t.Errorf("referrerPolicy(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestFrameProtectionByXFrameOptions(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Set("X-Frame-Options", "sameorigin")
	if got := checkFrame([]fetched{{Path: "/", Page: page{Header: h}}}); got.Status != StatusPass {
		t.Errorf("X-Frame-Options SAMEORIGIN: got %s, want pass", got.Status)
	}
	h.Set("X-Frame-Options", "ALLOW-FROM https://x.test")
	if got := checkFrame([]fetched{{Path: "/", Page: page{Header: h}}}); got.Status != StatusWarn {
		t.Errorf("X-Frame-Options ALLOW-FROM: got %s, want warn", got.Status)
	}
}

func TestNonSessionCookieWithoutHttpOnlyWarns(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	h.Add("Set-Cookie", "theme=dark; Secure; SameSite=Lax")
	if got := checkCookies([]fetched{{Path: "/", Page: page{Header: h}}}); got.Status != StatusWarn {
		t.Errorf("got %s, want warn", got.Status)
	}
	h.Set("Set-Cookie", "auth_token=x; Secure; SameSite=Lax")
	if got := checkCookies([]fetched{{Path: "/", Page: page{Header: h}}}); got.Status != StatusFail {
		t.Errorf("session-like cookie without HttpOnly: got %s, want fail", got.Status)
	}
}

func TestHeadersSkipNotFoundPages(t *testing.T) {
	t.Parallel()
	r := pageFixture(t, nil, http.NotFound)
	csp := wantStatus(t, r, GroupHeaders, "Content-Security-Policy", StatusPass)
	if len(csp.Detail) != 1 || !strings.HasPrefix(csp.Detail[0], "/:") {
		t.Errorf("only / should be audited when /admin is 404, got %q", csp.Detail)
	}
}
