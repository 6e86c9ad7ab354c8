package egress

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fixedResolver answers every lookup from its map and counts the lookups.
type fixedResolver struct {
	addrs   map[string][]netip.Addr
	lookups atomic.Int32
}

func (r *fixedResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.lookups.Add(1)
	a, ok := r.addrs[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return a, nil
}

func addrs(s ...string) []netip.Addr {
	var out []netip.Addr
	for _, a := range s {
		out = append(out, netip.MustParseAddr(a))
	}
	return out
}

// tlsServer is an https test server (its certificate covers example.com and 127.0.0.1) counting its
// requests.
func tlsServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func port(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	return u.Port()
}

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

func refusal(t *testing.T, err error) *RefusedError {
	t.Helper()
	re := Refused(err)
	if re == nil {
		t.Fatalf("want a RefusedError, got %v", err)
	}
	return re
}

// A provider host whose name resolves to a loopback address is refused at dial time, with an error
// naming the host, the address and the key to change; listed under private_hosts it is reached.
func TestDialChecksTheResolvedAddress(t *testing.T) {
	srv, hits := tlsServer(t)
	res := &fixedResolver{addrs: map[string][]netip.Addr{"example.com": addrs("127.0.0.1")}}
	target := "https://example.com:" + port(t, srv) + "/v1/customers"
	pool := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	p := &Policy{Component: "stripe", Resolver: res, Proxy: noProxy, RootCAs: pool,
		Hosts: []Host{NewHost("stripe.base_url", "example.com", port(t, srv), nil)}}
	_, err := p.Client(5 * time.Second).Get(target)
	re := refusal(t, err)
	if re.Addr != netip.MustParseAddr("127.0.0.1") || hits.Load() != 0 {
		t.Fatalf("refused %v, server hits %d", re.Addr, hits.Load())
	}
	for _, want := range []string{"stripe may not connect to example.com:", "127.0.0.1", "loopback", "egress.private_hosts", "stripe.base_url"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	allowed := &Policy{Component: "stripe", Resolver: res, Proxy: noProxy, RootCAs: pool,
		Hosts: []Host{NewHost("stripe.base_url", "example.com", port(t, srv), []string{"EXAMPLE.com."})}}
	resp, err := allowed.Client(5 * time.Second).Get(target)
	if err != nil {
		t.Fatalf("a host listed in private_hosts is refused: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatalf("server hits %d, want 1", hits.Load())
	}
}

// One non-public answer among public ones is enough to refuse: the dialer would otherwise pick
// whichever a rebinding DNS server puts first.
func TestDialRefusesAnyNonPublicAnswer(t *testing.T) {
	res := &fixedResolver{addrs: map[string][]netip.Addr{"api.kit.com": addrs("93.184.216.34", "169.254.169.254")}}
	p := &Policy{Component: "kit", Resolver: res, Hosts: []Host{NewHost("kit.base_url", "api.kit.com", "443", nil)}}
	_, err := p.DialContext(context.Background(), "tcp", "api.kit.com:443")
	if re := refusal(t, err); re.Addr != netip.MustParseAddr("169.254.169.254") || !strings.Contains(err.Error(), "link-local") {
		t.Fatalf("got %v", err)
	}
}

// A host no key names is refused before any lookup or connection, and the error lists what the
// component may reach.
func TestUnlistedHostIsRefusedBeforeResolving(t *testing.T) {
	res := &fixedResolver{addrs: map[string][]netip.Addr{}}
	p := &Policy{Component: "circle", Resolver: res, Hosts: []Host{NewHost("circle.base_url", "app.circle.so", "443", nil)}}
	for _, addr := range []string{"evil.example:443", "app.circle.so:8443", "169.254.169.254:80"} {
		_, err := p.DialContext(context.Background(), "tcp", addr)
		re := refusal(t, err)
		if re.Addr.IsValid() || !strings.Contains(err.Error(), "app.circle.so:443 from circle.base_url") {
			t.Errorf("%s: %v", addr, err)
		}
	}
	if res.lookups.Load() != 0 {
		t.Fatalf("%d lookups for refused hosts", res.lookups.Load())
	}
}

// A redirect from an allowed host to one that is not listed is not followed.
func TestRedirectToUnlistedHostIsNotFollowed(t *testing.T) {
	var evilHits atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { evilHits.Add(1) }))
	defer evil.Close()
	prov := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer prov.Close()
	h, err := HostFromURL("kit.base_url", prov.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := &Policy{Component: "kit", Proxy: noProxy, Hosts: []Host{h}}
	req, _ := http.NewRequest(http.MethodGet, prov.URL+"/v4/account", nil)
	req.Header.Set("X-Kit-Api-Key", "kit_secret")
	_, err = p.Client(5 * time.Second).Do(req)
	refusal(t, err)
	if evilHits.Load() != 0 {
		t.Fatal("the redirect was followed to an unlisted host")
	}
}

// Plain http goes only to a loopback host; https to the same listed host is fine.
func TestPlainHTTPOnlyToLoopback(t *testing.T) {
	p := &Policy{Component: "alerts", Hosts: []Host{NewHost("alerts.webhook.url", "hooks.example.com", "80", nil)}}
	err := p.Check(&url.URL{Scheme: "http", Host: "hooks.example.com"})
	if re := refusal(t, err); !strings.Contains(re.Reason, "only https") {
		t.Fatalf("got %v", err)
	}
	h, _ := HostFromURL("circle.base_url", "http://127.0.0.1:9000", nil)
	if !h.PlainHTTP || !h.Private {
		t.Fatalf("loopback host %+v", h)
	}
	p = &Policy{Component: "circle", Hosts: []Host{h}}
	if err := p.Check(&url.URL{Scheme: "http", Host: "127.0.0.1:9000"}); err != nil {
		t.Fatal(err)
	}
}

// HTTPS_PROXY is honoured: an allowed request goes through the proxy (CONNECT), an unlisted one is
// refused before the proxy hears of it.
func TestProxyIsHonoured(t *testing.T) {
	srv, hits := tlsServer(t)
	var connects atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		connects.Add(1)
		up, err := net.Dial("tcp", srv.Listener.Addr().String()) // the proxy resolves: everything goes to srv
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			up.Close()
			return
		}
		go func() { io.Copy(up, conn); up.Close() }()
		io.Copy(conn, up)
		conn.Close()
	}))
	defer proxy.Close()
	proxyURL, _ := url.Parse(proxy.URL)
	p := &Policy{Component: "stripe", RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs,
		Proxy:    http.ProxyURL(proxyURL),
		Resolver: &fixedResolver{}, // nothing resolves locally: the proxy does
		Hosts:    []Host{NewHost("stripe.base_url", "example.com", "443", nil)}}
	c := p.Client(5 * time.Second)
	resp, err := c.Get("https://example.com/v1/balance")
	if err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	resp.Body.Close()
	if connects.Load() != 1 || hits.Load() != 1 {
		t.Fatalf("connects %d, hits %d", connects.Load(), hits.Load())
	}
	_, err = c.Get("https://evil.example/")
	refusal(t, err)
	if connects.Load() != 1 {
		t.Fatal("an unlisted host reached the proxy")
	}
}

func TestSpecialAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"93.184.216.34", true},
		{"2606:2800:220:1:248:1893:25c8:1946", true},
		{"127.0.0.1", false},
		{"127.8.9.10", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"fd00::1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"100.64.0.1", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"198.18.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false},      // NAT64 of 10.0.0.1
		{"64:ff9b::5db8:d822", true},   // NAT64 of 93.184.216.34
		{"2002:a00:1::", false},        // 6to4 of 10.0.0.1
		{"2002:5db8:d822::", true},     // 6to4 of 93.184.216.34
		{"2001:0:4136:e378::1", false}, // Teredo
	} {
		got := special(netip.MustParseAddr(tc.addr))
		if (got == "") != tc.public {
			t.Errorf("%s: special = %q, want public %v", tc.addr, got, tc.public)
		}
	}
}

func TestHostFromURL(t *testing.T) {
	for _, tc := range []struct {
		url, want string
		private   bool
		plain     bool
	}{
		{"https://api.stripe.com", "api.stripe.com:443", false, false},
		{"https://API.Kit.com.:8443/v4", "api.kit.com:8443", false, false},
		{"http://localhost:9000", "localhost:9000", true, true},
		{"http://[::1]:9000", "[::1]:9000", true, true},
		{"http://hooks.example.com", "hooks.example.com:80", false, false},
	} {
		h, err := HostFromURL("k", tc.url, nil)
		if err != nil || h.String() != tc.want || h.Private != tc.private || h.PlainHTTP != tc.plain {
			t.Errorf("%s: %+v %v", tc.url, h, err)
		}
	}
	if _, err := HostFromURL("k", "ftp://x", nil); err == nil {
		t.Error("ftp accepted")
	}
}
