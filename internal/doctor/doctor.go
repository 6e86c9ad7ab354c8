// Package doctor owns the launch-readiness audit of a membership portal's production setup: DNS, redirects,
// TLS, security headers, email authentication, the Stripe webhook endpoint, secrets and configuration, and
// the edge in front of the site. Every check yields a Finding (pass, warn, fail or unknown) with a one-line
// explanation and the fix; a Report renders them as text, JSON or a Markdown handover checklist.
//
// Every network access goes through Options (the DNS server address, a dial function, the root CAs and the
// clock), so the whole audit runs offline against loopback servers in tests.
//
// Worker runs the audit as a scheduled job inside serve: it stores each report for the admin overview
// and opens a review item and sends an alert when checks newly fail.
package doctor

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Status is the outcome of one check.
type Status string

// The four outcomes of a check, from worst to best for sorting purposes: fail, warn, unknown, pass.
const (
	StatusPass    Status = "pass"
	StatusWarn    Status = "warn"
	StatusFail    Status = "fail"
	StatusUnknown Status = "unknown"
)

// rank orders statuses for reports: fail first, pass last.
func (s Status) rank() int {
	switch s {
	case StatusFail:
		return 0
	case StatusWarn:
		return 1
	case StatusUnknown:
		return 2
	default:
		return 3
	}
}

// The check groups, in report order.
const (
	GroupDNS       = "DNS"
	GroupRedirects = "Redirects"
	GroupTLS       = "TLS"
	GroupHeaders   = "Headers"
	GroupEmail     = "Email authentication"
	GroupWebhook   = "Webhook endpoint"
	GroupSecrets   = "Secrets and config"
	GroupEdge      = "Edge and caching"
)

// Groups lists the check groups in the order Run reports them.
func Groups() []string {
	return []string{GroupDNS, GroupRedirects, GroupTLS, GroupHeaders, GroupEmail, GroupWebhook, GroupSecrets, GroupEdge}
}

// Finding is the result of one check: what was checked, the outcome, a one-line explanation, how to fix
// it, and supporting detail lines (a lookup tree, a redirect chain, file:line locations). Detail never
// holds a secret: keys are masked to a short prefix.
type Finding struct {
	Group   string   `json:"group"`
	Check   string   `json:"check"`
	Status  Status   `json:"status"`
	Message string   `json:"message"`
	Fix     string   `json:"fix,omitempty"`
	Detail  []string `json:"detail,omitempty"`
}

// Report is the outcome of one audit.
type Report struct {
	Domain   string    `json:"domain"`
	Started  time.Time `json:"started"`
	Findings []Finding `json:"findings"`
}

// ExitCode returns 1 when any finding fails and 0 otherwise, for the CLI and scheduled jobs.
func (r Report) ExitCode() int {
	for _, f := range r.Findings {
		if f.Status == StatusFail {
			return 1
		}
	}
	return 0
}

// Counts returns how many findings have each status.
func (r Report) Counts() map[Status]int {
	c := map[Status]int{StatusFail: 0, StatusWarn: 0, StatusUnknown: 0, StatusPass: 0}
	for _, f := range r.Findings {
		c[f.Status]++
	}
	return c
}

// Options says what to audit and how to reach it. Domain is required; every other field has a default.
type Options struct {
	// Domain is the portal's apex (or the host it runs on), such as "example.com".
	Domain string
	// WWW also audits www.<Domain> (resolution, redirects, TLS).
	WWW bool
	// DKIMSelectors are the DKIM selectors the email providers sign with (DNS cannot list them).
	DKIMSelectors []string
	// WebhookURL is the public URL of the Stripe webhook endpoint; empty skips the webhook probe.
	WebhookURL string
	// PublicURL is membersync's public base URL from the config file, used to judge which Stripe key
	// belongs here; empty falls back to WebhookURL.
	PublicURL string
	// Pages are the paths audited for headers and caching, default "/" and "/admin".
	Pages []string
	// RepoDir is a source tree (a git repository or not) scanned for committed secrets; empty skips it.
	RepoDir string
	// ConfigCheck returns the configuration validation findings to include; nil skips them.
	ConfigCheck func() []Finding
	// Getenv reads the environment checked for keys; nil means os.Getenv.
	Getenv func(string) string

	// Resolver is the DNS server "host:port" queried (recursion desired); empty means the first
	// nameserver of /etc/resolv.conf.
	Resolver string
	// Dial opens every TCP connection the audit makes (HTTP, TLS probes, webhook), so tests can map
	// "example.test:443" to a loopback listener; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RootCAs verifies served certificates; nil means the system roots.
	RootCAs *x509.CertPool
	// Now is the clock used for certificate and signature validity; nil means time.Now.
	Now func() time.Time
	// Timeout bounds each network operation (one DNS exchange, one handshake, one request); default 10 s.
	Timeout time.Duration
	// GitPath is the git binary used to read history; empty means "git" from PATH.
	GitPath string
}

// auditor carries the resolved options through the checks. It is read-only once Run starts the groups.
type auditor struct {
	opts    Options
	domain  string
	dns     *resolver
	now     func() time.Time
	timeout time.Duration
	getenv  func(string) string
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	pages   []string

	// The probes below are filled before the groups run and only read afterwards.
	certs     map[string]*tlsProbe // TLS probe of each audited host
	chains    map[string]*chain    // redirect chain from each entry point
	canonical string               // scheme://host where the chains end
	pagesSeen []fetched            // the audited pages of the canonical origin
	assets    []fetched            // static assets referenced by the first page
}

// Run audits the setup described by opts and returns every finding. The error is reserved for doctor
// itself being unable to run (no domain, no resolver); a broken site is a report full of failures.
func Run(ctx context.Context, opts Options) (Report, error) {
	domain := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(opts.Domain), "."))
	if domain == "" {
		return Report{}, errors.New("doctor: no domain to audit")
	}
	if _, ok := dns.IsDomainName(domain); !ok || strings.ContainsAny(domain, "/: ") {
		return Report{}, fmt.Errorf("doctor: %q is not a domain name", opts.Domain)
	}
	a := &auditor{opts: opts, domain: domain, now: opts.Now, timeout: opts.Timeout, getenv: opts.Getenv, dial: opts.Dial, pages: opts.Pages}
	if a.now == nil {
		a.now = time.Now
	}
	if a.timeout <= 0 {
		a.timeout = 10 * time.Second
	}
	if a.getenv == nil {
		a.getenv = os.Getenv
	}
	if a.dial == nil {
		d := &net.Dialer{}
		a.dial = d.DialContext
	}
	if len(a.pages) == 0 {
		a.pages = []string{"/", "/admin"}
	}
	addr := opts.Resolver
	if addr == "" {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(cc.Servers) == 0 {
			return Report{}, fmt.Errorf("doctor: no DNS resolver given and none in /etc/resolv.conf: %v", err)
		}
		addr = net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	a.dns = &resolver{addr: addr, timeout: a.timeout}

	rep := Report{Domain: domain, Started: a.now()}

	// The certificates and pages are probed first: several groups read them (CAA compares the served
	// certificate's issuer, HSTS reads the first HTTPS response, headers and caching read the pages).
	a.certs = map[string]*tlsProbe{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, h := range a.hosts() {
		wg.Go(func() {
			p := a.probeTLS(ctx, h)
			mu.Lock()
			a.certs[h] = p
			mu.Unlock()
		})
	}
	wg.Go(func() { a.probeSite(ctx) })
	wg.Wait()

	checks := []func(context.Context) []Finding{
		a.checkDNS, a.checkRedirects, a.checkTLS, a.checkHeaders, a.checkEmail, a.checkWebhook, a.checkSecrets, a.checkEdge,
	}
	results := make([][]Finding, len(checks))
	for i, check := range checks {
		wg.Go(func() { results[i] = check(ctx) })
	}
	wg.Wait()
	for _, fs := range results {
		rep.Findings = append(rep.Findings, fs...)
	}
	return rep, nil
}

// hosts returns the hostnames audited over HTTP and TLS: the domain, and www when asked.
func (a *auditor) hosts() []string {
	if a.opts.WWW {
		return []string{a.domain, "www." + a.domain}
	}
	return []string{a.domain}
}

// finding builds a Finding; it keeps check code short.
func finding(group, check string, s Status, msg, fix string, detail ...string) Finding {
	return Finding{Group: group, Check: check, Status: s, Message: msg, Fix: fix, Detail: detail}
}

// worst returns the worst of the statuses, fail over warn over unknown over pass.
func worst(ss ...Status) Status {
	w := StatusPass
	for _, s := range ss {
		if s.rank() < w.rank() {
			w = s
		}
	}
	return w
}
