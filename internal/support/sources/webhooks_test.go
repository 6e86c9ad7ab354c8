package sources_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"golang.org/x/time/rate"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/support"
	"github.com/membersync/membersync/internal/support/sources"
	"github.com/membersync/membersync/internal/support/sources/helpscouttest"
	"github.com/membersync/membersync/internal/support/sources/zendesktest"
	"github.com/membersync/membersync/internal/web"
)

const (
	hsSecret      = "hs-webhook-secret-0123456789"
	zdSecret      = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
	webhookSecret = "support-webhook-secret-0123456789abcdef"
)

// world is the support webhooks mounted on membersync's real HTTP surface (web.Server), the real
// triage on a SQLite store, and the fake help desks.
type world struct {
	st     *store.Store
	triage *support.Triage
	h      *sources.Handler
	srv    *httptest.Server
	hs     *helpscouttest.Server
	zd     *zendesktest.Server
	notes  *sources.NoteWorker
	now    time.Time
	woken  atomic.Int32
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.URL(t, store.SQLite))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	rules, err := support.NewRules(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{st: st, triage: &support.Triage{Store: st, Rules: rules, HashKey: []byte("k")}, now: time.Now().UTC().Truncate(time.Second)}
	w.hs = helpscouttest.New(helpscouttest.Options{})
	t.Cleanup(w.hs.Close)
	w.zd = zendesktest.New(zendesktest.Options{})
	t.Cleanup(w.zd.Close)
	w.h = &sources.Handler{Ingester: w.triage, HelpScoutSecret: hsSecret, ZendeskSecret: zdSecret, WebhookSecret: webhookSecret,
		Now: func() time.Time { return w.now }, OnTicket: func(context.Context) { w.woken.Add(1) }}
	w.srv = httptest.NewServer((&web.Server{Mounts: []web.Mounter{w.h}}).Routes())
	t.Cleanup(w.srv.Close)
	w.notes = &sources.NoteWorker{Notes: w.triage, Posters: map[string]sources.Poster{
		sources.SourceHelpScout: &sources.HelpScout{BaseURL: w.hs.URL, AppID: helpscouttest.DefaultAppID, AppSecret: helpscouttest.DefaultAppSecret},
		sources.SourceZendesk:   &sources.Zendesk{BaseURL: w.zd.URL, Email: zendesktest.DefaultEmail, Token: zendesktest.DefaultToken},
	}}
	return w
}

// runNotes runs the note job once.
func (w *world) runNotes(t *testing.T) error {
	t.Helper()
	return w.notes.Work(context.Background(), &river.Job[sources.NoteArgs]{})
}

func (w *world) pending(t *testing.T) []support.PendingNote {
	t.Helper()
	n, err := w.triage.NotePending(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// post sends body to path with headers and returns the status and body.
func (w *world) post(t *testing.T, path string, body []byte, headers map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+path, bytes.NewReader(body))
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// TestHelpScout: a signed convo.created is triaged and its diagnosis lands on the conversation as
// a note; a repeated delivery and a second job post nothing more; a customer's reply is a new
// message with its own note.
func TestHelpScout(t *testing.T) {
	w := newWorld(t)
	conv := w.hs.AddConversation("nobody@example.com", "Can't get in", "Hi, I paid but I can't log in. Help!")
	status, body, err := helpscouttest.Deliver(http.DefaultClient, w.srv.URL+"/support/helpscout", hsSecret, sources.HelpScoutConvoCreated, conv)
	if err != nil || status != http.StatusOK || !strings.Contains(body, `"ingested"`) {
		t.Fatalf("delivery: %d %s %v", status, body, err)
	}
	if w.woken.Load() != 1 {
		t.Errorf("note job woken %d times, want 1", w.woken.Load())
	}
	if err := w.runNotes(t); err != nil {
		t.Fatal(err)
	}
	notes := w.hs.Notes(conv.ID)
	if len(notes) != 1 || !strings.Contains(notes[0].Text, "membersync diagnosis") || !strings.Contains(notes[0].Text, "No payment found") {
		t.Fatalf("notes on conversation %d = %+v, want the diagnosis (no payment found)", conv.ID, notes)
	}

	status, body, _ = helpscouttest.Deliver(http.DefaultClient, w.srv.URL+"/support/helpscout", hsSecret, sources.HelpScoutConvoCreated, conv)
	if status != http.StatusOK || !strings.Contains(body, `"duplicate"`) {
		t.Fatalf("repeated delivery: %d %s, want a duplicate", status, body)
	}
	if err := w.runNotes(t); err != nil {
		t.Fatal(err)
	}
	if n := len(w.hs.Notes(conv.ID)); n != 1 {
		t.Fatalf("%d notes after a repeated delivery, want 1", n)
	}

	conv = w.hs.Reply(conv.ID, "Still waiting, I never got the welcome email")
	if status, body, _ := helpscouttest.Deliver(http.DefaultClient, w.srv.URL+"/support/helpscout", hsSecret, sources.HelpScoutCustomerReply, conv); status != http.StatusOK || !strings.Contains(body, `"ingested"`) {
		t.Fatalf("reply delivery: %d %s", status, body)
	}
	if err := w.runNotes(t); err != nil {
		t.Fatal(err)
	}
	if n := len(w.hs.Notes(conv.ID)); n != 2 {
		t.Fatalf("%d notes after the reply, want 2", n)
	}
	if got := w.hs.Faults.Calls("POST /v2/oauth2/token"); got != 1 {
		t.Errorf("%d token requests, want 1 (the token is kept)", got)
	}

	// An agent's reply is not a customer writing: answered 200, not triaged.
	if status, body, _ := helpscouttest.Deliver(http.DefaultClient, w.srv.URL+"/support/helpscout", hsSecret, "convo.agent.reply.created", conv); status != http.StatusOK || !strings.Contains(body, "ignored") {
		t.Fatalf("agent reply: %d %s, want ignored", status, body)
	}
}

// TestRefusals: every endpoint refuses, before storing anything, a delivery without a signature,
// with a wrong one, a stale one, an oversized body and a method other than POST.
func TestRefusals(t *testing.T) {
	w := newWorld(t)
	conv := w.hs.AddConversation("ana@example.com", "Help", "I paid but I can't log in")
	hsBody := helpscouttest.Payload(conv)
	ticket := w.zd.AddTicket("ana@example.com", "Help", "I paid but I can't log in")
	zdBody := zendesktest.Body(ticket)
	ts := w.now.Format(time.RFC3339)
	stale := w.now.Add(-10 * time.Minute).Format(time.RFC3339)
	whBody := []byte(`{"id":"m-1","from":"ana@example.com","subject":"Help","body":"I paid but I can't log in"}`)
	huge := bytes.Repeat([]byte("a"), sources.MaxBody+1)

	tests := []struct {
		name    string
		path    string
		body    []byte
		headers map[string]string
		status  int
		code    string
	}{
		{"helpscout unsigned", "/support/helpscout", hsBody, map[string]string{sources.HelpScoutEventHeader: "convo.created"}, 401, "missing_signature"},
		{"helpscout bad signature", "/support/helpscout", hsBody, map[string]string{sources.HelpScoutEventHeader: "convo.created",
			sources.HelpScoutSignatureHeader: sources.SignHelpScout("another secret", hsBody)}, 401, "bad_signature"},
		{"helpscout body changed", "/support/helpscout", append(bytes.Clone(hsBody), ' '), map[string]string{sources.HelpScoutEventHeader: "convo.created",
			sources.HelpScoutSignatureHeader: sources.SignHelpScout(hsSecret, hsBody)}, 401, "bad_signature"},
		{"helpscout oversized", "/support/helpscout", huge, map[string]string{sources.HelpScoutEventHeader: "convo.created",
			sources.HelpScoutSignatureHeader: sources.SignHelpScout(hsSecret, huge)}, 413, "too_large"},
		{"helpscout not json", "/support/helpscout", []byte("nope"), map[string]string{sources.HelpScoutEventHeader: "convo.created",
			sources.HelpScoutSignatureHeader: sources.SignHelpScout(hsSecret, []byte("nope"))}, 400, "bad_payload"},
		{"zendesk unsigned", "/support/zendesk", zdBody, nil, 401, "missing_signature"},
		{"zendesk bad signature", "/support/zendesk", zdBody, map[string]string{sources.ZendeskTimestampHeader: ts,
			sources.ZendeskSignatureHeader: sources.SignZendesk("other", ts, zdBody)}, 401, "bad_signature"},
		{"zendesk stale", "/support/zendesk", zdBody, map[string]string{sources.ZendeskTimestampHeader: stale,
			sources.ZendeskSignatureHeader: sources.SignZendesk(zdSecret, stale, zdBody)}, 401, "too_old"},
		{"zendesk timestamp not signed", "/support/zendesk", zdBody, map[string]string{sources.ZendeskTimestampHeader: ts,
			sources.ZendeskSignatureHeader: sources.SignZendesk(zdSecret, stale, zdBody)}, 401, "bad_signature"},
		{"zendesk oversized", "/support/zendesk", huge, map[string]string{sources.ZendeskTimestampHeader: ts,
			sources.ZendeskSignatureHeader: sources.SignZendesk(zdSecret, ts, huge)}, 413, "too_large"},
		{"zendesk no ticket", "/support/zendesk", []byte(`{"requester_email":"a@b.c","comment":"x"}`), map[string]string{sources.ZendeskTimestampHeader: ts,
			sources.ZendeskSignatureHeader: sources.SignZendesk(zdSecret, ts, []byte(`{"requester_email":"a@b.c","comment":"x"}`))}, 400, "bad_payload"},
		{"webhook unsigned", "/support/webhook", whBody, nil, 401, "missing_signature"},
		{"webhook bad signature", "/support/webhook", whBody, map[string]string{sources.WebhookSignatureHeader: alert.Sign("other", w.now, whBody)}, 401, "bad_signature"},
		{"webhook stale", "/support/webhook", whBody, map[string]string{sources.WebhookSignatureHeader: alert.Sign(webhookSecret, w.now.Add(-time.Hour), whBody)}, 401, "too_old"},
		{"webhook malformed", "/support/webhook", whBody, map[string]string{sources.WebhookSignatureHeader: "sha256=abc"}, 401, "malformed_signature"},
		{"webhook oversized", "/support/webhook", huge, map[string]string{sources.WebhookSignatureHeader: alert.Sign(webhookSecret, w.now, huge)}, 413, "too_large"},
		{"webhook no sender", "/support/webhook", []byte(`{"id":"x","body":"hi"}`), map[string]string{sources.WebhookSignatureHeader: alert.Sign(webhookSecret, w.now, []byte(`{"id":"x","body":"hi"}`))}, 400, "bad_payload"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := w.post(t, tt.path, tt.body, tt.headers)
			if status != tt.status || !strings.Contains(body, `"`+tt.code+`"`) {
				t.Fatalf("got %d %s, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
	t.Run("chunked oversized", func(t *testing.T) {
		// No Content-Length: the limit is enforced while reading.
		pr, pw := ioPipe()
		go func() { pw.Write(huge); pw.Close() }()
		req, _ := http.NewRequest(http.MethodPost, w.srv.URL+"/support/helpscout", pr)
		req.Header.Set(sources.HelpScoutEventHeader, "convo.created")
		req.Header.Set(sources.HelpScoutSignatureHeader, sources.SignHelpScout(hsSecret, huge))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
	for _, path := range []string{"/support/helpscout", "/support/zendesk", "/support/webhook"} {
		resp, err := http.Get(w.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" {
			t.Errorf("GET %s: %d, want 405 with Allow: POST", path, resp.StatusCode)
		}
	}
	if n := len(w.pending(t)); n != 0 || w.woken.Load() != 0 {
		t.Fatalf("%d notes pending, %d wakes after refused deliveries, want nothing stored", n, w.woken.Load())
	}
	if got, err := w.st.SupportMessageByExternalID(context.Background(), sources.SourceWebhook, "m-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused webhook message was stored: %+v, %v", got, err)
	}
}

// TestZendesk: a signed trigger delivery is triaged and its diagnosis lands on the ticket as a
// private comment, never a public one.
func TestZendesk(t *testing.T) {
	w := newWorld(t)
	ticket := w.zd.AddTicket("nobody@example.com", "Acceso", "Pagué pero no puedo entrar a la comunidad")
	status, body, err := zendesktest.Deliver(http.DefaultClient, w.srv.URL+"/support/zendesk", zdSecret, w.now, ticket)
	if err != nil || status != http.StatusOK || !strings.Contains(body, `"ingested"`) {
		t.Fatalf("delivery: %d %s %v", status, body, err)
	}
	status, body, _ = zendesktest.Deliver(http.DefaultClient, w.srv.URL+"/support/zendesk", zdSecret, w.now.Add(time.Second), ticket)
	if status != http.StatusOK || !strings.Contains(body, `"duplicate"`) {
		t.Fatalf("Zendesk's retry of the same comment: %d %s, want a duplicate", status, body)
	}
	if err := w.runNotes(t); err != nil {
		t.Fatal(err)
	}
	got, _ := w.zd.Ticket(ticket.ID)
	private := w.zd.PrivateComments(ticket.ID)
	if len(got.Comments) != 2 || len(private) != 1 || !strings.Contains(private[0].Body, "membersync diagnosis") {
		t.Fatalf("comments on ticket %d = %+v, want one private diagnosis", ticket.ID, got.Comments)
	}
}

// TestWebhook: the generic webhook takes a message signed like membersync's alert webhook.
func TestWebhook(t *testing.T) {
	w := newWorld(t)
	body := []byte(`{"id":"form-42","from":"Ana <ana@example.com>","subject":"Refund","body":"I want a refund please","received_at":"2026-12-01T10:00:00Z"}`)
	status, resp := w.post(t, "/support/webhook", body, map[string]string{sources.WebhookSignatureHeader: alert.Sign(webhookSecret, w.now, body)})
	if status != http.StatusOK || !strings.Contains(resp, `"ingested"`) {
		t.Fatalf("delivery: %d %s", status, resp)
	}
	m, err := w.st.SupportMessageByExternalID(context.Background(), sources.SourceWebhook, "form-42")
	if err != nil || m.Category != support.CategoryRefund || !m.ReceivedAt.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("stored = %+v, %v; want a refund received 2026-12-01 10:00", m, err)
	}
	if w.woken.Load() != 0 {
		t.Errorf("a webhook message woke the note job: it has no ticket")
	}
	// A rotation: two v1 signatures, one of them good.
	body2 := []byte(`{"id":"form-43","from":"bo@example.com","body":"I can't log in"}`)
	good := alert.Sign(webhookSecret, w.now, body2)
	bad := alert.Sign("old secret", w.now, body2)
	header := bad + "," + good[strings.Index(good, "v1="):]
	if status, resp := w.post(t, "/support/webhook", body2, map[string]string{sources.WebhookSignatureHeader: header}); status != http.StatusOK {
		t.Fatalf("delivery with two signatures: %d %s", status, resp)
	}
}

// TestDatabaseDown: a delivery the triage cannot store is answered 503 with Retry-After, so the
// sender retries; nothing is acknowledged that is not committed.
func TestDatabaseDown(t *testing.T) {
	w := newWorld(t)
	w.h.Ingester = failing{}
	srv := httptest.NewServer((&web.Server{Mounts: []web.Mounter{w.h}}).Routes())
	defer srv.Close()
	conv := w.hs.AddConversation("ana@example.com", "Help", "I paid but I can't log in")
	status, body, _ := helpscouttest.Deliver(http.DefaultClient, srv.URL+"/support/helpscout", hsSecret, sources.HelpScoutConvoCreated, conv)
	if status != http.StatusServiceUnavailable || strings.Contains(body, "database") {
		t.Fatalf("delivery with the database down: %d %s, want 503 revealing nothing", status, body)
	}
}

type failing struct{}

func (failing) Ingest(context.Context, support.Message) (support.Outcome, error) {
	return support.Outcome{}, store.ErrUnavailable
}

// TestRateLimit: beyond its burst an endpoint answers 429 before reading anything.
func TestRateLimit(t *testing.T) {
	w := newWorld(t)
	w.h.Rate, w.h.Burst = rate.Every(time.Hour), 2
	srv := httptest.NewServer((&web.Server{Mounts: []web.Mounter{w.h}}).Routes())
	defer srv.Close()
	var codes []int
	for range 4 {
		resp, err := http.Post(srv.URL+"/support/webhook", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != 401 || codes[1] != 401 || codes[2] != 429 || codes[3] != 429 {
		t.Fatalf("statuses %v, want 401 401 429 429", codes)
	}
}

// TestRateLimitPerAddress: one address's flood spends its own budget; a delivery from another
// address (the help desk's) still gets through to the signature check.
func TestRateLimitPerAddress(t *testing.T) {
	w := newWorld(t)
	w.h.Rate, w.h.Burst = rate.Every(time.Hour), 2
	w.h.ClientAddr = func(r *http.Request) string { return r.Header.Get("X-Test-Client") }
	srv := httptest.NewServer((&web.Server{Mounts: []web.Mounter{w.h}}).Routes())
	defer srv.Close()
	post := func(client string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/support/webhook", strings.NewReader("{}"))
		req.Header.Set("X-Test-Client", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var flood []int
	for range 4 {
		flood = append(flood, post("203.0.113.9"))
	}
	if !slices.Equal(flood, []int{401, 401, 429, 429}) {
		t.Fatalf("the flooding address got %v, want 401 401 429 429", flood)
	}
	if got := post("198.51.100.7"); got != 401 {
		t.Errorf("another address after the flood: %d, want 401 (checked, not rate limited)", got)
	}
}

// TestNoteFaults: a 429 snoozes the job for Help Scout's Retry-After with the note still pending;
// a 500 fails the job (River retries) with the note pending; an expired token is replaced; a
// conversation that is gone is recorded and not retried within the job.
func TestNoteFaults(t *testing.T) {
	w := newWorld(t)
	conv := w.hs.AddConversation("ana@example.com", "Help", "I paid but I can't log in")
	if status, body, _ := helpscouttest.Deliver(http.DefaultClient, w.srv.URL+"/support/helpscout", hsSecret, sources.HelpScoutConvoCreated, conv); status != 200 {
		t.Fatalf("delivery: %d %s", status, body)
	}
	w.hs.Faults.FailNext(1, providertest.Fault{Status: 429, Header: http.Header{"Retry-After": {"7"}}, Body: `{"message":"Rate limit exceeded"}`})
	err := w.runNotes(t)
	var snooze *river.JobSnoozeError
	if !errors.As(err, &snooze) || snooze.Duration != 7*time.Second {
		t.Fatalf("Work after a 429: %v, want a 7 s snooze", err)
	}
	if n := len(w.pending(t)); n != 1 {
		t.Fatalf("%d notes pending after a 429, want 1", n)
	}
	w.hs.Faults.FailNext(1, providertest.Fault{Status: 503})
	if err := w.runNotes(t); err == nil {
		t.Fatal("Work after a 503 succeeded, want an error for River to retry")
	}
	w.hs.ExpireTokens()
	if err := w.runNotes(t); err != nil {
		t.Fatal(err)
	}
	if n := len(w.hs.Notes(conv.ID)); n != 1 || len(w.pending(t)) != 0 {
		t.Fatalf("%d notes posted, %d pending after recovery; want 1 and 0", n, len(w.pending(t)))
	}

	gone := helpscouttest.Conversation{ID: 999999, Subject: "Gone", Customer: "bo@example.com",
		Threads: []helpscouttest.Thread{{ID: 1, Type: "customer", Email: "bo@example.com", Body: "I can't log in", CreatedAt: w.now}}}
	if status, body, _ := helpscouttest.Deliver(http.DefaultClient, w.srv.URL+"/support/helpscout", hsSecret, sources.HelpScoutConvoCreated, gone); status != 200 {
		t.Fatalf("delivery: %d %s", status, body)
	}
	before := w.hs.Faults.Calls("POST /v2/conversations/{id}/notes")
	if err := w.runNotes(t); err != nil {
		t.Fatalf("Work with a conversation that is gone: %v, want it recorded, not retried", err)
	}
	if calls := w.hs.Faults.Calls("POST /v2/conversations/{id}/notes") - before; calls != 1 {
		t.Fatalf("%d note calls for a conversation that is gone, want 1 per job", calls)
	}
}

// TestNoteClientErrors: the clients sort the desks' answers into permanent refusals (credentials,
// a ticket that is gone) and waits (429 with its Retry-After).
func TestNoteClientErrors(t *testing.T) {
	ctx := context.Background()
	zd := zendesktest.New(zendesktest.Options{})
	defer zd.Close()
	ticket := zd.AddTicket("ana@example.com", "Help", "I can't log in")
	ref := strconv.FormatInt(ticket.ID, 10)
	hs := helpscouttest.New(helpscouttest.Options{})
	defer hs.Close()

	tests := []struct {
		name      string
		poster    sources.Poster
		ref       string
		fault     *providertest.Fault
		faults    *providertest.Faults
		permanent bool
		wait      time.Duration
		mention   string
	}{
		{name: "zendesk wrong token", poster: &sources.Zendesk{BaseURL: zd.URL, Email: zendesktest.DefaultEmail, Token: "wrong"}, ref: ref,
			permanent: true, mention: "ZENDESK_API_TOKEN"},
		{name: "zendesk unknown ticket", poster: &sources.Zendesk{BaseURL: zd.URL, Email: zendesktest.DefaultEmail, Token: zendesktest.DefaultToken}, ref: "424242",
			permanent: true, mention: "404"},
		{name: "zendesk 429", poster: &sources.Zendesk{BaseURL: zd.URL, Email: zendesktest.DefaultEmail, Token: zendesktest.DefaultToken}, ref: ref,
			fault: &providertest.Fault{Status: 429, Header: http.Header{"Retry-After": {"30"}}}, faults: zd.Faults, wait: 30 * time.Second},
		{name: "help scout wrong app", poster: &sources.HelpScout{BaseURL: hs.URL, AppID: "x", AppSecret: "y"}, ref: "1001",
			permanent: true, mention: "HELPSCOUT_APP_ID"},
		{name: "help scout 429 without Retry-After", poster: &sources.HelpScout{BaseURL: hs.URL, AppID: helpscouttest.DefaultAppID, AppSecret: helpscouttest.DefaultAppSecret},
			ref: "1001", fault: &providertest.Fault{Status: 429}, faults: hs.Faults, wait: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fault != nil {
				tt.faults.FailNext(1, *tt.fault)
			}
			err := tt.poster.PostNote(ctx, tt.ref, "membersync diagnosis")
			var pe *sources.PostError
			if !errors.As(err, &pe) || pe.Permanent != tt.permanent || pe.RetryAfter != tt.wait || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("PostNote: %v (%+v), want permanent %v, wait %s, mentioning %q", err, pe, tt.permanent, tt.wait, tt.mention)
			}
		})
	}
	if n := len(zd.PrivateComments(ticket.ID)); n != 0 {
		t.Fatalf("%d comments written by refused calls", n)
	}
}
