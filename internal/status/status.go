// Package status owns the customer-facing pages: the post-checkout welcome page (GET /welcome, the
// Stripe Checkout success URL, with its progress endpoint) and the signed status links
// (GET /status/{token}) that the founder puts in emails, with their ways forward (the Stripe billing
// portal, resending the community invitation). Pages read the state the sync engine left in the
// store and say it in plain words; they never show internal ids, other people's data or errors.
// Templates, CSS and JavaScript are embedded; nothing is inline, so the site-wide CSP holds.
package status

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/lograte"
	"github.com/membersync/membersync/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// billingReader is what the pages need of Stripe.
type billingReader interface {
	CheckoutSession(ctx context.Context, id string) (billing.Session, error)
	BillingPortalURL(ctx context.Context, customerID, returnURL string) (string, error)
}

// Deps are the pages' dependencies; Store, Billing, Resync and Config are required.
type Deps struct {
	Store   *store.Store
	Billing billingReader
	// Resync marks a person dirty and enqueues their sync (a no-op when one is already waiting).
	Resync func(ctx context.Context, personID int64, reason string) error
	Config *config.Config
	Log    *slog.Logger
	Now    func() time.Time
	// ClientAddr names the client of a request for the lookup rate limit; nil means the host of
	// RemoteAddr. Behind a reverse proxy, pass a func that reads the proxy's header.
	ClientAddr func(r *http.Request) string
	// Limits override the default rate limits field by field.
	Limits Limits
	// PollInterval is how often the welcome page asks for progress; default 2 s.
	PollInterval time.Duration
	// LinkTTL is how long the status link shown on the welcome page lives; default 30 days.
	LinkTTL time.Duration
	// Mailer sends "email me my status link" messages; nil hides that offer.
	Mailer Mailer
}

// Limits are the rate limits of the pages, each a count per fixed window.
type Limits struct {
	// LookupFailures is how many unknown session ids or bad tokens one client may present per
	// LookupWindow before every lookup from it answers 429 (default 20 per 10 minutes).
	LookupFailures int
	LookupWindow   time.Duration
	// Resends is how many invitation resends one person may ask for per ResendWindow (default 3
	// per hour).
	Resends      int
	ResendWindow time.Duration
	// Portals is how many billing portal sessions one person may open per PortalWindow (default
	// 10 per hour).
	Portals      int
	PortalWindow time.Duration
}

func (l Limits) withDefaults() Limits {
	def := func(n *int, w *time.Duration, dn int, dw time.Duration) {
		if *n <= 0 {
			*n = dn
		}
		if *w <= 0 {
			*w = dw
		}
	}
	def(&l.LookupFailures, &l.LookupWindow, 20, 10*time.Minute)
	def(&l.Resends, &l.ResendWindow, 3, time.Hour)
	def(&l.Portals, &l.PortalWindow, 10, time.Hour)
	return l
}

// Handler serves the customer pages. It is safe for concurrent use.
type Handler struct {
	d       Deps
	limits  Limits
	key     []byte // MEMBERSYNC_SIGNING_KEY; empty disables status links
	addrKey []byte // keys the client address hashes used as rate-limit buckets
	pages   map[string]*template.Template
	static  http.Handler
	asset   string        // content hash of the static files, for cache busting
	sends   chan struct{} // the status-link emails being sent, at most emailSends
	// outageLog bounds the lines logged while the database or Stripe fails.
	outageLog lograte.Limiter
}

// New builds the handler. It panics when a required dependency is missing or the embedded
// templates do not parse (both programming errors).
func New(d Deps) *Handler {
	switch {
	case d.Store == nil:
		panic("status.New: Deps.Store is required")
	case d.Billing == nil:
		panic("status.New: Deps.Billing is required")
	case d.Resync == nil:
		panic("status.New: Deps.Resync is required")
	case d.Config == nil:
		panic("status.New: Deps.Config is required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.PollInterval <= 0 {
		d.PollInterval = 2 * time.Second
	}
	if d.LinkTTL <= 0 {
		d.LinkTTL = 30 * 24 * time.Hour
	}
	h := &Handler{d: d, limits: d.Limits.withDefaults(), key: []byte(d.Config.Secrets.SigningKey), sends: make(chan struct{}, emailSends),
		outageLog: lograte.Limiter{Every: 10 * time.Second}}
	ak := sha256.Sum256(append([]byte("membersync status client address:"), h.key...))
	h.addrKey = ak[:]
	if len(h.key) == 0 {
		d.Log.Warn("MEMBERSYNC_SIGNING_KEY is not set: status links are disabled")
	}
	h.pages = parsePages()
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	h.asset = hashFS(sub)
	h.static = http.StripPrefix("/static/status/", h.cacheStatic(http.FileServerFS(sub)))
	return h
}

// Register adds the pages' routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /welcome", h.welcome)
	mux.HandleFunc("GET /welcome/progress", h.progress)
	mux.HandleFunc("GET /status/{token}", h.statusPage)
	mux.HandleFunc("POST /status/{token}/portal", h.portal)
	mux.HandleFunc("POST /status/{token}/resend", h.resend)
	mux.HandleFunc("POST /status/email-link", h.emailLink)
	mux.Handle("GET /static/status/", h.static)
}

func (h *Handler) now() time.Time { return h.d.Now() }

// cacheStatic serves the assets: long-lived when the URL names the current version, and never a
// directory listing.
func (h *Handler) cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		if r.URL.Query().Get("v") == h.asset {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		next.ServeHTTP(w, r)
	})
}

func hashFS(fsys fs.FS) string {
	sum := sha256.New()
	_ = fs.WalkDir(fsys, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, path)
		if err != nil {
			return err
		}
		sum.Write([]byte(path))
		sum.Write(b)
		return nil
	})
	return hex.EncodeToString(sum.Sum(nil))[:12]
}

// clientBucket is the rate-limit bucket of the request's client: a keyed hash, so that no address
// is stored.
func (h *Handler) clientBucket(r *http.Request) string {
	addr := ""
	if h.d.ClientAddr != nil {
		addr = h.d.ClientAddr(r)
	}
	if addr == "" {
		addr = r.RemoteAddr
		if host, _, err := net.SplitHostPort(addr); err == nil {
			addr = host
		}
	}
	m := hmac.New(sha256.New, h.addrKey)
	m.Write([]byte(addr))
	return "lookup:" + hex.EncodeToString(m.Sum(nil))[:24]
}

// errLimited means the client has presented too many unknown ids or bad tokens.
var errLimited = errors.New("too many failed lookups from this client")

// errUnknown means a session id or token names nothing this client may see.
var errUnknown = errors.New("nothing to show for this id")

// lookupAllowed reports whether the client may make another lookup.
func (h *Handler) lookupAllowed(ctx context.Context, bucket string) error {
	reached, err := h.d.Store.StatusLimitReached(ctx, bucket, h.limits.LookupWindow, h.limits.LookupFailures)
	if err != nil {
		return err
	}
	if reached {
		return errLimited
	}
	return nil
}

// lookupFailed counts an unknown id or a bad token against the client.
func (h *Handler) lookupFailed(ctx context.Context, bucket string) {
	if _, err := h.d.Store.StatusLimitHit(ctx, bucket, h.limits.LookupWindow, h.limits.LookupFailures); err != nil {
		h.d.Log.Error("counting a failed lookup", "err", err)
	}
}

// page is what every template gets; each page uses the fields it needs.
type page struct {
	Title   string
	Asset   string
	Refresh int // seconds of the no-JavaScript refresh; 0 for none
	Support config.Support
	// Community is where members enter the community (circle.community_url).
	Community string

	// Neutral pages.
	Heading string
	Lead    string
	Retry   string // the address to try again (a failed GET)

	// The welcome page.
	Progress    *progress
	ProgressURL string
	PollMS      int

	// The status page.
	View      *view
	Token     string
	Flash     string
	Portal    bool   // the billing portal is enabled
	PortalURL string // the portal session to follow (the portal page)
	// EmailLink offers "email me my status link".
	EmailLink bool
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, p page) {
	p.Asset, p.Support, p.Community = h.asset, h.d.Config.Support, h.d.Config.Circle.CommunityURL
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.d.Log.Error("rendering a status page", "page", name, "err", err)
		http.Error(w, "Something went wrong on our side. Please try again in a minute.", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Robots-Tag", "noindex")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// neutral renders a page that reveals nothing about what was asked.
func (h *Handler) neutral(w http.ResponseWriter, status int, heading, lead string) {
	h.render(w, status, "neutral", page{Title: heading, Heading: heading, Lead: lead})
}

func (h *Handler) limited(w http.ResponseWriter) {
	w.Header().Set("Retry-After", seconds(h.limits.LookupWindow))
	h.neutral(w, http.StatusTooManyRequests, "Too many attempts",
		"This address has opened too many links that do not exist. Please wait a few minutes and try again.")
}

// unavailable answers 503 when the database or Stripe failed; a page that was read (GET) offers to
// try again, and tries by itself after a while.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, what string, err error) {
	if ok, held := h.outageLog.Allow(h.now()); ok { // an outage must not write a line per visitor
		h.d.Log.Error("status page unavailable", "what", what, "err", err, "not_logged", held)
	}
	w.Header().Set("Retry-After", "30")
	p := page{Title: "Please try again in a minute", Heading: "Please try again in a minute",
		Lead: "We could not load this page just now. Nothing is lost: your payment and your access are saved."}
	if r.Method == http.MethodGet {
		p.Retry, p.Refresh = r.URL.RequestURI(), 30
	}
	h.render(w, http.StatusServiceUnavailable, "neutral", p)
}

func parsePages() map[string]*template.Template {
	funcs := template.FuncMap{
		"date":     func(t time.Time) string { return t.UTC().Format("2 January 2006") },
		"datetime": func(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") },
		"iso":      func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		// when formats an RFC 3339 time for reading (the page's script shows it in local time).
		"when": func(s string) string {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return ""
			}
			return t.UTC().Format("2 January 2006, 15:04 UTC")
		},
		"stepWord": stepWord,
	}
	base := template.Must(template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	pages := map[string]*template.Template{}
	for _, name := range []string{"neutral", "welcome", "status", "portal", "support"} {
		t := template.Must(base.Clone())
		pages[name] = template.Must(t.ParseFS(templateFS, "templates/"+name+".html"))
	}
	return pages
}

// stepWord says a progress step's status for screen readers (the dot says it to the eye).
func stepWord(status string) string {
	switch status {
	case "done":
		return "(done)"
	case "active":
		return "(in progress)"
	case "attention":
		return "(needs attention)"
	}
	return "(to do)"
}

// seconds formats a duration for Retry-After.
func seconds(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }
