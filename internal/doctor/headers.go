package doctor

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/html"
)

// fetched is one audited page or asset of the canonical origin.
type fetched struct {
	Path string
	Page page
	Err  error
}

// probeSite follows every entry point, then fetches the audited pages and a few static assets from the
// canonical origin. The results feed the Redirects, TLS (HSTS), Headers and Edge groups.
func (a *auditor) probeSite(ctx context.Context) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	a.chains = map[string]*chain{}
	for _, start := range a.entryPoints() {
		wg.Go(func() {
			c := a.followChain(ctx, start)
			mu.Lock()
			a.chains[start] = c
			mu.Unlock()
		})
	}
	wg.Wait()
	a.canonical = a.canonicalOrigin()
	for _, p := range a.pages {
		pg, err := a.fetch(ctx, http.MethodGet, a.canonical+p, "", "")
		a.pagesSeen = append(a.pagesSeen, fetched{Path: p, Page: pg, Err: err})
	}
	for _, p := range a.assetPaths() {
		pg, err := a.fetch(ctx, http.MethodGet, a.canonical+p, "", "")
		a.assets = append(a.assets, fetched{Path: p, Page: pg, Err: err})
	}
}

// canonicalOrigin is where the https apex chain ends, else any https chain's end, else https://domain.
func (a *auditor) canonicalOrigin() string {
	starts := append([]string{"https://" + a.domain + "/"}, a.entryPoints()...)
	for _, s := range starts {
		c := a.chains[s]
		if c == nil || c.Err != nil || c.Loop {
			continue
		}
		if o := origin(c.final().URL); strings.HasPrefix(o, "https://") {
			return o
		}
	}
	return "https://" + a.domain
}

// staticExt lists the extensions treated as static assets.
var staticExt = []string{".css", ".js", ".mjs", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".ico", ".woff", ".woff2"}

// assetPaths returns up to three same-origin static assets referenced by the first audited page.
func (a *auditor) assetPaths() []string {
	if len(a.pagesSeen) == 0 || a.pagesSeen[0].Err != nil {
		return nil
	}
	base, err := url.Parse(a.canonical + a.pagesSeen[0].Path)
	if err != nil {
		return nil
	}
	var out []string
	z := html.NewTokenizer(bytes.NewReader(a.pagesSeen[0].Page.Body))
	for len(out) < 3 {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		for {
			k, v, more := z.TagAttr()
			if key := string(k); key == "src" || key == "href" {
				if u, err := base.Parse(string(v)); err == nil && origin(u.String()) == a.canonical &&
					slices.Contains(staticExt, strings.ToLower(path.Ext(u.Path))) && !slices.Contains(out, u.RequestURI()) {
					out = append(out, u.RequestURI())
				}
			}
			if !more {
				break
			}
		}
	}
	return out
}

// okPages returns the audited pages that answered (404s are noted and skipped).
func (a *auditor) okPages() (ok []fetched, skipped []string) {
	for _, f := range a.pagesSeen {
		switch {
		case f.Err != nil:
			skipped = append(skipped, f.Path+": "+f.Err.Error())
		case f.Page.Status == http.StatusNotFound:
			skipped = append(skipped, f.Path+": 404, not audited")
		default:
			ok = append(ok, f)
		}
	}
	return ok, skipped
}

// checkHeaders audits the security headers and cookies of the canonical origin's pages.
func (a *auditor) checkHeaders(context.Context) []Finding {
	pages, skipped := a.okPages()
	if len(pages) == 0 {
		return []Finding{finding(GroupHeaders, "pages", StatusUnknown, "no page of "+a.canonical+" could be fetched", "", skipped...)}
	}
	return []Finding{
		checkCSP(pages),
		checkHeaderEach(pages, "X-Content-Type-Options", func(v string) (Status, string) {
			if strings.EqualFold(strings.TrimSpace(v), "nosniff") {
				return StatusPass, ""
			}
			return StatusWarn, "missing or not nosniff"
		}, "Send `X-Content-Type-Options: nosniff` on every response."),
		checkHeaderEach(pages, "Referrer-Policy", referrerPolicy,
			"Send `Referrer-Policy: strict-origin-when-cross-origin` (or stricter) so that URLs with tokens do not leak."),
		checkFrame(pages),
		checkCookies(pages),
	}
}

// directives parses a CSP into directive name → values (the first policy wins for a repeated name).
func directives(csp string) map[string][]string {
	out := map[string][]string{}
	for _, part := range strings.Split(csp, ";") {
		f := strings.Fields(part)
		if len(f) == 0 {
			continue
		}
		name := strings.ToLower(f[0])
		if _, ok := out[name]; !ok {
			out[name] = f[1:]
		}
	}
	return out
}

// containsFold reports whether vals holds v, ignoring case.
func containsFold(vals []string, v string) bool {
	return slices.ContainsFunc(vals, func(x string) bool { return strings.EqualFold(x, v) })
}

// checkCSP fails 'unsafe-inline' scripts (unless nonces, hashes or strict-dynamic disable it), warns on
// 'unsafe-eval', inline styles, a missing policy or a missing frame-ancestors.
func checkCSP(pages []fetched) Finding {
	const check = "Content-Security-Policy"
	status := StatusPass
	var detail []string
	for _, f := range pages {
		csp := strings.Join(f.Page.Header.Values("Content-Security-Policy"), "; ")
		if csp == "" {
			s := StatusWarn
			msg := f.Path + ": no Content-Security-Policy"
			if f.Page.Header.Get("Content-Security-Policy-Report-Only") != "" {
				msg += " (report-only policy only)"
			}
			status = worst(status, s)
			detail = append(detail, msg)
			continue
		}
		d := directives(csp)
		script, ok := d["script-src"]
		if !ok {
			script = d["default-src"]
		}
		neutralized := slices.ContainsFunc(script, func(v string) bool {
			v = strings.ToLower(v)
			return strings.HasPrefix(v, "'nonce-") || strings.HasPrefix(v, "'sha256-") || strings.HasPrefix(v, "'sha384-") ||
				strings.HasPrefix(v, "'sha512-") || v == "'strict-dynamic'"
		})
		var problems []string
		s := StatusPass
		if containsFold(script, "'unsafe-inline'") && !neutralized {
			s = StatusFail
			problems = append(problems, "scripts allow 'unsafe-inline' (XSS protection off)")
		}
		if containsFold(script, "'unsafe-eval'") {
			s = worst(s, StatusWarn)
			problems = append(problems, "scripts allow 'unsafe-eval'")
		}
		style, ok := d["style-src"]
		if !ok {
			style = d["default-src"]
		}
		if containsFold(style, "'unsafe-inline'") && !containsFold(script, "'unsafe-inline'") {
			s = worst(s, StatusWarn)
			problems = append(problems, "styles allow 'unsafe-inline'")
		}
		if _, ok := d["frame-ancestors"]; !ok {
			s = worst(s, StatusWarn)
			problems = append(problems, "no frame-ancestors")
		}
		status = worst(status, s)
		if len(problems) == 0 {
			detail = append(detail, f.Path+": "+csp)
		} else {
			detail = append(detail, f.Path+": "+strings.Join(problems, "; ")+" — "+csp)
		}
	}
	fix := "Send a Content-Security-Policy without 'unsafe-inline'/'unsafe-eval' for scripts (use nonces or hashes) and with `frame-ancestors 'none'` or 'self'."
	switch status {
	case StatusFail:
		return finding(GroupHeaders, check, status, "the Content-Security-Policy lets inline scripts run", fix, detail...)
	case StatusWarn:
		return finding(GroupHeaders, check, status, "the Content-Security-Policy is missing or weak on some pages", fix, detail...)
	}
	return finding(GroupHeaders, check, StatusPass, "every page sends a strict Content-Security-Policy", "", detail...)
}

// checkHeaderEach applies judge to one header on every page.
func checkHeaderEach(pages []fetched, name string, judge func(string) (Status, string), fix string) Finding {
	status := StatusPass
	var detail []string
	for _, f := range pages {
		v := f.Page.Header.Get(name)
		s, why := judge(v)
		status = worst(status, s)
		if why != "" {
			detail = append(detail, fmt.Sprintf("%s: %s (%q)", f.Path, why, v))
		} else {
			detail = append(detail, fmt.Sprintf("%s: %s", f.Path, v))
		}
	}
	if status == StatusPass {
		return finding(GroupHeaders, name, status, name+" is set on every page", "", detail...)
	}
	return finding(GroupHeaders, name, status, name+" is missing or weak on some pages", fix, detail...)
}

// referrerPolicy judges a Referrer-Policy value (the last recognised token wins, as in browsers).
func referrerPolicy(v string) (Status, string) {
	if v == "" {
		return StatusWarn, "missing (browsers default to strict-origin-when-cross-origin)"
	}
	toks := strings.Split(v, ",")
	last := strings.ToLower(strings.TrimSpace(toks[len(toks)-1]))
	switch last {
	case "no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin", "origin", "origin-when-cross-origin", "no-referrer-when-downgrade":
		return StatusPass, ""
	case "unsafe-url":
		return StatusWarn, "unsafe-url sends full URLs to other sites"
	}
	return StatusWarn, "unrecognised value"
}

// checkFrame requires X-Frame-Options DENY/SAMEORIGIN or a CSP frame-ancestors directive.
func checkFrame(pages []fetched) Finding {
	const check = "frame protection"
	status := StatusPass
	var detail []string
	for _, f := range pages {
		xfo := strings.ToUpper(strings.TrimSpace(f.Page.Header.Get("X-Frame-Options")))
		fa, hasFA := directives(strings.Join(f.Page.Header.Values("Content-Security-Policy"), "; "))["frame-ancestors"]
		switch {
		case hasFA:
			detail = append(detail, f.Path+": frame-ancestors "+strings.Join(fa, " "))
		case xfo == "DENY" || xfo == "SAMEORIGIN":
			detail = append(detail, f.Path+": X-Frame-Options "+xfo)
		default:
			status = StatusWarn
			detail = append(detail, f.Path+": no frame protection")
		}
	}
	if status == StatusPass {
		return finding(GroupHeaders, check, status, "every page refuses to be framed by other sites", "", detail...)
	}
	return finding(GroupHeaders, check, status, "some pages can be framed by any site (clickjacking)",
		"Send `Content-Security-Policy: frame-ancestors 'none'` (or 'self') and `X-Frame-Options: DENY`.", detail...)
}

// sessionish reports whether a cookie name looks like it carries a session or credential.
func sessionish(name string) bool {
	n := strings.ToLower(name)
	for _, s := range []string{"sess", "sid", "auth", "token", "login", "remember", "jwt"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// checkCookies requires Secure on every cookie and HttpOnly on session-like ones.
func checkCookies(pages []fetched) Finding {
	const check = "cookies"
	status := StatusPass
	var detail []string
	n := 0
	for _, f := range pages {
		resp := http.Response{Header: f.Page.Header}
		for _, c := range resp.Cookies() {
			n++
			var flags []string
			if !c.Secure {
				status = StatusFail
				flags = append(flags, "no Secure")
			}
			if !c.HttpOnly {
				if sessionish(c.Name) {
					status = StatusFail
				} else {
					status = worst(status, StatusWarn)
				}
				flags = append(flags, "no HttpOnly")
			}
			if c.SameSite == 0 || c.SameSite == http.SameSiteDefaultMode {
				flags = append(flags, "no SameSite")
			}
			line := f.Path + ": " + c.Name
			if len(flags) > 0 {
				line += " (" + strings.Join(flags, ", ") + ")"
			} else {
				line += " (Secure, HttpOnly)"
			}
			detail = append(detail, line)
		}
	}
	fix := "Set cookies with `Secure; HttpOnly; SameSite=Lax` (HttpOnly may be left off only for cookies scripts must read)."
	switch {
	case n == 0:
		return finding(GroupHeaders, check, StatusPass, "no cookies are set on the audited pages", "")
	case status == StatusFail:
		return finding(GroupHeaders, check, status, "some cookies lack Secure, or a session cookie lacks HttpOnly", fix, detail...)
	case status == StatusWarn:
		return finding(GroupHeaders, check, status, "some cookies are readable by scripts (no HttpOnly)", fix, detail...)
	}
	return finding(GroupHeaders, check, StatusPass, strconv.Itoa(n)+" cookie(s), all Secure and HttpOnly", "", detail...)
}
