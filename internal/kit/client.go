// Package kit is membersync's client for the Kit (formerly ConvertKit) API v4, authenticated with a
// v4 API key or an OAuth access token. It owns the few calls the reconciler and the drift sweep need
// (upsert and find subscribers, tag and untag, add to a sequence, page through a tag's subscribers),
// the mapping of Kit's answers to provider Kinds, and a token bucket that keeps every caller of one
// Client under Kit's limit for the credential: 120 requests per 60 s for an API key, 600 for an
// OAuth token. calls.go says what Kit v4 allows to spend fewer calls per purchase.
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

	"github.com/membersync/membersync/internal/budget"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/provider"
)

// Kit's documented limits per credential (developers.kit.com/api-reference/rate-limits): 120
// requests per 60 s for an API key, 600 for an OAuth access token.
const (
	keyLimitPerMinute   = 120
	oauthLimitPerMinute = 600
)

// Defaults applied by New to zero Config fields.
const (
	DefaultBaseURL = "https://api.kit.com"
	// DefaultRequestsPerMinute is the rate for an API key: Kit allows 120, the rest is margin.
	DefaultRequestsPerMinute = 100
	// DefaultOAuthRequestsPerMinute is the rate for an OAuth token: Kit allows 600, with the same
	// sixth kept as margin.
	DefaultOAuthRequestsPerMinute = 500
	DefaultTimeout                = 15 * time.Second
	DefaultMaxRetries             = 2
	DefaultMaxWait                = 10 * time.Second
)

// Who enrolls the plans' onboarding sequences (Config.Onboarding).
const (
	// OnboardingAPI: membersync adds the subscriber to the sequence, once, after the Circle grant.
	OnboardingAPI = "api"
	// OnboardingAutomation: a Kit automation rule ("Tag added" → "Subscribe to sequence") on the
	// plan's tag enrolls it; membersync never calls the sequence endpoint for onboarding.
	OnboardingAutomation = "automation"
)

// Config configures a Client. Zero fields take the defaults above.
type Config struct {
	// BaseURL is scheme://host[/prefix] without /v4, default https://api.kit.com. Requests go nowhere
	// else: redirects are not followed.
	BaseURL string
	// APIKey is the v4 API key, sent as X-Kit-Api-Key. It never appears in errors or calls.
	APIKey string
	// OAuthToken, when set, is sent instead of APIKey as Authorization: Bearer: the access token of
	// an OAuth app the founder authorized for their own account, which Kit allows 600 requests per
	// 60 s instead of 120. Kit's access tokens expire (the token endpoint answers expires_in); this
	// client does not refresh them: an expired token is a 401, a Config error.
	OAuthToken string
	// RequestsPerMinute is the rate of the token bucket shared by every caller of the Client,
	// default 100 for an API key (Kit allows 120 per 60 s) and 500 for an OAuth token (Kit allows
	// 600); the rest is margin.
	RequestsPerMinute int
	// Budget, when set, replaces that bucket: the database budget every instance shares
	// (store.Budget, built with Rate(RequestsPerMinute), or OAuthRate for an OAuth token).
	Budget budget.Budget
	// Onboarding is OnboardingAPI (default, also for "") or OnboardingAutomation: how the founder
	// set up Kit, which the sync engine asks through OnboardingByAutomation.
	Onboarding string
	// TagFirst makes the sync engine tag a person it has not linked to a subscriber yet with
	// TagOrCreate (one call when Kit already has the email, three when not) instead of creating the
	// subscriber first (two calls either way). It pays when most buyers are already on the list.
	TagFirst bool
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
	// RateLimitWindow is how long every call waits after a 429, default RateLimitWindow (the
	// provider's documented window); the demo and tests shorten it.
	RateLimitWindow time.Duration
	// Observer receives every HTTP call (one per attempt).
	Observer provider.Observer
	// Now is the clock for call records; nil means time.Now.
	Now func() time.Time
}

// Client calls the Kit API v4. It is safe for concurrent use; all callers share its throttle.
type Client struct {
	http         *provider.HTTP
	rate         budget.Rate
	byAutomation bool // Config.Onboarding is OnboardingAutomation
	tagFirst     bool // Config.TagFirst
}

// RateLimitWindow is how long every Kit call waits after a 429: Kit counts a rolling 60 s and
// answers "Retry later" without Retry-After.
const RateLimitWindow = 60 * time.Second

// Rate is the budget of an API key at requestsPerMinute (DefaultRequestsPerMinute when zero), its
// burst sized by burst against Kit's 120 per 60 s.
func Rate(requestsPerMinute int) budget.Rate {
	rpm := provider.OrDefault(requestsPerMinute, DefaultRequestsPerMinute)
	return budget.Rate{PerMinute: rpm, Burst: burst(rpm, keyLimitPerMinute)}
}

// OAuthRate is the budget of an OAuth token at requestsPerMinute (DefaultOAuthRequestsPerMinute
// when zero), its burst sized by burst against Kit's 600 per 60 s.
func OAuthRate(requestsPerMinute int) budget.Rate {
	rpm := provider.OrDefault(requestsPerMinute, DefaultOAuthRequestsPerMinute)
	return budget.Rate{PerMinute: rpm, Burst: burst(rpm, oauthLimitPerMinute)}
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	timeout := provider.OrDefault(cfg.Timeout, DefaultTimeout)
	if cfg.HTTPClient != nil {
		timeout = 0 // Config.Timeout is ignored when HTTPClient is set
	}
	r := Rate(cfg.RequestsPerMinute)
	key := cfg.APIKey
	header := func(h http.Header) { h.Set("X-Kit-Api-Key", key) }
	if token := cfg.OAuthToken; token != "" {
		r = OAuthRate(cfg.RequestsPerMinute)
		header = func(h http.Header) { h.Set("Authorization", "Bearer "+token) }
	}
	return &Client{
		rate:         r,
		byAutomation: cfg.Onboarding == OnboardingAutomation,
		tagFirst:     cfg.TagFirst,
		http: &provider.HTTP{
			Provider:        "kit",
			BaseURL:         base,
			Header:          header,
			Client:          provider.NoRedirectClient(timeout, cfg.HTTPClient),
			Budget:          provider.NewBudget(cfg.Budget, r, cfg.Now),
			RateLimitWindow: provider.OrDefault(cfg.RateLimitWindow, RateLimitWindow),
			MaxRetries:      provider.Retries(cfg.MaxRetries, DefaultMaxRetries),
			MaxWait:         provider.OrDefault(cfg.MaxWait, DefaultMaxWait),
			Observer:        provider.Scrubbing(cfg.Observer, provider.StripURLQuery),
			Now:             cfg.Now,
		},
	}
}

// burst sizes the token bucket so that a full bucket plus a minute of refill stays within limit,
// Kit's requests per 60 s for the credential, whenever the configured rate leaves room for it: a
// tenth of a minute's requests, at most the margin below the limit, at least 1.
func burst(rpm, limit int) int {
	return max(1, min(rpm/10, limit-rpm))
}

// OnboardingByAutomation reports whether a Kit automation enrolls the plans' onboarding sequences
// (Config.Onboarding), so that the sync engine does not call AddToSequence for them.
func (c *Client) OnboardingByAutomation() bool { return c.byAutomation }

// TagFirst reports whether the sync engine should reach a subscriber it has not linked yet through
// TagOrCreate rather than UpsertSubscriber (Config.TagFirst).
func (c *Client) TagFirst() bool { return c.tagFirst }

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
