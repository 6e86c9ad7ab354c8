package clientip

import (
	"net/http/httptest"
	"testing"
)

func TestAddr(t *testing.T) {
	t.Parallel()
	r, err := New([]string{"10.0.0.0/8", "127.0.0.1", "2001:db8:ffff::/48"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		peer    string
		headers map[string]string
		want    string
	}{
		{"direct peer, no header", "203.0.113.9:5555", nil, "203.0.113.9"},
		{"untrusted peer's header is ignored", "203.0.113.9:5555", map[string]string{"X-Forwarded-For": "198.51.100.1"}, "203.0.113.9"},
		{"untrusted peer's CF header is ignored", "203.0.113.9:5555", map[string]string{"CF-Connecting-IP": "198.51.100.1"}, "203.0.113.9"},
		{"trusted proxy, XFF", "127.0.0.1:5555", map[string]string{"X-Forwarded-For": "198.51.100.1"}, "198.51.100.1"},
		{"spoofed left entries are skipped", "127.0.0.1:5555", map[string]string{"X-Forwarded-For": "1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "127.0.0.1:5555", map[string]string{"X-Forwarded-For": "1.2.3.4, 198.51.100.1, 10.1.2.3"}, "198.51.100.1"},
		{"all trusted: the farthest", "127.0.0.1:5555", map[string]string{"X-Forwarded-For": "10.9.9.9, 10.1.2.3"}, "10.9.9.9"},
		{"Forwarded header", "10.0.0.2:1", map[string]string{"Forwarded": `for=192.0.2.60;proto=https, for="[2001:db8::7]:4711"`}, "2001:db8::7"},
		{"Forwarded wins over XFF", "10.0.0.2:1", map[string]string{"Forwarded": "for=192.0.2.60", "X-Forwarded-For": "198.51.100.1"}, "192.0.2.60"},
		{"CF-Connecting-IP from trusted peer", "10.0.0.2:1", map[string]string{"CF-Connecting-IP": "198.51.100.77"}, "198.51.100.77"},
		{"garbage hop stops the walk", "127.0.0.1:5555", map[string]string{"X-Forwarded-For": "198.51.100.1, not-an-ip"}, "127.0.0.1"},
		{"ipv6 peer trusted by prefix", "[2001:db8:ffff::1]:80", map[string]string{"X-Forwarded-For": "2001:db8::9"}, "2001:db8::9"},
		{"mapped v4 peer", "[::ffff:127.0.0.1]:80", map[string]string{"X-Forwarded-For": "198.51.100.1"}, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.peer
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			if got := r.Addr(req); got != tt.want {
				t.Errorf("Addr() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNilResolverTrustsNothing(t *testing.T) {
	t.Parallel()
	var r *Resolver
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "127.0.0.1:1"
	req.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := r.Addr(req); got != "127.0.0.1" {
		t.Errorf("nil resolver: Addr() = %q, want the peer", got)
	}
}

func TestNewRefusesBadCIDRs(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"10.0.0.0/33", "example.com", ""} {
		if _, err := New([]string{bad}); err == nil {
			t.Errorf("New(%q) accepted it", bad)
		}
	}
}

func FuzzAddr(f *testing.F) {
	f.Add("127.0.0.1:1", "1.2.3.4, 5.6.7.8", `for="[::1]:80"`)
	r, _ := New([]string{"127.0.0.0/8", "::1/128"})
	f.Fuzz(func(t *testing.T, peer, xff, fwd string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = peer
		req.Header.Set("X-Forwarded-For", xff)
		req.Header.Set("Forwarded", fwd)
		_ = r.Addr(req)
	})
}
