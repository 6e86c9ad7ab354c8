package admin

import (
	"context"
	"fmt"
	"html"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestSequenceNeverToRemove: an enrollment no plan wants any more is "enrolled", never "to remove"
// (sequences are only ever enrolled), on the person page as in grantRow.
func TestSequenceNeverToRemove(t *testing.T) {
	for _, tc := range []struct {
		g          grantRow
		status     string
		ok, remove bool
	}{
		{grantRow{Kind: store.KindSequence, Applied: true}, "enrolled", true, false},
		{grantRow{Kind: store.KindSequence, Desired: true}, "missing", false, false},
		{grantRow{Kind: store.KindSequence, Desired: true, Applied: true}, "in place", true, false},
		{grantRow{Kind: store.KindTag, Applied: true}, "to remove", false, true},
		{grantRow{Kind: store.KindAccessGroup, Applied: true}, "to remove", false, true},
	} {
		if got := tc.g.Status(); got != tc.status {
			t.Errorf("%+v: Status() = %q, want %q", tc.g, got, tc.status)
		}
		if got := tc.g.OK(); got != tc.ok {
			t.Errorf("%+v: OK() = %v, want %v", tc.g, got, tc.ok)
		}
		if got := tc.g.Removable(); got != tc.remove {
			t.Errorf("%+v: Removable() = %v, want %v", tc.g, got, tc.remove)
		}
	}

	f := newFixture(t, storetest.Dialects()[0])
	ctx := context.Background()
	// Ada was enrolled in the onboarding sequence (31) and in a sequence no plan names any more (99).
	for _, id := range []int64{31, 99} {
		if err := f.st.RecordApplied(ctx, store.Applied{PersonID: f.personID, Provider: store.ProviderKit, Kind: store.KindSequence, TargetID: id, Email: "ada@example.com", RemoteID: 601}); err != nil {
			t.Fatal(err)
		}
	}
	_, page := f.login(RoleViewer).get(fmt.Sprintf("/admin/people/%d", f.personID))
	page = html.UnescapeString(page)
	if strings.Contains(page, "sequences are never removed") == false {
		t.Errorf("person page does not say the old enrollment stays:\n%s", page)
	}
	if i := strings.Index(page, "Other grants held"); i >= 0 && strings.Contains(page[i:], "the next sync removes it") {
		t.Errorf("person page says a sequence will be removed")
	}
}

// TestDriftTileGivesTheReason: a failed sweep's tile says why.
func TestDriftTileGivesTheReason(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0])
	now := f.clock.Now()
	if _, err := f.st.SaveDriftReport(context.Background(), store.DriftReport{StartedAt: now, FinishedAt: now, Mode: "repair", Status: "failed",
		Error: "Circle said 401 (list_access_group_members): Unauthorized"}); err != nil {
		t.Fatal(err)
	}
	_, page := f.login(RoleViewer).get("/admin")
	if !strings.Contains(html.UnescapeString(page), "failed: Circle said 401 (list_access_group_members): Unauthorized") {
		t.Errorf("drift tile lacks the reason:\n%s", page)
	}
}
