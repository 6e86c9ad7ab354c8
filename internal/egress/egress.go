// Package egress is membersync's outbound allowlist. Every client that carries a credential or a
// signed payload out of the process (Stripe, Circle, Kit, the alert notifiers, customer mail) dials
// through a Policy that names the only hosts that component may reach, and checks each connection
// at dial time against the address the name resolved to: a name that resolves to a loopback,
// private, link-local or otherwise non-public address is refused unless its host is configured as
// such. That is the rule Stripe's smokescreen egress proxy applies; here it runs in-process, so a
// DNS answer that changes between the config check and the connection (rebinding) cannot move a
// request onto the founder's internal network.
//
// HTTPS_PROXY and NO_PROXY are honoured. Through a proxy, the request's host is still checked
// against the allowlist before anything is sent, but the proxy resolves the name: the resolved-address
// rule is then the proxy's to enforce (smokescreen does exactly that).
//
// doctor does not use this package: it probes the founder's own domain by design, never carries a
// provider credential and keeps its own client (no proxy, no redirects).
package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults of a Policy's timeouts.
const (
	DefaultDialTimeout           = 10 * time.Second
	DefaultTLSHandshakeTimeout   = 10 * time.Second
	DefaultResponseHeaderTimeout = 30 * time.Second
	// maxRedirects bounds a chain of redirects between allowed hosts.
	maxRedirects = 3
)

// Host is one destination a component may connect to.
type Host struct {
	// Name is the host name or IP address as configured, without port or brackets.
	Name string
	// Port is the TCP port.
	Port string
	// Key is the configuration key (or environment variable) that names the host: the place to
	// change when a connection is refused.
	Key string
	// Private allows the host to resolve to a non-public address: it is a loopback host (the fakes, a
	// local relay) or the founder listed it under egress.private_hosts.
	Private bool
	// PlainHTTP allows http:// to the host; only a loopback host is given it (config refuses the rest).
	PlainHTTP bool
}

// String is host:port.
func (h Host) String() string { return net.JoinHostPort(h.Name, h.Port) }

// HostFromURL returns the Host that rawURL names, for config key key. private lists the host names
// the founder allows to resolve to non-public addresses; a loopback host is always allowed to.
func HostFromURL(key, rawURL string, private []string) (Host, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return Host{}, fmt.Errorf("%s: %q is not a URL", key, rawURL)
	}
	port := u.Port()
	switch {
	case port != "":
	case u.Scheme == "https":
		port = "443"
	case u.Scheme == "http":
		port = "80"
	default:
		return Host{}, fmt.Errorf("%s: %q is not an http(s) URL", key, rawURL)
	}
	h := NewHost(key, u.Hostname(), port, private)
	h.PlainHTTP = u.Scheme == "http" && Loopback(h.Name)
	return h, nil
}

// NewHost returns the Host name:port for key, Private when name is a loopback host or listed in
// private.
func NewHost(key, name, port string, private []string) Host {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	return Host{Name: name, Port: port, Key: key,
		Private: Loopback(name) || slices.ContainsFunc(private, func(p string) bool { return strings.EqualFold(strings.TrimSuffix(p, "."), name) })}
}

// Loopback reports whether host (a name or an address, without a port) is this machine: localhost,
// 127.0.0.0/8 or ::1.
func Loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// Resolver looks up the addresses of a host name; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy is the allowlist of one component. Build it once and share its Client: the Client keeps
// connections alive between calls.
type Policy struct {
	// Component names the caller in errors and logs: "stripe", "circle", "kit", "alerts", "mail".
	Component string
	// Hosts are the only destinations allowed.
	Hosts []Host
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// Proxy picks the proxy of a request; nil means http.ProxyFromEnvironment (HTTPS_PROXY, NO_PROXY).
	Proxy func(*http.Request) (*url.URL, error)
	// DialTimeout bounds one TCP connection; default DefaultDialTimeout.
	DialTimeout time.Duration
	// RootCAs replaces the system roots (tests); nil means the system's.
	RootCAs *x509.CertPool

	proxies sync.Map // host:port of every proxy the transport was told to use → struct{}
}

// RefusedError is a connection the allowlist refused. Its text names the host, the reason and the
// configuration key to change; it carries no secret.
type RefusedError struct {
	Component string
	// Target is the host:port that was asked for.
	Target string
	// Addr is the resolved address that was refused; invalid when the host itself is not allowed.
	Addr netip.Addr
	// Key is the configuration key to change.
	Key string
	// Reason says why, in a person's words.
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("egress refused: %s may not connect to %s: %s (%s)", e.Component, e.Target, e.Reason, e.Key)
}

// Refused returns the RefusedError in err's chain, or nil.
func Refused(err error) *RefusedError {
	var re *RefusedError
	if errors.As(err, &re) {
		return re
	}
	return nil
}

// lookup returns the allowed Host for host and port.
func (p *Policy) lookup(host, port string) (Host, bool) {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.Hosts {
		if h.Name == host && h.Port == port {
			return h, true
		}
	}
	return Host{}, false
}

// keys names the configuration keys of the Policy's hosts, for an error about a host not listed.
func (p *Policy) keys() string {
	if len(p.Hosts) == 0 {
		return "nothing is configured for " + p.Component
	}
	var ks []string
	for _, h := range p.Hosts {
		ks = append(ks, h.String()+" from "+h.Key)
	}
	return p.Component + " may reach only " + strings.Join(ks, ", ")
}

// notListed is the refusal of a host that no configuration key names.
func (p *Policy) notListed(target string) *RefusedError {
	return &RefusedError{Component: p.Component, Target: target, Reason: "the host is not in the allowlist", Key: p.keys()}
}

// Check refuses a request URL whose host is not allowed or whose scheme is plain http to a host
// that may not receive it. It runs before the request is sent, with or without a proxy.
func (p *Policy) Check(u *url.URL) error {
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	target := net.JoinHostPort(u.Hostname(), port)
	h, ok := p.lookup(u.Hostname(), port)
	if !ok {
		return p.notListed(target)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && h.PlainHTTP) {
		return &RefusedError{Component: p.Component, Target: target, Key: h.Key,
			Reason: "only https is allowed (plain http only to a loopback host)"}
	}
	return nil
}

// DialContext connects to addr if the allowlist allows it: the host must be listed, and every
// address it resolves to must be public unless the host is Private. It dials the checked
// addresses themselves, so nothing resolves the name twice.
func (p *Policy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: p.dialTimeout()}
	if _, ok := p.proxies.Load(addr); ok {
		return d.DialContext(ctx, network, addr) // the proxy the environment names
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	h, ok := p.lookup(host, port)
	if !ok {
		return nil, p.notListed(addr)
	}
	addrs, err := p.resolve(ctx, h.Name)
	if err != nil {
		return nil, err
	}
	for _, a := range addrs {
		if reason := special(a); reason != "" && !h.Private {
			return nil, &RefusedError{Component: p.Component, Target: addr, Addr: a, Key: "egress.private_hosts; the host comes from " + h.Key,
				Reason: fmt.Sprintf("it resolves to %s, %s; a provider is reached over the internet (list the host under egress.private_hosts only if it really lives on your network)", a, reason)}
		}
	}
	var errs []error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (p *Policy) dialTimeout() time.Duration {
	if p.DialTimeout > 0 {
		return p.DialTimeout
	}
	return DefaultDialTimeout
}

// resolve returns the addresses of host: itself when it is an address.
func (p *Policy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	r := p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%s: no address", host)
	}
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, nil
}

// proxy is the transport's Proxy: it asks p.Proxy and remembers the answer, so that DialContext lets
// the connection to the proxy through.
func (p *Policy) proxy(req *http.Request) (*url.URL, error) {
	pick := p.Proxy
	if pick == nil {
		pick = http.ProxyFromEnvironment
	}
	u, err := pick(req)
	if err != nil || u == nil {
		return u, err
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"https": "443", "http": "80", "socks5": "1080"}[u.Scheme]
	}
	p.proxies.Store(net.JoinHostPort(u.Hostname(), port), struct{}{})
	return u, nil
}

// Transport returns an http.Transport that dials only through the allowlist, with timeouts, TLS 1.2
// or newer and the environment's proxy, wrapped so that every request URL is checked before it is
// sent.
func (p *Policy) Transport() http.RoundTripper {
	t := &http.Transport{
		Proxy:                 p.proxy,
		DialContext:           p.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.RootCAs},
		TLSHandshakeTimeout:   DefaultTLSHandshakeTimeout,
		ResponseHeaderTimeout: DefaultResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     true,
	}
	return &checked{policy: p, next: t}
}

// Client returns an HTTP client on Transport with timeout, which follows a redirect only to another
// allowed host (at most three): a redirect elsewhere fails with a RefusedError, so a credential
// never follows a provider's answer off the allowlist.
func (p *Policy) Client(timeout time.Duration) *http.Client {
	return &http.Client{
		Transport: p.Transport(),
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if err := p.Check(req.URL); err != nil {
				return err
			}
			if len(via) >= maxRedirects {
				return fmt.Errorf("%s: stopped after %d redirects", p.Component, maxRedirects)
			}
			return nil
		},
	}
}

// checked refuses a request whose URL the Policy does not allow, before the transport sees it.
type checked struct {
	policy *Policy
	next   *http.Transport
}

func (c *checked) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := c.policy.Check(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return c.next.RoundTrip(req)
}

// CloseIdleConnections closes the transport's idle connections (http.Client calls it).
func (c *checked) CloseIdleConnections() { c.next.CloseIdleConnections() }

// nonPublic are the ranges that are not the public internet beyond what netip's predicates cover.
var nonPublic = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `a "this network" address`},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local-use NAT64 address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo tunnel address"},
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// special says what kind of non-public address a is, or "" when a is a public unicast address.
// IPv4 addresses embedded in NAT64 and 6to4 addresses are judged by the address they embed.
func special(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsPrivate():
		return "a private address"
	case a.IsLinkLocalUnicast():
		return "a link-local address (such as a cloud metadata service)"
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsMulticast():
		return "a multicast address"
	case !a.IsGlobalUnicast():
		return "not a unicast address"
	}
	for _, n := range nonPublic {
		if n.prefix.Contains(a) {
			return n.what
		}
	}
	b := a.As16()
	switch {
	case nat64.Contains(a):
		return special(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return special(netip.AddrFrom4([4]byte(b[2:6])))
	}
	return ""
}
