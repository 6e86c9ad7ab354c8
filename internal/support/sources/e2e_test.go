package sources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/plan"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/support"
	"github.com/membersync/membersync/internal/support/sources"
	"github.com/membersync/membersync/internal/support/sources/helpscouttest"
	"github.com/membersync/membersync/internal/web"
)

// The end-to-end test of issue 20's "Show": a real IMAP server on loopback, the real poller and
// triage over a real store (SQLite, and PostgreSQL when TEST_DATABASE_URL is set), the real Help
// Scout webhook endpoint on membersync's HTTP surface, and the note worker posting to the Help
// Scout fake. Nothing is stubbed between the mailbox and the stored diagnosis.

const (
	e2eUser     = "support@founder.example"
	e2ePassword = "e2e: correct horse battery staple"
	e2eHSSecret = "e2e-helpscout-webhook-secret-0123"
	e2eGroup    = 12 // the Circle access group Pro grants
)

// e2eReviewAt is when Circle refused the grant; the messages arrive three hours later, the same day,
// so that the diagnosis words the time as "10:02 UTC".
var e2eReviewAt = time.Date(2026, 12, 7, 10, 2, 0, 0, time.UTC)

// e2eIMAP is go-imap's IMAP server on its in-memory backend, serving one user on loopback.
type e2eIMAP struct{ addr string }

func startE2EIMAP(t *testing.T) *e2eIMAP {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(e2eUser, e2ePassword)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: true, // loopback only
		Logger:       e2eDiscard{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &e2eIMAP{addr: ln.Addr().String()}
}

type e2eDiscard struct{}

func (e2eDiscard) Printf(string, ...any) {}

// send delivers an email to INBOX as a mail server would: over the IMAP protocol (APPEND), with
// its INTERNALDATE set to at.
func (s *e2eIMAP) send(t *testing.T, from, subject, body string, at time.Time) {
	t.Helper()
	msg := fmt.Sprintf("From: <%s>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.%s>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n", from, e2eUser, subject, at.Format(time.RFC1123Z), at.UnixNano(), from, body)
	c, err := imapclient.DialInsecure(s.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(e2eUser, e2ePassword).Wait(); err != nil {
		t.Fatal(err)
	}
	cmd := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Time: at})
	if _, err := cmd.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := cmd.Wait(); err != nil {
		t.Fatalf("APPEND: %v", err)
	}
}

// poller returns a new poller of the mailbox (a new one is what a restart of serve builds).
func (s *e2eIMAP) poller(t *testing.T, st *store.Store, in sources.Ingester, now time.Time) *sources.Poller {
	t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return &sources.Poller{
		Config: config.SupportIMAP{Host: "127.0.0.1", Port: p, Security: config.IMAPSecurityNone, Username: e2eUser,
			Mailbox: "INBOX", MaxPerPoll: 50, MaxBodyBytes: 256 << 10, Backfill: config.Duration(7 * 24 * time.Hour)},
		Password: e2ePassword, Cursors: st, Ingester: in, Now: func() time.Time { return now },
	}
}

// e2eCounter passes messages to the triage and counts the calls: a re-read mailbox must not even
// offer a message again.
type e2eCounter struct {
	next  sources.Ingester
	calls atomic.Int32
}

func (c *e2eCounter) Ingest(ctx context.Context, m support.Message) (support.Outcome, error) {
	c.calls.Add(1)
	return c.next.Ingest(ctx, m)
}

// e2ePayer stores a person who pays for Pro, as a completed sync leaves them: entitled to Circle
// group 12, which Circle has not confirmed; then Circle refuses the grant (the journal's call and
// the review item a sync opens). It returns the person and the review item's id.
func e2ePayer(t *testing.T, st *store.Store, email, customer string) (pid, item int64) {
	t.Helper()
	ctx := context.Background()
	if err := st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		pid, _, err = tx.PersonForCustomer(ctx, customer)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := st.SetIdentity(ctx, pid, email, "Ana"); err != nil {
		t.Fatal(err)
	}
	d := entitlement.Desired{Plans: []entitlement.PlanState{{PlanID: "pro", Stage: entitlement.StageActive, Entitled: true,
		AccessGroups: []int64{e2eGroup}, Explanation: "Subscription active"}},
		AccessGroups: []int64{e2eGroup}, ManagedAccessGroups: []int64{e2eGroup}}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveSyncResult(ctx, pid, string(b), time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	if err := st.FinishSync(ctx, pid, 1); err != nil {
		t.Fatal(err)
	}
	action := fmt.Sprintf("circle:add_access_group:%d", e2eGroup)
	if err := st.AppendJournal(ctx, store.JournalEntry{PersonID: pid, Kind: "call", Action: action, Target: fmt.Sprint(e2eGroup),
		Result: "rejected", Status: 422, Detail: "Access group is archived"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.OpenReview(ctx, store.ReviewItem{PersonID: pid, Kind: "action_failed", ActionKey: action,
		Reason: "this action can never succeed as sent; fix it in circle or the plan mapping, then retry", LastError: "422 Access group is archived"}); err != nil {
		t.Fatal(err)
	}
	items, err := st.Reviews(ctx, "open", pid, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if it.ActionKey == action {
			return pid, it.ID
		}
	}
	t.Fatalf("no open review item %s for person %d: %+v", action, pid, items)
	return 0, 0
}

// e2eOtherItem opens a review item for someone else first, so that the failing grant's item is
// not #1 and a diagnosis naming the wrong item cannot pass by chance.
func e2eOtherItem(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := context.Background()
	var pid int64
	if err := st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		pid, _, err = tx.PersonForCustomer(ctx, "cus_Other0001")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"kit:tag:21", "kit:tag:22"} {
		if _, err := st.OpenReview(ctx, store.ReviewItem{PersonID: pid, Kind: "action_failed", ActionKey: key, Reason: "Kit refused"}); err != nil {
			t.Fatal(err)
		}
	}
}

// e2eMessages returns every stored support message, by external id.
func e2eMessages(t *testing.T, st *store.Store) map[string]store.SupportMessage {
	t.Helper()
	ms, err := st.SupportMessages(context.Background(), store.SupportFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]store.SupportMessage{}
	for _, m := range ms {
		out[m.Source+" "+m.ExternalID] = m
	}
	if len(out) != len(ms) {
		t.Fatalf("%d stored messages share external ids: %+v", len(ms), ms)
	}
	return out
}

func e2ePoll(t *testing.T, p *sources.Poller) sources.PollResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Poll(ctx)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return res
}

// TestE2ESupportTriage is issue 20's demonstration, on every dialect: "I paid but I can't log in"
// mailed by a paying member whose Circle grant is failing is diagnosed with the failing grant and
// its review item; the same from a stranger says no payment was found; re-reading the mailbox,
// and reading it again after a restart, counts nothing twice; and the same member writing through
// Help Scout gets the diagnosis posted on the conversation as a private note.
func TestE2ESupportTriage(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) { testE2E(t, dialect) })
	}
}

func testE2E(t *testing.T, dialect string) {
	ctx := context.Background()
	st := storetest.Open(t, dialect)
	clock := e2eReviewAt
	st.Now = func() time.Time { return clock }
	e2eOtherItem(t, st)
	pid, item := e2ePayer(t, st, "ana@example.com", "cus_Ana0001")
	if item <= 2 {
		t.Fatalf("review item #%d: want it after the two opened for someone else", item)
	}
	// Every clock moves once, before any server runs: the messages arrive at 13:02.
	now := e2eReviewAt.Add(3 * time.Hour)
	clock = now

	rules, err := support.NewRules(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	triage := &support.Triage{Store: st, Rules: rules, HashKey: []byte("e2e-key"), Now: func() time.Time { return now },
		Plans: []plan.Plan{{ID: "pro", Name: "Pro", Circle: plan.Circle{AccessGroups: []int64{e2eGroup}}}}}
	counter := &e2eCounter{next: triage}

	// 1. The mailbox: the paying member and a stranger write the same words.
	const subject, body = "Can't get in", "Hi, I paid but I can't log in to the community. Can you help?"
	mail := startE2EIMAP(t)
	mail.send(t, "Ana@Example.com", subject, body, now.Add(-2*time.Minute))
	mail.send(t, "stranger@example.org", subject, body, now.Add(-time.Minute))

	p := mail.poller(t, st, counter, now)
	if res := e2ePoll(t, p); res.Ingested != 2 || res.Duplicates != 0 || res.Skipped != 0 || res.More {
		t.Fatalf("first poll = %+v, want the 2 messages ingested", res)
	}
	stored := e2eMessages(t, st)
	if len(stored) != 2 {
		t.Fatalf("%d messages stored after the first poll, want 2: %+v", len(stored), stored)
	}
	var ana, stranger store.SupportMessage
	for _, m := range stored {
		switch {
		case m.Source != sources.SourceIMAP:
			t.Fatalf("message %+v: want source imap", m)
		case m.PersonID == pid:
			ana = m
		case m.PersonID == 0:
			stranger = m
		}
	}
	if ana.ID == 0 || stranger.ID == 0 {
		t.Fatalf("stored messages %+v: want one linked to person %d and one to nobody", stored, pid)
	}

	// The paying member: the diagnosis names the failing Circle grant and its review item.
	d := support.DiagnosisOf(ana)
	t.Logf("diagnosis of the paying member (%s):\n%s", dialect, d.Note())
	if ana.Category != support.CategoryAccess {
		t.Errorf("paying member's message: category %q, want %q", ana.Category, support.CategoryAccess)
	}
	wantAction := fmt.Sprintf("Circle grant failing since 10:02 UTC: review item #%d, Retry", item)
	if d.Action != wantAction {
		t.Errorf("paying member's action = %q, want %q", d.Action, wantAction)
	}
	if d.ReviewID != item || d.Fix != support.FixRetry {
		t.Errorf("paying member's diagnosis: review %d fix %q, want a retry of #%d", d.ReviewID, d.Fix, item)
	}
	for _, w := range []string{"Pro (active)", "Circle grant failing since 10:02 UTC", "Circle refused to add them"} {
		if !strings.Contains(d.Summary, w) {
			t.Errorf("paying member's summary %q lacks %q", d.Summary, w)
		}
	}
	if note := d.Note(); !strings.Contains(note, fmt.Sprintf("Review item #%d (action_failed)", item)) || !strings.Contains(note, "Access group is archived") {
		t.Errorf("paying member's note does not cite the review item and Circle's error:\n%s", note)
	}
	if ana.NoteStatus != store.NoteNone {
		t.Errorf("an IMAP message has no ticket to note on, note status %q", ana.NoteStatus)
	}

	// The stranger: no payment found.
	sd := support.DiagnosisOf(stranger)
	if stranger.Category != support.CategoryAccess || !strings.HasPrefix(sd.Action, "no payment found for this email: ask for the receipt") ||
		!strings.HasPrefix(sd.Summary, "No payment found") || sd.ReviewID != 0 {
		t.Errorf("stranger's message: category %q, diagnosis %+v; want access and no payment found", stranger.Category, sd)
	}
	if ana.Body != "" || ana.Subject != "" || ana.SenderEmail != "" {
		t.Errorf("without keep_bodies the stored message holds the mail: %+v", ana)
	}

	// 2. Re-reading the mailbox: a second poll and a restarted poller count nothing twice.
	calls := counter.calls.Load()
	if res := e2ePoll(t, p); res.Ingested != 0 || res.Duplicates != 0 || res.Skipped != 0 {
		t.Errorf("second poll = %+v, want nothing read", res)
	}
	restarted := mail.poller(t, st, counter, now.Add(time.Minute))
	if res := e2ePoll(t, restarted); res.Ingested != 0 || res.Duplicates != 0 || res.Skipped != 0 {
		t.Errorf("poll after a restart = %+v, want nothing read", res)
	}
	if got := counter.calls.Load(); got != calls {
		t.Errorf("re-reading the mailbox offered %d message(s) to the triage again, want 0", got-calls)
	}
	if n := len(e2eMessages(t, st)); n != 2 {
		t.Errorf("%d messages stored after re-reading the mailbox, want still 2", n)
	}
	weeks, err := support.Weekly(ctx, st, now, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := weeks[0].Counts[support.CategoryAccess]; got != 2 || weeks[0].Total() != 2 {
		t.Errorf("this week counts %d access messages (%d in all), want 2 (2)", got, weeks[0].Total())
	}

	// 3. Help Scout: the same member opens a conversation; the signed webhook is triaged and the
	// note worker posts the diagnosis on the conversation as a private note.
	hs := helpscouttest.New(helpscouttest.Options{})
	t.Cleanup(hs.Close)
	handler := &sources.Handler{Ingester: triage, HelpScoutSecret: e2eHSSecret, Now: func() time.Time { return now }}
	site := httptest.NewServer((&web.Server{Mounts: []web.Mounter{handler}}).Routes())
	t.Cleanup(site.Close)
	notes := &sources.NoteWorker{Notes: triage, Posters: map[string]sources.Poster{
		sources.SourceHelpScout: &sources.HelpScout{BaseURL: hs.URL, AppID: helpscouttest.DefaultAppID, AppSecret: helpscouttest.DefaultAppSecret},
	}}
	runNotes := func() {
		t.Helper()
		if err := notes.Work(ctx, &river.Job[sources.NoteArgs]{}); err != nil {
			t.Fatalf("note job: %v", err)
		}
	}

	conv := hs.AddConversation("ana@example.com", subject, "<p>"+body+"</p>")
	status, answer, err := helpscouttest.Deliver(http.DefaultClient, site.URL+"/support/helpscout", e2eHSSecret, sources.HelpScoutConvoCreated, conv)
	if err != nil || status != http.StatusOK || !strings.Contains(answer, `"ingested"`) {
		t.Fatalf("Help Scout delivery: %d %s %v; want 200 ingested", status, answer, err)
	}
	if n := len(hs.Notes(conv.ID)); n != 0 {
		t.Fatalf("%d notes on the conversation before the note job ran", n)
	}
	runNotes()
	posted := hs.Notes(conv.ID)
	if len(posted) != 1 {
		t.Fatalf("notes on conversation %d = %+v, want the diagnosis", conv.ID, posted)
	}
	t.Logf("private note on Help Scout conversation %d:\n%s", conv.ID, posted[0].Text)
	for _, w := range []string{"membersync diagnosis", fmt.Sprintf("review item #%d, Retry", item), "Circle grant failing since 10:02 UTC"} {
		if !strings.Contains(posted[0].Text, w) {
			t.Errorf("the note lacks %q:\n%s", w, posted[0].Text)
		}
	}
	all := e2eMessages(t, st)
	hsMsg, ok := all[sources.SourceHelpScout+" "+fmt.Sprintf("%d/%d", conv.ID, conv.Threads[0].ID)]
	if !ok || hsMsg.PersonID != pid || hsMsg.Category != support.CategoryAccess || hsMsg.NoteStatus != store.NotePosted ||
		support.DiagnosisOf(hsMsg).ReviewID != item {
		t.Errorf("stored Help Scout message %+v (found %v): want person %d, access, note posted, review #%d", hsMsg, ok, pid, item)
	}

	// Help Scout retries a delivery it thinks was lost: a duplicate, and no second note.
	status, answer, _ = helpscouttest.Deliver(http.DefaultClient, site.URL+"/support/helpscout", e2eHSSecret, sources.HelpScoutConvoCreated, conv)
	if status != http.StatusOK || !strings.Contains(answer, `"duplicate"`) {
		t.Errorf("repeated Help Scout delivery: %d %s, want 200 duplicate", status, answer)
	}
	runNotes()
	if n := len(hs.Notes(conv.ID)); n != 1 {
		t.Errorf("%d notes after a repeated delivery, want 1", n)
	}
	if n := len(e2eMessages(t, st)); n != 3 {
		t.Errorf("%d messages stored in all, want 3 (2 mailed, 1 through Help Scout)", n)
	}
}
