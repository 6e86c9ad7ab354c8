package uptime

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/config"
)

func target(name, url string) config.UptimeTarget {
	return config.UptimeTarget{Name: name, URL: url, Source: "uptime.targets[0]", Timeout: config.Duration(5 * time.Second),
		Interval: config.Duration(time.Minute), TLSDaysWarn: 14}
}

func TestProbe(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"status":"ok"}`)) })
	mux.HandleFunc("GET /down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://www.example.com/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /empty", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		name   string
		path   string
		set    func(*config.UptimeTarget)
		ok     bool
		status int
		reason string // a part of the reason
	}{
		{"up", "/ok", nil, true, 200, ""},
		{"body matches", "/ok", func(t *config.UptimeTarget) { t.BodyContains = `"ok"` }, true, 200, ""},
		{"body mismatch", "/ok", func(t *config.UptimeTarget) { t.BodyContains = "Welcome to the club" }, false, 200,
			`answered 200 OK but the body does not contain "Welcome to the club" (15 bytes read)`},
		{"wrong status", "/down", nil, false, 503, "answered 503 Service Unavailable, expected 200"},
		{"redirect not followed", "/moved", nil, false, 301,
			"answered 301 Moved Permanently, expected 200 (it redirects to https://www.example.com/; redirects are not followed"},
		{"redirect expected", "/moved", func(t *config.UptimeTarget) { t.ExpectStatus = config.StatusSet{Codes: []int{301}} }, true, 301, ""},
		{"2xx class", "/empty", func(t *config.UptimeTarget) { t.ExpectStatus = config.StatusSet{Classes: []int{2}} }, true, 204, ""},
		{"not found", "/nowhere", nil, false, 404, "answered 404 Not Found, expected 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := target("home", srv.URL+tc.path)
			if tc.set != nil {
				tc.set(&tg)
			}
			p := NewProber([]config.UptimeTarget{tg}, nil, ProberOptions{})
			r := p.Probe(context.Background(), tg)
			if r.OK != tc.ok || r.Status != tc.status {
				t.Fatalf("ok %v status %d (%s); want %v %d", r.OK, r.Status, r.Reason, tc.ok, tc.status)
			}
			if tc.ok && r.Reason != "" {
				t.Errorf("reason %q on success", r.Reason)
			}
			if !strings.Contains(r.Reason, tc.reason) {
				t.Errorf("reason %q, want it to contain %q", r.Reason, tc.reason)
			}
			if r.TLSDays != -1 {
				t.Errorf("tls days %d over plain http, want -1", r.TLSDays)
			}
		})
	}
}

// TestProbeTimeout: a page that does not answer within the target's timeout is a failure that
// says so. The server holds the request until the probe gives up (no sleep on either side).
func TestProbeTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	tg := target("slow", srv.URL+"/")
	tg.Timeout = config.Duration(50 * time.Millisecond)
	r := NewProber([]config.UptimeTarget{tg}, nil, ProberOptions{}).Probe(context.Background(), tg)
	if r.OK || r.Status != 0 {
		t.Fatalf("ok %v status %d, want a failure without status", r.OK, r.Status)
	}
	if want := "no complete answer within 50ms (timeout)"; r.Reason != want {
		t.Errorf("reason %q, want %q", r.Reason, want)
	}
}

func TestProbeConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	tg := target("gone", "http://"+addr+"/")
	r := NewProber([]config.UptimeTarget{tg}, nil, ProberOptions{}).Probe(context.Background(), tg)
	if r.OK || !strings.Contains(r.Reason, "connection refused") {
		t.Errorf("ok %v reason %q, want connection refused", r.OK, r.Reason)
	}
}

// fakeResolver answers every name with one address.
type fakeResolver struct{ addr netip.Addr }

func (f fakeResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{f.addr}, nil
}

// TestProbeRefusesPrivateAddress: a public name that resolves inside the network is refused at
// dial time, as every outbound client's is, unless egress.private_hosts lists it.
func TestProbeRefusesPrivateAddress(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	tg := target("home", "https://shop.example.net:"+strconv.Itoa(port)+"/")
	res := fakeResolver{netip.MustParseAddr("127.0.0.1")}
	r := NewProber([]config.UptimeTarget{tg}, nil, ProberOptions{Resolver: res}).Probe(context.Background(), tg)
	if r.OK || !strings.Contains(r.Reason, "egress refused: uptime may not connect to shop.example.net") || !strings.Contains(r.Reason, "a loopback address") {
		t.Errorf("ok %v reason %q, want an egress refusal", r.OK, r.Reason)
	}
	// Listed as private, it is reached (and its certificate, for example.com, does not match the name).
	r = NewProber([]config.UptimeTarget{tg}, []string{"shop.example.net"}, ProberOptions{Resolver: res, RootCAs: rootsOf(srv)}).Probe(context.Background(), tg)
	if r.OK || !strings.Contains(r.Reason, "TLS certificate") {
		t.Errorf("ok %v reason %q, want a certificate name mismatch", r.OK, r.Reason)
	}
}

func rootsOf(srv *httptest.Server) *x509.CertPool {
	return srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

// TestProbeTLSDays reads the days the served certificate has left at the prober's clock.
func TestProbeTLSDays(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) }))
	defer srv.Close()
	notAfter := srv.Certificate().NotAfter
	tg := target("secure", srv.URL+"/")
	for _, tc := range []struct {
		now  time.Time
		want int
	}{
		{notAfter.Add(-10*24*time.Hour - time.Hour), 10},
		{notAfter.Add(-30 * 24 * time.Hour), 30},
		{notAfter.Add(-time.Hour), 0},
	} {
		p := NewProber([]config.UptimeTarget{tg}, nil, ProberOptions{RootCAs: rootsOf(srv), Now: func() time.Time { return tc.now }})
		r := p.Probe(context.Background(), tg)
		if !r.OK || r.TLSDays != tc.want {
			t.Errorf("at %v: ok %v (%s) tls days %d, want %d", tc.now, r.OK, r.Reason, r.TLSDays, tc.want)
		}
	}
	// Without the test CA the certificate is refused, with a reason a person can act on.
	r := NewProber([]config.UptimeTarget{tg}, nil, ProberOptions{}).Probe(context.Background(), tg)
	if r.OK || !strings.Contains(r.Reason, "TLS certificate") {
		t.Errorf("untrusted certificate: ok %v reason %q", r.OK, r.Reason)
	}
}
