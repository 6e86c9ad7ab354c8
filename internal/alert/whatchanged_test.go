package alert_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestWhatChangedIsAppendedToTheListedRules fires a credentials alert (a rule a deploy typically
// causes) and a review-age alert (one it does not): only the first is asked "what changed?", with
// the time its problem began, and carries the answer; a second pass asks again and, the answer being
// the same, sends nothing new.
func TestWhatChangedIsAppendedToTheListedRules(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			onset := t0.Add(-5 * time.Minute)
			openReview(t, h, onset, store.ReviewItem{PersonID: 7, Kind: "credentials", ActionKey: "circle", Reason: "rejected"})
			openReview(t, h, t0.Add(-2*time.Hour), store.ReviewItem{PersonID: 8, Kind: "sync_failing", ActionKey: "sync", Reason: "kit answered 502"})
			var mu sync.Mutex
			var asked []string
			ev := h.evaluator()
			ev.WhatChanged = func(_ context.Context, what string, since time.Time) string {
				mu.Lock()
				defer mu.Unlock()
				asked = append(asked, what+"@"+since.UTC().Format("15:04"))
				return fmt.Sprintf("%s began 3 min after the start at 09:52 UTC, which changed CIRCLE_API_TOKEN", what)
			}
			if err := ev.Evaluate(context.Background()); err != nil {
				t.Fatal(err)
			}
			var cred, age *alert.Firing
			for _, f := range ev.Firing(context.Background()) {
				switch f.Rule {
				case alert.RuleCredentials:
					cred = &f
				case alert.RuleReviewAge:
					age = &f
				}
			}
			if cred == nil || age == nil {
				t.Fatalf("firing: credentials %v, review_age %v; want both", cred, age)
			}
			want := "What changed: Circle's rejections of the credentials began 3 min after the start at 09:52 UTC, which changed CIRCLE_API_TOKEN."
			if !strings.HasSuffix(cred.Detail, want) {
				t.Errorf("credentials detail %q lacks %q at its end", cred.Detail, want)
			}
			if strings.Contains(age.Detail, "What changed") {
				t.Errorf("review_age detail %q carries a what-changed sentence", age.Detail)
			}
			mu.Lock()
			if len(asked) != 1 || asked[0] != "Circle's rejections of the credentials@09:55" {
				t.Errorf("WhatChanged asked %v, want once for the credentials since 09:55", asked)
			}
			mu.Unlock()
			hist, err := h.st.AlertNotifications(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			h.clk.Set(t0.Add(time.Minute))
			if err := ev.Evaluate(context.Background()); err != nil {
				t.Fatal(err)
			}
			again, err := h.st.AlertNotifications(context.Background(), 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(again) != len(hist) {
				t.Errorf("second pass sent %d more messages, want none", len(again)-len(hist))
			}
		})
	}
}
