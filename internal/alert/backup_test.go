package alert_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestBackupAlert: a failed scheduled backup fires once, names the last good one, and resolves
// when a backup succeeds.
func TestBackupAlert(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, dialect)
			ev := h.evaluator()
			record := func(r store.BackupRun) {
				t.Helper()
				if err := h.st.RecordBackupRun(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			record(store.BackupRun{At: h.clk.Now(), Path: "/var/backups/membersync-20260301T000000Z.db", Bytes: 4096})
			h.evaluate(ev)
			h.expect("")

			h.clk.Advance(24 * time.Hour)
			record(store.BackupRun{At: h.clk.Now(), Err: "scheduled backup into /var/backups: no space left on device"})
			h.evaluate(ev)
			m := h.expect(alert.StatusFiring)
			if m.AlertID != alert.RuleBackup || m.Title != "The scheduled backup failed" ||
				!strings.Contains(m.Detail, "no space left on device") || !strings.Contains(m.Detail, "membersync-20260301T000000Z.db") {
				t.Errorf("firing message: %+v", m)
			}
			h.clk.Advance(time.Minute)
			h.evaluate(ev)
			h.expect("")

			h.clk.Advance(time.Hour)
			record(store.BackupRun{At: h.clk.Now(), Path: "/var/backups/membersync-20260302T010100Z.db", Bytes: 4096})
			h.evaluate(ev)
			h.expect(alert.StatusResolved)
		})
	}
}
