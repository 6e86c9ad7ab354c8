package doctor

import (
	"net/http"
	"strings"
	"testing"
)

func TestEdgeGoodPasses(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	r := run(t, goodOptions(f.start(), f.pki))
	cdn := wantStatus(t, r, GroupEdge, "CDN or proxy", StatusPass)
	if !strings.Contains(cdn.Message, "Cloudflare") {
		t.Errorf("message %q should name Cloudflare", cdn.Message)
	}
	wantStatus(t, r, GroupEdge, "caching of private pages", StatusPass)
	assets := wantStatus(t, r, GroupEdge, "caching of static assets", StatusPass)
	if len(assets.Detail) != 2 {
		t.Errorf("want the two same-origin assets of the home page, got %q", assets.Detail)
	}
}

func TestEdgePublicCachingOfPrivatePagesFails(t *testing.T) {
	t.Parallel()
	admin := respond(200, "dashboard", secureHeaders("Cache-Control", "public, max-age=600")...)
	home := respond(200, `<link href="/static/app.css" rel="stylesheet">`, secureHeaders(
		"Set-Cookie", "session=abc; Secure; HttpOnly", "Cache-Control", "s-maxage=300")...)
	r := pageFixture(t, home, admin)
	got := wantStatus(t, r, GroupEdge, "caching of private pages", StatusFail)
	joined := strings.Join(got.Detail, "\n")
	if !strings.Contains(joined, "/admin (private path)") || !strings.Contains(joined, "/ (sets a cookie)") {
		t.Errorf("detail should list both pages:\n%s", joined)
	}
}

func TestEdgePrivatePageWithoutCacheControlWarns(t *testing.T) {
	t.Parallel()
	r := pageFixture(t, nil, respond(200, "dashboard", secureHeaders()...))
	wantStatus(t, r, GroupEdge, "caching of private pages", StatusWarn)
}

func TestEdgeShortAssetCachingWarns(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "h.test")
	goodZone(t, f.dns, "h.test")
	goodSite(f, "h.test")
	f.routes["https://h.test/static/app.js"] = respond(200, "x", "Cache-Control", "max-age=60")
	r := run(t, f.start().options("h.test", f.pki))
	wantStatus(t, r, GroupEdge, "caching of static assets", StatusWarn)
}

func TestEdgeNoAssetsIsUnknown(t *testing.T) {
	t.Parallel()
	r := pageFixture(t, respond(200, "<p>plain</p>", secureHeaders()...), nil)
	wantStatus(t, r, GroupEdge, "caching of static assets", StatusUnknown)
}

func TestIdentifyEdge(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header, value, want string
	}{
		{"CF-Ray", "abc-AMS", "Cloudflare"},
		{"Via", "1.1 abc.cloudfront.net (CloudFront)", "Amazon CloudFront"},
		{"X-Served-By", "cache-ams21021-AMS", "Fastly"},
		{"X-Vercel-Id", "fra1::x", "Vercel"},
		{"Server", "Netlify", "Netlify"},
		{"Via", "1.1 vegur", "Heroku"},
		{"X-Cache", "HIT", "a caching proxy"},
		{"Server", "nginx", ""},
	} {
		h := http.Header{}
		h.Set(tc.header, tc.value)
		if got, _ := identifyEdge(h); got != tc.want {
			t.Errorf("%s: %s → %q, want %q", tc.header, tc.value, got, tc.want)
		}
	}
}
