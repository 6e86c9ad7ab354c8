package alert_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/mail/mailtest"
)

const webhookSecret = "alert-webhook-secret-0123456789"

func sample(status string) alert.Message {
	since := time.Date(2026, 3, 2, 9, 18, 0, 0, time.UTC)
	return alert.Message{
		AlertID: "circle_failures", Rule: "circle_failures", Status: status,
		Title:    "Circle sync failures: 5 in the last 1h (more than 3)",
		Detail:   "5 syncs failed on Circle calls and are retrying; Circle may be down. Last error: circle add_access_group: transient (HTTP 503): <html> & co.",
		Since:    since,
		Affected: 3,
		Link:     "https://members.example.com/admin",
		Notice:   1,
		SentAt:   since.Add(42 * time.Minute),
	}
}

func TestSlackMessage(t *testing.T) {
	rcv := newHTTPReceiver(t)
	n := &alert.Slack{URL: rcv.URL, Client: &http.Client{Timeout: 5 * time.Second}}
	if err := n.Notify(context.Background(), sample(alert.StatusFiring)); err != nil {
		t.Fatal(err)
	}
	got := rcv.Take()
	if len(got) != 1 {
		t.Fatalf("deliveries: got %d, want 1", len(got))
	}
	var body map[string]string
	if err := json.Unmarshal(got[0].Body, &body); err != nil || len(body) != 1 {
		t.Fatalf("body %s: want exactly {\"text\": …} (%v)", got[0].Body, err)
	}
	if ct := got[0].Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q, want application/json", ct)
	}
	text := body["text"]
	t.Logf("Slack text:\n%s", text)
	for _, want := range []string{
		":rotating_light: *FIRING: Circle sync failures: 5 in the last 1h (more than 3)*",
		"(HTTP 503): &lt;html&gt; &amp; co.", // mrkdwn's reserved characters escaped
		"*Since* 2026-03-02 09:18 UTC (42m ago)",
		"*People affected* 3 people",
		"<https://members.example.com/admin|Open in membersync>",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("Slack text lacks %q", want)
		}
	}
}

func TestSlackErrorsHideTheURL(t *testing.T) {
	tests := []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"receiver down", downURL},
		{"receiver answers 500", func(t *testing.T) string {
			r := newHTTPReceiver(t)
			r.set(http.StatusInternalServerError, false)
			return r.URL
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &alert.Slack{URL: tt.url(t), Client: &http.Client{Timeout: 5 * time.Second}}
			err := n.Notify(context.Background(), sample(alert.StatusFiring))
			if err == nil {
				t.Fatal("got no error")
			}
			if strings.Contains(err.Error(), "SECRETPATH") || strings.Contains(err.Error(), "/services/") {
				t.Errorf("error %q reveals the Slack webhook URL (a secret)", err)
			}
		})
	}
}

// TestWebhookSignatureIsStripes proves the JSON webhook's signature is Stripe's scheme: stripe-go's
// own verifier accepts it, and rejects it for a changed body or another secret.
func TestWebhookSignatureIsStripes(t *testing.T) {
	rcv := newHTTPReceiver(t)
	n := &alert.Webhook{URL: rcv.URL, Secret: webhookSecret, Client: &http.Client{Timeout: 5 * time.Second}}
	m := sample(alert.StatusFiring)
	if err := n.Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := rcv.Take()
	if len(got) != 1 {
		t.Fatalf("deliveries: got %d, want 1", len(got))
	}
	body, sig := got[0].Body, got[0].Header.Get(alert.SignatureHeader)
	t.Logf("%s: %s\n%s", alert.SignatureHeader, sig, body)
	tests := []struct {
		name   string
		body   []byte
		secret string
		ok     bool
	}{
		{"as sent", body, webhookSecret, true},
		{"tampered body", []byte(strings.Replace(string(body), `"affected":3`, `"affected":0`, 1)), webhookSecret, false},
		{"other secret", body, "another-secret-0123456789", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.ValidatePayload(tt.body, sig, tt.secret)
			if (err == nil) != tt.ok {
				t.Errorf("stripe-go ValidatePayload: got %v, want ok=%v", err, tt.ok)
			}
		})
	}
	var back alert.Message
	if err := json.Unmarshal(body, &back); err != nil {
		t.Fatal(err)
	}
	if back.AlertID != m.AlertID || back.Status != "firing" || back.Affected != 3 || back.Link != m.Link || !back.Since.Equal(m.Since) {
		t.Errorf("decoded %+v, want %+v", back, m)
	}
	if want := alert.Sign(webhookSecret, time.Unix(1767225600, 0), []byte(`{}`)); !strings.HasPrefix(want, "t=1767225600,v1=") || len(want) != len("t=1767225600,v1=")+64 {
		t.Errorf("Sign: got %q, want t=1767225600,v1=<64 hex>", want)
	}
}

// readMail parses a delivered message and returns its decoded subject and body.
func readMail(t *testing.T, data []byte) (subject, body string, h mail.Header) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(string(data)))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, data)
	}
	subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return subject, string(b), msg.Header
}

func TestEmail(t *testing.T) {
	trusted := func(s *mailtest.Server) *tls.Config { return &tls.Config{RootCAs: s.Roots} }
	tests := []struct {
		name      string
		server    func(*mailtest.Options)
		tls       func(*mailtest.Server) *tls.Config
		password  string
		wantErr   string // "" when it must be delivered
		wantMails int
	}{
		{"STARTTLS and PLAIN", nil, trusted, "smtp-pass-123", "", 1},
		{"server without STARTTLS", func(o *mailtest.Options) { o.NoTLS = true }, trusted, "smtp-pass-123", "does not offer STARTTLS", 0},
		{"untrusted certificate", nil, func(*mailtest.Server) *tls.Config { return &tls.Config{} }, "smtp-pass-123", "STARTTLS", 0},
		{"wrong password", nil, trusted, "wrong", "authentication", 0},
		{"server that never greets", func(o *mailtest.Options) { o.Stall = true }, trusted, "smtp-pass-123", "timed out", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSMTPServer(t, tt.server)
			n := &alert.Email{Addr: srv.Addr, Host: "127.0.0.1", Username: "alerts@example.com", Password: tt.password,
				From: "alerts@example.com", To: []string{"founder@example.com", "support@example.com"}, TLSConfig: tt.tls(srv)}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			err := n.Notify(ctx, sample(alert.StatusFiring))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Notify: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Notify: got %v, want an error about %q", err, tt.wantErr)
			}
			mails := srv.Take()
			if len(mails) != tt.wantMails {
				t.Fatalf("mails delivered: got %d, want %d", len(mails), tt.wantMails)
			}
			if tt.wantMails == 0 {
				if got := srv.MailCommands(); got != 0 {
					t.Errorf("MAIL commands: got %d, want 0 (nothing said before TLS)", got)
				}
				return
			}
			m := mails[0]
			if !m.TLS || m.User != "alerts@example.com" || m.From != "alerts@example.com" || strings.Join(m.To, ",") != "founder@example.com,support@example.com" {
				t.Errorf("mail %+v: want TLS, authenticated, from alerts@, to both", m)
			}
			subject, body, h := readMail(t, m.Data)
			t.Logf("email:\nSubject: %s\n\n%s", subject, body)
			if want := "[membersync] FIRING: Circle sync failures: 5 in the last 1h (more than 3)"; subject != want {
				t.Errorf("Subject: got %q, want %q", subject, want)
			}
			if h.Get("Auto-Submitted") != "auto-generated" || h.Get("Message-Id") == "" || h.Get("Date") == "" {
				t.Errorf("headers %v: want Auto-Submitted, Message-ID and Date", h)
			}
			for _, want := range []string{"Since:           2026-03-02 09:18 UTC (42m ago)", "People affected: 3 people", "Open:            https://members.example.com/admin"} {
				if !strings.Contains(body, want) {
					t.Errorf("body lacks %q", want)
				}
			}
		})
	}
}

func TestDeliverBoundsASlowNotifier(t *testing.T) {
	slow := newHTTPReceiver(t)
	slow.set(0, true)
	fast := newHTTPReceiver(t)
	notifiers := []alert.Notifier{
		&alert.Webhook{URL: slow.URL, Secret: webhookSecret, Client: &http.Client{}},
		&alert.Slack{URL: fast.URL, Client: &http.Client{}},
	}
	res := alert.Deliver(context.Background(), notifiers, sample(alert.StatusTest), 200*time.Millisecond)
	if res[0].Notifier != "webhook" || res[0].Err == nil {
		t.Errorf("slow webhook: got %+v, want a timeout error", res[0])
	}
	if res[1].Notifier != "slack" || res[1].Err != nil {
		t.Errorf("slack: got %+v, want delivered", res[1])
	}
	if got := len(fast.Take()); got != 1 {
		t.Errorf("fast receiver got %d messages, want 1", got)
	}
}
