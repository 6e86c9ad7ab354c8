package provider

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/budget"
)

// OrDefault returns v when it is positive and def otherwise, the way every client's Config falls
// back to its defaults.
func OrDefault[T ~int | ~int64](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Retries returns how many in-process retries a Config's MaxRetries asks for: def when it is zero,
// none when it is negative.
func Retries(n, def int) int {
	switch {
	case n == 0:
		return def
	case n < 0:
		return 0
	}
	return n
}

// NewBudget returns budget b, or when it is nil an in-memory one of rate on clock now (nil: the
// real clock).
func NewBudget(b budget.Budget, rate budget.Rate, now func() time.Time) budget.Budget {
	if b != nil {
		return b
	}
	return budget.NewMemory(rate, now)
}

// NoRedirectClient returns a copy of base (of a zero http.Client when base is nil) whose redirect
// policy refuses every redirect, so that requests go to the configured base URL and nowhere else.
// When timeout is positive and the copy has no Timeout, timeout becomes its Timeout.
func NoRedirectClient(timeout time.Duration, base *http.Client) *http.Client {
	var hc http.Client
	if base != nil {
		hc = *base
	}
	if timeout > 0 && hc.Timeout <= 0 {
		hc.Timeout = timeout
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &hc
}

// Scrubbing returns an Observer that hands the *Error of each Call to scrub before passing the Call
// on to obs, which may be nil. HTTP gives its Observer the same *Error that Do returns, so what scrub
// changes is also what the caller gets.
func Scrubbing(obs Observer, scrub func(*Error)) Observer {
	return func(call Call) {
		var pe *Error
		if errors.As(call.Err, &pe) {
			scrub(pe)
		}
		if obs != nil {
			obs(call)
		}
	}
}

// StripURLQuery removes the query, which may hold an email address, from the URL of e's transport
// error. It is idempotent.
func StripURLQuery(e *Error) {
	var ue *url.Error
	if errors.As(e.Err, &ue) && strings.ContainsRune(ue.URL, '?') {
		e.Err = &url.Error{Op: ue.Op, URL: stripQuery(ue.URL), Err: ue.Err}
	}
}

type maxWaitKey struct{}

// WithMaxWait returns a context whose calls wait at most d for their budget, when d is shorter than
// the client's own MaxWait: the sync asks this of Kit, whose slots during a launch are better left
// to the Kit queue than waited for by a worker that grants Circle access.
func WithMaxWait(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, maxWaitKey{}, d)
}

// MaxWaitFrom returns the shorter of def and the context's WithMaxWait (def when it has none; zero
// def means no limit).
func MaxWaitFrom(ctx context.Context, def time.Duration) time.Duration {
	d, ok := ctx.Value(maxWaitKey{}).(time.Duration)
	if !ok || d <= 0 {
		return def
	}
	if def > 0 && def < d {
		return def
	}
	return d
}
