// Package admin owns the operator surface: the server-rendered admin UI and the JSON API under
// /api/v1, behind sign-in (sessions for browsers, scoped tokens for scripts) with three roles, CSRF
// protection, sign-in throttling and an append-only audit log. One table of route × role (routes)
// drives both the mux and the authorization test. Templates and static assets are embedded.
package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/clientip"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/lograte"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// Role is what an operator may do. Each role may do everything the one before it may.
type Role string

// The roles, from least to most trusted.
const (
	// RoleViewer reads every page.
	RoleViewer Role = "viewer"
	// RoleSupport also resyncs people, retries and resolves review items, replays events and checks
	// the provider connections.
	RoleSupport Role = "support"
	// RoleAdmin also manages users and API tokens.
	RoleAdmin Role = "admin"
)

// Roles lists the roles from least to most trusted.
var Roles = []Role{RoleViewer, RoleSupport, RoleAdmin}

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleSupport:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Allows reports whether the role may use something that needs min.
func (r Role) Allows(min Role) bool { return r.rank() > 0 && r.rank() >= min.rank() }

// ParseRole reads a role name.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if r.rank() == 0 {
		return "", errors.New("role must be admin, support or viewer")
	}
	return r, nil
}

// lower returns the less trusted of two roles (a token never acts above its user).
func lower(a, b Role) Role {
	if a.rank() < b.rank() {
		return a
	}
	return b
}

// ConnectionCheck is the result of calling one provider once.
type ConnectionCheck struct {
	Name    string `json:"name"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// FiringAlert is an alert that is firing now.
type FiringAlert struct {
	Rule   string    `json:"rule"`
	Title  string    `json:"title"`
	Detail string    `json:"detail"`
	Since  time.Time `json:"since"`
	Link   string    `json:"link,omitempty"` // where to look, a local path or a URL
}

// Deps is what the handler needs from the rest of membersync.
type Deps struct {
	Store  *store.Store
	Config *config.Config
	// Resync marks the person dirty and enqueues their sync.
	Resync func(ctx context.Context, personID int64, reason string) error
	// ResyncCustomer resyncs the person of a Stripe customer id or an email, adopting the customer
	// from Stripe when no webhook ever named them (converge.Resyncer.Who): it returns the person and
	// the customers adopted. nil disables the people page's "resync a customer" form.
	ResyncCustomer func(ctx context.Context, who string) (personID int64, adopted []string, err error)
	// RemoveStranger queues the removal of a stranger the latest drift sweep found (a stranger
	// review item's Remove button; drift.RemoveStranger), by the operator named by; nil disables it.
	RemoveStranger func(ctx context.Context, personID int64, by string) error
	// Forget begins a person's erasure and queues its sync in one transaction (converge.Forget), so
	// that no stop between the two leaves the erasure waiting; nil marks, then resyncs.
	Forget func(ctx context.Context, r store.EraseRequest) (store.Erasure, error)
	// CheckConnections calls each provider once.
	CheckConnections func(ctx context.Context) []ConnectionCheck
	// Alerts returns the alerts firing now; nil when alerting is not wired.
	Alerts func(ctx context.Context) []FiringAlert
	// NotReady returns the last failed readiness check (/readyz answers anonymous callers with a
	// word; the detail is for operators) and when it failed; nil when not wired.
	NotReady func() (error, time.Time)
	Log      *slog.Logger
	Now      func() time.Time
	// ClientAddr names the client of a request for sign-in throttling and the log; nil means the
	// host of RemoteAddr. Pass a clientip.Resolver's Addr so that trusted proxies are seen through.
	ClientAddr func(r *http.Request) string
	// Secure marks cookies Secure (the public URL is https).
	Secure bool
	// IdleTimeout ends a session unused this long (default 1 hour); SessionLifetime ends any
	// session this long after sign-in (default 12 hours).
	IdleTimeout     time.Duration
	SessionLifetime time.Duration
	// Names names the provider ids pages show, through the template functions accessGroup, tag,
	// sequence, price and product (render.go); nil means catalog.Fallback.
	Names catalog.Names
}

// Default session timeouts and sign-in throttling.
//
// Every sign-in attempt is reserved (counted and recorded in one step) before its password is
// checked, against its account and against its address, and a successful sign-in releases it. An
// address is blocked after AddressFailures attempts in ThrottleWindow. An account is slowed, never
// locked: a flood aimed at an operator's email from many addresses gets about one password check per
// AccountMaxDelay, and the operator, from any address not blocked, waits at most AccountMaxDelay
// after it stops (an attempt that wins a slot during the flood passes at once).
const (
	DefaultIdleTimeout     = time.Hour
	DefaultSessionLifetime = 12 * time.Hour
	// ThrottleWindow is the sliding window in which sign-in attempts are counted.
	ThrottleWindow = 15 * time.Minute
	// AccountFailures attempts of one account in the window are checked without delay. Each further
	// attempt must come AccountDelay × 2^(attempts − AccountFailures), at most AccountMaxDelay, after
	// the account's latest attempt; earlier ones are answered 429 without a check.
	AccountFailures = 5
	AccountDelay    = 2 * time.Second
	AccountMaxDelay = time.Minute
	// AddressFailures attempts from one address in the window block that address until the oldest
	// ages out of the window.
	AddressFailures = 20
	// PasswordChecks is how many argon2id checks (19 MiB each) run at once. A sign-in waits at most
	// PasswordCheckWait (or until its client leaves) for a slot, then is answered 429.
	PasswordChecks    = 2
	PasswordCheckWait = 2 * time.Second
	// outageLogEvery is how often an unreachable database is logged; the lines in between are
	// counted and the count goes with the next line.
	outageLogEvery = 10 * time.Second
)

// Handler serves the admin UI and the JSON API. It is a web.Mounter.
type Handler struct {
	st     *store.Store
	cfg    *config.Config
	resync func(ctx context.Context, personID int64, reason string) error
	// resyncCustomer is Deps.ResyncCustomer.
	resyncCustomer func(ctx context.Context, who string) (int64, []string, error)
	check          func(ctx context.Context) []ConnectionCheck
	alerts         func(ctx context.Context) []FiringAlert
	ready          func() (error, time.Time)
	log            *slog.Logger
	now            func() time.Time
	addr           func(r *http.Request) string
	secure         bool
	idle           time.Duration
	maxLife        time.Duration
	pages          *pages
	names          catalog.Names // never nil
	// dummyHash is verified when no account matches, so a miss costs as much as a wrong password.
	dummyHash string
	// verify checks a password against a hash (VerifyPassword; tests count the calls).
	verify func(encoded, password string) bool
	// checks holds a token per password check under way; its capacity is PasswordChecks.
	checks chan struct{}
	// outageLog and throttleLog keep an outage or a flood from writing a line per request.
	outageLog   lograte.Limiter
	throttleLog lograte.Limiter

	// removeStranger is Deps.RemoveStranger.
	removeStranger func(ctx context.Context, personID int64, by string) error
	// forget is Deps.Forget.
	forget func(ctx context.Context, r store.EraseRequest) (store.Erasure, error)
}

// New builds the handler.
func New(d Deps) *Handler {
	h := &Handler{st: d.Store, cfg: d.Config, resync: d.Resync, resyncCustomer: d.ResyncCustomer, check: d.CheckConnections, alerts: d.Alerts, ready: d.NotReady,
		log: d.Log, now: d.Now, addr: d.ClientAddr, secure: d.Secure, idle: d.IdleTimeout, maxLife: d.SessionLifetime, names: catalog.Or(d.Names),
		removeStranger: d.RemoveStranger, forget: d.Forget}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.addr == nil {
		h.addr = (*clientip.Resolver)(nil).Addr
	}
	if h.idle <= 0 {
		h.idle = DefaultIdleTimeout
	}
	if h.maxLife <= 0 {
		h.maxLife = DefaultSessionLifetime
	}
	if h.cfg == nil {
		h.cfg = &config.Config{}
	}
	h.pages = mustParsePages(h.now, h.names)
	h.dummyHash, _ = HashPassword(hex.EncodeToString(randomBytes(16)))
	h.verify = VerifyPassword
	h.checks = make(chan struct{}, PasswordChecks)
	h.outageLog.Every, h.throttleLog.Every = outageLogEvery, outageLogEvery
	return h
}

// route is one row of the route × role table.
type route struct {
	method string
	path   string
	// min is the least role allowed; "" makes the route public.
	min    Role
	handle func(w http.ResponseWriter, r *http.Request, p *principal) error
}

func (rt route) api() bool { return strings.HasPrefix(rt.path, "/api/") }

func (rt route) pattern() string {
	if rt.method == "" {
		return rt.path
	}
	return rt.method + " " + rt.path
}

// routes is the whole operator surface and who may use each part.
func (h *Handler) routes() []route {
	return []route{
		{"GET", "/login", "", h.loginPage},
		{"POST", "/login", "", h.login},
		{"POST", "/logout", RoleViewer, h.logout},

		{"GET", "/admin", RoleViewer, h.overviewPage},
		{"GET", "/admin/people", RoleViewer, h.peoplePage},
		{"GET", "/admin/people.csv", RoleViewer, h.exportPeople},
		{"GET", "/admin/people/{person}", RoleViewer, h.personPage},
		{"POST", "/admin/resync", RoleSupport, h.resyncCustomerForm},
		{"POST", "/admin/people/{person}/resync", RoleSupport, h.resyncForm},
		{"POST", "/admin/people/{person}/comps", RoleSupport, h.compForm},
		{"POST", "/admin/people/{person}/comps/{comp}/revoke", RoleSupport, h.revokeCompForm},
		{"POST", "/admin/people/{person}/forget", RoleAdmin, h.forgetForm},
		{"GET", "/admin/review", RoleViewer, h.reviewPage},
		{"POST", "/admin/review/{item}/retry", RoleSupport, h.retryForm},
		{"POST", "/admin/review/{item}/resolve", RoleSupport, h.resolveForm},
		{"POST", "/admin/review/{item}/remove", RoleSupport, h.removeStrangerForm},
		{"GET", "/admin/support", RoleViewer, h.supportPage},
		{"POST", "/admin/support/{msg}/resend", RoleSupport, h.resendForm},
		{"POST", "/admin/support/{msg}/status-link", RoleSupport, h.statusLinkForm},
		{"GET", "/admin/events", RoleViewer, h.eventsPage},
		{"GET", "/admin/events/{event}", RoleViewer, h.eventPage},
		{"POST", "/admin/events/{event}/replay", RoleSupport, h.replayForm},
		{"GET", "/admin/audit", RoleViewer, h.auditPage},
		{"GET", "/admin/settings", RoleViewer, h.settingsPage},
		{"POST", "/admin/settings/check", RoleSupport, h.checkForm},
		{"GET", "/admin/settings/history", RoleViewer, h.historyPage},
		{"GET", "/admin/users", RoleAdmin, h.usersPage},
		{"POST", "/admin/users", RoleAdmin, h.addUserForm},
		{"POST", "/admin/users/{user}/disable", RoleAdmin, h.disableUserForm},
		{"POST", "/admin/users/{user}/enable", RoleAdmin, h.enableUserForm},
		{"POST", "/admin/users/{user}/role", RoleAdmin, h.roleForm},
		{"POST", "/admin/users/{user}/reset-password", RoleAdmin, h.resetPasswordForm},
		{"POST", "/admin/users/{user}/tokens", RoleAdmin, h.createTokenForm},
		{"POST", "/admin/tokens/{token}/revoke", RoleAdmin, h.revokeTokenForm},
		{"", "/admin/", RoleViewer, h.notFound},

		{"GET", "/api/v1/me", RoleViewer, h.apiMe},
		{"GET", "/api/v1/overview", RoleViewer, h.apiOverview},
		{"GET", "/api/v1/people", RoleViewer, h.apiPeople},
		{"GET", "/api/v1/people.csv", RoleViewer, h.exportPeople},
		{"GET", "/api/v1/people/{person}", RoleViewer, h.apiPerson},
		{"POST", "/api/v1/resync", RoleSupport, h.apiResyncCustomer},
		{"GET", "/api/v1/people/{person}/journey", RoleViewer, h.apiJourney},
		{"POST", "/api/v1/people/{person}/resync", RoleSupport, h.apiResync},
		{"GET", "/api/v1/people/{person}/comps", RoleViewer, h.apiComps},
		{"POST", "/api/v1/people/{person}/comps", RoleSupport, h.apiAddComp},
		{"POST", "/api/v1/people/{person}/comps/{comp}/revoke", RoleSupport, h.apiRevokeComp},
		{"POST", "/api/v1/people/{person}/forget", RoleAdmin, h.apiForget},
		{"GET", "/api/v1/review", RoleViewer, h.apiReview},
		{"POST", "/api/v1/review/{item}/retry", RoleSupport, h.apiRetry},
		{"POST", "/api/v1/review/{item}/resolve", RoleSupport, h.apiResolve},
		{"POST", "/api/v1/review/{item}/remove", RoleSupport, h.apiRemoveStranger},
		{"GET", "/api/v1/support", RoleViewer, h.apiSupport},
		{"GET", "/api/v1/events", RoleViewer, h.apiEvents},
		{"GET", "/api/v1/events/{event}", RoleViewer, h.apiEvent},
		{"POST", "/api/v1/events/{event}/replay", RoleSupport, h.apiReplay},
		{"GET", "/api/v1/audit", RoleViewer, h.apiAudit},
		{"GET", "/api/v1/settings", RoleViewer, h.apiSettings},
		{"POST", "/api/v1/settings/check", RoleSupport, h.apiCheck},
		{"GET", "/api/v1/history", RoleViewer, h.apiHistory},
		{"", "/api/v1/", RoleViewer, h.notFound},
	}
}

// Register adds the operator surface to mux: /login, /logout, /admin/…, /api/v1/… and
// /static/admin/….
func (h *Handler) Register(mux *http.ServeMux) {
	for _, rt := range h.routes() {
		mux.Handle(rt.pattern(), h.protect(rt))
	}
	mux.Handle("GET /static/admin/", staticHandler())
}

// protect applies the route's rules: cross-origin refusal, authentication, role, CSRF, and one
// place that turns errors into responses.
func (h *Handler) protect(rt route) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.fail(w, r, rt.api(), nil, errCrossOrigin)
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		api := rt.api()
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
		}
		p, err := h.authenticate(w, r, api)
		if err != nil {
			h.fail(w, r, api, nil, err)
			return
		}
		if rt.min != "" {
			if p == nil {
				h.unauthenticated(w, r, api)
				return
			}
			if !p.Role.Allows(rt.min) {
				h.fail(w, r, api, p, errForbidden)
				return
			}
			if r.Method != http.MethodGet && r.Method != http.MethodHead && p.Session != nil && !h.csrfOK(r, p, api) {
				h.fail(w, r, api, p, errCSRF)
				return
			}
		}
		if err := rt.handle(w, r, p); err != nil {
			h.fail(w, r, api, p, err)
		}
	}))
}

var (
	errForbidden   = respond.NewError(http.StatusForbidden, "forbidden", "Your role does not allow this. Ask an admin if you need it.")
	errCSRF        = respond.NewError(http.StatusForbidden, "csrf", "This form expired or did not come from this site. Reload the page and try again.")
	errCrossOrigin = respond.NewError(http.StatusForbidden, "cross_origin", "Cross-origin requests are refused.")
	errNotFound    = respond.NewError(http.StatusNotFound, "not_found", "Nothing here: it may have been merged, removed, or never existed.")
	// errUnauthenticated answers the API without a session or token; browsers go to the sign-in page.
	errUnauthenticated = respond.NewError(http.StatusUnauthorized, "unauthenticated", "Sign in, or send Authorization: Bearer TOKEN (membersync users token create).")
)

// errUnavailable answers any request while the database cannot be reached.
var errUnavailable = respond.NewError(http.StatusServiceUnavailable, "unavailable",
	"membersync can't reach its database right now; try again in a minute.")

// pingTimeout bounds the check fail makes when a request failed for a reason it does not know.
const pingTimeout = 2 * time.Second

// fail answers an error: a *respond.Error as it is, missing rows as 404, an unreachable database as
// 503 (logged once per outageLogEvery), anything else as respond.Internal's 500, whose reference
// names the log line. An error fail does not recognise is taken for an outage when the database does
// not answer a ping either: a closed pool or a dead connection reaches the handlers as many different
// errors.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, api bool, p *principal, err error) {
	var e *respond.Error
	switch {
	case errors.As(err, &e):
	case errors.Is(err, store.ErrNotFound):
		e = errNotFound
		if into := h.mergedInto(r); into != 0 {
			e = respond.NewError(http.StatusNotFound, "merged",
				fmt.Sprintf("This person was merged into person %d, who has the same email: /admin/people/%d", into, into))
			if !api {
				h.render(w, r, p, e.Status, "error", view{Title: "Merged", Error: e.Message, Data: map[string]int64{"MergedInto": into}})
				return
			}
		}
	case store.IsUnavailable(err) || !h.databaseAnswers(r.Context()):
		if ok, held := h.outageLog.Allow(h.now()); ok {
			h.log.Error("admin: database unavailable, answering 503", "path", r.URL.Path, "err", err, "suppressed", held)
		}
		w.Header().Set("Retry-After", "60")
		e = errUnavailable
	default:
		var ref string
		e, ref = respond.Internal()
		h.log.Error("admin: request failed", "ref", ref, "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if api {
		writeJSON(w, e.Status, e.Body())
		return
	}
	h.render(w, r, p, e.Status, "error", view{Title: "Error", Error: e.Message})
}

// mergedInto returns the person a missing person of the request's path was merged into, or 0: a
// link to a merged person's page (an old alert, a bookmark) leads on instead of ending at "not found".
func (h *Handler) mergedInto(r *http.Request) int64 {
	id, err := strconv.ParseInt(r.PathValue("person"), 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	into, err := h.st.MergedInto(r.Context(), id)
	if err != nil {
		return 0
	}
	return into
}

// databaseAnswers pings the database, for at most pingTimeout.
func (h *Handler) databaseAnswers(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pingTimeout)
	defer cancel()
	return h.st.Ping(ctx) == nil
}

// unauthenticated sends browsers to the sign-in page and answers the API with 401.
func (h *Handler) unauthenticated(w http.ResponseWriter, r *http.Request, api bool) {
	if api {
		w.Header().Set("WWW-Authenticate", `Bearer realm="membersync"`)
		writeJSON(w, errUnauthenticated.Status, errUnauthenticated.Body())
		return
	}
	target := "/login"
	if r.Method == http.MethodGet && r.URL.Path != "/admin" {
		target += "?next=" + urlQueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, target, http.StatusFound)
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request, p *principal) error {
	return errNotFound
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}
