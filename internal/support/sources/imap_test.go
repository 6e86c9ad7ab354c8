package sources

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/egress"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/support"
)

const (
	imapUser     = "support@founder.example"
	imapPassword = "correct horse battery staple"
)

// imapServer is a real IMAP server (go-imap's imapserver on its in-memory backend) on loopback.
type imapServer struct {
	user *imapmemserver.User
	addr *net.TCPAddr
}

// startIMAP serves one user with an empty INBOX, in plain text, or over implicit TLS with cert.
func startIMAP(t *testing.T, cert *tls.Certificate) *imapServer { return startIMAPMode(t, cert, false) }

// startIMAPMode is startIMAP; with starttls, cert is offered through STARTTLS on a plain listener.
func startIMAPMode(t *testing.T, cert *tls.Certificate, starttls bool) *imapServer {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(imapUser, imapPassword)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {}},
		InsecureAuth: !starttls,
		Logger:       discardLogger{},
	}
	if starttls {
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	srv := imapserver.New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cert != nil && !starttls {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &imapServer{user: user, addr: ln.Addr().(*net.TCPAddr)}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return int64(l.Len()) }

// deliver appends an email from sender to INBOX, received at at.
func (s *imapServer) deliver(t *testing.T, from, subject, body string, at time.Time, extra ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "From: Ana <%s>\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d@mail.example>\r\n", from, imapUser, subject,
		at.Format(time.RFC1123Z), at.UnixNano())
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
	if _, err := s.user.Append("INBOX", literal{bytes.NewReader([]byte(b.String()))}, &imap.AppendOptions{Time: at}); err != nil {
		t.Fatal(err)
	}
}

// rebuild deletes and re-creates INBOX (the server's UIDVALIDITY changes) with the same messages.
func (s *imapServer) rebuild(t *testing.T, redeliver func()) {
	t.Helper()
	if err := s.user.Delete("INBOX"); err != nil {
		t.Fatal(err)
	}
	if err := s.user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	redeliver()
}

func (s *imapServer) poller(st *store.Store, in Ingester, now time.Time) *Poller {
	return &Poller{
		Config: config.SupportIMAP{Host: "127.0.0.1", Port: s.addr.Port, Security: config.IMAPSecurityNone, Username: imapUser,
			Mailbox: "INBOX", MaxPerPoll: 50, MaxBodyBytes: 256 << 10, Backfill: config.Duration(28 * 24 * time.Hour)},
		Password: imapPassword, Cursors: st, Ingester: in, Now: func() time.Time { return now },
	}
}

func poll(t *testing.T, p *Poller) PollResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Poll(ctx)
	if err != nil {
		t.Fatalf("Poll: %v", err)
	}
	return res
}

// TestIMAPEndToEnd reads a real IMAP server on loopback through the real triage: the message is
// ingested once, a second poll and a restarted poller count nothing, a crash between the ingest
// and the cursor's write counts nothing twice, the backfill window and a UIDVALIDITY change are
// honoured, and the mailbox is only read (no message is marked seen).
func TestIMAPEndToEnd(t *testing.T) {
	st := openStore(t)
	rec := &recorder{next: newTriage(t, st)}
	srv := startIMAP(t, nil)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

	old := now.Add(-60 * 24 * time.Hour) // before the backfill window: never read
	srv.deliver(t, "ancient@example.com", "Old thread", "I paid but I can't log in", old)
	srv.deliver(t, "ana@example.com", "Help", "Hi, I paid but I can't log in to the community.", now.Add(-time.Hour))

	p := srv.poller(st, rec, now)
	res := poll(t, p)
	if res.Ingested != 1 || res.Duplicates != 0 {
		t.Fatalf("first poll = %+v, want 1 ingested (the other is older than the backfill)", res)
	}
	got := rec.fresh()
	if len(got) != 1 || got[0].Category != support.CategoryAccess {
		t.Fatalf("outcomes = %+v, want one access message", got)
	}
	if m := rec.messages[0]; m.Source != SourceIMAP || m.From != "ana@example.com" || !strings.Contains(m.Body, "I paid but I can't log in") ||
		m.ExternalID != fmt.Sprintf("INBOX/%d/2", res.UIDValidity) || !m.ReceivedAt.Equal(now.Add(-time.Hour)) {
		t.Fatalf("message = %+v", m)
	}
	if !strings.Contains(got[0].Diagnosis.Action, "no payment found") {
		t.Errorf("diagnosis of a sender with no payment = %+v, want it to say no payment was found", got[0].Diagnosis)
	}

	calls := rec.calls()
	if res := poll(t, p); res.Ingested != 0 || res.Duplicates != 0 || rec.calls() != calls {
		t.Fatalf("second poll = %+v (%d ingest calls), want nothing read", res, rec.calls()-calls)
	}
	restarted := srv.poller(st, rec, now.Add(time.Minute))
	if res := poll(t, restarted); res.Ingested != 0 || rec.calls() != calls {
		t.Fatalf("poll after a restart = %+v, want nothing read", res)
	}

	srv.deliver(t, "bob@example.com", "Welcome email", "I never received the welcome email", now.Add(time.Minute))
	if res := poll(t, restarted); res.Ingested != 1 {
		t.Fatalf("poll after a new message = %+v, want 1", res)
	}

	// A crash after the ingest but before the cursor was written: the messages come again and the
	// triage counts them as duplicates.
	cur, err := st.IMAPCursor(context.Background(), "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	cur.LastUID = 2
	if err := st.SaveIMAPCursor(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	if res := poll(t, restarted); res.Ingested != 0 || res.Duplicates != 1 {
		t.Fatalf("poll after a lost cursor = %+v, want the message again as 1 duplicate", res)
	}

	// The server rebuilds the mailbox: every UID changes. The messages already ingested are
	// passed over; only the one that arrived since is new.
	srv.rebuild(t, func() {
		srv.deliver(t, "ancient@example.com", "Old thread", "I paid but I can't log in", old)
		srv.deliver(t, "ana@example.com", "Help", "Hi, I paid but I can't log in to the community.", now.Add(-time.Hour))
		srv.deliver(t, "bob@example.com", "Welcome email", "I never received the welcome email", now.Add(time.Minute))
		srv.deliver(t, "carla@example.com", "Refund", "Quiero un reembolso, por favor", now.Add(2*time.Minute))
	})
	res2 := poll(t, restarted)
	// The search is by day: the messages of the floor's day are fetched and passed over by their
	// INTERNALDATE; the older one is not even fetched.
	if !res2.Reset || res2.Ingested != 1 || res2.Duplicates != 0 || res2.Skipped != 2 || res2.UIDValidity == res.UIDValidity {
		t.Fatalf("poll after a UIDVALIDITY change = %+v (was %d), want a reset, 1 ingested, 2 passed over", res2, res.UIDValidity)
	}
	fresh := rec.fresh()
	if last := fresh[len(fresh)-1]; len(fresh) != 3 || last.Category != support.CategoryRefund {
		t.Fatalf("fresh outcomes = %+v, want 3, the last a refund", fresh)
	}
	if res := poll(t, restarted); res.Ingested != 0 || res.Skipped != 0 {
		t.Fatalf("poll after the reset = %+v, want nothing", res)
	}

	assertUnseen(t, srv)
}

// assertUnseen fails when a message of INBOX carries \Seen: the poller must only EXAMINE.
func assertUnseen(t *testing.T, srv *imapServer) {
	t.Helper()
	c, err := imapclient.DialInsecure(srv.addr.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(imapUser, imapPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, UID: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		for _, f := range m.Flags {
			if f == imap.FlagSeen {
				t.Errorf("message %d was marked seen: the poller must not change the mailbox", m.UID)
			}
		}
	}
}

// TestIMAPBounds: a poll reads at most max_per_poll messages, the rest at the next; automatic mail
// is passed over; a message larger than max_body_bytes is read up to the limit.
func TestIMAPBounds(t *testing.T) {
	st := openStore(t)
	rec := &recorder{next: newTriage(t, st)}
	srv := startIMAP(t, nil)
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range 5 {
		srv.deliver(t, fmt.Sprintf("m%d@example.com", i), "Access", "I can't log in", now.Add(time.Duration(i-10)*time.Minute))
	}
	srv.deliver(t, "mailer@example.com", "Out of office", "I am away", now.Add(-time.Minute), "Auto-Submitted: auto-replied")
	srv.deliver(t, "big@example.com", "Long", "I paid but I can't log in\r\n"+strings.Repeat("quoted history line\r\n", 20000), now)
	p := srv.poller(st, rec, now)
	p.Config.MaxPerPoll = 3
	p.Config.MaxBodyBytes = 4096
	if res := poll(t, p); res.Ingested != 3 || !res.More {
		t.Fatalf("first poll = %+v, want 3 and more", res)
	}
	if res := poll(t, p); res.Ingested != 2 || res.Skipped != 1 || !res.More {
		t.Fatalf("second poll = %+v, want 2 ingested, the auto-reply skipped, more", res)
	}
	res := poll(t, p)
	if res.Ingested != 1 || res.More {
		t.Fatalf("third poll = %+v, want the large message", res)
	}
	last := rec.messages[len(rec.messages)-1]
	if len(last.Body) > 4096 || !strings.HasPrefix(last.Body, "I paid but I can't log in") {
		t.Fatalf("large message body: %d bytes, starts %q; want at most 4096, its start", len(last.Body), last.Body[:min(40, len(last.Body))])
	}
}

// TestIMAPTLSAndErrors: implicit TLS to a server whose certificate is trusted works; a wrong
// password fails with an error naming the variable, never the password; a database that cannot
// take the message stops the poll with the cursor before it.
func TestIMAPTLSAndErrors(t *testing.T) {
	hs := httptest.NewUnstartedServer(http.NotFoundHandler())
	hs.StartTLS()
	defer hs.Close()
	srv := startIMAP(t, &hs.TLS.Certificates[0])
	st := openStore(t)
	now := time.Now()
	srv.deliver(t, "ana@example.com", "Help", "I paid but I can't log in", now.Add(-time.Minute))

	down := &recorder{err: store.ErrUnavailable}
	p := srv.poller(st, down, now)
	p.Config.Security = config.IMAPSecurityTLS
	p.TLS = &tls.Config{RootCAs: hs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	ctx := context.Background()
	if _, err := p.Poll(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Poll with the database down: %v, want ErrUnavailable", err)
	}
	rec := &recorder{}
	p.Ingester = rec
	if res, err := p.Poll(ctx); err != nil || res.Ingested != 1 {
		t.Fatalf("Poll over TLS once the database is back = %+v, %v; want the message", res, err)
	}

	p.Password = "wrong password"
	_, err := p.Poll(ctx)
	if err == nil || !strings.Contains(err.Error(), config.EnvIMAPPassword) || strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("Poll with a wrong password: %v; want an error naming %s without the password", err, config.EnvIMAPPassword)
	}

	p.Password, p.TLS = imapPassword, nil // the system roots do not trust the test certificate
	if _, err := p.Poll(ctx); err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Fatalf("Poll to an untrusted certificate: %v, want a TLS error", err)
	}
}

// TestIMAPStartTLS: STARTTLS upgrades a plain connection before the password is sent; the server
// refuses a login in clear text.
func TestIMAPStartTLS(t *testing.T) {
	hs := httptest.NewUnstartedServer(http.NotFoundHandler())
	hs.StartTLS()
	defer hs.Close()
	srv := startIMAPMode(t, &hs.TLS.Certificates[0], true)
	srv.deliver(t, "ana@example.com", "Help", "I paid but I can't log in", time.Now().Add(-time.Minute))
	rec := &recorder{}
	p := srv.poller(openStore(t), rec, time.Now())
	p.Config.Security = config.IMAPSecurityStartTLS
	p.TLS = &tls.Config{RootCAs: hs.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	if res := poll(t, p); res.Ingested != 1 {
		t.Fatalf("poll over STARTTLS = %+v, want the message", res)
	}
	p.Config.Security = config.IMAPSecurityNone
	if _, err := p.Poll(context.Background()); err == nil {
		t.Fatal("a login in clear text to a server that requires TLS succeeded")
	}
	// serve dials through the egress allowlist: a host it does not list is never reached.
	p.Config.Security = config.IMAPSecurityStartTLS
	p.Dial = (&egress.Policy{Component: config.EgressIMAP}).DialContext
	if _, err := p.Poll(context.Background()); egress.Refused(err) == nil {
		t.Fatalf("Poll through an allowlist without the host: %v, want an egress refusal", err)
	}
}
