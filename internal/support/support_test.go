package support

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/plan"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// at10 is the clock of the diagnosis tests: the review items open at 10:02 UTC that day.
var at10 = time.Date(2026, 12, 3, 10, 2, 0, 0, time.UTC)

var testPlans = []plan.Plan{{ID: "pro", Name: "Pro", Circle: plan.Circle{AccessGroups: []int64{12}}}}

// fixture is a store and a Triage on one clock.
type fixture struct {
	t   *testing.T
	ctx context.Context
	st  *store.Store
	tr  *Triage
	now time.Time
	log *bytes.Buffer
	n   int // messages ingested by messages()
}

func forEachDialect(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			st := storetest.Open(t, d)
			f := &fixture{t: t, ctx: context.Background(), st: st, now: at10, log: &bytes.Buffer{}}
			st.Now = func() time.Time { return f.now }
			f.tr = &Triage{Store: st, Now: func() time.Time { return f.now }, HashKey: []byte("test-key"), Plans: testPlans,
				Log: slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
			fn(t, f)
		})
	}
}

// payer stores a person who bought Pro with email and customer, as a completed sync leaves them:
// entitled to Circle group 12. held says whether Circle confirmed the grant.
func (f *fixture) payer(email, customer string, stage entitlement.Stage, entitled, held bool) int64 {
	f.t.Helper()
	var pid int64
	err := f.st.InTx(f.ctx, func(tx *store.Tx) error {
		var err error
		pid, _, err = tx.PersonForCustomer(f.ctx, customer)
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.SetIdentity(f.ctx, pid, email, "Ana"); err != nil {
		f.t.Fatal(err)
	}
	d := entitlement.Desired{Plans: []entitlement.PlanState{{PlanID: "pro", Stage: stage, Entitled: entitled,
		Explanation: "Subscription " + string(stage)}}, ManagedAccessGroups: []int64{12}}
	if entitled {
		d.AccessGroups = []int64{12}
		d.Plans[0].AccessGroups = []int64{12}
	}
	b, _ := json.Marshal(d)
	if err := f.st.SaveSyncResult(f.ctx, pid, string(b), time.Time{}, ""); err != nil {
		f.t.Fatal(err)
	}
	if err := f.st.FinishSync(f.ctx, pid, 1); err != nil {
		f.t.Fatal(err)
	}
	if held {
		if err := f.st.RecordApplied(f.ctx, store.Applied{PersonID: pid, Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: 12, Email: email}); err != nil {
			f.t.Fatal(err)
		}
	}
	return pid
}

// failCircle opens the review item a sync opens when Circle refuses the grant, and journals the call.
func (f *fixture) failCircle(pid int64) int64 {
	f.t.Helper()
	if err := f.st.AppendJournal(f.ctx, store.JournalEntry{PersonID: pid, Kind: "call", Action: "circle:add_access_group", Target: "12",
		Result: "rejected", Status: 422, Detail: "Access group is archived"}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.st.OpenReview(f.ctx, store.ReviewItem{PersonID: pid, Kind: "action_failed", ActionKey: "circle:add_access_group:12",
		Reason: "this action can never succeed as sent; fix it in circle or the plan mapping, then retry", LastError: "422 Access group is archived"}); err != nil {
		f.t.Fatal(err)
	}
	items, err := f.st.Reviews(f.ctx, "open", pid, 10)
	if err != nil || len(items) != 1 {
		f.t.Fatalf("open review items: %v, %v", items, err)
	}
	return items[0].ID
}

func (f *fixture) ingest(m Message) Outcome {
	f.t.Helper()
	out, err := f.tr.Ingest(f.ctx, m)
	if err != nil {
		f.t.Fatalf("Ingest: %v", err)
	}
	return out
}

func TestDiagnoseFailingCircleGrant(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		pid := f.payer("ana@example.com", "cus_Ana0001", entitlement.StageActive, true, false)
		item := f.failCircle(pid)
		f.now = at10.Add(3 * time.Hour)
		out := f.ingest(Message{Source: SourceHelpScout, ExternalID: "100/1", TicketRef: "100", From: "Ana@Example.com ",
			Subject: "Paid but cannot access", Body: "I paid but I can't log in"})
		if out.Category != CategoryAccess || out.PersonID != pid || out.Duplicate {
			t.Fatalf("outcome %+v: want access, person %d, new", out, pid)
		}
		d := out.Diagnosis
		want := fmt.Sprintf("Circle grant failing since 10:02 UTC: review item #%d, Retry", item)
		if d.Action != want {
			t.Errorf("action %q, want %q", d.Action, want)
		}
		if d.Fix != FixRetry || d.ReviewID != item {
			t.Errorf("fix %q review %d, want retry of #%d", d.Fix, d.ReviewID, item)
		}
		if !strings.Contains(d.Summary, "Pro (active)") || !strings.Contains(d.Summary, "Circle refused to add them") {
			t.Errorf("summary %q should say what they paid and name the failing grant", d.Summary)
		}
		note := d.Note()
		t.Logf("note:\n%s", note)
		for _, w := range []string{fmt.Sprintf("review item #%d", item), "Access group is archived", "Suggested action:"} {
			if !strings.Contains(note, w) {
				t.Errorf("note lacks %q:\n%s", w, note)
			}
		}
	})
}

func TestDiagnoseNoPayment(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		f.payer("ana@example.com", "cus_Ana0001", entitlement.StageActive, true, true)
		out := f.ingest(Message{Source: SourceIMAP, ExternalID: "INBOX/1/7", From: "stranger@example.org", Body: "I paid but I can't log in"})
		if out.PersonID != 0 {
			t.Errorf("person %d, want none", out.PersonID)
		}
		if !strings.HasPrefix(out.Diagnosis.Action, "no payment found for this email: ask for the receipt") {
			t.Errorf("action %q, want no payment found", out.Diagnosis.Action)
		}
		// A person with no plan (a stranger the drift sweep recorded) has no payment either.
		var pid int64
		if err := f.st.InTx(f.ctx, func(tx *store.Tx) error {
			var err error
			pid, _, err = tx.PersonForEmail(f.ctx, "lurker@example.org")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		out = f.ingest(Message{Source: SourceIMAP, ExternalID: "INBOX/1/8", From: "lurker@example.org", Body: "no access"})
		if out.PersonID != pid || !strings.HasPrefix(out.Diagnosis.Action, "no payment found") {
			t.Errorf("outcome %+v, want person %d with no payment found", out, pid)
		}
	})
}

func TestDiagnoseAnotherEmail(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		ana := f.payer("ana@work.example", "cus_Ana0001", entitlement.StageActive, true, true)
		tests := []struct{ name, from, body string }{
			{"email in body", "ana.home@example.org", "Hi, I paid with ana@work.example but I cannot access the community."},
			{"customer id in body", "ana.home@example.org", "Can't log in. My receipt says customer cus_Ana0001."},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				out := f.ingest(Message{Source: SourceWebhook, ExternalID: fmt.Sprint("w", i), From: tt.from, Body: tt.body})
				d := out.Diagnosis
				if d.Fix != FixMerge || d.OtherPersonID != ana || out.PersonID != ana {
					t.Errorf("diagnosis %+v person %d: want merge with person %d", d, out.PersonID, ana)
				}
				if !strings.HasPrefix(d.Action, "paid with another email: ") || !strings.HasSuffix(d.Action, " — merge or comp?") {
					t.Errorf("action %q", d.Action)
				}
				if strings.Contains(d.Note(), "ana@work.example") {
					t.Errorf("the note spells out the other email: %s", d.Note())
				}
			})
		}
		if !strings.Contains(f.ingest(Message{Source: SourceWebhook, ExternalID: "w9", From: "x@example.org",
			Body: "paid with ana@work.example"}).Diagnosis.Action, "an•••@work.example") {
			t.Error("the action should name the other email, masked")
		}
	})
}

func TestDiagnoseAccessFine(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		f.payer("ana@example.com", "cus_Ana0001", entitlement.StageActive, true, true)
		f.payer("bo@example.com", "cus_Bo000001", entitlement.StagePastDue, false, false)
		f.payer("cy@example.com", "cus_Cy000001", entitlement.StageActive, true, false)
		tests := []struct{ from, body, action, fix string }{
			{"ana@example.com", "I can't log in", "nothing wrong: send the Circle sign-in link", FixStatusLink},
			{"ana@example.com", "I didn't receive the welcome email", "nothing wrong: resend the invitation", FixResend},
			{"bo@example.com", "no access since yesterday", "payment failing: send the status link so they update their card", FixStatusLink},
			{"cy@example.com", "no access", "Circle access not confirmed: press Resync", FixResync},
		}
		for i, tt := range tests {
			out := f.ingest(Message{Source: SourceIMAP, ExternalID: fmt.Sprint("INBOX/1/", i), From: tt.from, Body: tt.body})
			if !strings.HasPrefix(out.Diagnosis.Action, tt.action) || out.Diagnosis.Fix != tt.fix {
				t.Errorf("%s %q: action %q fix %q, want %q %q", tt.from, tt.body, out.Diagnosis.Action, out.Diagnosis.Fix, tt.action, tt.fix)
			}
		}
	})
}

func TestIngestTwiceCountsOnce(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		m := Message{Source: SourceHelpScout, ExternalID: "555/9", TicketRef: "555", From: "a@example.org", Body: "refund please"}
		first := f.ingest(m)
		m.Body = "a changed body must not change the stored outcome: cannot access"
		second := f.ingest(m)
		if first.Duplicate || !second.Duplicate || second.ID != first.ID || second.Category != CategoryRefund {
			t.Fatalf("first %+v, second %+v: want one message, the second a duplicate of the first", first, second)
		}
		weeks, err := Weekly(f.ctx, f.st, f.now, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := weeks[0].Total(); got != 1 {
			t.Errorf("this week counts %d messages, want 1", got)
		}
		notes, err := f.tr.NotePending(f.ctx, 10)
		if err != nil || len(notes) != 1 || notes[0].TicketRef != "555" || notes[0].Text != first.Diagnosis.Note() {
			t.Fatalf("pending notes %+v, %v: want the one note for ticket 555", notes, err)
		}
		if err := f.tr.MarkNoted(f.ctx, notes[0].ID, nil); err != nil {
			t.Fatal(err)
		}
		f.ingest(m)
		if notes, _ := f.tr.NotePending(f.ctx, 10); len(notes) != 0 {
			t.Errorf("a posted note is pending again after a redelivery: %+v", notes)
		}
		if err := f.tr.MarkNoted(f.ctx, first.ID, nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("marking a posted note again: %v, want ErrNotFound", err)
		}
		// IMAP and webhook messages have no ticket: nothing to post.
		f.ingest(Message{Source: SourceIMAP, ExternalID: "INBOX/1/1", From: "a@example.org", Body: "hi"})
		if notes, _ := f.tr.NotePending(f.ctx, 10); len(notes) != 0 {
			t.Errorf("an IMAP message queued a note: %+v", notes)
		}
	})
}

func TestMarkNotedGivesUp(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		out := f.ingest(Message{Source: SourceZendesk, ExternalID: "77/1", TicketRef: "77", From: "a@example.org", Body: "hi"})
		for i := range MaxNoteAttempts {
			notes, err := f.tr.NotePending(f.ctx, 10)
			if err != nil || len(notes) != 1 {
				t.Fatalf("attempt %d: pending %+v, %v; want the note offered again", i+1, notes, err)
			}
			if err := f.tr.MarkNoted(f.ctx, out.ID, errors.New("zendesk: 503 Service Unavailable")); err != nil {
				t.Fatal(err)
			}
		}
		if notes, _ := f.tr.NotePending(f.ctx, 10); len(notes) != 0 {
			t.Errorf("after %d failures the note is still pending", MaxNoteAttempts)
		}
		m, err := f.st.SupportMessage(f.ctx, out.ID)
		if err != nil || m.NoteStatus != store.NoteFailed || m.NoteAttempts != MaxNoteAttempts || !strings.Contains(m.NoteError, "503") {
			t.Errorf("row %+v, %v: want failed after %d attempts with the error", m, err, MaxNoteAttempts)
		}
	})
}

func TestIngestRefusesBadMessages(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		for _, m := range []Message{
			{Source: "fax", ExternalID: "1"},
			{Source: SourceIMAP},
			{Source: SourceIMAP, ExternalID: strings.Repeat("x", 600)},
			{Source: SourceIMAP, ExternalID: "1", From: strings.Repeat("x", 400) + "@example.org"},
		} {
			if _, err := f.tr.Ingest(f.ctx, m); !errors.Is(err, ErrInvalid) {
				t.Errorf("Ingest(%.40q…): %v, want ErrInvalid", m.Source+"/"+m.ExternalID, err)
			}
		}
	})
}

// TestPrivacy scans the stored row and the log: without keep_bodies neither holds the subject,
// the body or the sender's email.
func TestPrivacy(t *testing.T) {
	forEachDialect(t, func(t *testing.T, f *fixture) {
		f.payer("ana@example.com", "cus_Ana0001", entitlement.StageActive, true, true)
		const subject, body = "Secret subject Zq7", "My password is hunter2Zq7 and I cannot access"
		out := f.ingest(Message{Source: SourceIMAP, ExternalID: "INBOX/1/1", From: "ana@example.com", Subject: subject, Body: body})
		for _, secret := range []string{"Zq7", "hunter2", "ana@example.com"} {
			if row := f.rawRow(out.ID); strings.Contains(row, secret) {
				t.Errorf("the stored row holds %q: %s", secret, row)
			}
			if strings.Contains(f.log.String(), secret) {
				t.Errorf("the log holds %q: %s", secret, f.log.String())
			}
		}
		if !strings.Contains(f.log.String(), "support message triaged") {
			t.Errorf("nothing logged: %q", f.log.String())
		}
		f.tr.KeepBodies = true
		out = f.ingest(Message{Source: SourceIMAP, ExternalID: "INBOX/1/2", From: "ana@example.com", Subject: subject, Body: body})
		if row := f.rawRow(out.ID); !strings.Contains(row, "hunter2Zq7") || !strings.Contains(row, "Secret subject") {
			t.Errorf("with keep_bodies the row should hold the subject and body: %s", row)
		}
		if strings.Contains(f.log.String(), "Zq7") {
			t.Errorf("with keep_bodies the log still must not hold the message: %s", f.log.String())
		}
	})
}

// rawRow returns every column of a support_messages row as text, read with SELECT * so that a
// column added later is scanned too.
func (f *fixture) rawRow(id int64) string {
	f.t.Helper()
	var vals []any
	if db := f.st.SQLDB(); db != nil {
		rows, err := db.QueryContext(f.ctx, "SELECT * FROM support_messages WHERE id = ?", id)
		if err != nil {
			f.t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		if !rows.Next() {
			f.t.Fatalf("no row %d", id)
		}
		vals = make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			f.t.Fatal(err)
		}
	} else {
		rows, err := f.st.Pool().Query(f.ctx, "SELECT * FROM support_messages WHERE id = $1", id)
		if err != nil {
			f.t.Fatal(err)
		}
		defer rows.Close()
		if !rows.Next() {
			f.t.Fatalf("no row %d", id)
		}
		if vals, err = rows.Values(); err != nil {
			f.t.Fatal(err)
		}
	}
	var b strings.Builder
	for _, v := range vals {
		if bs, ok := v.([]byte); ok {
			v = string(bs)
		}
		fmt.Fprintf(&b, "%v|", v)
	}
	return b.String()
}
