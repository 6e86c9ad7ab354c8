package circle_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// Circle's member limits on a create are provider.Limit (not a bad token) with RetryAfter until the
// limit may lift, whichever key carries the text; an ineligible community and a bad token stay
// Config.
func TestMemberLimitClassification(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 15, 30, 0, 0, time.UTC)
	untilReset := 8*time.Hour + 31*time.Minute // to 00:01 UTC the next day
	const (
		daily = "daily limit on new members"
		plan  = "plan's member cap"
	)
	tests := []struct {
		name       string
		status     int
		body       string
		kind       provider.Kind
		retryAfter time.Duration
		message    []string // parts of the error's message
	}{
		{
			name: "daily limit, errors key (Circle's documented example)", status: 403,
			body: `{"success":false,"errors":"Daily member limit exceeded."}`,
			kind: provider.Limit, retryAfter: untilReset,
			message: []string{daily, "after 00:00 UTC", "does not document when its day resets", `Circle: "Daily member limit exceeded."`},
		},
		{
			name: "daily limit, message key", status: 403,
			body: `{"success":false,"message":"Daily member limit exceeded.","error_details":null}`,
			kind: provider.Limit, retryAfter: untilReset, message: []string{daily},
		},
		{
			name: "daily limit, in error_details", status: 403,
			body: `{"success":false,"message":"Forbidden","error_details":{"message":"Daily member limit exceeded."}}`,
			kind: provider.Limit, retryAfter: untilReset, message: []string{daily, "Forbidden (Daily member limit exceeded.)"},
		},
		{
			name: "plan cap, errors key", status: 403,
			body: `{"success":false,"errors":"You have reached the member limit for your plan. Please upgrade to add more members."}`,
			kind: provider.Limit, retryAfter: 24 * time.Hour,
			message: []string{plan, "tries again in 24 h", "upgraded", "You have reached the member limit for your plan"},
		},
		{
			name: "plan cap, message key", status: 403,
			body: `{"success":false,"message":"You have reached the member limit for your plan.","error_details":null}`,
			kind: provider.Limit, retryAfter: 24 * time.Hour, message: []string{plan},
		},
		{
			name: "plan cap, error_details array", status: 403,
			body: `{"success":false,"message":"Forbidden","error_details":["Community members limit reached","Upgrade your plan"]}`,
			kind: provider.Limit, retryAfter: 24 * time.Hour, message: []string{plan},
		},
		{
			name: "plan cap, errors array", status: 403,
			body: `{"errors":["Member limit reached","Upgrade your plan"]}`,
			kind: provider.Limit, retryAfter: 24 * time.Hour, message: []string{plan},
		},
		{
			name: "ineligible community", status: 403,
			body: circleError("The community is not eligible for admin API v2 access."),
			kind: provider.Config, message: []string{"The community is not eligible for admin API v2 access."},
		},
		{
			name: "other 403", status: 403, body: circleError("Forbidden"),
			kind: provider.Config, message: []string{"Forbidden"},
		},
		{
			name: "401 that mentions a limit is still the token", status: 401,
			body: circleError("The API token is invalid. Daily member limit exceeded."),
			kind: provider.Config, message: []string{"The API token is invalid."},
		},
		{
			name: "422 that mentions a limit stays a validation error", status: 422,
			body: circleError("Member limit must be a number"),
			kind: provider.Permanent, message: []string{"Member limit must be a number"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, circletest.Options{}, circle.Config{Now: func() time.Time { return now }, MaxRetries: -1})
			e.fake.Faults.FailNext(1, providertest.Fault{Status: tt.status, Body: tt.body})
			_, err := e.client.CreateMember(context.Background(), "kim@example.com", "Kim", false)
			pe := wantKind(t, err, tt.kind)
			if pe.Status != tt.status || pe.RetryAfter != tt.retryAfter {
				t.Errorf("status %d RetryAfter %s, want %d and %s", pe.Status, pe.RetryAfter, tt.status, tt.retryAfter)
			}
			for _, want := range tt.message {
				if !strings.Contains(pe.Message, want) {
					t.Errorf("message %q lacks %q", pe.Message, want)
				}
			}
			if tt.kind == provider.Limit && strings.Contains(strings.ToLower(pe.Message), "token") {
				t.Errorf("message %q talks about the token", pe.Message)
			}
		})
	}
}

// After the daily limit, membersync tries again at the next 00:01 UTC, whatever the zone of the
// clock: just before midnight that is a minute and a half away; just after, the same day.
func TestDailyLimitRetryAfter(t *testing.T) {
	t.Parallel()
	est := time.FixedZone("EST", -5*3600)
	tests := []struct {
		now  time.Time
		want time.Duration
	}{
		{time.Date(2026, 3, 2, 23, 59, 30, 0, time.UTC), 90 * time.Second},
		{time.Date(2026, 3, 3, 0, 0, 30, 0, time.UTC), 30 * time.Second},
		{time.Date(2026, 3, 3, 0, 1, 0, 0, time.UTC), 24 * time.Hour},
		{time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC), 12*time.Hour + time.Minute},
		{time.Date(2026, 3, 2, 20, 0, 0, 0, est), 23*time.Hour + time.Minute}, // 01:00 UTC
		{time.Date(2026, 12, 31, 23, 0, 0, 0, time.UTC), time.Hour + time.Minute},
	}
	for _, tt := range tests {
		e := setup(t, circletest.Options{}, circle.Config{Now: func() time.Time { return tt.now }, MaxRetries: -1})
		e.fake.Faults.FailNext(1, providertest.Fault{Status: http.StatusForbidden, Body: `{"success":false,"errors":"Daily member limit exceeded."}`})
		_, err := e.client.CreateMember(context.Background(), "kim@example.com", "", false)
		if pe := wantKind(t, err, provider.Limit); pe.RetryAfter != tt.want {
			t.Errorf("at %s: RetryAfter %s, want %s", tt.now.Format(time.RFC3339), pe.RetryAfter, tt.want)
		}
	}
}

// EnsureMember against the fake's limits: the plan's member cap and the daily limit are Limit, the
// daily one lifting at the fake's next UTC day.
func TestEnsureMemberAtTheLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t.Run("plan cap", func(t *testing.T) {
		t.Parallel()
		e := setup(t, circletest.Options{MemberLimit: 1}, circle.Config{})
		e.fake.CreateMemberDirect("first@example.com", "")
		_, _, err := e.client.EnsureMember(ctx, "second@example.com", "", false)
		if pe := wantKind(t, err, provider.Limit); pe.RetryAfter != 24*time.Hour || pe.Status != 403 {
			t.Errorf("error %v (RetryAfter %s), want a 403 Limit retried in 24 h", err, pe.RetryAfter)
		}
		if got := e.fake.Faults.Calls(epCreate); got != 1 {
			t.Errorf("%d creates, want 1 (a limit is not retried in-process)", got)
		}
	})
	t.Run("daily limit", func(t *testing.T) {
		t.Parallel()
		clk := providertest.NewClock(time.Date(2026, 3, 2, 18, 0, 0, 0, time.UTC))
		e := setup(t, circletest.Options{Now: clk.Now, DailyMemberLimit: 1}, circle.Config{Now: clk.Now})
		if _, created, err := e.client.EnsureMember(ctx, "first@example.com", "", false); err != nil || !created {
			t.Fatalf("first member of the day: created %v, %v", created, err)
		}
		_, _, err := e.client.EnsureMember(ctx, "second@example.com", "", false)
		pe := wantKind(t, err, provider.Limit)
		if want := 6*time.Hour + time.Minute; pe.RetryAfter != want {
			t.Errorf("RetryAfter %s, want %s (00:01 UTC)", pe.RetryAfter, want)
		}
		clk.Advance(pe.RetryAfter)
		if _, created, err := e.client.EnsureMember(ctx, "second@example.com", "", false); err != nil || !created {
			t.Fatalf("after the reset: created %v, %v", created, err)
		}
	})
}
