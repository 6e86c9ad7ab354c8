package doctor

import (
	"crypto/tls"
	"strings"
	"testing"
	"time"
)

// tlsFixture serves one host, tls.test, with a good zone, a good site and the certificate given.
func tlsFixture(t *testing.T, cert func(p *pki) *tls.Certificate) *fixture {
	f := newFixture(t, "tls.test", "www.tls.test", "mta-sts.tls.test")
	goodZone(t, f.dns, "tls.test")
	goodSite(f, "tls.test")
	if cert != nil {
		f.certs["tls.test"] = cert(f.pki)
	}
	return f
}

func TestTLSGoodChainExpiryVersionsHSTS(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	r := run(t, goodOptions(f.start(), f.pki))
	for _, h := range []string{"good.test", "www.good.test"} {
		wantStatus(t, r, GroupTLS, "certificate chain ("+h+")", StatusPass)
		wantStatus(t, r, GroupTLS, "certificate expiry ("+h+")", StatusPass)
		v := wantStatus(t, r, GroupTLS, "protocol versions ("+h+")", StatusPass)
		if strings.Contains(v.Message, "1.0") {
			t.Errorf("versions message %q mentions TLS 1.0", v.Message)
		}
		wantStatus(t, r, GroupTLS, "HSTS ("+h+")", StatusPass)
	}
}

func TestTLSExpiredLeafFails(t *testing.T) {
	t.Parallel()
	f := tlsFixture(t, func(p *pki) *tls.Certificate { return p.inter.leaf(t, testNow.Add(-24*time.Hour), "tls.test") })
	r := run(t, f.start().options("tls.test", f.pki))
	chain := wantStatus(t, r, GroupTLS, "certificate chain (tls.test)", StatusFail)
	if !strings.Contains(chain.Message, "expired") {
		t.Errorf("chain message %q should say expired", chain.Message)
	}
	exp := wantStatus(t, r, GroupTLS, "certificate expiry (tls.test)", StatusFail)
	if !strings.Contains(exp.Message, "leaf tls.test has expired") {
		t.Errorf("expiry message %q", exp.Message)
	}
}

func TestTLSExpiringIntermediateFails(t *testing.T) {
	t.Parallel()
	f := tlsFixture(t, func(p *pki) *tls.Certificate {
		inter := p.root.intermediate(t, "Let's Encrypt", "Short R9", testNow.AddDate(0, 0, 5))
		return inter.leaf(t, testNow.AddDate(0, 0, 60), "tls.test")
	})
	r := run(t, f.start().options("tls.test", f.pki))
	wantStatus(t, r, GroupTLS, "certificate chain (tls.test)", StatusPass)
	exp := wantStatus(t, r, GroupTLS, "certificate expiry (tls.test)", StatusFail)
	if !strings.Contains(exp.Message, "intermediate Short R9 expires in 5 days") {
		t.Errorf("expiry message %q should name the intermediate and 5 days", exp.Message)
	}
}

func TestTLSLeafExpiringWithinAMonthWarns(t *testing.T) {
	t.Parallel()
	f := tlsFixture(t, func(p *pki) *tls.Certificate { return p.inter.leaf(t, testNow.AddDate(0, 0, 20), "tls.test") })
	r := run(t, f.start().options("tls.test", f.pki))
	wantStatus(t, r, GroupTLS, "certificate expiry (tls.test)", StatusWarn)
}

func TestTLSWrongHostFails(t *testing.T) {
	t.Parallel()
	f := tlsFixture(t, func(p *pki) *tls.Certificate { return p.inter.leaf(t, testNow.AddDate(0, 0, 90), "other.test") })
	r := run(t, f.start().options("tls.test", f.pki))
	got := wantStatus(t, r, GroupTLS, "certificate chain (tls.test)", StatusFail)
	if !strings.Contains(got.Message, "other.test") {
		t.Errorf("message %q should name the certificate's host", got.Message)
	}
	// The redirect chain cannot complete over that certificate either.
	wantStatus(t, r, GroupRedirects, "https://tls.test/", StatusFail)
}

func TestTLSUntrustedRootFails(t *testing.T) {
	t.Parallel()
	f := tlsFixture(t, func(*pki) *tls.Certificate {
		other := newRoot(t, "Someone Else").intermediate(t, "Let's Encrypt", "Fake R3", testNow.AddDate(1, 0, 0))
		return other.leaf(t, testNow.AddDate(0, 0, 90), "tls.test")
	})
	r := run(t, f.start().options("tls.test", f.pki))
	wantStatus(t, r, GroupTLS, "certificate chain (tls.test)", StatusFail)
}

func TestTLS10AcceptedWarns(t *testing.T) {
	t.Parallel()
	f := tlsFixture(t, nil)
	f.minTLS = tls.VersionTLS10
	r := run(t, f.start().options("tls.test", f.pki))
	got := wantStatus(t, r, GroupTLS, "protocol versions (tls.test)", StatusWarn)
	if !strings.Contains(got.Message, "TLS 1.0") || !strings.Contains(got.Message, "TLS 1.1") {
		t.Errorf("message %q should name TLS 1.0 and 1.1", got.Message)
	}
}

func TestTLSNoListenerFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	goodZone(t, f.dns, "down.test")
	r := run(t, f.start().options("down.test", f.pki))
	wantStatus(t, r, GroupTLS, "certificate (down.test)", StatusFail)
	wantStatus(t, r, GroupTLS, "HSTS (down.test)", StatusUnknown)
}

func TestHSTS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		header string
		want   Status
	}{
		{"max-age=31536000", StatusPass},
		{`max-age="63072000"; includeSubDomains; preload`, StatusPass},
		{"max-age=86400", StatusWarn},
		{"includeSubDomains", StatusWarn},
		{"", StatusWarn},
	} {
		t.Run(tc.header, func(t *testing.T) {
			a := &auditor{chains: map[string]*chain{"https://h.test/": {Hops: []hop{{Header: map[string][]string{}}}}}}
			if tc.header != "" {
				a.chains["https://h.test/"].Hops[0].Header.Set("Strict-Transport-Security", tc.header)
			}
			if got := a.checkHSTS("h.test"); got.Status != tc.want {
				t.Errorf("HSTS %q: got %s (%s), want %s", tc.header, got.Status, got.Message, tc.want)
			}
		})
	}
}
