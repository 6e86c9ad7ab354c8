package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// textHits scans every column of every table of the store, each cast to text, for needle
// (case-insensitive) and returns "table.column" for each hit. It is written apart from the
// store's own sweep so that a table or column the sweep misses fails the test.
func textHits(t *testing.T, st *store.Store, needle string) []string {
	t.Helper()
	ctx := context.Background()
	needle = strings.ToLower(needle)
	var hits []string
	if st.Dialect() == store.Postgres {
		rows, err := st.Pool().Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`)
		if err != nil {
			t.Fatal(err)
		}
		var cols [][2]string
		for rows.Next() {
			var c [2]string
			if err := rows.Scan(&c[0], &c[1]); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, c)
		}
		rows.Close()
		for _, c := range cols {
			var n int
			q := fmt.Sprintf(`SELECT COUNT(*) FROM %q WHERE strpos(LOWER(%q::text), $1) > 0`, c[0], c[1])
			if err := st.Pool().QueryRow(ctx, q, needle).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			if n > 0 {
				hits = append(hits, c[0]+"."+c[1])
			}
		}
		return hits
	}
	db := st.SQLDB()
	rows, err := db.QueryContext(ctx, `SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c
		WHERE m.type = 'table' ORDER BY m.name, c.cid`)
	if err != nil {
		t.Fatal(err)
	}
	var cols [][2]string
	for rows.Next() {
		var c [2]string
		if err := rows.Scan(&c[0], &c[1]); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if len(cols) < 20 {
		t.Fatalf("found only %d columns: the scan is broken", len(cols))
	}
	for _, c := range cols {
		var n int
		q := fmt.Sprintf(`SELECT COUNT(*) FROM %q WHERE instr(LOWER(CAST(%q AS TEXT)), ?) > 0`, c[0], c[1])
		if err := db.QueryRowContext(ctx, q, needle).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if n > 0 {
			hits = append(hits, c[0]+"."+c[1])
		}
	}
	return hits
}

// rawExec runs a statement written with ? placeholders on either dialect.
func rawExec(t *testing.T, st *store.Store, q string, args ...any) error {
	t.Helper()
	ctx := context.Background()
	if st.Dialect() == store.Postgres {
		n := 0
		var b strings.Builder
		for _, r := range q {
			if r == '?' {
				n++
				fmt.Fprintf(&b, "$%d", n)
				continue
			}
			b.WriteRune(r)
		}
		_, err := st.Pool().Exec(ctx, b.String(), args...)
		return err
	}
	_, err := st.SQLDB().ExecContext(ctx, q, args...)
	return err
}

var testKey = []byte("0123456789abcdef0123456789abcdef")

// seedPerson gives a person a copy of their email (in assorted cases) in every place one can live.
func seedPerson(t *testing.T, st *store.Store, eventID, customer, email, name string) int64 {
	t.Helper()
	ctx := context.Background()
	upper := strings.ToUpper(email)
	ev := event(eventID, customer)
	ev.Payload = []byte(`{"id":"` + eventID + `","data":{"object":{"id":"` + customer + `","email":"` + upper + `","name":"` + name + `"}}}`)
	ingest(t, st, ev)
	pid, err := st.PersonIDByCustomer(ctx, customer)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(st.SetIdentity(ctx, pid, email, name))
	must(st.SaveBilling(ctx, pid, `{"customers":[{"id":"`+customer+`","email":"`+email+`","name":"`+name+`"}]}`))
	must(st.SaveSyncResult(ctx, pid, `{"email":"`+email+`"}`, time.Time{}, "circle: member "+email+" rejected"))
	must(st.RecordApplied(ctx, store.Applied{PersonID: pid, Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: 11, Email: email, RemoteID: 7, AppliedAt: time.Now()}))
	must(st.AppendJournal(ctx, store.JournalEntry{PersonID: pid, Kind: "call", Action: "circle:add", Target: email, Result: "ok", Detail: "added " + upper}))
	_, err = st.OpenReview(ctx, store.ReviewItem{PersonID: pid, Kind: "email_conflict", ActionKey: "identity", Reason: "two emails: " + upper, LastError: "conflict on " + email})
	must(err)
	_, err = st.AddComp(ctx, store.Comp{PersonID: pid, PlanID: "pro", Reason: "asked by " + email, GrantedBy: "ann@ops.example.com", GrantedAt: time.Now()})
	must(err)
	must(st.SaveStatusCheckout(ctx, store.StatusCheckout{SessionID: "cs_" + eventID, PersonID: pid, CustomerID: customer, Email: email, CreatedAt: time.Now(), CheckedAt: time.Now()}))
	_, err = st.AppendAudit(ctx, store.AuditEntry{Actor: "ann@ops.example.com", Action: "person.resync", Target: fmt.Sprintf("person:%d", pid), PersonID: pid,
		After: `{"who":"` + email + `"}`, Note: "customer " + upper + " wrote in"})
	must(err)
	return pid
}

func TestErasureRemovesEveryCopy(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		const ada, bob = "ada.l+test@example.com", "bob@example.org"
		pid := seedPerson(t, st, "evt_a1", "cus_ADA", ada, "Ada Lovelace")
		bobID := seedPerson(t, st, "evt_b1", "cus_BOB", bob, "Bob Byron")
		// Copies outside Ada's rows: a guest checkout, an event no person is linked to, Bob's comp
		// and review item naming her, a drift report, an alert.
		if err := st.SaveStatusCheckout(ctx, store.StatusCheckout{SessionID: "cs_guest", Email: ada, CreatedAt: time.Now(), CheckedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		ingest(t, st, store.Event{ID: "evt_guest", Type: "checkout.session.completed", Created: time.Unix(1_800_000_000, 0),
			Payload: []byte(`{"customer_details":{"email":"` + ada + `"}}`)})
		if _, err := st.AddComp(ctx, store.Comp{PersonID: bobID, PlanID: "pro", Reason: "referred by " + ada, GrantedBy: "ann", GrantedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := rawExec(t, st, `INSERT INTO drift_reports (started_at, mode, status, detail) VALUES (?, 'dry_run', 'complete', ?)`,
			time.Now().UnixMicro(), `{"drifted":[{"email":"`+ada+`"},{"email":"`+bob+`"}]}`); err != nil {
			t.Fatal(err)
		}
		if got := textHits(t, st, ada); len(got) < 10 {
			t.Fatalf("seeded copies of the email found in only %v: the test's seed is broken", got)
		}

		var e store.Erasure
		err := st.InTx(ctx, func(tx *store.Tx) error {
			var err error
			e, err = tx.BeginErasure(ctx, store.EraseRequest{PersonID: pid, Reason: "Art. 17 request from " + strings.ToUpper(ada), By: "cli (dana)", LocalOnly: true, Key: testKey})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if e.State != store.Erasing || e.EmailHash != store.EmailHash(testKey, ada) || !slices.Equal(e.CustomerIDs, []string{"cus_ADA"}) {
			t.Fatalf("tombstone = %+v", e)
		}
		if strings.Contains(strings.ToLower(e.Reason), ada) {
			t.Errorf("the tombstone's reason keeps the email: %q", e.Reason)
		}
		// Beginning again while erasing resumes the same erasure.
		err = st.InTx(ctx, func(tx *store.Tx) error {
			again, err := tx.BeginErasure(ctx, store.EraseRequest{PersonID: pid, Reason: "again", By: "x", Key: testKey})
			if err == nil && again.ID != e.ID {
				err = fmt.Errorf("second begin made tombstone %d, want %d", again.ID, e.ID)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if state, _ := st.ErasureState(ctx, pid); state != store.Erasing {
			t.Fatalf("state after begin = %q, want erasing", state)
		}
		done, err := st.FinishErasure(ctx, pid)
		if err != nil {
			t.Fatal(err)
		}
		if done.State != store.Erased || done.ErasedAt.IsZero() {
			t.Errorf("finished tombstone = %+v", done)
		}

		for _, needle := range []string{ada, "Lovelace"} {
			if got := textHits(t, st, needle); len(got) != 0 {
				t.Errorf("%q is still in %v", needle, got)
			}
		}
		if got := textHits(t, st, bob); !slices.Contains(got, "people.email") || !slices.Contains(got, "drift_reports.detail") {
			t.Errorf("Bob's email is left only in %v: the erasure touched another person", got)
		}
		if state, _ := st.ErasureState(ctx, pid); state != store.Erased {
			t.Errorf("state after finish = %q, want erased", state)
		}
		if _, err := st.FinishErasure(ctx, pid); !errors.Is(err, store.ErrErased) {
			t.Errorf("finishing twice: got %v, want ErrErased", err)
		}
		err = st.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.BeginErasure(ctx, store.EraseRequest{PersonID: pid, Reason: "again", By: "x", Key: testKey})
			return err
		})
		if !errors.Is(err, store.ErrErased) {
			t.Errorf("erasing an erased person: got %v, want ErrErased", err)
		}

		// The tombstone answers by email hash and keeps the customer; event ids still deduplicate.
		found, err := st.ErasuresByEmail(ctx, testKey, "  ADA.L+test@Example.com ")
		if err != nil || len(found) != 1 || found[0].ID != e.ID || found[0].By != "cli (dana)" {
			t.Errorf("ErasuresByEmail = %+v, %v", found, err)
		}
		if other, _ := st.ErasuresByEmail(ctx, []byte("another key"), ada); len(other) != 0 {
			t.Errorf("a different key matched the tombstone: %+v", other)
		}
		if got, _ := st.PersonIDByCustomer(ctx, "cus_ADA"); got != pid {
			t.Errorf("cus_ADA now belongs to %d, want the erased person %d", got, pid)
		}
		if res := ingest(t, st, event("evt_a1", "cus_ADA")); !res.Duplicate {
			t.Error("a redelivery of an erased person's event was not a duplicate")
		}
		ev, err := st.Event(ctx, "evt_a1")
		if err != nil || len(ev.Payload) != 0 {
			t.Errorf("event evt_a1 = %q, %v; want kept with its payload dropped", ev.Payload, err)
		}

		// The audit log: the erasure's entry says who and why without the email; the older entry
		// was redacted through audit_redactions, and the log stays append-only otherwise.
		entries, err := st.Audit(ctx, store.AuditFilter{PersonID: pid})
		if err != nil {
			t.Fatal(err)
		}
		var forget, resync *store.AuditEntry
		for i := range entries {
			switch entries[i].Action {
			case "person.forget":
				forget = &entries[i]
			case "person.resync":
				resync = &entries[i]
			}
		}
		if forget == nil || !strings.Contains(forget.Note, "erased by cli (dana) because Art. 17 request from "+store.Redacted) {
			t.Errorf("forget audit entry = %+v", forget)
		}
		if resync == nil || !strings.Contains(resync.Note, store.Redacted) || resync.Actor != "ann@ops.example.com" {
			t.Errorf("redacted audit entry = %+v", resync)
		}
		if err := rawExec(t, st, "UPDATE audit_log SET note = 'rewritten' WHERE action = 'person.forget'"); err == nil {
			t.Error("an audit entry without a redaction record was updated")
		}
		if err := rawExec(t, st, "UPDATE audit_log SET actor = 'someone else' WHERE action = 'person.resync' AND person_id = ?", pid); err == nil {
			t.Error("a redacted audit entry's actor was changed")
		}
		if err := rawExec(t, st, "DELETE FROM audit_log"); err == nil {
			t.Error("audit entries were deleted")
		}
	})
}

func TestErasureNeedsTheTombstoneFirst(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		pid := seedPerson(t, st, "evt_c1", "cus_C", "cy@example.com", "Cy")
		if _, err := st.FinishErasure(ctx, pid); err == nil {
			t.Error("FinishErasure without BeginErasure: got no error")
		}
		if got := textHits(t, st, "cy@example.com"); !slices.Contains(got, "people.email") {
			t.Errorf("a refused scrub removed the email anyway: left in %v", got)
		}
		err := st.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.BeginErasure(ctx, store.EraseRequest{PersonID: pid + 100, Reason: "x", By: "x", Key: testKey})
			return err
		})
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("erasing a missing person: got %v, want ErrNotFound", err)
		}
	})
}

func TestRedactEmail(t *testing.T) {
	for _, tc := range []struct{ in, email, want string }{
		{"mail Ada@Example.com now", "ada@example.com", "mail [erased] now"},
		{`{"e":"ADA@EXAMPLE.COM","f":"ada@example.com"}`, "ada@example.com", `{"e":"[erased]","f":"[erased]"}`},
		{"a.b+c@x.io", "a.b+c@x.io", "[erased]"},
		{"axb+c@x.io", "a.b+c@x.io", "axb+c@x.io"}, // the dot is literal
		{"nothing here", "ada@example.com", "nothing here"},
		{"keep", "", "keep"},
	} {
		if got := store.RedactEmail(tc.in, tc.email); got != tc.want {
			t.Errorf("RedactEmail(%q, %q) = %q, want %q", tc.in, tc.email, got, tc.want)
		}
	}
}

// TestErasureLeavesNoBytesInTheFile: on SQLite, the erased email is gone from the write-ahead log
// (truncated) and from the database file, not only from the tables: the scrub zeroes what it deletes
// (secure_delete). Copies freed before the erasure (a row updated last month) are zeroed only when
// the connection runs with secure_delete from the start; until store.Open sets it, the test sets it
// as Open would and checks the file, and without it checks the log only.
func TestErasureLeavesNoBytesInTheFile(t *testing.T) {
	for _, fromStart := range []bool{false, true} {
		t.Run(fmt.Sprintf("secure_delete_from_start=%t", fromStart), func(t *testing.T) { testNoBytes(t, fromStart) })
	}
}

func testNoBytes(t *testing.T, fromStart bool) {
	ctx := context.Background()
	u := storetest.URL(t, store.SQLite)
	path := strings.TrimPrefix(u, "sqlite:")
	st, err := store.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var mode int
	if err := st.SQLDB().QueryRowContext(ctx, "PRAGMA secure_delete").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if fromStart && mode == 0 {
		if _, err := st.SQLDB().ExecContext(ctx, "PRAGMA secure_delete = FAST"); err != nil {
			t.Fatal(err)
		}
		mode = 2
	}
	const ada = "ada.bytes@example.com"
	pid := seedPerson(t, st, "evt_f1", "cus_F", ada, "Ada Filebytes")
	for i := range 50 { // some volume, so that pages split and move
		seedPerson(t, st, fmt.Sprintf("evt_o%d", i), fmt.Sprintf("cus_O%d", i), fmt.Sprintf("other%d@example.com", i), "Other")
	}
	if err := st.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.BeginErasure(ctx, store.EraseRequest{PersonID: pid, Reason: "asked", By: "cli", LocalOnly: true, Key: testKey})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinishErasure(ctx, pid); err != nil {
		t.Fatal(err)
	}
	files := []string{path + "-wal"}
	if mode != 0 {
		files = append(files, path)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, needle := range []string{ada, strings.ToUpper(ada), "Filebytes"} {
			if bytes.Contains(b, []byte(needle)) {
				t.Errorf("%s still holds %q", f, needle)
			}
		}
	}
}
