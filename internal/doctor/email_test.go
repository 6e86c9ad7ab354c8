package doctor

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"testing"
)

func TestEmailGoodPasses(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	r := run(t, goodOptions(f.start(), f.pki))
	for _, c := range []string{"SPF record", "SPF syntax", "SPF lookups", "SPF all qualifier", "DKIM cka", "DMARC record",
		"DMARC policy", "DMARC reports (rua)", "MX", "MTA-STS", "TLS-RPT"} {
		wantStatus(t, r, GroupEmail, c, StatusPass)
	}
	tree := get(t, r, GroupEmail, "SPF lookups").Detail
	want := []string{
		"good.test: v=spf1 include:_spf.mailer.test mx -all",
		"  [1] include:_spf.mailer.test → v=spf1 ip4:192.0.2.0/24 a:out.mailer.test ~all",
		"    [2] a:out.mailer.test → 1 address(es)",
		"  [3] mx → 1 MX",
		"3 DNS lookups (limit 10), 0 void lookups (limit 2)",
	}
	if strings.Join(tree, "\n") != strings.Join(want, "\n") {
		t.Errorf("lookup tree:\n%s\nwant:\n%s", strings.Join(tree, "\n"), strings.Join(want, "\n"))
	}
}

func TestEmailBadZone(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "bad.test")
	badZone(t, f.dns)
	o := f.start().options("bad.test", f.pki)
	o.DKIMSelectors = []string{"cka", "google"}
	r := run(t, o)
	spf := wantStatus(t, r, GroupEmail, "SPF record", StatusFail)
	if len(spf.Detail) != 2 {
		t.Errorf("want both SPF records in the detail, got %q", spf.Detail)
	}
	wantStatus(t, r, GroupEmail, "DKIM cka", StatusFail)       // p= empty: revoked
	wantStatus(t, r, GroupEmail, "DKIM google", StatusUnknown) // not found: the name may be wrong
	wantStatus(t, r, GroupEmail, "DMARC policy", StatusWarn)   // p=none
	wantStatus(t, r, GroupEmail, "DMARC reports (rua)", StatusWarn)
	wantStatus(t, r, GroupEmail, "MX", StatusFail)
	wantStatus(t, r, GroupEmail, "MTA-STS", StatusWarn)
	wantStatus(t, r, GroupEmail, "TLS-RPT", StatusWarn)
}

func TestSPFOverTheLookupLimitAndPlusAllFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.dns.add(t,
		"heavy.test. 300 IN SOA ns1.heavy.test. h.heavy.test. 1 7200 3600 1209600 3600",
		`heavy.test. 300 IN TXT "v=spf1 include:s1.heavy.test include:s2.heavy.test include:s3.heavy.test a mx +all"`,
		"heavy.test. 300 IN A 127.0.0.1",
		"heavy.test. 300 IN MX 10 mx.heavy.test.",
		"h.heavy.test. 300 IN A 192.0.2.1",
		"h.heavy.test. 300 IN MX 10 mx.heavy.test.",
	)
	for _, s := range []string{"s1", "s2", "s3"} {
		f.dns.add(t, s+`.heavy.test. 300 IN TXT "v=spf1 a:h.heavy.test mx:h.heavy.test exists:%{i}.h.heavy.test -all"`)
	}
	r := run(t, f.start().options("heavy.test", f.pki))
	got := wantStatus(t, r, GroupEmail, "SPF lookups", StatusFail)
	if !strings.Contains(got.Message, "14 DNS lookups") {
		t.Errorf("message %q should count 14 lookups (3 includes × 4 + a + mx)", got.Message)
	}
	if !strings.Contains(strings.Join(got.Detail, "\n"), "[14] mx") {
		t.Errorf("the tree should number every lookup:\n%s", strings.Join(got.Detail, "\n"))
	}
	wantStatus(t, r, GroupEmail, "SPF all qualifier", StatusFail)
}

func TestSPFVoidLookupsOverLimitFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.dns.add(t,
		"voidy.test. 300 IN SOA ns1.voidy.test. h.voidy.test. 1 7200 3600 1209600 3600",
		`voidy.test. 300 IN TXT "v=spf1 a:n1.voidy.test a:n2.voidy.test mx:n3.voidy.test ~all"`,
	)
	r := run(t, f.start().options("voidy.test", f.pki))
	got := wantStatus(t, r, GroupEmail, "SPF lookups", StatusFail)
	if !strings.Contains(got.Message, "3 void lookups") {
		t.Errorf("message %q", got.Message)
	}
	wantStatus(t, r, GroupEmail, "SPF all qualifier", StatusPass)
}

func TestSPFRedirectAndMissingInclude(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.dns.add(t,
		"redir.test. 300 IN SOA ns1.redir.test. h.redir.test. 1 7200 3600 1209600 3600",
		`redir.test. 300 IN TXT "v=spf1 redirect=_spf.redir.test"`,
		`_spf.redir.test. 300 IN TXT "v=spf1 include:gone.redir.test ?all"`,
	)
	r := run(t, f.start().options("redir.test", f.pki))
	// The redirect target's ?all decides the default.
	wantStatus(t, r, GroupEmail, "SPF all qualifier", StatusWarn)
	got := wantStatus(t, r, GroupEmail, "SPF lookups", StatusFail)
	if !strings.Contains(strings.Join(got.Detail, "\n"), "gone.redir.test has no SPF record") {
		t.Errorf("detail should explain the missing include:\n%s", strings.Join(got.Detail, "\n"))
	}
}

func TestSPFIncludeLoopFails(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.dns.add(t,
		`loop.test. 300 IN TXT "v=spf1 include:a.loop.test -all"`,
		`a.loop.test. 300 IN TXT "v=spf1 include:loop.test -all"`,
	)
	r := run(t, f.start().options("loop.test", f.pki))
	wantStatus(t, r, GroupEmail, "SPF lookups", StatusFail)
}

func TestParseSPF(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		record string
		errs   int
		all    byte
	}{
		{"v=spf1 -all", 0, '-'},
		{"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a/24 mx:mail.x.test//64 include:_spf.x.test ~all", 0, '~'},
		{"v=spf1 exists:%{i}._spf.%{d} ptr ?all", 0, '?'},
		{"v=spf1 redirect=_spf.x.test exp=explain.x.test custom-mod=1", 0, 0},
		{"V=SPF1 +ALL", 0, '+'},
		{"v=spf1 ip4:192.0.2.300 -all", 1, '-'},
		{"v=spf1 ip4:192.0.2.0/33 -all", 1, '-'},
		{"v=spf1 ip6:192.0.2.1 -all", 1, '-'},
		{"v=spf1 include: -all", 1, '-'},
		{"v=spf1 include:nodot -all", 1, '-'},
		{"v=spf1 foo:x.test -all", 1, '-'},
		{"v=spf1 redirect=a.test redirect=b.test", 1, 0},
		{"v=spf1 exists:%{z}.x.test -all", 1, '-'},
		{"v=spf1 a/40 -all", 1, '-'},
		{"v=spf2 -all", 1, 0},
	} {
		rec, errs := parseSPF(tc.record)
		if len(errs) != tc.errs {
			t.Errorf("parseSPF(%q): %d errors %v, want %d", tc.record, len(errs), errs, tc.errs)
		}
		var all byte
		if rec.All != nil {
			all = rec.All.Qualifier
		}
		if all != tc.all {
			t.Errorf("parseSPF(%q): all qualifier %q, want %q", tc.record, all, tc.all)
		}
	}
}

func TestExpandDomain(t *testing.T) {
	t.Parallel()
	if got, ok := expandDomain("_spf.%{d}", "x.test"); !ok || got != "_spf.x.test" {
		t.Errorf("expand %%{d} = %q, %v", got, ok)
	}
	if _, ok := expandDomain("%{i}.x.test", "x.test"); ok {
		t.Error("%{i} depends on the sender and must not expand")
	}
}

func TestJudgeDKIM(t *testing.T) {
	t.Parallel()
	rsaKey := func(bits int) string {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
		return base64.StdEncoding.EncodeToString(der)
	}
	k1024 := rsaKey(1024)
	for _, tc := range []struct {
		name, record string
		want         Status
	}{
		{"rsa 1024", "v=DKIM1; k=rsa; p=" + k1024, StatusWarn},
		{"rsa 1024 folded", "v=DKIM1; p=" + k1024[:40] + " " + k1024[40:], StatusWarn},
		{"revoked", "v=DKIM1; p=", StatusFail},
		{"not base64", "v=DKIM1; p=@@@", StatusFail},
		{"wrong version", "v=DKIM2; p=" + k1024, StatusFail},
		{"ed25519 short", "k=ed25519; p=" + base64.StdEncoding.EncodeToString([]byte("short")), StatusFail},
	} {
		if got := judgeDKIM("DKIM x", "x._domainkey.t.test", tc.record); got.Status != tc.want {
			t.Errorf("%s: got %s (%s), want %s", tc.name, got.Status, got.Message, tc.want)
		}
	}
}

func TestDKIMWithoutSelectorsIsUnknown(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	o := goodOptions(f.start(), f.pki)
	o.DKIMSelectors = nil
	r := run(t, o)
	wantStatus(t, r, GroupEmail, "DKIM", StatusUnknown)
}

func TestDMARCUnauthorizedExternalRUAWarns(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	f.dns.replace(t, `_dmarc.good.test. 300 IN TXT "v=DMARC1; p=quarantine; rua=mailto:x@unauthorized.example"`)
	r := run(t, goodOptions(f.start(), f.pki))
	wantStatus(t, r, GroupEmail, "DMARC policy", StatusPass)
	got := wantStatus(t, r, GroupEmail, "DMARC reports (rua)", StatusWarn)
	if !strings.Contains(strings.Join(got.Detail, "\n"), "good.test._report._dmarc.unauthorized.example") {
		t.Errorf("detail should name the authorization record: %q", got.Detail)
	}
}

func TestDMARCMissingFailsAndPctWarns(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	f.dns.mu.Lock()
	delete(f.dns.records, rrKey{"_dmarc.good.test.", 16})
	f.dns.mu.Unlock()
	r := run(t, goodOptions(f.start(), f.pki))
	wantStatus(t, r, GroupEmail, "DMARC record", StatusFail)

	g := goodFixture(t)
	g.dns.replace(t, `_dmarc.good.test. 300 IN TXT "v=DMARC1; p=reject; pct=20; rua=mailto:d@good.test"`)
	r = run(t, goodOptions(g.start(), g.pki))
	wantStatus(t, r, GroupEmail, "DMARC policy", StatusWarn)
}

func TestMTASTSTestingModeWarns(t *testing.T) {
	t.Parallel()
	f := goodFixture(t)
	f.routes["https://mta-sts.good.test/.well-known/mta-sts.txt"] = respond(200, "version: STSv1\nmode: testing\nmx: mx1.good.test\nmax_age: 86400\n")
	r := run(t, goodOptions(f.start(), f.pki))
	got := wantStatus(t, r, GroupEmail, "MTA-STS", StatusWarn)
	if !strings.Contains(got.Message, "testing") {
		t.Errorf("message %q", got.Message)
	}
}
