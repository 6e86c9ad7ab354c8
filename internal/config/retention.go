package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/membersync/membersync/internal/plan"
)

// RetentionConfig says how long membersync keeps what grows with traffic (serve's retention job,
// leader only, prunes it in small batches). What identifies and summarises a person is never
// pruned: event ids (the dedup key, so a redelivery years later still answers "duplicate"),
// people, customers, what was applied, the desired state, open review items and the audit log.
type RetentionConfig struct {
	// EventPayloads is how long a Stripe event's raw body is kept, default 90d (at least 7d: an
	// unresolved event and the admin's "what did Stripe send" need it for a while). The event's
	// row, id, type, customer and state stay.
	EventPayloads RetentionPeriod `yaml:"event_payloads"`
	// JournalDetail is how long the journal keeps provider-call rows (kind call, one per HTTP
	// attempt) and the detail text of its other rows, default 180d (at least 35d: Circle's monthly
	// quota and the sweep's share of it are counted from this month's call rows).
	JournalDetail RetentionPeriod `yaml:"journal_detail"`
	// ResolvedReviewItems is how long a review item is kept after it was resolved, default 365d
	// (at least 7d). Open items are never pruned.
	ResolvedReviewItems RetentionPeriod `yaml:"resolved_review_items"`
	// AlertNotifications is the alerts' message history, default 365d (at least 7d). The alerts'
	// current state is never pruned.
	AlertNotifications RetentionPeriod `yaml:"alert_notifications"`
	// DriftReports are the drift sweep's reports, default 180d (at least 35d: this month's count
	// toward the sweep's share of Circle's quota). The latest one always stays.
	DriftReports RetentionPeriod `yaml:"drift_reports"`
	// DoctorReports are the scheduled audits' reports, default 90d (at least 7d). The latest one
	// always stays.
	DoctorReports RetentionPeriod `yaml:"doctor_reports"`
	// BatchSize is how many rows one short transaction deletes or blanks, default 500 (1 to
	// 10000): webhook ingest waits for SQLite's single writer at most one batch.
	BatchSize int `yaml:"batch_size"`
	// Interval between two retention passes, default 1h (at least 1m).
	Interval Duration `yaml:"interval"`
}

// RetentionPeriod is how long one kind of data is kept: "90d", "2160h", or "forever" (also "0"),
// which keeps it forever. Its zero value means "not set" (the default applies).
type RetentionPeriod time.Duration

// KeepForever disables the pruning of one kind of data.
const KeepForever RetentionPeriod = -1

// Retention defaults and floors.
const (
	DefaultRetentionBatch    = 500
	DefaultRetentionInterval = time.Hour
	maxRetentionBatch        = 10000
	retentionDay             = 24 * time.Hour
)

// UnmarshalYAML reads "90d", "2160h", "forever", "0" or "lifetime" (both forever).
func (r *RetentionPeriod) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseRetentionPeriod(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*r = v
	return nil
}

// ParseRetentionPeriod reads a retention period as the config file writes it.
func ParseRetentionPeriod(s string) (RetentionPeriod, error) {
	switch strings.TrimSpace(s) {
	case "forever", "0", "lifetime":
		return KeepForever, nil
	case "":
		return 0, nil
	}
	d, err := plan.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a retention period (use 90d, 2160h or forever)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative (use 90d, 2160h or forever)", s)
	}
	return RetentionPeriod(d), nil
}

// Forever reports whether the data is kept forever (never pruned).
func (r RetentionPeriod) Forever() bool { return r == KeepForever }

// D returns the period; 0 when the data is kept forever.
func (r RetentionPeriod) D() time.Duration {
	if r <= 0 {
		return 0
	}
	return time.Duration(r)
}

// String formats the period the way the config file writes it.
func (r RetentionPeriod) String() string {
	if r.Forever() {
		return "forever"
	}
	return Duration(r).String()
}

// retentionKind is one pruned kind's key, default and floor (and why the floor).
type retentionKind struct {
	key   string
	ptr   *RetentionPeriod
	def   time.Duration
	floor time.Duration
	why   string
}

func (c *Config) retentionKinds() []retentionKind {
	r := &c.Retention
	return []retentionKind{
		{"event_payloads", &r.EventPayloads, 90 * retentionDay, 7 * retentionDay, "unresolved events and the admin's event page read them"},
		{"journal_detail", &r.JournalDetail, 180 * retentionDay, 35 * retentionDay, "Circle's monthly quota is counted from this month's provider calls"},
		{"resolved_review_items", &r.ResolvedReviewItems, 365 * retentionDay, 7 * retentionDay, "operators look back at what they just resolved"},
		{"alert_notifications", &r.AlertNotifications, 365 * retentionDay, 7 * retentionDay, "the alerts page shows the recent history"},
		{"drift_reports", &r.DriftReports, 180 * retentionDay, 35 * retentionDay, "the sweep's share of Circle's monthly quota is counted from this month's reports"},
		{"doctor_reports", &r.DoctorReports, 90 * retentionDay, 7 * retentionDay, "the overview compares the latest audits"},
	}
}

// defaultRetention fills what the retention section left unset.
func (c *Config) defaultRetention() {
	for _, k := range c.retentionKinds() {
		if *k.ptr == 0 {
			*k.ptr = RetentionPeriod(k.def)
		}
	}
	if c.Retention.BatchSize == 0 {
		c.Retention.BatchSize = DefaultRetentionBatch
	}
	if c.Retention.Interval == 0 {
		c.Retention.Interval = Duration(DefaultRetentionInterval)
	}
}

// validateRetention refuses periods under their floor, and batch sizes and intervals that would
// hold the database's writer too long or too often.
func (c *Config) validateRetention(p *Problems) {
	for _, k := range c.retentionKinds() {
		v := *k.ptr
		if v.Forever() || v == 0 {
			continue
		}
		if v < 0 || time.Duration(v) < k.floor {
			p.add("retention.%s: %s is too short; keep at least %s (%s), or write forever to keep it", k.key,
				Duration(v), Duration(k.floor), k.why)
		}
	}
	if b := c.Retention.BatchSize; b < 1 || b > maxRetentionBatch {
		p.add("retention.batch_size: %d must be between 1 and %d rows (one batch is one transaction that holds the database's writer)", b, maxRetentionBatch)
	}
	if c.Retention.Interval < Duration(time.Minute) {
		p.add("retention.interval: %s is too often (use 1m or more; the default is 1h)", c.Retention.Interval)
	}
}
