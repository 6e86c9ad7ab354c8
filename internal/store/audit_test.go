package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

func TestAuditLogIsAppendOnly(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		base := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
		for i, e := range []store.AuditEntry{
			{Actor: "ana@example.com", Action: "person.resync", Target: "person:1", PersonID: 1},
			{Actor: "ana@example.com", Action: "review.resolve", Target: "review:7", PersonID: 1, Before: `{"status":"open"}`, After: `{"status":"resolved"}`, Note: "fixed by hand"},
			{Actor: "bo@example.com (token ci)", Action: "event.replay", Target: "event:evt_1", PersonID: 2},
		} {
			e.At = base.Add(time.Duration(i) * time.Hour)
			if _, err := st.AppendAudit(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		cases := []struct {
			name string
			f    store.AuditFilter
			want []string // actions, newest first
		}{
			{"all", store.AuditFilter{}, []string{"event.replay", "review.resolve", "person.resync"}},
			{"actor substring", store.AuditFilter{Actor: "ANA@"}, []string{"review.resolve", "person.resync"}},
			{"action", store.AuditFilter{Action: "event.replay"}, []string{"event.replay"}},
			{"target", store.AuditFilter{Target: "review:"}, []string{"review.resolve"}},
			{"person", store.AuditFilter{PersonID: 1}, []string{"review.resolve", "person.resync"}},
			{"since", store.AuditFilter{Since: base.Add(time.Hour)}, []string{"event.replay", "review.resolve"}},
			{"until", store.AuditFilter{Until: base.Add(time.Hour)}, []string{"person.resync"}},
			{"page", store.AuditFilter{Limit: 2}, []string{"event.replay", "review.resolve"}},
			{"like wildcards are literal", store.AuditFilter{Actor: "%"}, nil},
		}
		for _, c := range cases {
			got, err := st.Audit(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var acts []string
			for _, e := range got {
				acts = append(acts, e.Action)
			}
			if strings.Join(acts, ",") != strings.Join(c.want, ",") {
				t.Errorf("%s: got %v, want %v", c.name, acts, c.want)
			}
		}
		all, _ := st.Audit(ctx, store.AuditFilter{})
		if next, _ := st.Audit(ctx, store.AuditFilter{BeforeID: all[1].ID}); len(next) != 1 || next[0].Action != "person.resync" {
			t.Errorf("BeforeID paging: got %+v", next)
		}
		if e := all[1]; e.Note != "fixed by hand" || e.Before != `{"status":"open"}` || !e.At.Equal(base.Add(time.Hour)) {
			t.Errorf("entry: got %+v", e)
		}
		for _, q := range []string{"UPDATE audit_log SET note = 'changed'", "DELETE FROM audit_log"} {
			if err := execRaw(ctx, st, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: got %v, want it refused as append-only", q, err)
			}
		}
		if after, _ := st.Audit(ctx, store.AuditFilter{}); len(after) != 3 || after[1].Note != "fixed by hand" {
			t.Errorf("the log changed: %+v", after)
		}
	})
}

// execRaw runs a statement outside the store's API (to prove the database itself refuses it).
func execRaw(ctx context.Context, st *store.Store, q string) error {
	if st.Dialect() == store.Postgres {
		_, err := st.Pool().Exec(ctx, q)
		return err
	}
	_, err := st.SQLDB().ExecContext(ctx, q)
	return err
}
