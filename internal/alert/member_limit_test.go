package alert_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// memberLimitItem is the review item the sync engine opens for a person Circle refused to add.
func memberLimitItem(personID int64) store.ReviewItem {
	return store.ReviewItem{PersonID: personID, Kind: "circle_member_limit", ActionKey: "circle",
		Reason:    "Circle refused a new member: the community reached its daily member limit (or its plan's member cap). Not a token problem.",
		LastError: `circle create_member: limit (HTTP 403): Circle's daily limit on new members is reached; membersync tries again after 00:00 UTC (Circle: "Daily member limit exceeded.")`}
}

// Circle's member limit is one alert for everyone it holds up, not one per person: it fires once,
// is not repeated as a review-age alert while the items wait for the limit to lift, and resolves
// when the last item does.
func TestCircleMemberLimitAlertsOnce(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			ev := h.evaluator()
			people := []int64{41, 42, 43}
			for i, pid := range people {
				openReview(t, h, t0.Add(time.Duration(i-3)*time.Minute), memberLimitItem(pid))
			}
			// The engine bumps the open item on each retry: still one item, one alert.
			openReview(t, h, t0, memberLimitItem(41))

			h.clk.Set(t0)
			h.evaluate(ev)
			m := h.expect(alert.StatusFiring)
			if m.AlertID != alert.RuleCircleMemberLimit || m.Rule != alert.RuleCircleMemberLimit || m.Affected != 3 ||
				m.Link != publicURL+"/admin/review" || !m.Since.Equal(t0.Add(-3*time.Minute)) {
				t.Errorf("firing message %+v: want %s for 3 people since %s, linking to the review queue", m, alert.RuleCircleMemberLimit, t0.Add(-3*time.Minute))
			}
			for _, want := range []string{"Circle refused to add 3 new members", "daily limit on new members", "not a token problem",
				"after 00:00 UTC", "does not document", "upgrade the Circle plan", "Daily member limit exceeded."} {
				if !strings.Contains(m.Detail, want) {
					t.Errorf("detail %q lacks %q", m.Detail, want)
				}
			}
			if strings.Contains(m.Title+m.Detail, "CIRCLE_API_TOKEN") || strings.Contains(m.Title, "credentials") {
				t.Errorf("message %q / %q sends the founder to the token", m.Title, m.Detail)
			}

			// Two hours on, past review_age's hour: only the member-limit alert's repeat, no
			// "review items open longer than 1h" about the same people.
			h.clk.Set(t0.Add(2 * time.Hour))
			h.evaluate(ev)
			if r := h.expect(alert.StatusRepeat); r.AlertID != alert.RuleCircleMemberLimit {
				t.Errorf("at +2h: %s %q, want only the %s repeat", r.AlertID, r.Title, alert.RuleCircleMemberLimit)
			}

			// The limit lifted: each person's next sync resolves their item; the alert resolves
			// with the last one.
			for _, pid := range people[:2] {
				if _, err := h.st.ResolveReviews(context.Background(), pid, "circle_member_limit", "*", "membersync", "a later sync succeeded"); err != nil {
					t.Fatal(err)
				}
			}
			h.clk.Set(t0.Add(2*time.Hour + time.Minute))
			h.evaluate(ev)
			h.expect("")
			if _, err := h.st.ResolveReviews(context.Background(), people[2], "circle_member_limit", "*", "membersync", "a later sync succeeded"); err != nil {
				t.Fatal(err)
			}
			h.clk.Set(t0.Add(2*time.Hour + 2*time.Minute))
			h.evaluate(ev)
			if r := h.expect(alert.StatusResolved); r.AlertID != alert.RuleCircleMemberLimit {
				t.Errorf("resolved message for %s, want %s", r.AlertID, alert.RuleCircleMemberLimit)
			}
			h.clk.Set(t0.Add(2*time.Hour + 3*time.Minute))
			h.evaluate(ev)
			h.expect("")
		})
	}
}

// One person held up links to their page.
func TestCircleMemberLimitOnePerson(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			openReview(t, h, t0, memberLimitItem(7))
			h.clk.Set(t0)
			h.evaluate(h.evaluator())
			if m := h.expect(alert.StatusFiring); m.Affected != 1 || m.Link != publicURL+"/admin/people/7" || !strings.Contains(m.Detail, "1 new member:") {
				t.Errorf("firing message %+v: want 1 person, linking to /admin/people/7", m)
			}
		})
	}
}

// Review items of other kinds still age into the review-age alert while member-limit items are
// open, counted without them.
func TestReviewAgeLeavesOutMemberLimitItems(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			for _, pid := range []int64{51, 52} {
				openReview(t, h, t0.Add(-3*time.Hour), memberLimitItem(pid))
			}
			openReview(t, h, t0.Add(-3*time.Hour), store.ReviewItem{PersonID: 52, Kind: "credentials", ActionKey: "kit", Reason: "kit rejected the key"})
			openReview(t, h, t0.Add(-2*time.Hour), store.ReviewItem{PersonID: 53, Kind: "action_failed", ActionKey: "circle:add_access_group:1",
				Reason: "this action can never succeed as sent"})
			openReview(t, h, t0.Add(-30*time.Minute), store.ReviewItem{PersonID: 54, Kind: "unmapped_price", ActionKey: "price_1", Reason: "r"})

			h.clk.Set(t0)
			h.evaluate(h.evaluator())
			got := map[string]alert.Message{}
			for _, d := range h.hook.Take() {
				var m alert.Message
				if err := json.Unmarshal(d.Body, &m); err != nil {
					t.Fatal(err)
				}
				got[m.AlertID] = m
			}
			h.slack.Take()
			h.smtp.Take()
			ids := make([]string, 0, len(got))
			for id := range got {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			if want := []string{"circle_member_limit", "credentials:kit", "review_age"}; !slices.Equal(ids, want) {
				t.Fatalf("alerts %v, want %v", ids, want)
			}
			r := got[alert.RuleReviewAge]
			if r.Title != "1 review item open longer than 1h" || r.Affected != 1 || r.Link != publicURL+"/admin/people/53" ||
				!strings.Contains(r.Detail, "The oldest (action_failed, open 2h)") {
				t.Errorf("review_age: %q affected %d link %s detail %q; want the one action_failed item of person 53",
					r.Title, r.Affected, r.Link, r.Detail)
			}
			if m := got[alert.RuleCircleMemberLimit]; m.Affected != 2 {
				t.Errorf("circle_member_limit affected %d, want 2", m.Affected)
			}
		})
	}
}
