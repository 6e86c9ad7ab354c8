package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// TestDeployStartsKeepChangesThroughACrashLoop records a first start, a start that changed
// something, then a crash loop of restarts: the diff function sees the start before each, the
// restarts beyond the latest 1000 starts are deleted, and the first start and the change stay.
func TestDeployStartsKeepChangesThroughACrashLoop(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 6, 14, 2, 0, 0, time.UTC)
		var sawPrev []int64
		record := func(i int, changes int) store.DeployStart {
			t.Helper()
			d, err := st.RecordStart(ctx, store.DeployStart{At: t0.Add(time.Duration(i) * time.Second), Instance: "h/1", Version: "v1",
				Revision: "abc", Modified: i == 2, ConfigJSON: "{}", SecretsJSON: "{}"},
				func(prev *store.DeployStart) (string, int, error) {
					if prev != nil {
						sawPrev = append(sawPrev, prev.ID)
					} else {
						sawPrev = append(sawPrev, 0)
					}
					return `{"changes":[]}`, changes, nil
				})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		first := record(0, 0)
		change := record(1, 2)
		if !change.At.Equal(t0.Add(time.Second)) || change.Changes != 2 || change.Instance != "h/1" || change.Modified {
			t.Errorf("stored start: %+v", change)
		}
		if len(sawPrev) != 2 || sawPrev[0] != 0 || sawPrev[1] != first.ID {
			t.Errorf("diff saw previous starts %v, want [0 %d]", sawPrev, first.ID)
		}
		var last store.DeployStart
		for i := range 1005 {
			last = record(i+2, 0)
		}
		all, err := st.DeployStarts(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 1000 || all[0].ID != last.ID {
			t.Fatalf("latest starts: %d, newest %d; want 1000, newest %d", len(all), all[0].ID, last.ID)
		}
		changed, err := st.DeployStartsBetween(ctx, t0, t0.Add(time.Hour), true, 10)
		if err != nil || len(changed) != 1 || changed[0].ID != change.ID {
			t.Errorf("changed starts: %+v %v, want the change only", changed, err)
		}
		// The oldest restarts (at t0+2s … t0+6s) are beyond the latest 1000: gone; the first start and
		// the change are not.
		early, err := st.DeployStartsBetween(ctx, t0, t0.Add(6*time.Second), false, 10)
		if err != nil || len(early) != 2 || early[0].ID != change.ID || early[1].ID != first.ID {
			t.Errorf("starts up to t0+6s: %d %v, want the change and the first only", len(early), err)
		}
	})
}
