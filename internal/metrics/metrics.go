// Package metrics owns membersync's Prometheus metrics: what the webhook, the sync engine and the
// provider clients count and time, and gauges read from the database at scrape time (queue depth,
// open review items, provider calls this month). Label values are bounded: results, event types,
// providers, operations and status classes — never emails or ids.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/membersync/membersync/internal/provider"
)

// Metrics holds the collectors. All methods are safe for concurrent use; a nil *Metrics records nothing.
type Metrics struct {
	Registry *prometheus.Registry

	webhooks       *prometheus.CounterVec
	ackLatency     prometheus.Histogram
	events         *prometheus.CounterVec
	syncs          *prometheus.CounterVec
	syncDuration   prometheus.Histogram
	converge       prometheus.Histogram
	calls          *prometheus.CounterVec
	callLatency    *prometheus.HistogramVec
	throttleWait   *prometheus.HistogramVec
	reviewsOpened  *prometheus.CounterVec
	notifyFailures *prometheus.CounterVec
	// supportMessages counts triaged support messages by category and source (SupportMessage).
	supportMessages *prometheus.CounterVec
	// pruned counts the rows retention pruned, by kind; reclaimed the bytes SQLite handed back.
	pruned    *prometheus.CounterVec
	reclaimed prometheus.Counter
	// circleQuota is Circle's monthly request quota, exported while above 0 (SetCircleQuota).
	circleQuota atomic.Int64
}

// Gauges reads the figures that live in the database; each is collected at scrape time.
type Gauges interface {
	QueueStats(ctx context.Context) (available int, oldestAvailable time.Duration, err error)
	OpenReviewCount(ctx context.Context) (int, error)
	ProviderCallsSince(ctx context.Context, since time.Time) (map[string]int, error)
	ReviewShare(ctx context.Context, since time.Time) (events, reviews int, err error)
}

// New registers every collector (and the Go and process collectors) on a fresh registry. gauges and
// firing may be nil.
func New(gauges Gauges, firing func(ctx context.Context) int, log *slog.Logger) *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{Registry: r}
	m.webhooks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "membersync_webhook_requests_total",
		Help: "Stripe webhook deliveries by result: accepted, duplicate, ignored, bad_signature, bad_request, too_large, busy, unavailable."}, []string{"result"})
	m.ackLatency = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "membersync_webhook_ack_seconds",
		Help: "Time from reading a delivery to answering it.", Buckets: []float64{.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5}})
	m.events = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "membersync_events_total",
		Help: "New Stripe events stored, by type."}, []string{"type"})
	m.syncs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "membersync_sync_runs_total",
		Help: "Person syncs by outcome: converged, blocked (waiting on a review item), retry, merged, failed."}, []string{"outcome"})
	m.syncDuration = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "membersync_sync_duration_seconds",
		Help: "Duration of one person's sync.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)})
	m.converge = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "membersync_time_to_converge_seconds",
		Help: "From a Stripe event's receipt to every action for it confirmed in Circle and Kit.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 16)})
	m.calls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "membersync_provider_calls_total",
		Help: "HTTP calls to Stripe, Circle and Kit by operation and status class (2xx, 4xx, 429, 5xx, error)."}, []string{"provider", "operation", "status"})
	m.callLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "membersync_provider_call_seconds",
		Help: "Latency of provider calls.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}, []string{"provider", "operation"})
	m.throttleWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "membersync_provider_throttle_wait_seconds",
		Help: "Time calls waited for the client's rate limiter.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 12)}, []string{"provider"})
	m.reviewsOpened = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "membersync_review_items_opened_total",
		Help: "Review items opened, by kind."}, []string{"kind"})
	m.notifyFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "membersync_notifier_failures_total",
		Help: "Alert notifications that could not be delivered, by notifier."}, []string{"notifier"})
	m.supportMessages = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "membersync_support_messages_total",
		Help: "Support messages triaged by this process, by category (access, welcome_email, billing, refund, other) and source."}, []string{"category", "source"})
	m.pruned = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "membersync_retention_pruned_rows_total",
		Help: "Rows the retention job deleted or emptied, by kind (event_payloads, journal_calls, journal_detail, …)."}, []string{"kind"})
	m.reclaimed = prometheus.NewCounter(prometheus.CounterOpts{Name: "membersync_retention_reclaimed_bytes_total",
		Help: "Bytes the retention job handed back to the file system (SQLite incremental vacuum)."})
	r.MustRegister(m.webhooks, m.ackLatency, m.events, m.syncs, m.syncDuration, m.converge, m.calls, m.callLatency, m.throttleWait, m.reviewsOpened, m.notifyFailures, m.supportMessages,
		m.pruned, m.reclaimed)
	if gauges != nil {
		r.MustRegister(&dbCollector{g: gauges, firing: firing, log: log, quota: &m.circleQuota})
	}
	return m
}

// SetCircleQuota sets Circle's monthly request quota (circle.monthly_quota), exported as
// membersync_circle_quota_limit beside membersync_circle_quota_used.
func (m *Metrics) SetCircleQuota(limit int) {
	if m == nil {
		return
	}
	m.circleQuota.Store(int64(limit))
}

// Handler serves the exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Webhook records one delivery's result and acknowledgement latency; eventType is set for new events.
func (m *Metrics) Webhook(result, eventType string, d time.Duration) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(result).Inc()
	m.ackLatency.Observe(d.Seconds())
	if result == "accepted" || result == "ignored" {
		m.events.WithLabelValues(boundedType(eventType)).Inc()
	}
}

// Sync records one sync's outcome and duration.
func (m *Metrics) Sync(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.syncs.WithLabelValues(outcome).Inc()
	m.syncDuration.Observe(d.Seconds())
}

// Converged records the time to converge of the events a sync settled.
func (m *Metrics) Converged(d time.Duration) {
	if m == nil {
		return
	}
	m.converge.Observe(d.Seconds())
}

// ReviewOpened counts a new review item.
func (m *Metrics) ReviewOpened(kind string) {
	if m == nil {
		return
	}
	m.reviewsOpened.WithLabelValues(kind).Inc()
}

// NotifierFailed counts an alert that a notifier could not deliver.
func (m *Metrics) NotifierFailed(notifier string) {
	if m == nil {
		return
	}
	m.notifyFailures.WithLabelValues(notifier).Inc()
}

// SupportMessage counts a triaged support message (support.Metrics).
func (m *Metrics) SupportMessage(category, source string) {
	if m == nil {
		return
	}
	m.supportMessages.WithLabelValues(category, source).Inc()
}

// Retention counts what one retention pass pruned (rows per kind) and reclaimed (bytes).
func (m *Metrics) Retention(rows map[string]int64, reclaimedBytes int64) {
	if m == nil {
		return
	}
	for kind, n := range rows {
		m.pruned.WithLabelValues(kind).Add(float64(n))
	}
	m.reclaimed.Add(float64(max(reclaimedBytes, 0)))
}

// Call is a provider.Observer: it counts and times every provider call.
func (m *Metrics) Call(c provider.Call) {
	if m == nil {
		return
	}
	m.calls.WithLabelValues(c.Provider, c.Operation, statusClass(c)).Inc()
	m.callLatency.WithLabelValues(c.Provider, c.Operation).Observe(c.Duration.Seconds())
	if c.ThrottleWait > 0 {
		m.throttleWait.WithLabelValues(c.Provider).Observe(c.ThrottleWait.Seconds())
	}
}

func statusClass(c provider.Call) string {
	switch {
	case c.Status == 0:
		return "error"
	case c.Status == 429:
		return "429"
	default:
		return strconv.Itoa(c.Status/100) + "xx"
	}
}

// boundedType keeps the event-type label set bounded: Stripe's types are a fixed vocabulary of
// dotted lowercase words; anything else (a hostile or broken sender) is "other".
func boundedType(t string) string {
	if len(t) == 0 || len(t) > 64 {
		return "other"
	}
	for _, r := range t {
		if !(r >= 'a' && r <= 'z' || r == '.' || r == '_') {
			return "other"
		}
	}
	return t
}

// dbCollector reads gauges from the database at scrape time.
type dbCollector struct {
	g      Gauges
	firing func(ctx context.Context) int
	log    *slog.Logger
	quota  *atomic.Int64 // Circle's monthly quota; 0 when unset
}

// budgetUsage is read, when the Gauges provide it (*store.Store does), for the Circle quota gauge.
type budgetUsage interface {
	// BudgetUsage returns the requests the budgets whose key starts with prefix made in month.
	BudgetUsage(ctx context.Context, prefix, month string) (int64, error)
}

var (
	descQueueDepth  = prometheus.NewDesc("membersync_queue_depth", "Jobs available to run now.", nil, nil)
	descQueueAge    = prometheus.NewDesc("membersync_queue_oldest_available_seconds", "Age of the oldest job available to run.", nil, nil)
	descOpenReviews = prometheus.NewDesc("membersync_review_items_open", "Review items waiting for a person.", nil, nil)
	descMonthCalls  = prometheus.NewDesc("membersync_provider_calls_this_month", "Provider calls since the start of the UTC month (Circle's quota is monthly).", []string{"provider"}, nil)
	descShare       = prometheus.NewDesc("membersync_review_items_per_event_ratio", "Review items opened per Stripe event received over the last 7 days (target < 0.01).", nil, nil)
	descFiring      = prometheus.NewDesc("membersync_alerts_firing", "Alerts currently firing.", nil, nil)
	descCircleUsed  = prometheus.NewDesc("membersync_circle_quota_used", "Circle Admin API requests this UTC month, counted across instances and credentials (on SQLite written every minute).", nil, nil)
	descCircleLimit = prometheus.NewDesc("membersync_circle_quota_limit", "Circle's monthly request quota (circle.monthly_quota).", nil, nil)
	descSupportWeek = prometheus.NewDesc("membersync_support_messages_week", "Support messages received in the last 7 days, by category (the weekly volume the seed tracks).", []string{"category"}, nil)
)

// supportCategories are the support message categories (support.Categories): a bounded label set.
var supportCategories = []string{"access", "welcome_email", "billing", "refund", "other"}

// supportCounts is read, when the Gauges provide it (*store.Store does), for the weekly support volume.
type supportCounts interface {
	SupportCounts(ctx context.Context, from time.Time, weeks int) ([]map[string]int, error)
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueueDepth, descQueueAge, descOpenReviews, descMonthCalls, descShare, descFiring, descCircleUsed, descCircleLimit, descSupportWeek} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if n, age, err := c.g.QueueStats(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descQueueDepth, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(descQueueAge, prometheus.GaugeValue, age.Seconds())
	} else {
		c.log.Warn("metrics: queue stats", "err", err)
	}
	if n, err := c.g.OpenReviewCount(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(descOpenReviews, prometheus.GaugeValue, float64(n))
	}
	now := time.Now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if calls, err := c.g.ProviderCallsSince(ctx, month); err == nil {
		for _, p := range []string{"stripe", "circle", "kit"} {
			ch <- prometheus.MustNewConstMetric(descMonthCalls, prometheus.GaugeValue, float64(calls[p]), p)
		}
	}
	if events, reviews, err := c.g.ReviewShare(ctx, now.Add(-7*24*time.Hour)); err == nil {
		share := 0.0
		if events > 0 {
			share = float64(reviews) / float64(events)
		}
		ch <- prometheus.MustNewConstMetric(descShare, prometheus.GaugeValue, share)
	}
	if c.firing != nil {
		ch <- prometheus.MustNewConstMetric(descFiring, prometheus.GaugeValue, float64(c.firing(ctx)))
	}
	if u, ok := c.g.(budgetUsage); ok {
		// The month as the budgets count it (store.Month): UTC, "2006-01".
		if n, err := u.BudgetUsage(ctx, "circle:", now.Format("2006-01")); err == nil {
			ch <- prometheus.MustNewConstMetric(descCircleUsed, prometheus.GaugeValue, float64(n))
		} else {
			c.log.Warn("metrics: Circle requests this month", "err", err)
		}
	}
	if sc, ok := c.g.(supportCounts); ok {
		if weeks, err := sc.SupportCounts(ctx, now.Add(-7*24*time.Hour+time.Microsecond), 1); err == nil {
			for _, cat := range supportCategories {
				ch <- prometheus.MustNewConstMetric(descSupportWeek, prometheus.GaugeValue, float64(weeks[0][cat]), cat)
			}
		} else {
			c.log.Warn("metrics: support messages this week", "err", err)
		}
	}
	if q := c.quota.Load(); q > 0 {
		ch <- prometheus.MustNewConstMetric(descCircleLimit, prometheus.GaugeValue, float64(q))
	}
}
