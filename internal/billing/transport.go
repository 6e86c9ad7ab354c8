package billing

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/budget"
	"github.com/membersync/membersync/internal/egress"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/provider"
)

// observed is the RoundTripper under stripe-go: it reports each HTTP call to the Config's Observer and
// to the one provider.WithObserver put in the request's context (the sync's journal), classifies
// error answers into *provider.Error, and leaves that classification on the call's tracker so that
// the Reader returns it.
type observed struct {
	base     http.RoundTripper
	observer provider.Observer
	now      func() time.Time
	// budget throttles every request (nil: none); a wait beyond maxWait fails the call RateLimited.
	budget  budget.Budget
	maxWait time.Duration
	window  time.Duration // the pause after a 429 without Retry-After
}

// RateLimitWindow is how long every Stripe call waits after a 429 that is not a lock_timeout:
// Stripe's limits are per second and it documents no Retry-After.
const RateLimitWindow = time.Second

// take waits for the budget's permission to send req; the error is the call's classified failure.
func (t *observed) take(req *http.Request, op string) *provider.Error {
	if t.budget == nil {
		return nil
	}
	_, err := budget.Wait(req.Context(), t.budget, provider.MaxWaitFrom(req.Context(), t.maxWait))
	if err == nil {
		return nil
	}
	perr := &provider.Error{Provider: "stripe", Operation: op, Kind: provider.RateLimited, Message: "local throttle", Err: err}
	var over *budget.Over
	if errors.As(err, &over) {
		perr.RetryAfter, perr.Throttled = over.Wait, true
	}
	return perr
}

// RoundTrip sends req through the wrapped transport and reports the call.
func (t *observed) RoundTrip(req *http.Request) (*http.Response, error) {
	op, target := describe(req)
	if perr := t.take(req, op); perr != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		if tr, ok := req.Context().Value(trackerKey{}).(*tracker); ok {
			tr.record(op, perr)
		}
		return nil, perr
	}
	start := t.now()
	resp, err := t.base.RoundTrip(req)
	call := provider.Call{Provider: "stripe", Operation: op, Target: target, Method: req.Method,
		Path: req.URL.Path, Attempt: 1, Started: start, Duration: t.now().Sub(start)}
	var perr *provider.Error
	switch {
	case err != nil:
		perr = provider.TransportError("stripe", op, err)
		if cerr := req.Context().Err(); cerr != nil {
			perr.Err = cerr
		}
	case resp.StatusCode >= 400:
		call.Status = resp.StatusCode
		body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		perr = classify(op, resp.StatusCode, resp.Header, body, t.now())
		if rerr != nil {
			perr.Err = rerr
		}
		if perr.Kind == provider.RateLimited {
			// Stop every Stripe call (on PostgreSQL, every instance's) until the window has passed.
			perr.RetryAfter = cmp.Or(perr.RetryAfter, t.window, RateLimitWindow)
			if t.budget != nil {
				_ = t.budget.Pause(context.WithoutCancel(req.Context()), perr.RetryAfter)
			}
		}
	default:
		call.Status = resp.StatusCode
	}
	if perr != nil {
		call.Err = perr
	}
	if tr, ok := req.Context().Value(trackerKey{}).(*tracker); ok {
		tr.record(op, perr)
	}
	if t.observer != nil {
		t.observer(call)
	}
	if o := provider.ObserverFrom(req.Context()); o != nil {
		o(call)
	}
	return resp, err
}

// tracker remembers, for one read, the operation and classified failure of the last HTTP call, so
// that the error stripe-go returns can be reported as the *provider.Error it was. A read's calls are
// sequential (a retrieve, the pages of a list, a fallback after a refused expansion), so the last
// call is the one that failed. Reads that run concurrently must each track their own (Snapshot's
// snap.read does): sharing one, a read would report whichever call finished last, another read's.
type tracker struct {
	mu  sync.Mutex
	op  string
	err *provider.Error
}

type trackerKey struct{}

// track returns a context whose HTTP calls are tracked.
func track(ctx context.Context) (context.Context, *tracker) {
	tr := &tracker{}
	return context.WithValue(ctx, trackerKey{}, tr), tr
}

func (tr *tracker) record(op string, err *provider.Error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.op, tr.err = op, err
}

// fail turns an error from stripe-go into a *provider.Error.
func (tr *tracker) fail(err error) error {
	if err == nil {
		return nil
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		return err
	}
	if egress.Refused(err) != nil { // a redirect off the allowlist fails in the client, not the transport
		tr.mu.Lock()
		op := tr.op
		tr.mu.Unlock()
		return provider.TransportError("stripe", op, err)
	}
	tr.mu.Lock()
	last, op := tr.err, tr.op
	tr.mu.Unlock()
	if last != nil {
		e := *last
		return &e
	}
	// The last call answered 2xx: its body could not be decoded, or the request was never sent.
	return &provider.Error{Provider: "stripe", Operation: op, Kind: provider.Transient, Message: "unexpected answer", Err: err}
}

// isCollection reports whether a path segment of the Stripe API names resources; any other segment
// is an id.
func isCollection(seg string) bool {
	switch seg {
	case "customers", "subscriptions", "subscription_items", "invoices", "invoice_payments",
		"payment_intents", "charges", "refunds", "disputes", "checkout", "sessions", "line_items",
		"billing_portal", "events", "prices", "products", "lines":
		return true
	}
	return false
}

// describe names a call for the journal: the operation from the method and the shape of the path
// ("get_customer", "list_subscriptions", "list_checkout_session_line_items",
// "create_billing_portal_session") and its target from the id in the path or the filter in the query
// ("customer:cus_…", "payment_intent:pi_…"). Emails are hashed, never shown.
func describe(req *http.Request) (op, target string) {
	segs := strings.Split(strings.Trim(strings.TrimPrefix(req.URL.Path, "/v1/"), "/"), "/")
	var parts []string
	lastID := false
	for _, seg := range segs {
		if isCollection(seg) {
			parts = append(parts, seg)
			lastID = false
			continue
		}
		if len(parts) > 0 {
			parts[len(parts)-1] = strings.TrimSuffix(parts[len(parts)-1], "s")
			if target == "" {
				target = strings.Join(parts, "_") + ":" + seg
			}
		}
		lastID = true
	}
	name := strings.Join(parts, "_")
	switch {
	case req.Method == http.MethodGet && lastID:
		op = "get_" + name
	case req.Method == http.MethodGet:
		op = "list_" + name
	case req.Method == http.MethodDelete:
		op = "delete_" + name
	case lastID:
		op = "update_" + name
	default:
		op = "create_" + strings.TrimSuffix(name, "s")
	}
	if target != "" {
		return op, target
	}
	q := req.URL.Query()
	if req.Method == http.MethodPost && req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(body, 64<<10))
			body.Close()
			if v, err := url.ParseQuery(string(b)); err == nil {
				q = v
			}
		}
	}
	for _, f := range []string{"customer", "subscription", "invoice", "payment_intent", "charge"} {
		if v := q.Get(f); v != "" {
			return op, f + ":" + v
		}
	}
	if v := q.Get("email"); v != "" {
		return op, "email:" + emailHash(v)
	}
	return op, ""
}

// emailHash is how an email appears in call records: the first 12 hex digits of the SHA-256 of its
// normalized form.
func emailHash(email string) string {
	sum := sha256.Sum256([]byte(identity.NormalizeEmail(email)))
	return hex.EncodeToString(sum[:6])
}

// stripeError is Stripe's error body.
type stripeError struct {
	Error struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
		Param   string `json:"param"`
	} `json:"error"`
}

var rakPattern = regexp.MustCompile(`'(rak_[a-z0-9_]+)'`)

// classify turns an error answer into a *provider.Error: resource_missing (404, or 400 on a filter
// naming a missing object) is NotFound; 401 and 403 are Config, a restricted key's missing permission
// named in the Dashboard's words; 429 is RateLimited except a lock_timeout; 409 and 5xx are Transient;
// any other 4xx is Permanent.
func classify(op string, status int, h http.Header, body []byte, now time.Time) *provider.Error {
	var se stripeError
	_ = json.Unmarshal(body, &se)
	msg := se.Error.Message
	if msg == "" {
		msg = provider.Snippet(body)
	}
	e := &provider.Error{Provider: "stripe", Operation: op, Status: status, Kind: provider.ClassifyStatus(status), Message: msg}
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		} else if t, err := http.ParseTime(v); err == nil && t.After(now) {
			e.RetryAfter = t.Sub(now)
		}
	}
	lower := strings.ToLower(msg)
	permission := status == http.StatusForbidden ||
		se.Error.Type == "invalid_request_error" && (strings.Contains(lower, "does not have the required permissions") ||
			strings.Contains(lower, "restricted api key") || strings.Contains(lower, "restricted key"))
	switch {
	case permission:
		e.Kind = provider.Config
		code := ""
		if m := rakPattern.FindStringSubmatch(msg); m != nil {
			code = m[1]
		} else {
			code = operationPermission(op)
		}
		if code != "" {
			e.Message = fmt.Sprintf("the restricted key needs %s (Stripe: %s)", describePermission(code), msg)
		} else {
			e.Message = "the API key lacks a permission (Stripe: " + msg + ")"
		}
	case se.Error.Code == "resource_missing":
		e.Kind = provider.NotFound
	case status == http.StatusUnauthorized:
		e.Message = "Stripe rejected the API key; check STRIPE_SECRET_KEY (Stripe: " + msg + ")"
	case status == http.StatusTooManyRequests && se.Error.Code == "lock_timeout", status == http.StatusConflict:
		e.Kind = provider.Transient
	}
	return e
}
