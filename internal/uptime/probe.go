package uptime

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/egress"
	"github.com/membersync/membersync/internal/store"
)

// maxBody bounds how much of a page a probe reads (body_contains looks only there).
const maxBody = 1 << 20

// userAgent names the probes in the founder's access logs.
const userAgent = "membersync-uptime/1 (+https://github.com/membersync/membersync)"

// Prober makes the probes. It follows doctor's rules for reaching the founder's site — no proxy,
// no redirects followed, a fresh connection each time, TLS verified — and the egress allowlist's:
// it connects only to the configured targets' hosts, and a name that resolves to a private,
// loopback or link-local address is refused unless the host is loopback or listed under
// egress.private_hosts (checked at dial time, so a DNS answer cannot move a probe inside).
type Prober struct {
	client *http.Client
	now    func() time.Time
}

// ProberOptions tune NewProber; the zero value is production.
type ProberOptions struct {
	// RootCAs replaces the system roots (tests).
	RootCAs *x509.CertPool
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver egress.Resolver
	// Now is the clock used for TLS days left; nil means time.Now.
	Now func() time.Time
}

// NewProber returns a Prober allowed to reach the targets' hosts; private lists the hosts allowed
// to resolve to non-public addresses (egress.private_hosts).
func NewProber(targets []config.UptimeTarget, private []string, opts ProberOptions) *Prober {
	pol := &egress.Policy{Component: "uptime", RootCAs: opts.RootCAs, Resolver: opts.Resolver,
		Proxy: func(*http.Request) (*url.URL, error) { return nil, nil }}
	for _, t := range targets {
		if h, err := egress.HostFromURL(t.Source+".url", t.URL, private); err == nil {
			pol.Hosts = append(pol.Hosts, h)
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Prober{now: now, client: &http.Client{
		Transport:     pol.Transport(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// Probe GETs the target once, bounded by its timeout, and judges the answer: the status must be
// one it expects and the body must contain its text. A failed probe says why in Reason. Latency is
// measured with the real clock (reported, never asserted); At and the TLS days left use the
// Prober's clock.
func (p *Prober) Probe(ctx context.Context, t config.UptimeTarget) store.UptimeResult {
	now := p.now()
	res := store.UptimeResult{Target: t.Name, At: now, TLSDays: -1}
	timeout := t.Timeout.D()
	if timeout <= 0 {
		timeout = config.DefaultUptimeTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.URL, nil)
	if err != nil {
		res.Reason = "the URL cannot be requested: " + err.Error()
		return res
	}
	req.Close = true // a fresh connection each time: DNS, TCP and TLS are part of what is probed
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Cache-Control", "no-cache")
	start := time.Now()
	resp, err := p.client.Do(req)
	if err != nil {
		res.Latency = time.Since(start)
		res.Reason = describe(err, timeout)
		return res
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	res.Latency = time.Since(start)
	res.Status = resp.StatusCode
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		res.TLSDays = daysLeft(resp.TLS.PeerCertificates[0], now)
	}
	switch {
	case rerr != nil:
		res.Reason = fmt.Sprintf("answered %s but the body could not be read: %s", statusText(resp.StatusCode), describe(rerr, timeout))
	case !expect(t).Match(resp.StatusCode):
		res.Reason = fmt.Sprintf("answered %s, expected %s", statusText(resp.StatusCode), expect(t))
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			res.Reason += fmt.Sprintf(" (it redirects to %s; redirects are not followed: probe that address, or add %d to expect_status)", clip(loc, 200), resp.StatusCode)
		}
	case t.BodyContains != "" && !bytes.Contains(body, []byte(t.BodyContains)):
		res.Reason = fmt.Sprintf("answered %s but the body does not contain %q (%d bytes read)", statusText(resp.StatusCode), clip(t.BodyContains, 80), len(body))
	default:
		res.OK = true
	}
	return res
}

func expect(t config.UptimeTarget) config.StatusSet {
	if t.ExpectStatus.Empty() {
		return config.StatusSet{Codes: []int{http.StatusOK}}
	}
	return t.ExpectStatus
}

// daysLeft returns the whole days from now until the certificate expires (negative once expired).
func daysLeft(c *x509.Certificate, now time.Time) int {
	d := c.NotAfter.Sub(now)
	if d < 0 {
		return -int((-d + 24*time.Hour - 1) / (24 * time.Hour))
	}
	return int(d / (24 * time.Hour))
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return fmt.Sprint(code)
}

// describe words a failed request for the founder: what went wrong, without Go's wrapping.
func describe(err error, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		dnsErr   *net.DNSError
		certErr  x509.CertificateInvalidError
		hostErr  x509.HostnameError
		authErr  x509.UnknownAuthorityError
		verifErr *tls.CertificateVerificationError
	)
	switch {
	case egress.Refused(err) != nil:
		return egress.Refused(err).Error()
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return fmt.Sprintf("no complete answer within %s (timeout)", timeout)
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return fmt.Sprintf("DNS: %s does not resolve (no such host)", dnsErr.Name)
		}
		return "DNS: " + dnsErr.Error()
	case errors.As(err, &certErr):
		if certErr.Reason == x509.Expired {
			return "the TLS certificate has expired or is not yet valid: " + certErr.Error()
		}
		return "the TLS certificate is not valid: " + certErr.Error()
	case errors.As(err, &hostErr):
		return "the TLS certificate is for another name: " + hostErr.Error()
	case errors.As(err, &authErr):
		return "the TLS certificate is not signed by a known authority: " + authErr.Error()
	case errors.As(err, &verifErr):
		return "the TLS certificate could not be verified: " + verifErr.Err.Error()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused: nothing listens on that port"
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection was closed before a complete answer: " + err.Error()
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
