package converge_test

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
)

// limitedCircle replaces the env's Circle with a fake on clk (the same access groups, so the plans
// still name them) and points the engine at it; opts set the fake's limits.
func (e *env) limitedCircle(clk *providertest.Clock, opts circletest.Options) *circletest.Server {
	e.t.Helper()
	opts.Now = clk.Now
	fake := circletest.New(opts)
	e.t.Cleanup(fake.Close)
	if pro, course := fake.AddAccessGroup("Pro"), fake.AddAccessGroup("Course"); pro != e.proGroup || course != e.courseGroup {
		e.t.Fatalf("access groups %d and %d on the new fake, want %d and %d", pro, course, e.proGroup, e.courseGroup)
	}
	e.circle = fake
	e.engine.Circle = circle.New(circle.Config{BaseURL: fake.URL, Token: fake.Token, RequestsPerMinute: 600_000, MaxRetries: -1, Now: clk.Now})
	return fake
}

// openItems returns the person's open review items.
func (e *env) openItems(personID int64) []store.ReviewItem {
	e.t.Helper()
	items, err := e.st.Reviews(e.ctx, "open", personID, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return items
}

// Circle's member limits are not a bad token (issue 16). A create refused with 403 "Daily member
// limit exceeded." (or the plan's member cap) opens one circle_member_limit review item that says
// so, never a credentials item; Kit waits for the Circle grant as usual; the job snoozes, without
// burning an attempt, until the limit lifts (00:01 UTC for the daily limit: Circle does not document
// when its day resets); and once the clock passes the reset the retry converges and the item
// resolves.
func TestCircleMemberLimitRetriesAfterReset(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 2, 15, 30, 0, 0, time.UTC)
	tests := []struct {
		name string
		// limit sets up the fake so that the next create is refused, and returns what lifts it.
		limit      func(e *env, clk *providertest.Clock) (lift func())
		wantSnooze time.Duration
		wantError  string // in the item's last error
	}{
		{
			name: "daily limit",
			limit: func(e *env, clk *providertest.Clock) func() {
				fake := e.limitedCircle(clk, circletest.Options{DailyMemberLimit: 1})
				// Someone else was today's one new member.
				if _, err := circle.New(circle.Config{BaseURL: fake.URL, Token: fake.Token}).CreateMember(e.ctx, "early@example.test", "", false); err != nil {
					e.t.Fatal(err)
				}
				return func() { clk.Set(time.Date(2026, 3, 3, 0, 1, 0, 0, time.UTC)) }
			},
			wantSnooze: 8*time.Hour + 31*time.Minute, // to 00:01 UTC the next day
			wantError:  "Daily member limit exceeded.",
		},
		{
			name: "plan member cap",
			limit: func(e *env, clk *providertest.Clock) func() {
				fake := e.limitedCircle(clk, circletest.Options{MemberLimit: 1})
				fake.CreateMemberDirect("early@example.test", "")
				return func() { // the founder made room (or upgraded), and a day passed
					fake.RemoveMemberDirect("early@example.test")
					clk.Advance(24 * time.Hour)
				}
			},
			wantSnooze: 24 * time.Hour,
			wantError:  "You have reached the member limit for your plan",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachDialect(t, func(t *testing.T, e *env) {
				clk := providertest.NewClock(start)
				lift := tt.limit(e, clk)
				w := &converge.Worker{Engine: e.engine}
				const email = "zoe@example.test"
				cus := e.stripe.CreateCustomer(email, "Zoe")
				e.stripe.Subscribe(cus, e.proPrice, 0)
				_, first := e.deliver(0)
				pid := first.PersonID

				// Twice on the limit's day (the job's run, then another event's): one item, two snoozes.
				for run := 1; run <= 2; run++ {
					err := work(e.ctx, w.Work, pid, 1)
					var snoozed *river.JobSnoozeError
					if !errors.As(err, &snoozed) {
						t.Fatalf("run %d: Work at Circle's member limit: got %v, want a snooze until the limit lifts", run, err)
					}
					if snoozed.Duration != tt.wantSnooze {
						t.Fatalf("run %d: snoozed %s, want %s", run, snoozed.Duration, tt.wantSnooze)
					}
				}
				items := e.openItems(pid)
				if len(items) != 1 || items[0].Kind != "circle_member_limit" || items[0].ActionKey != "circle" {
					t.Fatalf("open review items %q, want one circle_member_limit item for circle (never credentials)", e.openReviewKinds(pid))
				}
				it := items[0]
				if it.Occurrences != 2 {
					t.Errorf("item occurrences %d, want 2 (one item, bumped by the second run)", it.Occurrences)
				}
				for _, want := range []string{"Circle refused a new member", "daily member limit", "member cap", "Not a token problem",
					"retries automatically after the limit lifts", "upgrade the Circle plan"} {
					if !strings.Contains(it.Reason, want) {
						t.Errorf("reason %q lacks %q", it.Reason, want)
					}
				}
				if strings.Contains(it.Reason, "token, then") || strings.Contains(it.Reason, "fix the key") {
					t.Errorf("reason %q sends the founder to the token", it.Reason)
				}
				if !strings.Contains(it.LastError, "limit (HTTP 403)") || !strings.Contains(it.LastError, tt.wantError) {
					t.Errorf("last error %q, want a 403 limit with Circle's %q", it.LastError, tt.wantError)
				}
				if got := e.circle.GroupMemberEmails(e.proGroup); slices.Contains(got, email) {
					t.Fatalf("Pro group %v: the member was refused", got)
				}
				if tags, seqs := e.kit.TagsOf(email), e.kit.SequencesOf(email); len(tags)+len(seqs) > 0 {
					t.Errorf("Kit tags %v and sequences %v while Circle refused the member: Kit waits for access", tags, seqs)
				}
				if p := e.person(pid); p.SyncedGeneration == p.Generation {
					t.Errorf("person settled at generation %d while the member waits for the limit", p.Generation)
				}

				lift()
				if err := work(e.ctx, w.Work, pid, 1); err != nil {
					t.Fatalf("Work after the limit lifted: %v", err)
				}
				if got := e.circle.GroupMemberEmails(e.proGroup); !slices.Contains(got, email) {
					t.Errorf("Pro group %v after the limit lifted, want %s", got, email)
				}
				if got := e.kit.TagsOf(email); !slices.Equal(got, []int64{e.tagActive}) {
					t.Errorf("Kit tags %v after the limit lifted, want [%d]", got, e.tagActive)
				}
				if got := e.kit.SequencesOf(email); !slices.Equal(got, []int64{e.seqOnboarding}) {
					t.Errorf("Kit sequences %v after the limit lifted, want [%d]", got, e.seqOnboarding)
				}
				if got := e.openReviewKinds(pid); len(got) > 0 {
					t.Errorf("open review items %q after the retry converged, want none", got)
				}
				resolved, err := e.st.Reviews(e.ctx, "resolved", pid, 0)
				if err != nil {
					t.Fatal(err)
				}
				if len(resolved) != 1 || resolved[0].Kind != "circle_member_limit" || resolved[0].ResolvedBy != "membersync" {
					t.Errorf("resolved items %+v, want the circle_member_limit item resolved by membersync", resolved)
				}
				if p := e.person(pid); p.SyncedGeneration != p.Generation {
					t.Errorf("person synced %d of generation %d after the retry converged", p.SyncedGeneration, p.Generation)
				}
				for id, st := range e.states(pid) {
					if st != store.EventProcessed {
						t.Errorf("event %s is %q after the retry converged", id, st)
					}
				}
			})
		})
	}
}

// A 401 and a 403 "not eligible for admin API v2 access" stay credentials problems: only the member
// limits changed.
func TestCircleTokenProblemsStayCredentials(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, body string }{
		{"403 not eligible", `{"success":false,"message":"The community is not eligible for admin API v2 access.","error_details":null}`},
		{"401 invalid token", `{"success":false,"message":"The API token is invalid.","error_details":null}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			forEachDialect(t, func(t *testing.T, e *env) {
				e.withoutRetries()
				status := http.StatusForbidden
				if strings.HasPrefix(tt.name, "401") {
					status = http.StatusUnauthorized
				}
				e.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: status, Body: tt.body})
				cus := e.stripe.CreateCustomer("uma@example.test", "Uma")
				e.stripe.Subscribe(cus, e.proPrice, 0)
				_, first := e.deliver(0)
				e.sync(first.PersonID)
				if got := e.openReviewKinds(first.PersonID); !slices.Equal(got, []string{"credentials circle"}) {
					t.Errorf("open review items %q, want [credentials circle]", got)
				}
			})
		})
	}
}
