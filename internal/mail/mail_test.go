package mail_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/mail"
	"github.com/membersync/membersync/internal/mail/mailtest"
)

func sender(s *mailtest.Server) *mail.Sender {
	return &mail.Sender{Addr: s.Addr, Host: "localhost", Username: s.User, Password: s.Password,
		From: "members@example.com", TLSConfig: &tls.Config{RootCAs: s.Roots}, Timeout: 5 * time.Second}
}

func TestSendOverSTARTTLS(t *testing.T) {
	t.Parallel()
	srv := mailtest.New(t, mailtest.Options{})
	err := sender(srv).Send(context.Background(), mail.Message{To: []string{"ada@example.com"},
		Subject: "Your membership page ✓", Text: "Here it is:\nhttps://members.example.com/status/abc"})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Take()
	if len(got) != 1 {
		t.Fatalf("%d messages received, want 1", len(got))
	}
	m := got[0]
	if !m.TLS || m.User != srv.User || m.From != "members@example.com" || len(m.To) != 1 || m.To[0] != "ada@example.com" {
		t.Errorf("envelope %+v", m)
	}
	data := string(m.Data)
	for _, want := range []string{"Subject: =?utf-8?q?Your_membership_page_=E2=9C=93?=", "To: ada@example.com", "https://members.example.com/status/abc"} {
		if !strings.Contains(data, want) {
			t.Errorf("message lacks %q:\n%s", want, data)
		}
	}
	if strings.Contains(data, "Auto-Submitted") {
		t.Error("a customer's email is marked auto-generated")
	}
}

func TestSendRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		opts mailtest.Options
		msg  mail.Message
		want string
	}{
		{"no STARTTLS", mailtest.Options{NoTLS: true}, mail.Message{To: []string{"a@example.com"}}, "STARTTLS"},
		{"header injection in a recipient", mailtest.Options{}, mail.Message{To: []string{"a@example.com\r\nBcc: x@evil.test"}}, "not an email address"},
		{"no recipient", mailtest.Options{}, mail.Message{}, "recipient"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := mailtest.New(t, c.opts)
			err := sender(srv).Send(context.Background(), c.msg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Send = %v, want an error about %q", err, c.want)
			}
			if n := len(srv.Take()); n != 0 {
				t.Errorf("%d messages were delivered", n)
			}
		})
	}
}

func TestSendTimesOutOnAStalledServer(t *testing.T) {
	t.Parallel()
	srv := mailtest.New(t, mailtest.Options{Stall: true})
	s := sender(srv)
	s.Timeout = 200 * time.Millisecond
	err := s.Send(context.Background(), mail.Message{To: []string{"a@example.com"}})
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Send to a server that never greets = %v, want a time-out", err)
	}
}

func TestSubjectCannotInjectHeaders(t *testing.T) {
	t.Parallel()
	srv := mailtest.New(t, mailtest.Options{})
	err := sender(srv).Send(context.Background(), mail.Message{To: []string{"a@example.com"}, Subject: "hi\r\nBcc: x@evil.test"})
	if err != nil {
		t.Fatal(err)
	}
	data := string(srv.Take()[0].Data)
	if strings.Contains(data, "\r\nBcc:") {
		t.Errorf("the subject injected a header:\n%s", data)
	}
}
