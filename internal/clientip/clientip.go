// Package clientip decides which address an HTTP request came from. The TCP peer is the answer
// unless the peer is a trusted proxy (a CIDR in the config's trusted_proxies); only then are the
// proxy's headers read — Forwarded, X-Forwarded-For, CF-Connecting-IP — walking the chain from the
// nearest hop back and stopping at the first address that is not itself a trusted proxy. A header
// from an untrusted peer is ignored, so nobody can pick the address their requests are counted under.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver finds client addresses. The zero value (and nil) trusts no proxy: the peer is the client.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a resolver trusting the proxies in cidrs ("10.0.0.0/8", "127.0.0.1", "::1/128").
func New(cidrs []string) (*Resolver, error) {
	r := &Resolver{}
	for _, c := range cidrs {
		p, err := ParsePrefix(c)
		if err != nil {
			return nil, err
		}
		r.trusted = append(r.trusted, p)
	}
	return r, nil
}

// ParsePrefix reads a CIDR, or a lone address as a one-address prefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8 or 2001:db8::/32", s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IP address or a CIDR such as 10.0.0.0/8", s)
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Trusts reports whether addr is a trusted proxy.
func (r *Resolver) Trusts(addr netip.Addr) bool {
	if r == nil || !addr.IsValid() {
		return false
	}
	addr = addr.Unmap()
	for _, p := range r.trusted {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// maxHops bounds how much of a forwarding header is read: a longer chain is hostile or broken.
const maxHops = 20

// Addr returns the client address of req as a string (an IP address when one can be read, else
// RemoteAddr as it is).
func (r *Resolver) Addr(req *http.Request) string {
	peer, ok := parseHostPort(req.RemoteAddr)
	if !ok {
		return req.RemoteAddr
	}
	if !r.Trusts(peer) {
		return peer.String()
	}
	// The peer is our proxy: believe what it says, hop by hop from the nearest.
	var chain []string
	switch {
	case len(req.Header.Values("Forwarded")) > 0:
		chain = forwardedFor(req.Header.Values("Forwarded"))
	case len(req.Header.Values("X-Forwarded-For")) > 0:
		chain = splitList(req.Header.Values("X-Forwarded-For"))
	case req.Header.Get("CF-Connecting-IP") != "":
		chain = []string{req.Header.Get("CF-Connecting-IP")}
	}
	client := peer
	for i := len(chain) - 1; i >= 0 && len(chain)-i <= maxHops; i-- {
		a, ok := parseHop(chain[i])
		if !ok {
			break // garbage: stop at the last address we could trust
		}
		client = a
		if !r.Trusts(a) {
			break
		}
	}
	return client.String()
}

func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
			if len(out) > 4*maxHops {
				return out[len(out)-maxHops:]
			}
		}
	}
	return out
}

// forwardedFor reads the for= parameters of RFC 7239 Forwarded headers, in order.
func forwardedFor(values []string) []string {
	var out []string
	for _, elem := range splitList(values) {
		for _, pair := range strings.Split(elem, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
			if ok && strings.EqualFold(k, "for") {
				out = append(out, strings.Trim(v, `"`))
			}
		}
	}
	return out
}

// parseHop reads one hop of a forwarding header: "203.0.113.7", "203.0.113.7:4711",
// "[2001:db8::1]:4711" or "2001:db8::1".
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return a.Unmap(), true
	}
	return parseHostPort(s)
}

func parseHostPort(s string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(s)
	if err != nil {
		host = s
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}
