package doctor

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testNow is the injected clock of every test: certificates and signatures are made relative to it.
var testNow = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// ---- DNS ----

type rrKey struct {
	name  string
	qtype uint16
}

// fakeDNS is an authoritative-and-recursive-looking DNS server for test zones on 127.0.0.1. It answers
// from a record map, follows CNAMEs, returns NXDOMAIN/NODATA with the zone's SOA, and adds RRSIGs when
// the query has the DO bit and the zone is signed.
type fakeDNS struct {
	mu       sync.Mutex
	records  map[rrKey][]dns.RR
	sigs     map[rrKey][]dns.RR
	names    map[string]bool
	servfail map[string]bool
	noEDNS   bool // answer FORMERR to queries with EDNS0, like an old server
}

func newFakeDNS() *fakeDNS {
	return &fakeDNS{records: map[rrKey][]dns.RR{}, sigs: map[rrKey][]dns.RR{}, names: map[string]bool{}, servfail: map[string]bool{}}
}

// add parses zone-file lines and adds them.
func (z *fakeDNS) add(t *testing.T, lines ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, l := range lines {
		rr, err := dns.NewRR(l)
		if err != nil {
			t.Fatalf("bad test record %q: %v", l, err)
		}
		z.addRR(rr)
	}
}

func (z *fakeDNS) addRR(rr dns.RR) {
	name := strings.ToLower(rr.Header().Name)
	k := rrKey{name, rr.Header().Rrtype}
	z.records[k] = append(z.records[k], rr)
	for n := name; n != ""; {
		z.names[n] = true // empty non-terminals exist too
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			break
		}
		n = n[i+1:]
	}
}

// replace swaps the records of name/type without touching their signatures (to forge a bad RRSIG).
func (z *fakeDNS) replace(t *testing.T, lines ...string) {
	t.Helper()
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, l := range lines {
		rr, _ := dns.NewRR(l)
		delete(z.records, rrKey{strings.ToLower(rr.Header().Name), rr.Header().Rrtype})
	}
	for _, l := range lines {
		rr, _ := dns.NewRR(l)
		z.addRR(rr)
	}
}

// sign generates a combined signing key for zone, publishes DNSKEY and DS, and signs every RRset in
// the zone (DS excluded: the parent signs it).
func (z *fakeDNS) sign(t *testing.T, zone string) {
	t.Helper()
	zone = dns.Fqdn(zone)
	key := &dns.DNSKEY{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeDNSKEY, Class: dns.ClassINET, Ttl: 3600},
		Flags: 257, Protocol: 3, Algorithm: dns.ECDSAP256SHA256}
	priv, err := key.Generate(256)
	if err != nil {
		t.Fatal(err)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	z.addRR(key)
	z.addRR(key.ToDS(dns.SHA256))
	for k, rrs := range z.records {
		if k.qtype == dns.TypeDS || !dns.IsSubDomain(zone, k.name) {
			continue
		}
		sig := &dns.RRSIG{KeyTag: key.KeyTag(), SignerName: zone, Algorithm: key.Algorithm,
			Inception: uint32(testNow.Add(-24 * time.Hour).Unix()), Expiration: uint32(testNow.Add(30 * 24 * time.Hour).Unix())}
		if err := sig.Sign(priv.(crypto.Signer), rrs); err != nil {
			t.Fatal(err)
		}
		z.sigs[k] = []dns.RR{sig}
	}
}

// zoneSOA returns the SOA of the closest enclosing zone of name.
func (z *fakeDNS) zoneSOA(name string) []dns.RR {
	for n := name; ; {
		if soa := z.records[rrKey{n, dns.TypeSOA}]; len(soa) > 0 {
			return soa
		}
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return nil
		}
		n = n[i+1:]
	}
}

func (z *fakeDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	z.mu.Lock()
	defer z.mu.Unlock()
	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	do := r.IsEdns0() != nil && r.IsEdns0().Do()
	if z.noEDNS && r.IsEdns0() != nil {
		m.Rcode = dns.RcodeFormatError
		w.WriteMsg(m)
		return
	}
	if z.servfail[name] {
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	}
	for depth := 0; depth < 8; depth++ {
		if rrs := z.records[rrKey{name, q.Qtype}]; len(rrs) > 0 {
			m.Answer = append(m.Answer, rrs...)
			if do {
				m.Answer = append(m.Answer, z.sigs[rrKey{name, q.Qtype}]...)
			}
			break
		}
		if c := z.records[rrKey{name, dns.TypeCNAME}]; len(c) > 0 && q.Qtype != dns.TypeCNAME {
			m.Answer = append(m.Answer, c...)
			name = strings.ToLower(c[0].(*dns.CNAME).Target)
			continue
		}
		if !z.names[name] {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = z.zoneSOA(name)
		break
	}
	if r.IsEdns0() != nil {
		m.SetEdns0(4096, do)
	}
	w.WriteMsg(m)
}

// start serves the zones on a loopback UDP port until the test ends and returns its address.
func (z *fakeDNS) start(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: z, NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	<-started
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String()
}

// ---- PKI ----

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

var serial = struct {
	sync.Mutex
	n int64
}{n: 1}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(serial.n)
}

func mustKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issue(t *testing.T, tmpl *x509.Certificate, parent *testCA, key *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	pcert, pkey := tmpl, key
	if parent != nil {
		pcert, pkey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pcert, &key.PublicKey, pkey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newRoot makes a self-signed root valid around testNow.
func newRoot(t *testing.T, org string) *testCA {
	key := mustKey(t)
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{Organization: []string{org}, CommonName: org + " Root"},
		NotBefore: testNow.AddDate(-5, 0, 0), NotAfter: testNow.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	return &testCA{cert: issue(t, tmpl, nil, key), key: key}
}

// intermediate makes an issuing CA under ca, expiring at notAfter.
func (ca *testCA) intermediate(t *testing.T, org, cn string, notAfter time.Time) *testCA {
	key := mustKey(t)
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{Organization: []string{org}, CommonName: cn},
		NotBefore: testNow.AddDate(-1, 0, 0), NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	return &testCA{cert: issue(t, tmpl, ca, key), key: key}
}

// leaf makes a server certificate for hosts, served with ca's certificate as its chain.
func (ca *testCA) leaf(t *testing.T, notAfter time.Time, hosts ...string) *tls.Certificate {
	key := mustKey(t)
	tmpl := &x509.Certificate{SerialNumber: nextSerial(), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: testNow.AddDate(0, -1, 0), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	c := issue(t, tmpl, ca, key)
	return &tls.Certificate{Certificate: [][]byte{c.Raw, ca.cert.Raw}, PrivateKey: key, Leaf: c}
}

// pki is the usual test hierarchy: a root in the pool and a "Let's Encrypt" intermediate.
type pki struct {
	root  *testCA
	inter *testCA
	pool  *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	root := newRoot(t, "ISRG Test")
	pool := x509.NewCertPool()
	pool.AddCert(root.cert)
	return &pki{root: root, inter: root.intermediate(t, "Let's Encrypt", "Test R3", testNow.AddDate(2, 0, 0)), pool: pool}
}

// ---- HTTP and TLS ----

// site routes "scheme://host/path" to handlers; anything else is 404.
type site map[string]http.HandlerFunc

func (s site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if h, ok := s[scheme+"://"+host+r.URL.Path]; ok {
		h(w, r)
		return
	}
	http.NotFound(w, r)
}

// redirectTo answers with a redirect.
func redirectTo(code int, to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", to)
		w.WriteHeader(code)
	}
}

// respond answers status with the headers (repeated keys as separate values) and body.
func respond(status int, body string, headers ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Add(headers[i], headers[i+1])
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// world is the network a test's Run sees: a DNS server and loopback HTTP/HTTPS servers reached through
// a dial function that maps host:80 and host:443.
type world struct {
	dnsAddr string
	plain   string
	secure  string
	hosts   map[string]bool
}

// serve starts plain and TLS servers for handler. certs maps SNI names to certificates (the first
// one is also the default); minTLS is the server's minimum version (0: Go's default).
func serve(t *testing.T, handler http.Handler, minTLS uint16, certs map[string]*tls.Certificate, hosts ...string) *world {
	t.Helper()
	quiet := log.New(io.Discard, "", 0)
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var fallback *tls.Certificate
	for _, h := range hosts {
		if c := certs[h]; c != nil && fallback == nil {
			fallback = c
		}
	}
	cfg := &tls.Config{MinVersion: minTLS, GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c := certs[hello.ServerName]; c != nil {
			return c, nil
		}
		if fallback == nil {
			return nil, errors.New("no certificate")
		}
		return fallback, nil
	}}
	ps := &http.Server{Handler: handler, ErrorLog: quiet}
	ts := &http.Server{Handler: handler, ErrorLog: quiet, TLSConfig: cfg}
	go ps.Serve(pl)
	go ts.ServeTLS(tl, "", "")
	t.Cleanup(func() { ps.Close(); ts.Close() })
	w := &world{plain: pl.Addr().String(), secure: tl.Addr().String(), hosts: map[string]bool{}}
	for _, h := range hosts {
		w.hosts[h] = true
	}
	return w
}

// dial maps host:80 and host:443 of the world's hosts to the loopback servers; anything else is
// refused, so no test ever leaves the machine.
func (w *world) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if !w.hosts[host] {
		return nil, fmt.Errorf("test network: no route to %s", addr)
	}
	var d net.Dialer
	switch port {
	case "80":
		return d.DialContext(ctx, network, w.plain)
	case "443":
		return d.DialContext(ctx, network, w.secure)
	}
	return nil, fmt.Errorf("test network: nothing listens on %s", addr)
}

// options returns Options wired to the world, for domain.
func (w *world) options(domain string, p *pki) Options {
	o := Options{Domain: domain, Resolver: w.dnsAddr, Dial: w.dial, Now: func() time.Time { return testNow },
		Timeout: 3 * time.Second, Getenv: func(string) string { return "" }}
	if p != nil {
		o.RootCAs = p.pool
	}
	return o
}

// get returns the finding group/check, failing the test when it is missing.
func get(t *testing.T, r Report, group, check string) Finding {
	t.Helper()
	for _, f := range r.Findings {
		if f.Group == group && f.Check == check {
			return f
		}
	}
	var have []string
	for _, f := range r.Findings {
		if f.Group == group {
			have = append(have, f.Check)
		}
	}
	t.Fatalf("no finding %s / %s; the group has %q", group, check, have)
	return Finding{}
}

// wantStatus asserts a finding's status, printing the finding when it differs.
func wantStatus(t *testing.T, r Report, group, check string, want Status) Finding {
	t.Helper()
	f := get(t, r, group, check)
	if f.Status != want {
		t.Errorf("%s / %s: got %s, want %s\n  message: %s\n  detail: %s", group, check, f.Status, want, f.Message, strings.Join(f.Detail, "\n          "))
	}
	return f
}

// run calls Run and fails the test on an error.
func run(t *testing.T, o Options) Report {
	t.Helper()
	r, err := Run(context.Background(), o)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return r
}
