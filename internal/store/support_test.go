package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

func TestSupportMessages(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
		pid := personOf(t, st, "evt_s1", "cus_S1")
		other := personOf(t, st, "evt_s2", "cus_S2")
		// A customer's own email finds its person even when the person's email is another.
		const setEmail = "UPDATE customers SET email = 'ana@work.example' WHERE id = 'cus_S1'"
		var err error
		if db := st.SQLDB(); db != nil {
			_, err = db.ExecContext(ctx, setEmail)
		} else {
			_, err = st.Pool().Exec(ctx, setEmail)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got, err := st.PersonIDByAnyEmail(ctx, "ana@work.example"); err != nil || got != pid {
			t.Errorf("PersonIDByAnyEmail = %d, %v; want %d", got, err, pid)
		}
		if _, err := st.PersonIDByAnyEmail(ctx, "nobody@example.org"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an unknown email: %v, want ErrNotFound", err)
		}

		m := store.SupportMessage{Source: "imap", ExternalID: "INBOX/1/1", ReceivedAt: t0, PersonID: pid, SenderHash: "p_1",
			SenderEmail: "ana@work.example", Subject: "hello", Body: "body", Category: "access", Rules: []string{"access: no access"}}
		a, created, err := st.RecordSupportMessage(ctx, m)
		if err != nil || !created || a.ID == 0 || len(a.Rules) != 1 || a.NoteStatus != store.NoteNone || a.Diagnosis != "{}" {
			t.Fatalf("first record: %+v %v %v", a, created, err)
		}
		m.Category = "billing"
		b, created, err := st.RecordSupportMessage(ctx, m)
		if err != nil || created || b.ID != a.ID || b.Category != "access" {
			t.Errorf("second record: %+v %v %v; want the first row unchanged", b, created, err)
		}
		if _, _, err := st.RecordSupportMessage(ctx, store.SupportMessage{Source: "imap"}); err == nil {
			t.Error("a message without an external id was stored")
		}

		// Bodies go with the journal's retention; the counts stay.
		keep := 35 * 24 * time.Hour
		if res, err := st.Prune(ctx, store.RetentionPolicy{JournalDetail: keep}, t0.Add(time.Hour+keep)); err != nil || res.Of(store.PruneSupportBodies).Rows != 1 {
			t.Errorf("Prune: support bodies %+v, %v; want 1 row", res.Of(store.PruneSupportBodies), err)
		}
		if got, _ := st.SupportMessage(ctx, a.ID); got.Body != "" || got.Subject != "" || got.SenderEmail != "" || got.Category != "access" {
			t.Errorf("after pruning: %+v", got)
		}

		// A merge moves the messages; an erasure unlinks and blanks them.
		if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.MoveSupportMessages(ctx, pid, other) }); err != nil {
			t.Fatal(err)
		}
		if ms, _ := st.SupportMessages(ctx, store.SupportFilter{PersonID: other}); len(ms) != 1 {
			t.Errorf("after the merge person %d has %d messages, want 1", other, len(ms))
		}
		if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.MoveSupportMessages(ctx, other, 0) }); err != nil {
			t.Fatal(err)
		}
		if got, _ := st.SupportMessage(ctx, a.ID); got.PersonID != 0 || got.SenderHash != "" || got.Diagnosis != "{}" {
			t.Errorf("after the erasure: %+v", got)
		}
		counts, err := st.SupportCounts(ctx, t0.Add(-24*time.Hour), 1)
		if err != nil || counts[0]["access"] != 1 {
			t.Errorf("counts %v, %v: the erased message still counts", counts, err)
		}
	})
}
