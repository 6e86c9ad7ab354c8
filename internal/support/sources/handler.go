package sources

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/membersync/membersync/internal/lograte"
	"github.com/membersync/membersync/internal/support"
	"github.com/membersync/membersync/internal/web/respond"
)

// Bounds of the webhook endpoints: what one stranger can make them spend.
const (
	// MaxBody is the largest delivery read; Help Scout's conversation payloads with a few threads
	// and a Zendesk trigger's body are far smaller.
	MaxBody = 1 << 20
	// maxInFlight bounds the bodies being read at once across the three endpoints (at most
	// maxInFlight × MaxBody in memory); a delivery beyond it is answered 503, unread.
	maxInFlight = 8
	// DefaultRate and DefaultBurst bound each client address's deliveries per second to an
	// endpoint, refused with 429 before anything is read: a stranger's flood spends its own
	// address's budget, not the help desk's. A help desk sends a few a minute; its retries absorb
	// the rest. All addresses together get globalFactor times as much (a flood from many
	// addresses), and at most maxAddrs addresses are remembered.
	DefaultRate  = 5
	DefaultBurst = 30
	globalFactor = 10
	maxAddrs     = 10000
	// retryAfterDown is the Retry-After of a 503 when the database cannot take the message.
	retryAfterDown = 30 * time.Second
	// Tolerance is how far a signature's timestamp may lie from the server clock (Zendesk, the
	// generic webhook), in the past and in the future: a replay older than this is refused.
	Tolerance = 5 * time.Minute
)

// Handler serves the support webhooks at /support/helpscout, /support/zendesk and
// /support/webhook, each only when its secret is set. It is a web.Mounter.
type Handler struct {
	Ingester Ingester
	// HelpScoutSecret, ZendeskSecret and WebhookSecret verify the deliveries of each endpoint; an
	// endpoint whose secret is empty is not mounted.
	HelpScoutSecret string
	ZendeskSecret   string
	WebhookSecret   string
	// OnTicket, when set, is called after a Help Scout or Zendesk message was ingested for the
	// first time: serve wakes the note worker with it.
	OnTicket func(ctx context.Context)
	// Rate and Burst bound each client address's deliveries to an endpoint; zero means DefaultRate
	// and DefaultBurst.
	Rate  rate.Limit
	Burst int
	// ClientAddr names a delivery's client address (serve passes clientip's, so that trusted
	// proxies are seen through); nil means the host of RemoteAddr.
	ClientAddr func(r *http.Request) string
	Now        func() time.Time
	Log        *slog.Logger
	// HashKey keys the sender hashes in the log.
	HashKey []byte

	inFlight   chan struct{}
	refusalLog lograte.Limiter // one line per second at most for refused deliveries
}

// endpoint is one source's checks, cheapest first.
type endpoint struct {
	source string
	// header refuses a delivery from its headers alone (missing or malformed signature, stale
	// timestamp) before the body is read.
	header func(r *http.Request) error
	// verify checks the signature over the body.
	verify func(r *http.Request, body []byte) error
	// parse reads the message; ok is false for a delivery that carries nothing to triage (another
	// event type, an agent's reply), answered 200 so that the sender does not retry it.
	parse func(r *http.Request, body []byte) (m support.Message, ok bool, err error)
}

// Register mounts the configured endpoints (web.Mounter).
func (h *Handler) Register(mux *http.ServeMux) {
	h.inFlight = make(chan struct{}, maxInFlight)
	h.refusalLog.Every = time.Second
	mount := func(path string, ep endpoint) {
		mux.Handle("POST "+path, h.serve(ep))
		mux.Handle(path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "POST")
			respond.NewError(http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed here; the help desk POSTs its webhooks").Write(w)
		}))
	}
	if h.HelpScoutSecret != "" {
		mount("/support/helpscout", h.helpScout())
	}
	if h.ZendeskSecret != "" {
		mount("/support/zendesk", h.zendesk())
	}
	if h.WebhookSecret != "" {
		mount("/support/webhook", h.webhook())
	}
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

// refused is a delivery refused for what it is: its status and a sentence for whoever set up the
// sender. Nothing is stored.
func refused(status int, code, msg string) error { return respond.NewError(status, code, msg) }

// serve is every endpoint's pipeline: rate, headers, size, body, signature, payload, ingest.
func (h *Handler) serve(ep endpoint) http.Handler {
	r, b := h.Rate, h.Burst
	if r == 0 {
		r = DefaultRate
	}
	if b == 0 {
		b = DefaultBurst
	}
	global := rate.NewLimiter(r*globalFactor, b*globalFactor)
	addrs := &addrLimits{rate: r, burst: b, m: map[string]*rate.Limiter{}}
	fail := func(w http.ResponseWriter, err error) {
		var re *respond.Error
		if !errors.As(err, &re) {
			re = respond.NewError(http.StatusBadRequest, "bad_request", err.Error())
		}
		if ok, held := h.refusalLog.Allow(h.now()); ok {
			h.log().Info("support webhook refused", "source", ep.source, "status", re.Status, "code", re.Code, "also_refused", held)
		}
		re.Write(w)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !addrs.allow(h.clientAddr(req)) || !global.Allow() {
			w.Header().Set("Retry-After", "1")
			fail(w, refused(http.StatusTooManyRequests, "rate_limited", "too many deliveries; retry in a second"))
			return
		}
		if err := ep.header(req); err != nil {
			fail(w, err)
			return
		}
		if req.ContentLength > MaxBody {
			fail(w, refused(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than "+strconv.Itoa(MaxBody)+" bytes"))
			return
		}
		select {
		case h.inFlight <- struct{}{}:
			defer func() { <-h.inFlight }()
		default:
			w.Header().Set("Retry-After", "5")
			fail(w, refused(http.StatusServiceUnavailable, "busy", "too many deliveries in flight; retry shortly"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBody))
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			fail(w, refused(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than "+strconv.Itoa(MaxBody)+" bytes"))
			return
		case err != nil:
			fail(w, refused(http.StatusBadRequest, "unreadable", "the body could not be read"))
			return
		}
		if err := ep.verify(req, body); err != nil {
			fail(w, err)
			return
		}
		m, ok, err := ep.parse(req, body)
		if err != nil {
			fail(w, refused(http.StatusBadRequest, "bad_payload", err.Error()))
			return
		}
		if !ok {
			respond.JSON(w, http.StatusOK, map[string]string{"status": "ignored"})
			return
		}
		m.Source = ep.source
		out, err := h.Ingester.Ingest(req.Context(), m)
		if errors.Is(err, support.ErrInvalid) {
			fail(w, refused(http.StatusBadRequest, "invalid_message", err.Error()))
			return
		}
		if err != nil {
			// Never lose a message: no 2xx before it is committed; the sender retries.
			h.log().Error("support message not stored; the sender will retry", "source", ep.source, "err", err)
			w.Header().Set("Retry-After", strconv.Itoa(int(retryAfterDown.Seconds())))
			respond.NewError(http.StatusServiceUnavailable, "unavailable", "the message could not be stored; retry later").Write(w)
			return
		}
		status := "ingested"
		if out.Duplicate {
			status = "duplicate"
		} else {
			h.log().Info("support message received", "source", ep.source, "id", out.ID, "category", out.Category,
				"from_hash", emailHash(h.HashKey, m.From))
			if m.TicketRef != "" && h.OnTicket != nil {
				h.OnTicket(context.WithoutCancel(req.Context()))
			}
		}
		respond.JSON(w, http.StatusOK, map[string]any{"status": status, "id": out.ID})
	})
}

// clientAddr is the delivery's client address, for its rate limit.
func (h *Handler) clientAddr(r *http.Request) string {
	if h.ClientAddr != nil {
		return h.ClientAddr(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// addrLimits holds one endpoint's limiter per client address. Memory is bounded: past maxAddrs
// addresses it starts over, which gives every address a fresh burst (what a new address gets
// anyway).
type addrLimits struct {
	rate  rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*rate.Limiter // guarded by mu
}

func (a *addrLimits) allow(addr string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.m[addr]
	if !ok {
		if len(a.m) >= maxAddrs {
			clear(a.m)
		}
		l = rate.NewLimiter(a.rate, a.burst)
		a.m[addr] = l
	}
	return l.Allow()
}
