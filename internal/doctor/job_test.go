package doctor_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/doctor"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestJobAlertsOnNewFailures runs the scheduled audit twice with an injected doctor: the first
// report's failure opens a review item; the same failure again opens nothing new; a new one does.
func TestJobAlertsOnNewFailures(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite)
	failing := []doctor.Finding{{Group: "TLS", Check: "certificate expiry", Status: doctor.StatusFail, Message: "expires in 3 days"}}
	w := &doctor.Worker{
		Config: &config.Config{PublicURL: "https://members.example.com", Doctor: config.DoctorConfig{Domain: "example.com"}},
		Store:  st,
		Run: func(ctx context.Context, opts doctor.Options) (doctor.Report, error) {
			return doctor.Report{Domain: opts.Domain, Findings: slices.Clone(failing)}, nil
		},
	}
	ctx := context.Background()
	job := &river.Job[doctor.AuditArgs]{}
	open := func() []store.ReviewItem {
		items, err := st.Reviews(ctx, "open", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return items
	}
	if err := w.Work(ctx, job); err != nil {
		t.Fatal(err)
	}
	items := open()
	if len(items) != 1 || items[0].Kind != "doctor_failure" || items[0].Occurrences != 1 {
		t.Fatalf("after the first failing audit: %+v", items)
	}
	if err := w.Work(ctx, job); err != nil {
		t.Fatal(err)
	}
	if items := open(); len(items) != 1 || items[0].Occurrences != 1 {
		t.Errorf("the same failure again must not alert again: %+v", items)
	}
	failing = append(failing, doctor.Finding{Group: "Email authentication", Check: "SPF", Status: doctor.StatusFail, Message: "two SPF records"})
	if err := w.Work(ctx, job); err != nil {
		t.Fatal(err)
	}
	if items := open(); len(items) != 1 || items[0].Occurrences != 2 {
		t.Errorf("a new failure must alert: %+v", items)
	}
	rep, err := st.LatestDoctorReport(ctx)
	if err != nil || rep.Fails != 2 || len(rep.Failing) != 2 || rep.At.After(time.Now()) {
		t.Errorf("latest report: %+v, %v", rep, err)
	}
}
