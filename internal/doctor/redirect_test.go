package doctor

import (
	"net/http"
	"strings"
	"testing"
)

// redirectFixture is a good setup on r.test whose routes the test then overrides.
func redirectFixture(t *testing.T) *fixture {
	f := newFixture(t, "r.test", "www.r.test", "mta-sts.r.test")
	goodZone(t, f.dns, "r.test")
	goodSite(f, "r.test")
	return f
}

func redirectOptions(f *fixture) Options {
	o := f.start().options("r.test", f.pki)
	o.WWW = true
	return o
}

func TestRedirectsGoodChains(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	r := run(t, goodOptions(f.start(), f.pki))
	for _, s := range []string{"http://good.test/", "https://good.test/", "http://www.good.test/", "https://www.good.test/"} {
		wantStatus(t, r, GroupRedirects, s, StatusPass)
	}
	got := wantStatus(t, r, GroupRedirects, "canonical host", StatusPass)
	if !strings.Contains(got.Message, "https://good.test") {
		t.Errorf("canonical message %q should name https://good.test", got.Message)
	}
	chain := get(t, r, GroupRedirects, "http://www.good.test/")
	want := []string{"301 http://www.good.test/ → https://www.good.test/", "301 https://www.good.test/ → https://good.test/", "200 https://good.test/"}
	if strings.Join(chain.Detail, "\n") != strings.Join(want, "\n") {
		t.Errorf("chain detail:\n got %q\nwant %q", chain.Detail, want)
	}
}

func TestRedirectDowngradeFails(t *testing.T) {
	t.Parallel()
	f := redirectFixture(t)
	f.routes["https://www.r.test/"] = redirectTo(http.StatusFound, "http://r.test/")
	r := run(t, redirectOptions(f))
	got := wantStatus(t, r, GroupRedirects, "https://www.r.test/", StatusFail)
	if !strings.Contains(got.Message, "downgrades from HTTPS to HTTP") {
		t.Errorf("message %q should report the downgrade", got.Message)
	}
	wantStatus(t, r, GroupRedirects, "http://www.r.test/", StatusFail)
	wantStatus(t, r, GroupRedirects, "http://r.test/", StatusPass)
}

func TestRedirectLoopFails(t *testing.T) {
	t.Parallel()
	f := redirectFixture(t)
	f.routes["https://r.test/"] = redirectTo(http.StatusMovedPermanently, "https://www.r.test/")
	r := run(t, redirectOptions(f))
	got := wantStatus(t, r, GroupRedirects, "https://r.test/", StatusFail)
	if !strings.Contains(got.Message, "loop") {
		t.Errorf("message %q should report a loop", got.Message)
	}
	wantStatus(t, r, GroupRedirects, "canonical host", StatusUnknown)
}

func TestRedirectPlainHTTPServedFails(t *testing.T) {
	t.Parallel()
	f := redirectFixture(t)
	f.routes["http://r.test/"] = respond(200, "hello")
	r := run(t, redirectOptions(f))
	got := wantStatus(t, r, GroupRedirects, "http://r.test/", StatusFail)
	if !strings.Contains(got.Message, "plain HTTP") {
		t.Errorf("message %q", got.Message)
	}
	// Its chain ends on http://, so the entry points disagree on the origin.
	wantStatus(t, r, GroupRedirects, "canonical host", StatusFail)
}

func TestRedirectCrossHostUpgradeAndLongChainWarn(t *testing.T) {
	t.Parallel()
	f := redirectFixture(t)
	// http://www → https://r.test/start → /a → / : the first hop changes host, and there are 3 redirects.
	f.routes["http://www.r.test/"] = redirectTo(http.StatusMovedPermanently, "https://r.test/start")
	f.routes["https://r.test/start"] = redirectTo(http.StatusFound, "/a")
	f.routes["https://r.test/a"] = redirectTo(http.StatusFound, "/")
	r := run(t, redirectOptions(f))
	got := wantStatus(t, r, GroupRedirects, "http://www.r.test/", StatusWarn)
	for _, want := range []string{"changes host", "3 redirects"} {
		if !strings.Contains(got.Message, want) {
			t.Errorf("message %q lacks %q", got.Message, want)
		}
	}
}

func TestRedirectTwoCanonicalHostsFail(t *testing.T) {
	t.Parallel()
	f := redirectFixture(t)
	f.routes["https://www.r.test/"] = respond(200, "www home")
	r := run(t, redirectOptions(f))
	got := wantStatus(t, r, GroupRedirects, "canonical host", StatusFail)
	if !strings.Contains(got.Message, "https://r.test") || !strings.Contains(got.Message, "https://www.r.test") {
		t.Errorf("message %q should list both origins", got.Message)
	}
}

func TestRedirectEndingInServerErrorFails(t *testing.T) {
	t.Parallel()
	f := redirectFixture(t)
	f.routes["https://r.test/"] = respond(502, "bad gateway")
	r := run(t, redirectOptions(f))
	wantStatus(t, r, GroupRedirects, "https://r.test/", StatusFail)
}
