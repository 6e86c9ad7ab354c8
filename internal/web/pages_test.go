package web_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/web"
)

// mountFunc registers one route, standing in for the admin UI and the status pages.
type mountFunc func(mux *http.ServeMux)

func (f mountFunc) Register(mux *http.ServeMux) { f(mux) }

func TestRootAndNotFoundPages(t *testing.T) {
	srv := &web.Server{Log: slog.New(slog.DiscardHandler), Mounts: []web.Mounter{mountFunc(func(mux *http.ServeMux) {
		mux.HandleFunc("GET /status/{token}", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "this link has expired", http.StatusNotFound) // a route's own 404 stays as it is
		})
	})}}
	ts := httptest.NewServer(srv.Routes())
	defer ts.Close()

	browser := "text/html,application/xhtml+xml,*/*;q=0.8"
	tests := []struct {
		name, method, path, accept string
		code                       int
		ctype                      string
		body                       []string
	}{
		{"root page", "GET", "/", browser, 200, "text/html", []string{`href="/admin"`, "membersync is running", `name="viewport"`, `href="/static/web/site.css"`}},
		{"root page for curl", "GET", "/", "*/*", 200, "text/html", []string{`href="/admin"`}},
		{"stylesheet", "GET", "/static/web/site.css", "text/css", 200, "text/css", []string{"max-width"}},
		{"unknown page, browser", "GET", "/nope/<b>x", browser, 404, "text/html", []string{"Page not found", `name="viewport"`, "/nope/&lt;b&gt;x", `href="/"`}},
		{"unknown page, script", "GET", "/nope", "application/json", 404, "application/json", []string{`"not_found"`}},
		{"unknown API path, browser", "GET", "/api/v1/nope", browser, 404, "application/json", []string{`"not_found"`}},
		{"route's own 404 kept", "GET", "/status/abc", browser, 404, "text/plain", []string{"this link has expired"}},
		{"405 kept", "POST", "/healthz", browser, 405, "", nil},
		{"root takes only GET", "POST", "/", browser, 405, "", nil},
		{"webhook GET kept", "GET", "/webhooks/stripe", browser, 405, "application/json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, ts.URL+tt.path, nil)
			req.Header.Set("Accept", tt.accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.code, b)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %q", ct, tt.ctype)
			}
			for _, want := range tt.body {
				if !strings.Contains(string(b), want) {
					t.Errorf("body lacks %q:\n%s", want, b)
				}
			}
			if strings.HasPrefix(tt.ctype, "application/json") && !json.Valid(b) {
				t.Errorf("body is not JSON: %s", b)
			}
			// The security headers are on every answer, the pages included.
			for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"} {
				if resp.Header.Get(h) == "" {
					t.Errorf("%s missing", h)
				}
			}
			if strings.Contains(string(b), "<style") || strings.Contains(string(b), "style=") {
				t.Error("inline styles: the CSP forbids them")
			}
		})
	}
}
