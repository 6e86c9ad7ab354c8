// Package billing reads billing state from Stripe with stripe-go: the snapshot of one person's
// customers, subscriptions and one-time purchases that entitlement.Compute takes, the events the
// backfill replays, the lookups the webhook handler, the sweep and the status pages need. It only
// reads (a billing portal session is its one write), pins the API version stripe-go pins, and reports
// every HTTP call to a provider.Observer. Failures come back as *provider.Error; retries are the job
// queue's business, so stripe-go's own retries are off.
package billing

import (
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v85"

	"github.com/membersync/membersync/internal/budget"
	"github.com/membersync/membersync/internal/provider"
)

// DefaultBaseURL is Stripe's API base URL.
const DefaultBaseURL = "https://api.stripe.com"

// DefaultTimeout bounds one Stripe call.
const DefaultTimeout = 20 * time.Second

// DefaultRequestsPerMinute is Stripe's budget by default: 20 a second, under the sandbox's 25.
const DefaultRequestsPerMinute = 1200

// Rate is the budget of requestsPerMinute (default when zero), in bursts of a tenth of a second's
// worth: Stripe counts per second, and a bucket allows its burst on top of its rate within any
// window, so a burst of a whole second's worth could double a second's calls (the launch-day
// benchmark saw 429s with it).
func Rate(requestsPerMinute int) budget.Rate {
	rpm := provider.OrDefault(requestsPerMinute, DefaultRequestsPerMinute)
	return budget.Rate{PerMinute: rpm, Burst: max(1, rpm/600)}
}

// pageSize is the limit asked of every list call: Stripe's maximum, so that few people need a second page.
const pageSize = 100

// Config configures a Reader.
type Config struct {
	// SecretKey is the secret (sk_…) or restricted (rk_…) API key.
	SecretKey string
	// BaseURL is the API base URL, default DefaultBaseURL; a fake or a proxy goes here.
	BaseURL string
	// HTTPClient sends the requests; its Transport is wrapped to observe each call. Default: a client
	// with a 20 s timeout.
	HTTPClient *http.Client
	// RequestsPerMinute is the rate of the budget every call spends, default DefaultRequestsPerMinute
	// (Stripe allows 100 per second live and 25 in a sandbox, 25 per endpoint).
	RequestsPerMinute int
	// Budget, when set, replaces that in-memory budget: the database budget every instance shares
	// (store.Budget, built with Rate(RequestsPerMinute)).
	Budget budget.Budget
	// MaxWait is the longest a call waits for the budget before it fails RateLimited, so that the
	// job snoozes instead; default 10 s.
	MaxWait time.Duration
	// RateLimitWindow is how long every call waits after a 429, default RateLimitWindow.
	RateLimitWindow time.Duration
	// Observer receives every HTTP call made; nil drops them.
	Observer provider.Observer
	// Now is the clock of the call records; default time.Now.
	Now func() time.Time
}

// Reader reads billing state from Stripe. It is safe for concurrent use.
type Reader struct {
	sc *stripe.Client
}

// NewReader returns a Reader for cfg. stripe-go's network retries are off (MaxNetworkRetries 0):
// stripe-go v85 never retries an answer carrying a Stripe JSON error anyway (except a 429
// lock_timeout), only transport failures, and a retry hidden in the client would hide a call from the
// journal and hold a worker; the job queue retries with backoff instead.
func NewReader(cfg Config) *Reader {
	base := cfg.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	hc := &http.Client{Timeout: DefaultTimeout}
	if cfg.HTTPClient != nil {
		c := *cfg.HTTPClient
		hc = &c
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	// The budget runs on the real clock: Now may be a test's or the demo's frozen one.
	hc.Transport = &observed{base: rt, observer: cfg.Observer, now: now,
		budget:  provider.NewBudget(cfg.Budget, Rate(cfg.RequestsPerMinute), nil),
		maxWait: provider.OrDefault(cfg.MaxWait, 10*time.Second), window: provider.OrDefault(cfg.RateLimitWindow, RateLimitWindow)}
	backends := stripe.NewBackendsWithConfig(&stripe.BackendConfig{
		URL:               stripe.String(base),
		HTTPClient:        hc,
		MaxNetworkRetries: stripe.Int64(0),
		LeveledLogger:     &stripe.LeveledLogger{Level: stripe.LevelNull},
		EnableTelemetry:   stripe.Bool(false),
	})
	return &Reader{sc: stripe.NewClient(cfg.SecretKey, stripe.WithBackends(backends))}
}

// Permission is one permission a restricted key needs.
type Permission struct {
	// Resource is the resource as the Dashboard's restricted-key form names it.
	Resource string
	// Access is "Read" or "Write".
	Access string
	// Code is the permission as Stripe's errors name it ("Having the 'rak_customer_read' permission
	// would allow this request to continue").
	Code string
	// Why says what membersync reads with it.
	Why string
}

// Permissions returns what a restricted key (rk_live_…) needs for everything the Reader does. All
// are Read except Customer portal, which only the status pages' "update payment method" button needs.
// Prices are listed (with their products expanded) for the names membersync shows (Reader.Prices);
// subscription items and line items embed them too.
func Permissions() []Permission {
	return []Permission{
		{"Customers", "Read", "rak_customer_read", "email, name and deletion of each customer; customers by email"},
		{"Subscriptions", "Read", "rak_subscription_read", "every subscription of a customer (status=all) with its items; the sweep's list"},
		{"Invoices", "Read", "rak_invoice_read", "the latest invoice of each subscription and its payments (expanded)"},
		{"PaymentIntents", "Read", "rak_payment_intent_read", "the payment intent of a paid Checkout Session (expanded)"},
		{"Charges", "Read", "rak_charge_read", "payment attempts, refunded amounts"},
		{"Disputes", "Read", "rak_dispute_read", "the disputes of a disputed charge"},
		{"Checkout Sessions", "Read", "rak_checkout_session_read", "paid one-time purchases and their line items; the welcome page"},
		{"Products", "Read", "rak_product_read", "product names shown beside prices (membersync catalog); embedded in items"},
		{"Prices", "Read", "rak_price_read", "price names and amounts (membersync catalog); embedded in items"},
		{"Events", "Read", "rak_event_read", "backfill and the latest-event check"},
		{"Customer portal", "Write", "rak_billing_portal_session_write", "billing portal links on status pages"},
	}
}

// operationPermission names the permission an operation needs, for permission errors whose message
// does not name one.
func operationPermission(op string) string {
	switch op {
	case "get_customer", "list_customers":
		return "rak_customer_read"
	case "list_subscriptions", "get_subscription", "list_subscription_items":
		return "rak_subscription_read"
	case "get_invoice", "list_invoice_payments":
		return "rak_invoice_read"
	case "get_payment_intent":
		return "rak_payment_intent_read"
	case "list_charges", "get_charge":
		return "rak_charge_read"
	case "list_disputes", "get_dispute":
		return "rak_dispute_read"
	case "list_checkout_sessions", "get_checkout_session", "list_checkout_session_line_items":
		return "rak_checkout_session_read"
	case "list_events", "get_event":
		return "rak_event_read"
	case "list_prices", "get_price":
		return "rak_price_read"
	case "create_billing_portal_session":
		return "rak_billing_portal_session_write"
	}
	return ""
}

// describePermission turns a permission code into the Dashboard's words: "Read on Subscriptions".
func describePermission(code string) string {
	for _, p := range Permissions() {
		if p.Code == code {
			return p.Access + " on " + p.Resource
		}
	}
	return "the permission " + code
}

func unix(t int64) time.Time {
	if t == 0 {
		return time.Time{}
	}
	return time.Unix(t, 0).UTC()
}
