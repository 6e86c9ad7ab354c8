package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"

	"github.com/membersync/membersync/internal/web/respond"
)

// The root page and the not-found page are what a person who types the server's address, or follows
// a wrong link, sees: small, styled, readable on a phone, and behind the same security headers.

//go:embed static/site.css
var staticFiles embed.FS

// siteCSS is the path of the pages' stylesheet (the CSP allows only same-origin styles).
const siteCSS = "/static/web/site.css"

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}} · membersync</title>
<link rel="stylesheet" href="` + siteCSS + `">
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .NotFound}}<p>There is no page at <span class="mono">{{.Path}}</span>.</p>
<p>If a link brought you here, it may be mistyped or cut short: copy the whole link from the email.
Members: your status page is at the link membersync sent you.</p>
<p><a href="/">Back to the start</a></p>
{{else}}<p>This server keeps a community's Circle access and Kit email tags in step with Stripe billing.</p>
<ul>
<li><a href="/admin">Admin</a>: people, syncs, alerts and settings (operators sign in).</li>
<li>Members: your status page is at the link in your welcome or status email.</li>
</ul>
<p class="muted">Health: <a href="/healthz">/healthz</a> · readiness: <a href="/readyz">/readyz</a></p>
{{end}}</main>
</body>
</html>
`))

type pageData struct {
	Title    string
	NotFound bool
	Path     string
}

func renderPage(w http.ResponseWriter, code int, d pageData) {
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, d); err != nil {
		http.Error(w, http.StatusText(code), code)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(b.Bytes())
}

// rootPage answers GET / with the links a visitor needs.
func rootPage(w http.ResponseWriter, r *http.Request) {
	renderPage(w, http.StatusOK, pageData{Title: "membersync is running"})
}

// staticHandler serves the pages' stylesheet.
func staticHandler() http.Handler {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err)
	}
	return http.StripPrefix("/static/web/", http.FileServerFS(sub))
}

// notFoundPages replaces the mux's bare "404 page not found" for paths no route knows with a styled
// page for browsers and a JSON error for scripts. Routes that answer 404 themselves (an unknown
// person in the admin API, a bad status token) keep their own answer, and so does a 405.
func notFoundPages(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(&notFoundWriter{ResponseWriter: w, r: r}, r)
	})
}

// notFoundWriter rewrites a 404 written by the mux's NotFoundHandler; every other status passes.
type notFoundWriter struct {
	http.ResponseWriter
	r *http.Request
	// swallow discards the mux's own body once the page was written.
	swallow bool
}

func (n *notFoundWriter) WriteHeader(code int) {
	if code != http.StatusNotFound || n.swallow {
		n.ResponseWriter.WriteHeader(code)
		return
	}
	n.swallow = true
	n.Header().Del("Content-Length")
	if wantsHTML(n.r) {
		renderPage(n.ResponseWriter, http.StatusNotFound, pageData{Title: "Page not found", NotFound: true, Path: n.r.URL.Path})
		return
	}
	respond.NewError(http.StatusNotFound, "not_found", "no such path: "+n.r.URL.Path).Write(n.ResponseWriter)
}

func (n *notFoundWriter) Write(p []byte) (int, error) {
	if n.swallow {
		return len(p), nil
	}
	return n.ResponseWriter.Write(p)
}

// wantsHTML tells a browser (Accept: text/html) from a script; API and webhook paths always get JSON.
func wantsHTML(r *http.Request) bool {
	if strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/webhooks/") {
		return false
	}
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}
