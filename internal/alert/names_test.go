package alert_test

import (
	"context"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestAlertsNameIDs: an alert whose text mentions an access group, a tag or a price by id names
// it as the catalog knows it, in the stored alert (the overview) and in the message sent; ids the
// catalog does not know stay as they are.
func TestAlertsNameIDs(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, storetest.Dialects()[0])
	for _, l := range []struct {
		provider, kind string
		names          []store.CatalogName
	}{
		{"circle", "access_group", []store.CatalogName{{ID: "11", Name: "Pro members"}}},
		{"kit", "tag", []store.CatalogName{{ID: "1001", Name: "pro-active"}}},
	} {
		if err := h.st.ReplaceCatalogNames(ctx, l.provider, l.kind, l.names, t0); err != nil {
			t.Fatal(err)
		}
	}
	openReview(t, h, h.clk.Now(), store.ReviewItem{Kind: "drift_sweep", ActionKey: "sweep",
		Reason: "Circle has no access group 11 and Kit has no tag 1001 or tag 77, which the plans name: fix the plan mapping"})
	e := h.evaluator()
	if err := e.Evaluate(ctx); err != nil {
		t.Fatal(err)
	}
	var detail string
	for _, f := range e.Firing(ctx) {
		if f.Rule == alert.RuleDrift {
			detail = f.Detail
		}
	}
	want := `Circle has no access group "Pro members" (#11) and Kit has no tag "pro-active" (#1001) or tag 77, which the plans name`
	if !strings.Contains(detail, want) {
		t.Errorf("drift alert detail:\n%s\nwant it to contain:\n%s", detail, want)
	}
	var bodies []string
	for _, d := range h.slack.Take() {
		bodies = append(bodies, string(d.Body))
	}
	if len(bodies) == 0 || !strings.Contains(strings.Join(bodies, "\n"), `\"Pro members\" (#11)`) {
		t.Errorf("the Slack message does not name the group: %v", bodies)
	}
}
