package main

import (
	"net/http"
	"testing"
)

// TestEveryVisitorIsOneAddressBehindAProxy is issue 13's finding 3: behind a reverse proxy, 20 bogus
// /welcome lookups from one client answered 429 to every customer, because the limits counted the
// proxy's address. With trusted_proxies, serve counts the client the proxy names; without it, a
// forwarding header is ignored (nobody picks the address they are counted under).
func TestEveryVisitorIsOneAddressBehindAProxy(t *testing.T) {
	lookup := func(t *testing.T, w *world, client string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", w.url+"/welcome?session_id=cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsT", nil)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	flood := func(t *testing.T, w *world) {
		t.Helper()
		for range 20 {
			lookup(t, w, "203.0.113.66")
		}
		if code := lookup(t, w, "203.0.113.66"); code != http.StatusTooManyRequests {
			t.Fatalf("the 21st bogus lookup answered %d, want 429", code)
		}
	}
	t.Run("trusted proxy", func(t *testing.T) {
		w := newWorld(t, worldOptions{yaml: `trusted_proxies: ["127.0.0.1/32", "::1/128"]`})
		flood(t, w)
		if code := lookup(t, w, "198.51.100.7"); code != http.StatusNotFound {
			t.Errorf("an honest customer behind the same proxy answered %d, want 404 (an unknown session, not a lockout)", code)
		}
	})
	t.Run("untrusted peer", func(t *testing.T) {
		w := newWorld(t, worldOptions{})
		flood(t, w)
		if code := lookup(t, w, "198.51.100.7"); code != http.StatusTooManyRequests {
			t.Errorf("a forged X-Forwarded-For from an untrusted peer escaped the limit: %d, want 429", code)
		}
	})
}
