// Package stripetest is a stateful fake of the Stripe API for tests and for the demo binary. It serves,
// over real HTTP on 127.0.0.1, the endpoints membersync reads (customers, prices, subscriptions, invoices and
// invoice payments, payment intents, charges, disputes, Checkout Sessions and their line items, billing
// portal sessions, events) in the JSON shapes of API version 2026-03-25.dahlia, the version stripe-go
// v85 pins. A Control API (CreateCustomer, Subscribe, FailPayment, Refund, …) changes state the way
// Stripe would and records the events Stripe would send; Deliver posts them, signed, to a webhook URL.
// Fault injection, call counters and the mutation log come from providertest.Faults.
package stripetest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/provider/providertest"
)

// APIVersion is the API version the fake renders and stamps on its events.
const APIVersion = "2026-03-25.dahlia"

// Options configure a fake Stripe.
type Options struct {
	// SecretKey is the API key the fake accepts with every permission (Bearer or basic auth).
	// Default "sk_test_membersync".
	SecretKey string
	// WebhookSecret signs deliveries (whsec_…). Default "whsec_membersync_test".
	WebhookSecret string
	// Now is the base clock; Advance moves the fake's clock forward from it. Default time.Now.
	Now func() time.Time
	// Addr is the listen address. Default "127.0.0.1:0".
	Addr string
	// RestrictedKeys maps restricted keys (rk_test_…) to the permissions they were granted, named as
	// Stripe names them in its errors ("rak_customer_read", "rak_billing_portal_session_write", …).
	// A call needing another permission answers 403 like Stripe.
	RestrictedKeys map[string][]string
	// MaxPageSize caps every page, top-level lists and embedded lists alike, below Stripe's own caps
	// (100 and 10), so that tests can make a client page with little data. Zero means no extra cap.
	MaxPageSize int
	// RefuseExpand lists expand[] paths (as sent, such as "data.latest_invoice.payments") that the fake
	// refuses like a property that cannot be expanded, to test a client's fallback.
	RefuseExpand []string
	// UnpaidWhenRetriesExhausted makes ExpireUnpaid leave subscriptions "unpaid" instead of "canceled"
	// (Stripe's Billing setting "if all retries for a payment fail").
	UnpaidWhenRetriesExhausted bool
}

// Server is a running fake Stripe. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to give stripe-go (BackendConfig.URL), such as http://127.0.0.1:41234.
	URL string
	// Faults injects failures, counts calls per endpoint (route pattern such as
	// "GET /v1/customers/{id}") and keeps the log of mutations made through the Control API.
	Faults *providertest.Faults

	opts    Options
	handler http.Handler
	ln      net.Listener
	hs      *http.Server

	clockMu sync.Mutex
	offset  time.Duration // guarded by clockMu

	mu    sync.Mutex
	st    *state // guarded by mu
	reqNo int64  // guarded by mu
}

// New starts a fake Stripe listening on Options.Addr (127.0.0.1:0 by default). It panics when it
// cannot listen, like httptest.NewServer. Close stops it.
func New(opts Options) *Server {
	if opts.SecretKey == "" {
		opts.SecretKey = "sk_test_membersync"
	}
	if opts.WebhookSecret == "" {
		opts.WebhookSecret = "whsec_membersync_test"
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	keys := make(map[string][]string, len(opts.RestrictedKeys))
	for k, v := range opts.RestrictedKeys {
		keys[k] = append([]string(nil), v...)
	}
	opts.RestrictedKeys = keys
	opts.RefuseExpand = append([]string(nil), opts.RefuseExpand...)
	s := &Server{opts: opts, st: newState()}
	s.Faults = &providertest.Faults{Now: s.Now}
	s.handler = s.routes()
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		panic(fmt.Sprintf("stripetest: listen on %s: %v", opts.Addr, err))
	}
	s.ln = ln
	s.URL = "http://" + ln.Addr().String()
	s.hs = &http.Server{Handler: s.handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.hs.Serve(ln) }()
	return s
}

// Close stops the server and closes its connections.
func (s *Server) Close() {
	_ = s.hs.Close()
}

// Handler returns the fake's HTTP handler, for mounting it elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// SecretKey returns the API key the fake accepts.
func (s *Server) SecretKey() string { return s.opts.SecretKey }

// WebhookSecret returns the secret deliveries are signed with.
func (s *Server) WebhookSecret() string { return s.opts.WebhookSecret }

// Now returns the fake's clock: Options.Now plus every Advance so far.
func (s *Server) Now() time.Time {
	base := time.Now()
	if s.opts.Now != nil {
		base = s.opts.Now()
	}
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	return base.Add(s.offset)
}

// Advance moves the fake's clock forward by d.
func (s *Server) Advance(d time.Duration) {
	s.clockMu.Lock()
	defer s.clockMu.Unlock()
	s.offset += d
}

// apiError is a Stripe error answer.
type apiError struct {
	status  int
	typ     string
	code    string
	message string
	param   string
}

func (e *apiError) body() []byte {
	inner := map[string]any{"type": e.typ, "message": e.message}
	if e.code != "" {
		inner["code"] = e.code
		inner["doc_url"] = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(e.code, "_", "-")
	}
	if e.param != "" {
		inner["param"] = e.param
	}
	b, _ := json.Marshal(map[string]any{"error": inner})
	return b
}

func notFound(kind, id, param string) *apiError {
	return &apiError{status: 404, typ: "invalid_request_error", code: "resource_missing",
		message: fmt.Sprintf("No such %s: '%s'", kind, id), param: param}
}

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: 400, typ: "invalid_request_error", message: fmt.Sprintf(format, args...), param: param}
}

// defaultFault is the Stripe-shaped body for an injected fault that came without one.
func defaultFault(status int) *apiError {
	switch {
	case status == 401:
		return &apiError{status: status, typ: "invalid_request_error", message: "Invalid API Key provided: sk_test_****"}
	case status == 403:
		return &apiError{status: status, typ: "invalid_request_error",
			message: "The provided key does not have the required permissions for this endpoint."}
	case status == 404:
		return &apiError{status: status, typ: "invalid_request_error", code: "resource_missing", message: "No such object"}
	case status == 409:
		return &apiError{status: status, typ: "idempotency_error", message: "Keys for idempotent requests can only be used with the same parameters they were first used with."}
	case status == 429:
		return &apiError{status: status, typ: "invalid_request_error", code: "rate_limit",
			message: "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."}
	case status >= 500:
		return &apiError{status: status, typ: "api_error", message: "An unknown error occurred"}
	default:
		return &apiError{status: status, typ: "invalid_request_error", message: http.StatusText(status)}
	}
}

func (s *Server) requestID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqNo++
	return fmt.Sprintf("req_T%013d", s.reqNo)
}

// fillWriter completes an injected fault that has no body with a Stripe-shaped error body.
type fillWriter struct {
	http.ResponseWriter
	filled bool
}

// WriteHeader writes a Stripe-shaped body after an error status that came without a Content-Type.
func (w *fillWriter) WriteHeader(code int) {
	if code >= 400 && w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
		w.ResponseWriter.WriteHeader(code)
		_, _ = w.ResponseWriter.Write(defaultFault(code).body())
		w.filled = true
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write drops the (empty) body of a filled fault.
func (w *fillWriter) Write(b []byte) (int, error) {
	if w.filled {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// request is one API call being answered.
type request struct {
	r     *http.Request
	form  formValues
	ex    *expansion
	perms map[string]bool // nil: the secret key, every permission
}

// handlerFunc answers an API call with an object to encode or a Stripe error. It runs with s.mu held.
type handlerFunc func(rq *request) (any, *apiError)

// route describes one endpoint.
type route struct {
	pattern string
	perm    string // permission a restricted key needs
	root    string // type of the answer, for validating expand[]
	h       handlerFunc
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range []route{
		{"GET /v1/customers", "rak_customer_read", "list:customer", s.listCustomers},
		{"GET /v1/customers/{id}", "rak_customer_read", "customer", s.getCustomer},
		{"GET /v1/products/{id}", "rak_product_read", "product", s.getProduct},
		{"GET /v1/prices", "rak_price_read", "list:price", s.listPrices},
		{"GET /v1/prices/{id}", "rak_price_read", "price", s.getPrice},
		{"GET /v1/subscriptions", "rak_subscription_read", "list:subscription", s.listSubscriptions},
		{"GET /v1/subscriptions/{id}", "rak_subscription_read", "subscription", s.getSubscription},
		{"GET /v1/subscription_items", "rak_subscription_read", "list:subscription_item", s.listSubscriptionItems},
		{"GET /v1/invoices/{id}", "rak_invoice_read", "invoice", s.getInvoice},
		{"GET /v1/invoice_payments", "rak_invoice_read", "list:invoice_payment", s.listInvoicePayments},
		{"GET /v1/payment_intents/{id}", "rak_payment_intent_read", "payment_intent", s.getPaymentIntent},
		{"GET /v1/charges", "rak_charge_read", "list:charge", s.listCharges},
		{"GET /v1/charges/{id}", "rak_charge_read", "charge", s.getCharge},
		{"GET /v1/refunds", "rak_charge_read", "list:refund", s.listRefunds},
		{"GET /v1/disputes", "rak_dispute_read", "list:dispute", s.listDisputes},
		{"GET /v1/disputes/{id}", "rak_dispute_read", "dispute", s.getDispute},
		{"GET /v1/checkout/sessions", "rak_checkout_session_read", "list:checkout.session", s.listCheckoutSessions},
		{"GET /v1/checkout/sessions/{id}", "rak_checkout_session_read", "checkout.session", s.getCheckoutSession},
		{"GET /v1/checkout/sessions/{id}/line_items", "rak_checkout_session_read", "list:item", s.listLineItems},
		{"POST /v1/billing_portal/sessions", "rak_billing_portal_session_write", "billing_portal.session", s.createPortalSession},
		{"GET /v1/events", "rak_event_read", "list:event", s.listEvents},
		{"GET /v1/events/{id}", "rak_event_read", "event", s.getEvent},
	} {
		mux.Handle(rt.pattern, s.wrap(rt.pattern, s.api(rt)))
	}
	mux.HandleFunc("GET /p/session/{id}", s.portalPage)
	mux.Handle("/", s.wrap("unknown", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, &apiError{status: 404, typ: "invalid_request_error",
			message: fmt.Sprintf("Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", r.Method, r.URL.Path)})
	})))
	return mux
}

// wrap counts the call under endpoint, applies injected faults and stamps Stripe's headers.
func (s *Server) wrap(endpoint string, next http.Handler) http.Handler {
	inner := s.Faults.Wrap(endpoint, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Request-Id", s.requestID())
		w.Header().Set("Stripe-Version", APIVersion)
		inner.ServeHTTP(&fillWriter{ResponseWriter: w}, r)
	})
}

func (s *Server) api(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		perms, aerr := s.authorize(r)
		if aerr != nil {
			s.writeError(w, aerr)
			return
		}
		form, err := parseForm(r)
		if err != nil {
			s.writeError(w, badRequest("", "Invalid request: %v", err))
			return
		}
		ex, need, aerr := parseExpand(rt.root, form.all("expand"), s.opts.RefuseExpand)
		if aerr != nil {
			s.writeError(w, aerr)
			return
		}
		if perms != nil {
			for _, p := range append([]string{rt.perm}, need...) {
				if !perms[p] {
					s.writeError(w, permissionError(r, p))
					return
				}
			}
		}
		rq := &request{r: r, form: form, ex: ex, perms: perms}
		s.mu.Lock()
		v, aerr := rt.h(rq)
		var body []byte
		if aerr == nil {
			body, err = json.Marshal(v)
		}
		s.mu.Unlock()
		if aerr != nil {
			s.writeError(w, aerr)
			return
		}
		if err != nil {
			s.writeError(w, &apiError{status: 500, typ: "api_error", message: "stripetest: encoding: " + err.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
}

func (s *Server) writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	_, _ = w.Write(e.body())
}

// authorize checks the API key. It returns the granted permissions of a restricted key, nil for the
// secret key.
func (s *Server) authorize(r *http.Request) (map[string]bool, *apiError) {
	key := ""
	h := r.Header.Get("Authorization")
	if after, ok := strings.CutPrefix(h, "Bearer "); ok {
		key = strings.TrimSpace(after)
	} else if user, _, ok := r.BasicAuth(); ok {
		key = user
	}
	if key == "" {
		return nil, &apiError{status: 401, typ: "invalid_request_error",
			message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."}
	}
	if key == s.opts.SecretKey {
		return nil, nil
	}
	if granted, ok := s.opts.RestrictedKeys[key]; ok {
		perms := map[string]bool{}
		for _, p := range granted {
			perms[p] = true
		}
		return perms, nil
	}
	return nil, &apiError{status: 401, typ: "invalid_request_error", message: "Invalid API Key provided: " + redactKey(key)}
}

func permissionError(r *http.Request, perm string) *apiError {
	key := ""
	if after, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		key = after
	}
	return &apiError{status: 403, typ: "invalid_request_error", message: fmt.Sprintf(
		"The provided key '%s' does not have the required permissions for this endpoint on account 'acct_1MembersyncTest'. Having the '%s' permission would allow this request to continue.",
		redactKey(key), perm)}
}

func redactKey(key string) string {
	i := strings.LastIndex(key, "_")
	if i < 0 || len(key) < i+5 {
		return "****"
	}
	return key[:i+1] + "****" + key[len(key)-4:]
}

// portalPage stands in for Stripe's hosted billing portal, so that the demo's links go somewhere.
func (s *Server) portalPage(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ps := s.st.portal[r.PathValue("id")]
	s.mu.Unlock()
	if ps == nil {
		http.NotFound(w, r)
		return
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!doctype html><title>Billing portal (fake)</title><h1>Billing portal (stripetest)</h1>"+
		"<p>Customer %s.</p><p><a href=\"%s\">Return</a></p>", htmlEscape(ps.customer), htmlEscape(ps.returnURL))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(b.Bytes())
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;").Replace(s)
}
