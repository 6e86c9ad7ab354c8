package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/membersync/membersync/internal/budget"
)

// maxResponse bounds how much of a provider's answer is read.
const maxResponse = 8 << 20

// HTTP sends JSON requests to one provider's base URL, throttled by the credential's Budget (shared
// by every caller, and on PostgreSQL by every instance), retrying transient failures a few times
// with jittered backoff. A 429 is not retried in-process: it pauses the Budget for the provider's
// window, so that no caller anywhere spends quota on a request bound to be refused, and the job
// snoozes until then. Longer outages are the job queue's business: after MaxRetries the classified
// Error is returned.
type HTTP struct {
	Provider string
	BaseURL  string // scheme://host[/prefix], no trailing slash; requests go nowhere else
	// Header sets authentication headers on each request.
	Header func(http.Header)
	Client *http.Client
	// Budget throttles requests; nil means unthrottled.
	Budget budget.Budget
	// RateLimitWindow is how long a 429 without Retry-After pauses the Budget: the provider's
	// documented window (Kit and Circle: 60 s). Zero means Backoff's wait.
	RateLimitWindow time.Duration
	// MaxRetries is how many times a transient failure is retried in-process (default 0).
	MaxRetries int
	// MaxWait caps an in-process wait for the limiter or a Retry-After; beyond it the call fails
	// RateLimited so that the job snoozes instead of holding a worker.
	MaxWait  time.Duration
	Observer Observer
	Now      func() time.Time
}

// Request is one call to make.
type Request struct {
	Operation string
	Target    string
	Method    string
	Path      string // joined to BaseURL; may carry a query string
	Body      any    // JSON-encoded when not nil
}

// Response is a provider's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Decode unmarshals the body into v.
func (r *Response) Decode(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decoding response (HTTP %d): %w", r.Status, err)
	}
	return nil
}

// Do sends req and returns the response for any status the caller must interpret (2xx, 404, 422, …).
// Transport errors, 429 and 5xx are retried up to MaxRetries and then returned as an *Error; every
// other status comes back as a Response with a nil error.
func (h *HTTP) Do(ctx context.Context, req Request) (*Response, error) {
	now := h.Now
	if now == nil {
		now = time.Now
	}
	var body []byte
	if req.Body != nil {
		b, err := json.Marshal(req.Body)
		if err != nil {
			return nil, fmt.Errorf("%s %s: encoding request: %w", h.Provider, req.Operation, err)
		}
		body = b
	}
	client := h.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	for attempt := 1; ; attempt++ {
		waited, err := h.wait(ctx)
		if err != nil {
			perr := &Error{Provider: h.Provider, Operation: req.Operation, Kind: RateLimited, Message: "local throttle", Err: err}
			var over *budget.Over
			if errors.As(err, &over) {
				perr.RetryAfter, perr.Throttled = over.Wait, true
				if over.Paused {
					perr.Message = "paused after a 429"
				}
			}
			return nil, perr
		}
		start := now()
		resp, err := h.send(ctx, client, req, body)
		call := Call{
			Provider: h.Provider, Operation: req.Operation, Target: req.Target, Method: req.Method,
			Path: stripQuery(req.Path), Attempt: attempt, Started: start, Duration: now().Sub(start), ThrottleWait: waited,
		}
		if resp != nil {
			call.Status = resp.Status
		}
		var perr *Error
		switch {
		case err != nil:
			perr = TransportError(h.Provider, req.Operation, err)
			if ctx.Err() != nil {
				perr.Err = ctx.Err()
			}
		case resp.Status == http.StatusTooManyRequests || resp.Status == http.StatusRequestTimeout || resp.Status >= 500:
			perr = &Error{Provider: h.Provider, Operation: req.Operation, Status: resp.Status,
				Kind: ClassifyStatus(resp.Status), RetryAfter: retryAfter(resp.Header, now()), Message: Snippet(resp.Body)}
		}
		if perr != nil {
			call.Err = perr
		}
		if h.Observer != nil {
			h.Observer(call)
		}
		if o := ObserverFrom(ctx); o != nil {
			o(call)
		}
		if perr == nil {
			return resp, nil
		}
		if perr.Status == http.StatusTooManyRequests {
			return nil, h.pause(ctx, perr, attempt)
		}
		if attempt > h.MaxRetries || ctx.Err() != nil {
			return nil, perr
		}
		d := Backoff(attempt)
		if perr.RetryAfter > 0 {
			d = perr.RetryAfter
		}
		if h.MaxWait > 0 && d > h.MaxWait {
			return nil, perr
		}
		select {
		case <-ctx.Done():
			return nil, perr
		case <-time.After(d):
		}
	}
}

// pause answers a 429: every caller of the Budget stops until the provider's window has passed
// (Retry-After when it sent one, else RateLimitWindow), and the error asks the job to snooze as
// long. A pause that cannot be recorded still snoozes this job.
func (h *HTTP) pause(ctx context.Context, perr *Error, attempt int) *Error {
	wait := perr.RetryAfter
	if wait <= 0 {
		wait = h.RateLimitWindow
	}
	if wait <= 0 {
		wait = Backoff(attempt)
	}
	perr.RetryAfter = wait
	if h.Budget != nil {
		if err := h.Budget.Pause(context.WithoutCancel(ctx), wait); err != nil {
			perr.Err = err
		}
	}
	return perr
}

// wait takes one request from the Budget and sleeps until it may be sent (budget.Wait). A wait
// beyond MaxWait (or the context's WithMaxWait) takes nothing and fails, with the time the Budget
// asked for, so that the job snoozes as long.
func (h *HTTP) wait(ctx context.Context) (time.Duration, error) {
	if h.Budget == nil {
		return 0, nil
	}
	return budget.Wait(ctx, h.Budget, MaxWaitFrom(ctx, h.MaxWait))
}

func (h *HTTP) send(ctx context.Context, client *http.Client, req Request, body []byte) (*Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, h.BaseURL+req.Path, rd)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", "membersync")
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if h.Header != nil {
		h.Header(hr.Header)
	}
	resp, err := client.Do(hr)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Backoff returns the wait before retry number attempt (1-based): exponential from 200 ms, capped at
// 30 s, with full jitter in its upper half.
func Backoff(attempt int) time.Duration {
	d := 200 * time.Millisecond << min(attempt-1, 8)
	d = min(d, 30*time.Second)
	return d/2 + rand.N(d/2+1)
}

func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

func stripQuery(p string) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '?' {
			return p[:i]
		}
	}
	return p
}

// Snippet returns the start of a provider's answer for an error message.
func Snippet(b []byte) string {
	const n = 300
	s := string(bytes.TrimSpace(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
