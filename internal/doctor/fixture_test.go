package doctor

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"testing"
	"time"
)

// fixture assembles one test's world: zones, a PKI, site routes and the certificates per host.
type fixture struct {
	t      *testing.T
	dns    *fakeDNS
	pki    *pki
	routes site
	certs  map[string]*tls.Certificate
	minTLS uint16
	hosts  []string
}

func newFixture(t *testing.T, hosts ...string) *fixture {
	return &fixture{t: t, dns: newFakeDNS(), pki: newPKI(t), routes: site{}, certs: map[string]*tls.Certificate{}, hosts: hosts}
}

// start serves the zones and the site; hosts without a certificate get a valid one for 90 days.
func (f *fixture) start() *world {
	f.t.Helper()
	for _, h := range f.hosts {
		if _, ok := f.certs[h]; !ok {
			f.certs[h] = f.pki.inter.leaf(f.t, testNow.AddDate(0, 0, 90), h)
		}
	}
	w := serve(f.t, f.routes, f.minTLS, f.certs, f.hosts...)
	w.dnsAddr = f.dns.start(f.t)
	return w
}

// secureHeaders are the headers a well-configured page sends.
func secureHeaders(extra ...string) []string {
	return append([]string{
		"Content-Security-Policy", "default-src 'self'; script-src 'self'; frame-ancestors 'none'",
		"X-Content-Type-Options", "nosniff",
		"Referrer-Policy", "strict-origin-when-cross-origin",
		"X-Frame-Options", "DENY",
		"Strict-Transport-Security", "max-age=63072000; includeSubDomains",
		"Server", "cloudflare",
		"CF-Ray", "8a1b2c3d4e5f-AMS",
	}, extra...)
}

const homePage = `<!doctype html><html><head><link rel="stylesheet" href="/static/app.css">
<script src="/static/app.js"></script><script src="https://cdn.other.test/x.js"></script></head><body>Members</body></html>`

// goodZone adds a zone with everything right for domain (signed unless told otherwise).
func goodZone(t *testing.T, z *fakeDNS, domain string) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := domain + "."
	z.add(t,
		d+" 300 IN SOA ns1."+d+" hostmaster."+d+" 2030060101 7200 3600 1209600 3600",
		d+" 300 IN NS ns1."+d,
		d+" 300 IN NS ns2."+d,
		"ns1."+d+" 300 IN A 192.0.2.53",
		"ns2."+d+" 300 IN A 198.51.100.53",
		d+" 300 IN A 127.0.0.1",
		d+" 300 IN AAAA ::1",
		"www."+d+" 300 IN A 127.0.0.1",
		"mta-sts."+d+" 300 IN A 127.0.0.1",
		d+` 300 IN CAA 0 issue "letsencrypt.org"`,
		d+` 300 IN CAA 0 iodef "mailto:security@`+domain+`"`,
		d+` 300 IN TXT "v=spf1 include:_spf.mailer.test mx -all"`,
		d+` 300 IN TXT "google-site-verification=abc"`,
		d+" 300 IN MX 10 mx1."+d,
		"mx1."+d+" 300 IN A 192.0.2.25",
		"cka._domainkey."+d+` 300 IN TXT "v=DKIM1; k=ed25519; p=`+base64.StdEncoding.EncodeToString(pub)+`"`,
		"_dmarc."+d+` 300 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@`+domain+`,mailto:agg@reports.example"`,
		"_mta-sts."+d+` 300 IN TXT "v=STSv1; id=20300101"`,
		"_smtp._tls."+d+` 300 IN TXT "v=TLSRPTv1; rua=mailto:tls@`+domain+`"`,
		// The mail provider's zone and the external report receiver's authorization.
		"mailer.test. 300 IN SOA ns.mailer.test. ops.mailer.test. 1 7200 3600 1209600 3600",
		`_spf.mailer.test. 300 IN TXT "v=spf1 ip4:192.0.2.0/24 a:out.mailer.test ~all"`,
		"out.mailer.test. 300 IN A 192.0.2.10",
		"reports.example. 300 IN SOA ns.reports.example. ops.reports.example. 1 7200 3600 1209600 3600",
		domain+`._report._dmarc.reports.example. 300 IN TXT "v=DMARC1"`,
	)
}

// goodSite adds routes for a well-configured site on domain with www redirecting to the apex.
func goodSite(f *fixture, domain string) {
	f.routes["http://"+domain+"/"] = redirectTo(http.StatusMovedPermanently, "https://"+domain+"/")
	f.routes["http://www."+domain+"/"] = redirectTo(http.StatusMovedPermanently, "https://www."+domain+"/")
	f.routes["https://www."+domain+"/"] = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=63072000")
		redirectTo(http.StatusMovedPermanently, "https://"+domain+"/")(w, r)
	}
	f.routes["https://"+domain+"/"] = respond(200, homePage, secureHeaders("Cache-Control", "no-cache")...)
	f.routes["https://"+domain+"/admin"] = respond(302, "", secureHeaders(
		"Location", "/login",
		"Set-Cookie", "session=abc123; Path=/; Secure; HttpOnly; SameSite=Lax",
		"Cache-Control", "private, no-store")...)
	asset := respond(200, "body{}", "Cache-Control", "public, max-age=31536000, immutable", "Server", "cloudflare")
	f.routes["https://"+domain+"/static/app.css"] = asset
	f.routes["https://"+domain+"/static/app.js"] = asset
	f.routes["https://"+domain+"/webhooks/stripe"] = respond(400, `{"error":"missing signature"}`)
	f.routes["https://mta-sts."+domain+"/.well-known/mta-sts.txt"] = respond(200, "version: STSv1\nmode: enforce\nmx: mx1."+domain+"\nmax_age: 86400\n")
}

// goodFixture is a complete, correct setup for good.test: apex canonical, www redirecting, signed zone.
func goodFixture(t *testing.T) *fixture {
	f := newFixture(t, "good.test", "www.good.test", "mta-sts.good.test")
	goodZone(t, f.dns, "good.test")
	f.dns.sign(t, "good.test")
	goodSite(f, "good.test")
	return f
}

// goodOptions returns the options auditing the good fixture's world.
func goodOptions(w *world, p *pki) Options {
	o := w.options("good.test", p)
	o.WWW = true
	o.DKIMSelectors = []string{"cka"}
	o.WebhookURL = "https://good.test/webhooks/stripe"
	return o
}

func TestRunGoodSetupHasNoFailureOrWarning(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	w := f.start()
	start := time.Now()
	r := run(t, goodOptions(w, f.pki))
	if r.ExitCode() != 0 {
		t.Errorf("ExitCode = %d, want 0", r.ExitCode())
	}
	for _, fd := range r.Findings {
		if fd.Status == StatusFail || fd.Status == StatusWarn {
			t.Errorf("%s / %s: %s: %s\n  %v", fd.Group, fd.Check, fd.Status, fd.Message, fd.Detail)
		}
	}
	for _, g := range Groups() {
		if !containsGroup(r, g) {
			t.Errorf("no finding for group %s", g)
		}
	}
	if !r.Started.Equal(testNow) {
		t.Errorf("Started = %v, want the injected clock %v", r.Started, testNow)
	}
	t.Logf("audit took %s, %d findings", time.Since(start), len(r.Findings))
}

func containsGroup(r Report, g string) bool {
	for _, f := range r.Findings {
		if f.Group == g {
			return true
		}
	}
	return false
}

func TestRunRejectsMissingOrBadDomain(t *testing.T) {
	t.Parallel()
	for _, d := range []string{"", "  ", "https://x.test/", "a b.test"} {
		if _, err := Run(t.Context(), Options{Domain: d, Resolver: "127.0.0.1:1"}); err == nil {
			t.Errorf("Run(Domain %q) = nil error, want one", d)
		}
	}
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	r := Report{Findings: []Finding{{Status: StatusPass}, {Status: StatusWarn}, {Status: StatusUnknown}}}
	if got := r.ExitCode(); got != 0 {
		t.Errorf("ExitCode without failures = %d, want 0", got)
	}
	r.Findings = append(r.Findings, Finding{Status: StatusFail})
	if got := r.ExitCode(); got != 1 {
		t.Errorf("ExitCode with a failure = %d, want 1", got)
	}
}
