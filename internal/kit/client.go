// Package kit is membersync's client for the Kit (formerly ConvertKit) API v4, authenticated with a
// v4 API key. It owns the few calls the reconciler and the drift sweep need (upsert and find
// subscribers, tag and untag, add to a sequence, page through a tag's subscribers), the mapping of
// Kit's answers to provider Kinds, and a token bucket that keeps every caller of one Client under
// Kit's 120 requests per 60 s per key.
package kit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/provider"
)

// keyLimitPerMinute is Kit's documented limit for an API key: 120 requests per 60 s.
const keyLimitPerMinute = 120

// Defaults applied by New to zero Config fields.
const (
	DefaultBaseURL           = "https://api.kit.com"
	DefaultRequestsPerMinute = 100
	DefaultTimeout           = 15 * time.Second
	DefaultMaxRetries        = 2
	DefaultMaxWait           = 10 * time.Second
)

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	// BaseURL is scheme://host[/prefix] without /v4, default https://api.kit.com. Requests go nowhere
	// else: redirects are not followed.
	BaseURL string
	// APIKey is the v4 API key, sent as X-Kit-Api-Key. It never appears in errors or calls.
	APIKey string
	// RequestsPerMinute is the rate of the token bucket shared by every caller of the Client,
	// default 100 (Kit allows 120 per 60 s per key; the rest is margin).
	RequestsPerMinute int
	// Timeout bounds one HTTP request, default 15 s. It is ignored when HTTPClient is set.
	Timeout time.Duration
	// MaxRetries is how many times a transient or rate-limited failure is retried in-process,
	// default 2; a negative value means none.
	MaxRetries int
	// MaxWait is the longest in-process wait (throttle or backoff) before a call fails RateLimited
	// so that the job snoozes instead, default 10 s.
	MaxWait time.Duration
	// HTTPClient sends the requests; nil means a client with Timeout. Its redirect policy is
	// replaced so that no redirect is followed.
	HTTPClient *http.Client
	// Observer receives every HTTP call (one per attempt).
	Observer provider.Observer
	// Now is the clock for call records; nil means time.Now.
	Now func() time.Time
}

// Client calls the Kit API v4. It is safe for concurrent use; all callers share its throttle.
type Client struct {
	http    *provider.HTTP
	limiter *rate.Limiter
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	rpm := provider.OrDefault(cfg.RequestsPerMinute, DefaultRequestsPerMinute)
	timeout := provider.OrDefault(cfg.Timeout, DefaultTimeout)
	if cfg.HTTPClient != nil {
		timeout = 0 // Config.Timeout is ignored when HTTPClient is set
	}
	limiter := provider.NewLimiter(rpm, burst(rpm))
	key := cfg.APIKey
	return &Client{
		limiter: limiter,
		http: &provider.HTTP{
			Provider:   "kit",
			BaseURL:    base,
			Header:     func(h http.Header) { h.Set("X-Kit-Api-Key", key) },
			Client:     provider.NoRedirectClient(timeout, cfg.HTTPClient),
			Limiter:    limiter,
			MaxRetries: provider.Retries(cfg.MaxRetries, DefaultMaxRetries),
			MaxWait:    provider.OrDefault(cfg.MaxWait, DefaultMaxWait),
			Observer:   provider.Scrubbing(cfg.Observer, provider.StripURLQuery),
			Now:        cfg.Now,
		},
	}
}

// burst sizes the token bucket so that a full bucket plus a minute of refill stays within Kit's 120
// requests per 60 s whenever the configured rate leaves room for it: a tenth of a minute's requests,
// at most the margin below Kit's limit, at least 1.
func burst(rpm int) int {
	return max(1, min(rpm/10, keyLimitPerMinute-rpm))
}

// do sends req and returns the response for the statuses the caller interprets.
func (c *Client) do(ctx context.Context, req provider.Request) (*provider.Response, error) {
	resp, err := c.http.Do(ctx, req)
	if err != nil {
		var pe *provider.Error
		if errors.As(err, &pe) {
			pe.Message = kitMessage([]byte(pe.Message))
		}
		return nil, err
	}
	return resp, nil
}

// fail turns an answer the caller did not expect into a classified error carrying Kit's messages.
func fail(op string, resp *provider.Response) error {
	return &provider.Error{
		Provider:  "kit",
		Operation: op,
		Status:    resp.Status,
		Kind:      provider.ClassifyStatus(resp.Status),
		Message:   kitMessage(resp.Body),
	}
}

// kitMessage extracts the messages of Kit's {"errors":["..."]} body, or returns the body's start.
func kitMessage(body []byte) string {
	var e struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		return strings.Join(e.Errors, "; ")
	}
	return provider.Snippet(body)
}

// emailTarget names a call that acts on an email address without revealing it: a short SHA-256 of
// the normalized address.
func emailTarget(email string) string {
	sum := sha256.Sum256([]byte(identity.NormalizeEmail(email)))
	return "email:" + hex.EncodeToString(sum[:8])
}

// checkEmail refuses an empty address before spending a request on it.
func checkEmail(op, email string) error {
	if strings.TrimSpace(email) == "" {
		return &provider.Error{Provider: "kit", Operation: op, Kind: provider.Permanent, Message: "empty email address"}
	}
	return nil
}
