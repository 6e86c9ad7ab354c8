// Package provider owns what every outbound API client of membersync shares: the classification of
// failures (retry later, configuration is wrong, can never succeed), the record of each call for the
// journal and metrics, a token-bucket throttle, a JSON-over-HTTP request loop with backoff, and the
// pieces their constructors have in common (defaults, an HTTP client that follows no redirect, an
// observer that scrubs errors). The Circle, Kit and Stripe clients build on it; the sync engine
// decides on the Kind of an Error.
package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/egress"
)

// Kind says what the caller should do about a failed call.
type Kind int

const (
	// Transient failures (5xx, timeouts, connection errors) succeed later: retry with backoff.
	Transient Kind = iota + 1
	// RateLimited means the provider asked us to slow down: snooze without burning an attempt.
	RateLimited
	// Config means credentials or plan eligibility were rejected (401/403): alert, do not hammer.
	Config
	// Permanent means this request can never succeed as sent (422, 400): raise a review item.
	Permanent
	// NotFound means the target does not exist (404 on a lookup).
	NotFound
	// Limit means the account reached a limit of its plan that lifts by itself later (Circle's
	// daily member limit) or when the founder acts (a plan's member cap): not a bad credential, not
	// a request that can never succeed. RetryAfter says when to try again.
	Limit
)

func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case RateLimited:
		return "rate_limited"
	case Config:
		return "config"
	case Permanent:
		return "permanent"
	case NotFound:
		return "not_found"
	case Limit:
		return "limit"
	}
	return "unknown"
}

// Error is a failed provider call, classified.
type Error struct {
	Provider  string // "circle", "kit", "stripe"
	Operation string // "add_access_group", "tag_subscriber", …
	Status    int    // HTTP status; 0 when no response arrived
	Kind      Kind
	// RetryAfter is the provider's requested wait (Retry-After), zero when it gave none.
	RetryAfter time.Duration
	// Message is the provider's error text (never a secret).
	Message string
	// Err is the underlying transport error, if any.
	Err error
	// Throttled says the request was never sent: membersync's own budget had no slot within the
	// caller's wait, or was paused by a 429; RetryAfter is when it will have one.
	Throttled bool
}

func (e *Error) Error() string {
	s := e.call() + ": " + e.public()
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// call names the failed call: its provider and operation, such as "circle add_access_group".
func (e *Error) call() string { return e.Provider + " " + e.Operation }

// public words e without its underlying transport error: its Kind, its HTTP status and the
// provider's message, such as "config (HTTP 401): Unauthorized".
func (e *Error) public() string {
	s := e.Kind.String()
	if e.Status != 0 {
		s += fmt.Sprintf(" (HTTP %d)", e.Status)
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Explain words err so that it is safe to show and to store. For an *Error, call is its provider and
// operation ("circle add_access_group") and message its Kind, HTTP status and the provider's message
// ("config (HTTP 401): Unauthorized"), leaving out the underlying transport error, whose URL may carry
// an email address. For any other error, call is "" and message is its text cut before the first
// "?", so that no query string is kept. Both are "" when err is nil.
func Explain(err error) (call, message string) {
	if err == nil {
		return "", ""
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.call(), pe.public()
	}
	message, _, _ = strings.Cut(err.Error(), "?")
	return "", message
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err, or 0 when err is not a provider Error.
func KindOf(err error) Kind {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Kind
	}
	return 0
}

// Retryable reports whether err is worth retrying later (transient or rate limited).
func Retryable(err error) bool {
	k := KindOf(err)
	return k == Transient || k == RateLimited
}

// ClassifyStatus maps an HTTP status to a Kind the way every provider here documents it. Clients
// override it for the answers that mean "already done" before calling it.
func ClassifyStatus(status int) Kind {
	switch {
	case status == 429:
		return RateLimited
	case status == 401 || status == 403:
		return Config
	case status == 404:
		return NotFound
	case status == 408 || status >= 500:
		return Transient
	default:
		return Permanent
	}
}

// Call is the record of one HTTP call to a provider, for the journal and metrics. It holds no secret
// and no request body.
type Call struct {
	Provider  string
	Operation string
	// Target names what the call acted on, such as "access_group:12" (never a raw email).
	Target   string
	Method   string
	Path     string
	Status   int // 0 when no response arrived
	Attempt  int // 1 for the first try
	Started  time.Time
	Duration time.Duration
	// ThrottleWait is how long the call waited for the rate limiter before it was sent.
	ThrottleWait time.Duration
	Err          error
}

// Observer receives every Call a client makes. It must be safe for concurrent use and fast.
type Observer func(Call)

type observerKey struct{}

// WithObserver returns a context whose calls are also reported to o: the sync engine uses it to
// journal each HTTP call of one person's sync, beside the client's own Observer (metrics).
func WithObserver(ctx context.Context, o Observer) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// ObserverFrom returns the Observer WithObserver put in ctx, or nil.
func ObserverFrom(ctx context.Context) Observer {
	o, _ := ctx.Value(observerKey{}).(Observer)
	return o
}

// TransportError classifies a call that got no answer: Transient, except a connection the egress
// allowlist refused, which is Config (retrying cannot help; the named config key must change) with
// the refusal as its message, so that review items and `check` say which host and key.
func TransportError(prov, op string, err error) *Error {
	if re := egress.Refused(err); re != nil {
		return &Error{Provider: prov, Operation: op, Kind: Config, Message: re.Error(), Err: err}
	}
	return &Error{Provider: prov, Operation: op, Kind: Transient, Err: err}
}
