package doctor

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// maxHops bounds a redirect chain; a longer one is reported as a loop.
const maxHops = 10

// hop is one response in a redirect chain.
type hop struct {
	URL      string
	Status   int
	Location string // absolute, empty when the response is not a redirect
	Header   http.Header
}

// chain is the redirect chain from one entry point (http:// or https:// on the apex or www).
type chain struct {
	Start string
	Hops  []hop
	Err   error // the request that failed, if any
	Loop  bool
}

// final returns the last response of the chain, or nil when there is none.
func (c *chain) final() *hop {
	if len(c.Hops) == 0 {
		return nil
	}
	return &c.Hops[len(c.Hops)-1]
}

// followChain requests start and follows redirects by hand, recording every hop.
func (a *auditor) followChain(ctx context.Context, start string) *chain {
	c := &chain{Start: start}
	seen := map[string]bool{}
	cur := start
	for {
		if seen[cur] || len(c.Hops) >= maxHops {
			c.Loop = true
			return c
		}
		seen[cur] = true
		p, err := a.fetch(ctx, http.MethodGet, cur, "", "")
		if err != nil {
			c.Err = err
			return c
		}
		h := hop{URL: cur, Status: p.Status, Header: p.Header}
		loc := p.Header.Get("Location")
		if p.Status >= 300 && p.Status < 400 && loc != "" {
			base, _ := url.Parse(cur)
			next, err := base.Parse(loc)
			if err != nil {
				c.Hops = append(c.Hops, h)
				c.Err = fmt.Errorf("bad Location %q: %w", loc, err)
				return c
			}
			h.Location = next.String()
			c.Hops = append(c.Hops, h)
			cur = h.Location
			continue
		}
		c.Hops = append(c.Hops, h)
		return c
	}
}

// origin returns scheme://host of a URL string.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return u
	}
	return p.Scheme + "://" + p.Host
}

// entryPoints returns the four (or two) URLs a visitor may type.
func (a *auditor) entryPoints() []string {
	var out []string
	for _, h := range a.hosts() {
		out = append(out, "http://"+h+"/", "https://"+h+"/")
	}
	return out
}

// checkRedirects judges each chain and then whether they agree on one canonical origin.
func (a *auditor) checkRedirects(context.Context) []Finding {
	var out []Finding
	finals := map[string]bool{}
	for _, start := range a.entryPoints() {
		c := a.chains[start]
		f := judgeChain(c)
		out = append(out, f)
		if last := c.final(); c.Err == nil && !c.Loop && last != nil {
			finals[origin(last.URL)] = true
		}
	}
	const check = "canonical host"
	names := make([]string, 0, len(finals))
	for o := range finals {
		names = append(names, o)
	}
	slices.Sort(names)
	switch {
	case len(names) == 0:
		out = append(out, finding(GroupRedirects, check, StatusUnknown, "no entry point could be followed to a page", ""))
	case len(names) > 1:
		out = append(out, finding(GroupRedirects, check, StatusFail, "the entry points end on different hosts: "+strings.Join(names, ", "),
			"Pick one canonical origin (https://"+a.domain+" or https://www."+a.domain+") and redirect every other entry point to it.", names...))
	case !strings.HasPrefix(names[0], "https://"):
		out = append(out, finding(GroupRedirects, check, StatusFail, "the canonical origin "+names[0]+" is not HTTPS",
			"Redirect every entry point to https://."))
	default:
		out = append(out, finding(GroupRedirects, check, StatusPass, "every entry point ends on "+names[0], ""))
	}
	return out
}

// judgeChain applies the redirect rules to one chain.
func judgeChain(c *chain) Finding {
	check := c.Start
	var detail []string
	for _, h := range c.Hops {
		if h.Location != "" {
			detail = append(detail, fmt.Sprintf("%d %s → %s", h.Status, h.URL, h.Location))
		} else {
			detail = append(detail, fmt.Sprintf("%d %s", h.Status, h.URL))
		}
	}
	if c.Err != nil {
		detail = append(detail, "error: "+c.Err.Error())
		if len(c.Hops) == 0 {
			return finding(GroupRedirects, check, StatusFail, c.Start+" cannot be fetched: "+c.Err.Error(),
				"Make "+c.Start+" answer (DNS, listener, certificate), redirecting to the canonical https origin.", detail...)
		}
		return finding(GroupRedirects, check, StatusFail, "the chain from "+c.Start+" breaks: "+c.Err.Error(),
			"Fix the redirect target so that it can be fetched.", detail...)
	}
	if c.Loop {
		return finding(GroupRedirects, check, StatusFail, c.Start+" redirects in a loop (or more than 10 times)",
			"Fix the redirect rules so that the chain ends on a page (check proxy and app both force https/www).", detail...)
	}
	status := StatusPass
	var problems []string
	start, _ := url.Parse(c.Start)
	first := c.Hops[0]
	if start.Scheme == "http" {
		next, _ := url.Parse(first.Location)
		switch {
		case first.Location == "":
			status = StatusFail
			problems = append(problems, "serves the page over plain HTTP instead of redirecting to HTTPS")
		case next.Scheme != "https":
			// A downgrade or an http→http hop; the https rule below catches a later upgrade.
			status = worst(status, StatusWarn)
			problems = append(problems, "first hop does not upgrade to HTTPS")
		case !strings.EqualFold(next.Hostname(), start.Hostname()):
			status = worst(status, StatusWarn)
			problems = append(problems, "first hop changes host ("+next.Host+") before upgrading: HSTS cannot be set on "+start.Host)
		}
	}
	for _, h := range c.Hops {
		if h.Location == "" {
			continue
		}
		from, _ := url.Parse(h.URL)
		to, _ := url.Parse(h.Location)
		if from.Scheme == "https" && to.Scheme == "http" {
			status = StatusFail
			problems = append(problems, "downgrades from HTTPS to HTTP at "+h.URL)
		}
	}
	last := c.final()
	if last.Location == "" && strings.HasPrefix(last.URL, "http://") && start.Scheme == "https" {
		status = StatusFail
		problems = append(problems, "ends on plain HTTP")
	}
	switch {
	case last.Status >= 500:
		status = StatusFail
		problems = append(problems, fmt.Sprintf("ends with HTTP %d", last.Status))
	case last.Status >= 400:
		status = worst(status, StatusWarn)
		problems = append(problems, fmt.Sprintf("ends with HTTP %d", last.Status))
	}
	if n := len(c.Hops) - 1; n > 2 {
		status = worst(status, StatusWarn)
		problems = append(problems, fmt.Sprintf("%d redirects (more than 2 slows every first visit)", n))
	}
	if len(problems) == 0 {
		n := len(c.Hops) - 1
		return finding(GroupRedirects, check, StatusPass, fmt.Sprintf("%s reaches %s in %d redirect(s)", c.Start, last.URL, n), "", detail...)
	}
	return finding(GroupRedirects, check, status, c.Start+": "+strings.Join(problems, "; "),
		"Redirect http:// to https:// on the same host first, then to the canonical host, never back to http://, in at most two hops.", detail...)
}
