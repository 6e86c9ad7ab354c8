package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

func TestAdminUsersSessionsTokens(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, err := st.CreateAdminUser(ctx, "ops@example.com", "support", "hash1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateAdminUser(ctx, "ops@example.com", "viewer", "hash2"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate email: got %v, want ErrConflict", err)
		}
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		ss := store.AdminSession{IDHash: "h1", UserID: u.ID, CSRFToken: "c1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), UserAgent: "ua"}
		if err := st.CreateAdminSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
		got, gu, err := st.AdminSession(ctx, "h1")
		if err != nil || got.CSRFToken != "c1" || !got.ExpiresAt.Equal(ss.ExpiresAt) || gu.Email != "ops@example.com" || gu.Role != "support" {
			t.Fatalf("session: got %+v %+v %v", got, gu, err)
		}
		if err := st.TouchAdminSession(ctx, "h1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := st.AdminSession(ctx, "h1"); !got.LastSeenAt.Equal(now.Add(time.Minute)) {
			t.Errorf("last seen: got %v", got.LastSeenAt)
		}

		tok, err := st.CreateAPIToken(ctx, store.APIToken{UserID: u.ID, Name: "ci", Role: "viewer", Prefix: "mst_abc"}, "th1")
		if err != nil {
			t.Fatal(err)
		}
		if gt, gu, err := st.APITokenByHash(ctx, "th1"); err != nil || gt.ID != tok.ID || gt.Role != "viewer" || gu.ID != u.ID {
			t.Errorf("token by hash: %+v %+v %v", gt, gu, err)
		}

		// Disabling ends sessions and stops tokens; enabling brings tokens back, not sessions.
		if err := st.SetAdminUserDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AdminSession(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session of a disabled user: got %v, want ErrNotFound", err)
		}
		if _, _, err := st.APITokenByHash(ctx, "th1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token of a disabled user: got %v, want ErrNotFound", err)
		}
		if err := st.SetAdminUserDisabled(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if n, _ := st.AdminSessionCount(ctx, u.ID); n != 0 {
			t.Errorf("sessions after disable: got %d, want 0", n)
		}
		if _, _, err := st.APITokenByHash(ctx, "th1"); err != nil {
			t.Errorf("token after enable: %v", err)
		}
		if _, err := st.RevokeAPIToken(ctx, tok.ID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RevokeAPIToken(ctx, tok.ID, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second revoke: got %v, want ErrNotFound", err)
		}
		if _, _, err := st.APITokenByHash(ctx, "th1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoked token: got %v, want ErrNotFound", err)
		}

		// A password reset ends sessions too.
		if err := st.CreateAdminSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
		if err := st.SetAdminPassword(ctx, u.ID, "hash3"); err != nil {
			t.Fatal(err)
		}
		if n, _ := st.AdminSessionCount(ctx, u.ID); n != 0 {
			t.Errorf("sessions after a password reset: got %d, want 0", n)
		}
		if got, _ := st.AdminUser(ctx, u.ID); got.PasswordHash != "hash3" {
			t.Errorf("hash: got %q", got.PasswordHash)
		}

		// Pruning removes sessions past their absolute expiry or idle too long.
		for i, s := range []store.AdminSession{
			{IDHash: "fresh", LastSeenAt: now, ExpiresAt: now.Add(time.Hour)},
			{IDHash: "old", LastSeenAt: now, ExpiresAt: now.Add(-time.Second)},
			{IDHash: "idle", LastSeenAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)},
		} {
			s.UserID, s.CSRFToken, s.CreatedAt = u.ID, fmt.Sprint(i), now
			if err := st.CreateAdminSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.PruneAdminSessions(ctx, now, now.Add(-time.Hour)); err != nil || n != 2 {
			t.Errorf("prune: got %d, %v; want 2", n, err)
		}
	})
}

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

func TestLoginFailures(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		always := func([]store.LoginCount) bool { return true }
		for i := range 3 {
			at := t0.Add(time.Duration(i) * time.Minute)
			ids, err := st.ReserveLoginAttempt(ctx, []string{"account:a@example.com", "addr:10.0.0.1"}, at.Add(-15*time.Minute), at, always)
			if err != nil || len(ids) != 2 {
				t.Fatalf("reserving: got %v, %v; want two ids", ids, err)
			}
		}
		n, oldest, err := st.LoginFailures(ctx, "account:a@example.com", t0.Add(-time.Minute))
		if err != nil || n != 3 || !oldest.Equal(t0) {
			t.Errorf("failures: got %d oldest %v err %v; want 3 at %v", n, oldest, err, t0)
		}
		if n, _, _ := st.LoginFailures(ctx, "account:a@example.com", t0.Add(90*time.Second)); n != 1 {
			t.Errorf("window: got %d, want 1", n)
		}
		// admit sees the counts of the window; a refusal records nothing.
		var seen []store.LoginCount
		ids, err := st.ReserveLoginAttempt(ctx, []string{"account:a@example.com", "addr:10.0.0.9"}, t0, t0.Add(3*time.Minute),
			func(c []store.LoginCount) bool { seen = c; return false })
		if err != nil || ids != nil {
			t.Fatalf("refused reservation: got %v, %v; want no ids", ids, err)
		}
		want := []store.LoginCount{{Key: "account:a@example.com", N: 3, Oldest: t0, Latest: t0.Add(2 * time.Minute)}, {Key: "addr:10.0.0.9"}}
		if fmt.Sprint(seen) != fmt.Sprint(want) {
			t.Errorf("admit saw %v, want %v", seen, want)
		}
		if n, _, _ := st.LoginFailures(ctx, "addr:10.0.0.9", t0.Add(-time.Hour)); n != 0 {
			t.Errorf("a refused attempt was recorded: %d", n)
		}
		// Releasing forgets exactly the reserved rows.
		ids, err = st.ReserveLoginAttempt(ctx, []string{"addr:10.0.0.1"}, t0, t0.Add(3*time.Minute), always)
		if err != nil || len(ids) != 1 {
			t.Fatalf("reserving: got %v, %v", ids, err)
		}
		if err := st.ReleaseLoginAttempt(ctx, ids); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := st.LoginFailures(ctx, "addr:10.0.0.1", t0.Add(-time.Hour)); n != 3 {
			t.Errorf("after release: got %d, want 3", n)
		}
		if err := st.ClearLoginFailures(ctx, "account:a@example.com"); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := st.LoginFailures(ctx, "account:a@example.com", t0.Add(-time.Hour)); n != 0 {
			t.Errorf("after clear: got %d, want 0", n)
		}
		if n, _, _ := st.LoginFailures(ctx, "addr:10.0.0.1", t0.Add(-time.Hour)); n != 3 {
			t.Errorf("the address keeps its failures: got %d, want 3", n)
		}
		// An attempt an hour later prunes the old rows.
		later := t0.Add(time.Hour)
		if _, err := st.ReserveLoginAttempt(ctx, []string{"addr:10.0.0.2"}, later.Add(-15*time.Minute), later, always); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := st.LoginFailures(ctx, "addr:10.0.0.1", t0.Add(-time.Hour)); n != 0 {
			t.Errorf("after pruning: got %d, want 0", n)
		}
	})
}

// TestReserveLoginAttemptIsAtomic races 60 reservations of one key against a limit of 5: the
// count and the record are one step, so exactly 5 pass.
func TestReserveLoginAttemptIsAtomic(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		var wg sync.WaitGroup
		var admitted atomic.Int64
		errs := make(chan error, 60)
		for range 60 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids, err := st.ReserveLoginAttempt(ctx, []string{"account:race@example.com"}, now.Add(-15*time.Minute), now,
					func(c []store.LoginCount) bool { return c[0].N < 5 })
				if err != nil {
					errs <- err
					return
				}
				if ids != nil {
					admitted.Add(1)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if got := admitted.Load(); got != 5 {
			t.Errorf("admitted %d of 60 racing attempts, want 5", got)
		}
		if n, _, _ := st.LoginFailures(ctx, "account:race@example.com", now.Add(-time.Hour)); n != 5 {
			t.Errorf("recorded %d attempts, want 5", n)
		}
	})
}

func TestSearchPeopleAndEventsPage(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		clock := t0
		st.Now = func() time.Time { return clock }
		people := map[string]int64{}
		for i, c := range []struct{ cus, email, name, typ string }{
			{"cus_ada1", "ada@example.com", "Ada Lovelace", "customer.subscription.updated"},
			{"cus_bob1", "bob_smith@example.com", "Bob Smith", "invoice.payment_failed"},
			{"cus_cy", "cy@example.org", "Cy 100%", "customer.subscription.updated"},
		} {
			clock = t0.Add(time.Duration(i) * time.Minute)
			res := ingest(t, st, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: c.typ, CustomerID: c.cus, Actionable: true, Created: clock, Payload: []byte(`{}`)})
			if err := st.SetIdentity(ctx, res.PersonID, c.email, c.name); err != nil {
				t.Fatal(err)
			}
			people[c.cus] = res.PersonID
		}
		ingest(t, st, store.Event{ID: "evt_ignored", Type: "product.created", Created: clock, Payload: []byte(`{}`)})
		if _, err := st.OpenReview(ctx, store.ReviewItem{PersonID: people["cus_bob1"], Kind: "action_failed", ActionKey: "circle:add:1", Reason: "x"}); err != nil {
			t.Fatal(err)
		}
		search := []struct {
			q    string
			want []string
		}{
			{"ADA@", []string{"cus_ada1"}},
			{"smith", []string{"cus_bob1"}},
			{"cus_cy", []string{"cus_cy"}},
			{"cus_", []string{"cus_cy", "cus_bob1", "cus_ada1"}},
			{"_smith", []string{"cus_bob1"}}, // _ is literal, not LIKE's any-character
			{"100%", []string{"cus_cy"}},
			{"example.org", []string{"cus_cy"}},
			{"nobody", nil},
			{"", []string{"cus_cy", "cus_bob1", "cus_ada1"}},
			{fmt.Sprint(people["cus_bob1"]), []string{"cus_bob1"}},
		}
		for _, c := range search {
			got, err := st.SearchPeople(ctx, c.q, 10)
			if err != nil {
				t.Fatalf("search %q: %v", c.q, err)
			}
			var cus []string
			for _, p := range got {
				cus = append(cus, strings.Join(p.CustomerIDs, "+"))
			}
			if strings.Join(cus, ",") != strings.Join(c.want, ",") {
				t.Errorf("search %q: got %v, want %v", c.q, cus, c.want)
			}
		}
		if got, _ := st.SearchPeople(ctx, "bob", 10); len(got) != 1 || got[0].OpenReviews != 1 || got[0].Name != "Bob Smith" {
			t.Errorf("bob: got %+v", got)
		}

		events := []struct {
			name string
			f    store.EventFilter
			want []string
		}{
			{"all", store.EventFilter{}, []string{"evt_ignored", "evt_2", "evt_1", "evt_0"}},
			{"type", store.EventFilter{Type: "customer.subscription.updated"}, []string{"evt_2", "evt_0"}},
			{"state", store.EventFilter{State: store.EventIgnored}, []string{"evt_ignored"}},
			{"since", store.EventFilter{Since: t0.Add(time.Minute)}, []string{"evt_ignored", "evt_2", "evt_1"}},
			{"until", store.EventFilter{Until: t0.Add(time.Minute)}, []string{"evt_0"}},
		}
		for _, c := range events {
			page, err := st.EventsPage(ctx, c.f)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			var ids []string
			for _, ev := range page.Events {
				ids = append(ids, ev.ID)
			}
			if strings.Join(ids, ",") != strings.Join(c.want, ",") || page.Next != "" {
				t.Errorf("%s: got %v next %q, want %v", c.name, ids, page.Next, c.want)
			}
		}
		// Paging walks every event once, newest first, even when two share a receipt time.
		var walked []string
		f := store.EventFilter{Limit: 1}
		for range 10 {
			page, err := st.EventsPage(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range page.Events {
				walked = append(walked, ev.ID)
			}
			if page.Next == "" {
				break
			}
			f.Cursor = page.Next
		}
		if got := strings.Join(walked, ","); got != "evt_ignored,evt_2,evt_1,evt_0" {
			t.Errorf("paging: got %s", got)
		}
		if _, err := st.EventsPage(ctx, store.EventFilter{Cursor: "garbage"}); !errors.Is(err, store.ErrBadCursor) {
			t.Errorf("bad cursor: got %v", err)
		}
		types, err := st.EventTypes(ctx)
		if err != nil || strings.Join(types, ",") != "customer.subscription.updated,invoice.payment_failed,product.created" {
			t.Errorf("types: got %v, %v", types, err)
		}
	})
}

func TestOverview(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		clock := now.Add(-30 * time.Hour)
		st.Now = func() time.Time { return clock }
		// One event 30 h ago (outside the day), one 3 h ago, two 10 minutes ago.
		for i, ago := range []time.Duration{30 * time.Hour, 3 * time.Hour, 10 * time.Minute, 10 * time.Minute} {
			clock = now.Add(-ago)
			ingest(t, st, store.Event{ID: fmt.Sprintf("evt_%d", i), Type: "invoice.paid", CustomerID: fmt.Sprintf("cus_%d", i), Actionable: true, Created: clock, Payload: []byte(`{}`)})
		}
		journal := []struct {
			ago    time.Duration
			result string
			dur    time.Duration
		}{
			{3 * time.Hour, "converged", 100 * time.Millisecond},
			{3 * time.Hour, "converged", 300 * time.Millisecond},
			{5 * time.Minute, "retry", 0},
			{2 * time.Hour, "failed", 0},
			{25 * time.Hour, "failed", 0},
		}
		for _, j := range journal {
			if err := st.AppendJournal(ctx, store.JournalEntry{PersonID: 1, At: now.Add(-j.ago), Kind: "sync", Action: "sync", Result: j.result, Duration: j.dur}); err != nil {
				t.Fatal(err)
			}
		}
		// A provider call is not a sync.
		if err := st.AppendJournal(ctx, store.JournalEntry{PersonID: 1, At: now, Kind: "call", Action: "circle:add", Result: "server"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.OpenReview(ctx, store.ReviewItem{PersonID: 1, Kind: "action_failed", Reason: "x"}); err != nil {
			t.Fatal(err)
		}
		q, err := queue.New(st, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Insert(ctx, queue.SyncArgs{PersonID: 99, Reason: "resync"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := q.Insert(ctx, queue.SyncArgs{PersonID: 99, Reason: "timer", At: 1}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}

		o, err := st.Overview(ctx, now)
		if err != nil {
			t.Fatal(err)
		}
		if !o.LastWebhookAt.Equal(now.Add(-10 * time.Minute)) {
			t.Errorf("last webhook: got %v, want %v", o.LastWebhookAt, now.Add(-10*time.Minute))
		}
		figures := []struct {
			name      string
			got, want int
		}{
			{"events hour", o.EventsHour, 2},
			{"events day", o.EventsDay, 3},
			{"failures hour", o.FailuresHour, 1},
			{"failures day", o.FailuresDay, 2},
			{"syncs day", o.SyncsDay, 2},
			{"open reviews", o.OpenReviews, 1},
			{"people", o.People, 4},
			{"people pending", o.PeoplePending, 4},
			{"jobs available", o.JobsAvailable, 1},
			{"jobs scheduled", o.JobsScheduled, 1},
			{"hours", len(o.Hours), 24},
		}
		for _, f := range figures {
			if f.got != f.want {
				t.Errorf("%s: got %d, want %d", f.name, f.got, f.want)
			}
		}
		if o.OldestAvailable.IsZero() || o.OldestAvailable.After(time.Now().Add(time.Second)) || time.Since(o.OldestAvailable) > time.Minute {
			t.Errorf("oldest available job: got %v", o.OldestAvailable)
		}
		last := o.Hours[23]
		if !last.Start.Equal(now.Truncate(time.Hour)) {
			t.Errorf("last bucket starts %v, want %v", last.Start, now.Truncate(time.Hour))
		}
		var events, failures int
		for _, h := range o.Hours {
			events += h.Events
			failures += h.Failures
		}
		if events != 3 || failures != 2 {
			t.Errorf("buckets: %d events, %d failures; want 3 and 2", events, failures)
		}
		// The two syncs 3 h ago share a bucket: mean 200 ms, max 300 ms.
		var found bool
		for _, h := range o.Hours {
			if h.Syncs == 2 {
				found = true
				if h.AvgSync != 200*time.Millisecond || h.MaxSync != 300*time.Millisecond {
					t.Errorf("sync durations: mean %v max %v, want 200ms and 300ms", h.AvgSync, h.MaxSync)
				}
			}
		}
		if !found {
			t.Errorf("no bucket holds the two syncs: %+v", o.Hours)
		}
	})
}
