package doctor

import (
	"strings"
	"testing"
	"time"
)

// badZone adds bad.test: a CNAME at the apex, one nameserver, no CAA, unsigned, two SPF records, DMARC
// p=none without rua, no MX, no MTA-STS or TLS-RPT.
func badZone(t *testing.T, z *fakeDNS) {
	z.add(t,
		"bad.test. 300 IN SOA ns1.bad.test. hostmaster.bad.test. 0 300 600 3600 172800",
		"bad.test. 300 IN NS ns1.bad.test.",
		"ns1.bad.test. 300 IN A 192.0.2.53",
		"bad.test. 300 IN CNAME host.hosting.test.",
		"host.hosting.test. 300 IN A 127.0.0.1",
		"www.bad.test. 300 IN CNAME host.hosting.test.",
		`bad.test. 300 IN TXT "v=spf1 +all"`,
		`bad.test. 300 IN TXT "v=spf1 include:_spf.mailer.test -all"`,
		`_dmarc.bad.test. 300 IN TXT "v=DMARC1; p=none"`,
		`cka._domainkey.bad.test. 300 IN TXT "v=DKIM1; k=rsa; p="`,
	)
}

func TestDNSGoodZonePasses(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	r := run(t, goodOptions(f.start(), f.pki))
	for _, c := range []string{"apex resolves", "www resolves", "no CNAME at apex", "nameservers", "SOA", "CAA", "DNSSEC"} {
		wantStatus(t, r, GroupDNS, c, StatusPass)
	}
}

func TestDNSBadZone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "bad.test", "www.bad.test")
	badZone(t, f.dns)
	o := f.start().options("bad.test", f.pki)
	o.WWW = true
	r := run(t, o)
	wantStatus(t, r, GroupDNS, "apex resolves", StatusPass)
	wantStatus(t, r, GroupDNS, "www resolves", StatusPass)
	cname := wantStatus(t, r, GroupDNS, "no CNAME at apex", StatusFail)
	if !strings.Contains(cname.Message, "host.hosting.test") {
		t.Errorf("CNAME message %q does not name the target", cname.Message)
	}
	wantStatus(t, r, GroupDNS, "nameservers", StatusWarn)
	soa := wantStatus(t, r, GroupDNS, "SOA", StatusWarn)
	for _, want := range []string{"serial is 0", "refresh 300", "retry 600"} {
		if !strings.Contains(soa.Message, want) {
			t.Errorf("SOA message %q lacks %q", soa.Message, want)
		}
	}
	wantStatus(t, r, GroupDNS, "CAA", StatusWarn)
	wantStatus(t, r, GroupDNS, "DNSSEC", StatusWarn)
	if r.ExitCode() != 1 {
		t.Errorf("ExitCode = %d, want 1", r.ExitCode())
	}
}

func TestDNSApexWithoutAddressFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.dns.add(t, "empty.test. 300 IN SOA ns1.empty.test. h.empty.test. 1 7200 3600 1209600 3600")
	r := run(t, f.start().options("empty.test", f.pki))
	wantStatus(t, r, GroupDNS, "apex resolves", StatusFail)
	wantStatus(t, r, GroupDNS, "nameservers", StatusFail)
}

func TestDNSServfailIsUnknown(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	f.dns.servfail["good.test."] = true
	r := run(t, goodOptions(f.start(), f.pki))
	wantStatus(t, r, GroupDNS, "apex resolves", StatusUnknown)
	wantStatus(t, r, GroupDNS, "SOA", StatusUnknown)
}

func TestCNAMEOnSubdomainIsAllowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "app.good.test")
	goodZone(t, f.dns, "good.test")
	f.dns.add(t, "app.good.test. 300 IN CNAME host.hosting.test.", "host.hosting.test. 300 IN A 127.0.0.1")
	r := run(t, f.start().options("app.good.test", f.pki))
	got := wantStatus(t, r, GroupDNS, "no CNAME at apex", StatusPass)
	if !strings.Contains(got.Message, "not a zone apex") {
		t.Errorf("message %q should explain that app.good.test is not an apex", got.Message)
	}
	// CAA is inherited from the parent.
	wantStatus(t, r, GroupDNS, "CAA", StatusPass)
}

func TestCAAForbiddingTheServedIssuerFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "caa.test")
	f.dns.add(t,
		"caa.test. 300 IN SOA ns1.caa.test. h.caa.test. 1 7200 3600 1209600 3600",
		"caa.test. 300 IN A 127.0.0.1",
		`caa.test. 300 IN CAA 0 issue "pki.goog"`,
	)
	r := run(t, f.start().options("caa.test", f.pki))
	got := wantStatus(t, r, GroupDNS, "CAA", StatusFail)
	if !strings.Contains(got.Message, "letsencrypt.org") {
		t.Errorf("message %q should name the CAA domain to add", got.Message)
	}
}

func TestCAACriticalUnknownTagFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "crit.test")
	f.dns.add(t,
		"crit.test. 300 IN SOA ns1.crit.test. h.crit.test. 1 7200 3600 1209600 3600",
		"crit.test. 300 IN A 127.0.0.1",
		`crit.test. 300 IN CAA 0 issue "letsencrypt.org"`,
		`crit.test. 300 IN CAA 128 tbs "x"`,
	)
	r := run(t, f.start().options("crit.test", f.pki))
	wantStatus(t, r, GroupDNS, "CAA", StatusFail)
}

func TestDNSSECTamperedRecordFails(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	// Changing the A record after signing leaves a signature over the old data.
	f.dns.replace(t, "good.test. 300 IN A 127.0.0.2")
	r := run(t, goodOptions(f.start(), f.pki))
	got := wantStatus(t, r, GroupDNS, "DNSSEC", StatusFail)
	if !strings.Contains(got.Message, "A records") {
		t.Errorf("message %q should name the A records", got.Message)
	}
}

func TestDNSSECExpiredSignaturesFail(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	o := goodOptions(f.start(), f.pki)
	o.Now = func() time.Time { return testNow.AddDate(0, 2, 0) }
	r := run(t, o)
	got := wantStatus(t, r, GroupDNS, "DNSSEC", StatusFail)
	if !strings.Contains(got.Message, "validity period") {
		t.Errorf("message %q should say the signature is out of its validity period", got.Message)
	}
}

func TestDNSSECWrongDSFails(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	f.dns.replace(t, "good.test. 300 IN DS 12345 13 2 0000000000000000000000000000000000000000000000000000000000000000")
	r := run(t, goodOptions(f.start(), f.pki))
	wantStatus(t, r, GroupDNS, "DNSSEC", StatusFail)
}

func TestDNSSECKeysWithoutDSWarn(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	f.dns.mu.Lock()
	delete(f.dns.records, rrKey{"good.test.", 43}) // DS
	f.dns.mu.Unlock()
	r := run(t, goodOptions(f.start(), f.pki))
	wantStatus(t, r, GroupDNS, "DNSSEC", StatusWarn)
}

func TestDNSServerWithoutEDNSStillAnswers(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	f.dns.noEDNS = true
	r := run(t, goodOptions(f.start(), f.pki))
	wantStatus(t, r, GroupDNS, "apex resolves", StatusPass)
	wantStatus(t, r, GroupEmail, "SPF lookups", StatusPass)
	// Without EDNS0 there is no DO bit, so no signatures: the zone cannot be validated here.
	wantStatus(t, r, GroupDNS, "DNSSEC", StatusUnknown)
}
