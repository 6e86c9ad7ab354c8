// Package web owns membersync's HTTP surface: the Stripe webhook, health and readiness, and (as they
// are built) the admin UI and API, the customer status pages and metrics. routes.go is the whole map.
package web

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"time"

	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/lograte"
	"github.com/membersync/membersync/internal/metrics"
	"github.com/membersync/membersync/internal/web/respond"
)

// Server holds what the handlers need.
type Server struct {
	Inbox    *inbox.Inbox
	Verifier *inbox.Verifier
	// Livemode is the configured key's mode; events of the other mode are refused.
	Livemode bool
	Log      *slog.Logger
	// Ready answers /readyz; its errors go to the log and Ready.LastNotReady, never to the
	// anonymous caller. nil is always ready.
	Ready *Readiness
	Now   func() time.Time
	// BodyBudget bounds the bytes of webhook bodies in flight across all requests (a body of unknown
	// length counts as inbox.MaxBody); a delivery over it is answered 503 with Retry-After, unread.
	// Zero means DefaultBodyBudget; less than inbox.MaxBody counts as inbox.MaxBody.
	BodyBudget int64
	// Refusals counts refused deliveries for the admin overview (never an alert: a stranger can
	// forge them); nil counts nothing.
	Refusals interface{ Record(code string) }
	// Metrics counts deliveries; nil records nothing.
	Metrics *metrics.Metrics
	// MetricsToken, when set, serves /metrics on this server to requests bearing it.
	MetricsToken string
	// Mounts add their routes to the mux: the admin UI and API, the customer status pages.
	Mounts []Mounter

	// refusalLog bounds the log lines of refused deliveries to one per refusalLogEvery.
	refusalLog lograte.Limiter
}

// refusalLogEvery is how often a refused webhook delivery is logged at most (each is counted in
// the metrics and on the admin overview).
const refusalLogEvery = time.Second

// Mounter is a part of the HTTP surface that registers its own routes (each behind the same
// security headers as everything else).
type Mounter interface {
	Register(mux *http.ServeMux)
}

// Routes returns the whole HTTP surface.
func (s *Server) Routes() http.Handler {
	s.refusalLog.Every = refusalLogEvery
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/stripe", s.webhook())
	mux.Handle("/webhooks/stripe", methodNotAllowed("POST"))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		respond.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("GET /readyz", s.readyz())
	mux.HandleFunc("GET /{$}", rootPage)
	mux.Handle("GET /static/web/", staticHandler())
	if s.Metrics != nil && s.MetricsToken != "" {
		mux.Handle("GET /metrics", bearer(s.MetricsToken, s.Metrics.Handler()))
	}
	for _, m := range s.Mounts {
		m.Register(mux)
	}
	return securityHeaders(notFoundPages(mux))
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		respond.NewError(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; use "+allow).Write(w)
	})
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

// bearer serves next only to requests carrying the token.
func bearer(token string, next http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			respond.NewError(http.StatusUnauthorized, "unauthorized", "send Authorization: Bearer $MEMBERSYNC_METRICS_TOKEN").Write(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}
