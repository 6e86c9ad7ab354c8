package doctor

import (
	"context"
	"net/http"
	"strconv"
	"strings"
)

// edgeSignature recognises a CDN or proxy from one response header.
type edgeSignature struct {
	header   string
	contains string // lowercase substring of the value; empty means the header's presence suffices
	name     string
}

// edgeSignatures are tried in order; the first match names the edge.
var edgeSignatures = []edgeSignature{
	{"CF-Ray", "", "Cloudflare"},
	{"Server", "cloudflare", "Cloudflare"},
	{"X-Amz-Cf-Id", "", "Amazon CloudFront"},
	{"Via", "cloudfront", "Amazon CloudFront"},
	{"X-Vercel-Id", "", "Vercel"},
	{"X-Nf-Request-Id", "", "Netlify"},
	{"Server", "netlify", "Netlify"},
	{"X-Fastly-Request-Id", "", "Fastly"},
	{"X-Served-By", "cache-", "Fastly"},
	{"Server", "akamaighost", "Akamai"},
	{"X-Akamai-Transformed", "", "Akamai"},
	{"Server", "bunnycdn", "BunnyCDN"},
	{"X-Azure-Ref", "", "Azure Front Door"},
	{"Fly-Request-Id", "", "Fly.io"},
	{"Server", "fly/", "Fly.io"},
	{"Rndr-Id", "", "Render"},
	{"Via", "vegur", "Heroku"},
	{"Server", "google frontend", "Google Cloud"},
	{"Via", "google", "Google Cloud load balancer"},
	{"X-Github-Request-Id", "", "GitHub Pages"},
	{"X-Cache", "", "a caching proxy"},
	{"Via", "", "a proxy"},
}

// identifyEdge names the CDN or proxy in front of a response, or "".
func identifyEdge(h http.Header) (name, evidence string) {
	for _, s := range edgeSignatures {
		v := h.Get(s.header)
		if v == "" {
			continue
		}
		if s.contains == "" || strings.Contains(strings.ToLower(v), s.contains) {
			return s.name, s.header + ": " + v
		}
	}
	return "", ""
}

// checkEdge names the edge in front of the site and audits caching: authenticated pages must never be
// publicly cacheable, static assets should be.
func (a *auditor) checkEdge(context.Context) []Finding {
	pages, skipped := a.okPages()
	if len(pages) == 0 {
		return []Finding{finding(GroupEdge, "CDN or proxy", StatusUnknown, "no page of "+a.canonical+" could be fetched", "", skipped...)}
	}
	home := pages[0].Page.Header
	var out []Finding
	var evidence []string
	for _, k := range []string{"Server", "Via", "X-Cache", "X-Served-By", "CF-Ray"} {
		if v := home.Get(k); v != "" {
			evidence = append(evidence, k+": "+v)
		}
	}
	if name, ev := identifyEdge(home); name != "" {
		out = append(out, finding(GroupEdge, "CDN or proxy", StatusPass, a.canonical+" is served through "+name+" ("+ev+")", "", evidence...))
	} else {
		out = append(out, finding(GroupEdge, "CDN or proxy", StatusPass, "no CDN or proxy recognised in front of "+a.canonical+" (served directly)", "", evidence...))
	}
	out = append(out, checkPrivateCaching(pages), a.checkAssetCaching())
	return out
}

// cacheDirectives parses Cache-Control into lowercase directive → value.
func cacheDirectives(v string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		if k != "" {
			out[strings.ToLower(k)] = strings.Trim(val, `"`)
		}
	}
	return out
}

// privatePath reports whether a path is an authenticated area by its name.
func privatePath(p string) bool {
	p = strings.ToLower(p)
	for _, s := range []string{"/admin", "/account", "/dashboard", "/settings", "/billing", "/members", "/status"} {
		if p == s || strings.HasPrefix(p, s+"/") || strings.HasPrefix(p, s+"?") {
			return true
		}
	}
	return false
}

// checkPrivateCaching fails a page that sets a cookie or lies under an admin path and is marked public.
func checkPrivateCaching(pages []fetched) Finding {
	const check = "caching of private pages"
	status := StatusPass
	var detail []string
	n := 0
	for _, f := range pages {
		setsCookie := len(f.Page.Header.Values("Set-Cookie")) > 0
		if !setsCookie && !privatePath(f.Path) {
			continue
		}
		n++
		cc := f.Page.Header.Get("Cache-Control")
		d := cacheDirectives(cc)
		_, public := d["public"]
		_, private := d["private"]
		_, nostore := d["no-store"]
		sMax, _ := strconv.Atoi(d["s-maxage"])
		why := "sets a cookie"
		if !setsCookie {
			why = "private path"
		}
		switch {
		case public || (sMax > 0 && !private):
			status = StatusFail
			detail = append(detail, f.Path+" ("+why+"): Cache-Control: "+cc+" — a shared cache may serve it to someone else")
		case cc == "":
			status = worst(status, StatusWarn)
			detail = append(detail, f.Path+" ("+why+"): no Cache-Control")
		case private || nostore:
			detail = append(detail, f.Path+" ("+why+"): Cache-Control: "+cc)
		default:
			detail = append(detail, f.Path+" ("+why+"): Cache-Control: "+cc)
		}
	}
	fix := "Send `Cache-Control: private, no-store` on authenticated pages and on any response that sets a session cookie."
	switch {
	case n == 0:
		return finding(GroupEdge, check, StatusPass, "no audited page sets a cookie or is under a private path", "")
	case status == StatusFail:
		return finding(GroupEdge, check, status, "a private page is publicly cacheable: a CDN can serve one member's page to others", fix, detail...)
	case status == StatusWarn:
		return finding(GroupEdge, check, status, "a private page has no Cache-Control", fix, detail...)
	}
	return finding(GroupEdge, check, StatusPass, "private pages are not publicly cacheable", "", detail...)
}

// checkAssetCaching wants a long max-age on static assets.
func (a *auditor) checkAssetCaching() Finding {
	const check = "caching of static assets"
	if len(a.assets) == 0 {
		return finding(GroupEdge, check, StatusUnknown, "no same-origin static asset was found on the first page", "")
	}
	status := StatusPass
	var detail []string
	for _, f := range a.assets {
		if f.Err != nil {
			status = worst(status, StatusWarn)
			detail = append(detail, f.Path+": "+f.Err.Error())
			continue
		}
		cc := f.Page.Header.Get("Cache-Control")
		d := cacheDirectives(cc)
		age, _ := strconv.Atoi(d["max-age"])
		_, immutable := d["immutable"]
		switch {
		case f.Page.Status != http.StatusOK:
			status = worst(status, StatusWarn)
			detail = append(detail, f.Path+": HTTP "+strconv.Itoa(f.Page.Status))
		case len(f.Page.Header.Values("Set-Cookie")) > 0:
			status = worst(status, StatusWarn)
			detail = append(detail, f.Path+": sets a cookie (CDNs will not cache it)")
		case age >= 86400 || immutable:
			detail = append(detail, f.Path+": Cache-Control: "+cc)
		default:
			status = worst(status, StatusWarn)
			detail = append(detail, f.Path+": Cache-Control: "+cc+" (under a day)")
		}
	}
	if status == StatusPass {
		return finding(GroupEdge, check, status, "static assets are cacheable for at least a day", "", detail...)
	}
	return finding(GroupEdge, check, status, "some static assets are not cached long",
		"Serve fingerprinted assets with `Cache-Control: public, max-age=31536000, immutable`.", detail...)
}
