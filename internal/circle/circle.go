// Package circle is membersync's client for the Circle.so Admin API v2. It owns the few calls the
// reconciler and the drift sweep need (find, invite and read community members; grant, revoke and
// check access-group membership by email; page through an access group's members and list the
// access groups), the mapping of Circle's answers to provider Kinds (including the answers that mean
// "already done"), and a token bucket that keeps every caller of one Client under the configured rate.
package circle

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/budget"
	"github.com/membersync/membersync/internal/provider"
)

// apiPrefix is the path of the Admin API v2 under the base URL.
const apiPrefix = "/api/admin/v2"

// providerName names Circle in errors and call records.
const providerName = "circle"

// Defaults applied by New to zero Config fields.
const (
	DefaultBaseURL           = "https://app.circle.so"
	DefaultRequestsPerMinute = 300 // Circle allows 2,000 requests per 5 min per IP
	DefaultTimeout           = 15 * time.Second
	DefaultMaxRetries        = 2
	DefaultMaxWait           = 10 * time.Second
)

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	// BaseURL is scheme://host[/prefix] without /api/admin/v2, default https://app.circle.so.
	// Requests go nowhere else: redirects are not followed.
	BaseURL string
	// Token is the Admin V2 API token, sent as "Authorization: Bearer <token>". It never appears
	// in errors or call records.
	Token string
	// RequestsPerMinute is the rate of the token bucket shared by every caller of the Client,
	// default 300. The burst is one second's worth of requests, at most 10.
	RequestsPerMinute int
	// Budget, when set, replaces that bucket: the database budget every instance shares
	// (store.Budget, built with Rate(RequestsPerMinute)).
	Budget budget.Budget
	// Timeout bounds one HTTP request, default 15 s.
	Timeout time.Duration
	// MaxRetries is how many times a transient or rate-limited failure is retried in-process,
	// default 2; a negative value means none.
	MaxRetries int
	// MaxWait is the longest in-process wait (throttle, backoff or Retry-After) before a call fails
	// so that the job snoozes instead, default 10 s.
	MaxWait time.Duration
	// HTTPClient sends the requests; nil means a client with Timeout. The Client uses a copy whose
	// redirect policy refuses every redirect and whose timeout is Timeout when it had none.
	HTTPClient *http.Client
	// RateLimitWindow is how long every call waits after a 429, default RateLimitWindow (the
	// provider's documented window); the demo and tests shorten it.
	RateLimitWindow time.Duration
	// Observer receives every HTTP call (one per attempt).
	Observer provider.Observer
	// Now is the clock for call records and Retry-After dates; nil means time.Now.
	Now func() time.Time
}

// RateLimitWindow is how long every Circle call waits after a 429: Circle recommends about 60 s.
const RateLimitWindow = 60 * time.Second

// Rate is the budget of requestsPerMinute (default when zero): bursts of one second's worth, at most
// 10.
func Rate(requestsPerMinute int) budget.Rate {
	rpm := provider.OrDefault(requestsPerMinute, DefaultRequestsPerMinute)
	return budget.Rate{PerMinute: rpm, Burst: max(1, min(rpm/60, 10))}
}

// Client calls the Circle Admin API v2. It is safe for concurrent use; all callers share its throttle.
type Client struct {
	http  *provider.HTTP
	token string
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	rpm := provider.OrDefault(cfg.RequestsPerMinute, DefaultRequestsPerMinute)
	c := &Client{token: cfg.Token}
	token := cfg.Token
	c.http = &provider.HTTP{
		Provider: providerName,
		BaseURL:  base,
		Header:   func(h http.Header) { h.Set("Authorization", "Bearer "+token) },
		Client:   provider.NoRedirectClient(provider.OrDefault(cfg.Timeout, DefaultTimeout), cfg.HTTPClient),
		Budget:   provider.NewBudget(cfg.Budget, Rate(rpm), cfg.Now),
		// Circle recommends waiting about 60 s after a 429 and sends no Retry-After.
		RateLimitWindow: provider.OrDefault(cfg.RateLimitWindow, RateLimitWindow),
		MaxRetries:      provider.Retries(cfg.MaxRetries, DefaultMaxRetries),
		MaxWait:         provider.OrDefault(cfg.MaxWait, DefaultMaxWait),
		Observer:        provider.Scrubbing(cfg.Observer, c.scrub),
		Now:             cfg.Now,
	}
	return c
}

// do sends one request and returns the response for every status the caller must interpret.
func (c *Client) do(ctx context.Context, op, target, method, path string, body any) (*provider.Response, error) {
	resp, err := c.http.Do(ctx, provider.Request{
		Operation: op, Target: target, Method: method, Path: apiPrefix + path, Body: body,
	})
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) {
			c.scrub(pe)
		}
		return nil, err
	}
	return resp, nil
}

// fail turns an answer the caller did not expect into an error of kind carrying Circle's message.
func (c *Client) fail(op string, resp *provider.Response, kind provider.Kind) *provider.Error {
	return &provider.Error{
		Provider:  providerName,
		Operation: op,
		Status:    resp.Status,
		Kind:      kind,
		Message:   c.redact(parseError(resp.Body).String()),
	}
}

// failStatus is fail with the Kind that the status implies.
func (c *Client) failStatus(op string, resp *provider.Response) *provider.Error {
	return c.fail(op, resp, provider.ClassifyStatus(resp.Status))
}

// malformed reports a successful answer whose body could not be understood.
func malformed(op string, resp *provider.Response, err error) *provider.Error {
	return &provider.Error{
		Provider: providerName, Operation: op, Status: resp.Status, Kind: provider.Permanent,
		Message: "unexpected response body", Err: err,
	}
}

// scrub makes a provider error from the request loop safe to log: a transport error's URL loses its
// query (which holds an email), the token is redacted and a Circle error body becomes its message.
// It is idempotent, since the observer and do both apply it to the same error.
func (c *Client) scrub(pe *provider.Error) {
	provider.StripURLQuery(pe)
	if pe.Status != 0 && strings.HasPrefix(pe.Message, "{") {
		if s := parseError([]byte(pe.Message)).String(); s != "" {
			pe.Message = s
		}
	}
	pe.Message = c.redact(pe.Message)
}

// redact removes the API token from s, in case Circle (or a proxy) ever echoes it.
func (c *Client) redact(s string) string {
	if c.token == "" {
		return s
	}
	return strings.ReplaceAll(s, c.token, "[redacted]")
}

func ok(status int) bool { return status >= 200 && status < 300 }
