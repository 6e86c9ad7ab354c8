package config

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestRetentionDefaults(t *testing.T) {
	var c Config
	c.applyDefaults()
	r := c.Retention
	for _, tc := range []struct {
		key  string
		got  RetentionPeriod
		want time.Duration
	}{
		{"event_payloads", r.EventPayloads, 90 * retentionDay},
		{"journal_detail", r.JournalDetail, 180 * retentionDay},
		{"resolved_review_items", r.ResolvedReviewItems, 365 * retentionDay},
		{"alert_notifications", r.AlertNotifications, 365 * retentionDay},
		{"drift_reports", r.DriftReports, 180 * retentionDay},
		{"doctor_reports", r.DoctorReports, 90 * retentionDay},
	} {
		if tc.got.D() != tc.want || tc.got.Forever() {
			t.Errorf("%s default = %s, want %s", tc.key, tc.got, Duration(tc.want))
		}
	}
	if r.BatchSize != 500 || r.Interval.D() != time.Hour {
		t.Errorf("batch %d, interval %s; want 500, 1h", r.BatchSize, r.Interval)
	}
	var p Problems
	c.validateRetention(&p)
	if len(p) != 0 {
		t.Errorf("the defaults have problems: %v", p)
	}
}

func TestParseRetentionPeriod(t *testing.T) {
	tests := []struct {
		in      string
		want    RetentionPeriod
		wantErr bool
	}{
		{"90d", RetentionPeriod(90 * retentionDay), false},
		{"2160h", RetentionPeriod(90 * retentionDay), false},
		{"forever", KeepForever, false},
		{"0", KeepForever, false},
		{"lifetime", KeepForever, false},
		{"", 0, false},
		{"ninety days", 0, true},
		{"-5d", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseRetentionPeriod(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseRetentionPeriod(%q) = %v, %v; want %v, error %t", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

// TestRetentionFromYAML reads the section as an operator writes it: forever disables a kind, a
// period under its floor is refused with the floor and the reason, and so are odd batch sizes and
// intervals.
func TestRetentionFromYAML(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		want    []string // substrings of the problems
		notWant []string
		check   func(t *testing.T, r RetentionConfig)
	}{
		{name: "forever and zero disable", yaml: "retention:\n  event_payloads: forever\n  journal_detail: 0\n  doctor_reports: 30d\n",
			notWant: []string{"retention."},
			check: func(t *testing.T, r RetentionConfig) {
				if !r.EventPayloads.Forever() || !r.JournalDetail.Forever() || r.EventPayloads.D() != 0 {
					t.Errorf("event_payloads %s, journal_detail %s; want forever (D 0)", r.EventPayloads, r.JournalDetail)
				}
				if r.DoctorReports.D() != 30*retentionDay || r.ResolvedReviewItems.D() != 365*retentionDay {
					t.Errorf("doctor_reports %s, resolved_review_items %s; want 30d and the 365d default", r.DoctorReports, r.ResolvedReviewItems)
				}
			}},
		{name: "payloads under a week", yaml: "retention:\n  event_payloads: 3d\n",
			want: []string{"retention.event_payloads: 3d is too short; keep at least 7d", "or write forever"}},
		{name: "journal under the quota month", yaml: "retention:\n  journal_detail: 30d\n  drift_reports: 720h\n",
			want: []string{"retention.journal_detail: 30d is too short; keep at least 35d (Circle's monthly quota",
				"retention.drift_reports: 30d is too short; keep at least 35d"}},
		{name: "not a period", yaml: "retention:\n  event_payloads: a while\n",
			want: []string{"retention.event_payloads", `"a while" is not a retention period (use 90d, 2160h or forever)`}},
		{name: "batch and interval", yaml: "retention:\n  batch_size: 20000\n  interval: 10s\n",
			want: []string{"retention.batch_size: 20000 must be between 1 and 10000", "retention.interval: 10s is too often"}},
		{name: "unknown key", yaml: "retention:\n  payloads: 90d\n", want: []string{"retention.payloads: unknown key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), func(string) string { return "" })
			msg := ""
			if err != nil {
				msg = err.Error()
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("problems lack %q:\n%s", w, msg)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(msg, w) {
					t.Errorf("problems name %q:\n%s", w, msg)
				}
			}
			if tc.check != nil {
				// The file lacks plans, so Parse returns no Config: decode it as Parse does.
				var c Config
				if err := yaml.Unmarshal([]byte(tc.yaml), &c); err != nil {
					t.Fatal(err)
				}
				c.applyDefaults()
				tc.check(t, c.Retention)
			}
		})
	}
}
