package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/egress"
	"github.com/membersync/membersync/internal/mail"
)

// Notifier delivers alert messages somewhere a person sees them.
type Notifier interface {
	// Name is the notifier's kind (slack, webhook, email): a bounded metric label.
	Name() string
	// Notify delivers m before ctx ends.
	Notify(ctx context.Context, m Message) error
}

// NewNotifiers returns the notifiers the config enables, with the secrets from the environment.
// Each bounds a delivery by the config's alert timeout and connects only where allow allows
// (config.EgressPolicies' "alerts" policy); a nil allow means no allowlist (tests).
func NewNotifiers(a config.AlertsConfig, s config.AlertSecrets, allow *egress.Policy) []Notifier {
	client := httpClient(a.Timeout.D(), allow)
	var out []Notifier
	if a.Slack.Enabled && s.SlackWebhookURL != "" {
		out = append(out, &Slack{URL: s.SlackWebhookURL, Client: client})
	}
	if a.Webhook.URL != "" && s.WebhookSecret != "" {
		out = append(out, &Webhook{URL: a.Webhook.URL, Secret: s.WebhookSecret, Client: client})
	}
	if e := a.Email; e.Host != "" {
		out = append(out, &Email{Addr: e.SMTPAddr(), Host: e.Host, Username: e.Username, Password: s.SMTPPassword,
			From: e.From, To: e.To, Timeout: a.Timeout.D(), Dial: dialer(allow)})
	}
	return out
}

// httpClient makes the notifiers' HTTP client: a timeout, the allowlist when out is set, and no
// redirects (a 3xx is a failure, so a signed alert never lands on a host nobody configured).
func httpClient(timeout time.Duration, out *egress.Policy) *http.Client {
	if timeout <= 0 {
		timeout = config.DefaultAlertTimeout
	}
	c := &http.Client{Timeout: timeout}
	if out != nil {
		c = out.Client(timeout)
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// dialer is out's dialer, or nil (a plain one) without a policy.
func dialer(out *egress.Policy) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if out == nil {
		return nil
	}
	return out.DialContext
}

// Result is one notifier's outcome for one message.
type Result struct {
	Notifier string
	Err      error
}

// Deliver sends m through every notifier at once, each bounded by timeout, and returns their
// results in the notifiers' order. It returns when all are done or timed out.
func Deliver(ctx context.Context, notifiers []Notifier, m Message, timeout time.Duration) []Result {
	if timeout <= 0 {
		timeout = config.DefaultAlertTimeout
	}
	out := make([]Result, len(notifiers))
	var wg sync.WaitGroup
	for i, n := range notifiers {
		out[i].Notifier = n.Name()
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			defer func() {
				if p := recover(); p != nil {
					out[i].Err = fmt.Errorf("notifier panicked: %v", p)
				}
			}()
			out[i].Err = n.Notify(ctx, m)
		})
	}
	wg.Wait()
	return out
}

// Slack posts to a Slack-compatible incoming webhook: JSON {"text": …} in mrkdwn. The URL is a
// secret (anyone holding it can post), so errors never include it.
type Slack struct {
	URL    string
	Client *http.Client
}

// Name implements Notifier.
func (s *Slack) Name() string { return "slack" }

// Notify implements Notifier.
func (s *Slack) Notify(ctx context.Context, m Message) error {
	body, err := json.Marshal(map[string]string{"text": m.slackText()})
	if err != nil {
		return err
	}
	return post(ctx, s.Client, s.URL, body, nil, true)
}

// SignatureHeader is the header that carries a JSON webhook alert's signature.
const SignatureHeader = "Membersync-Signature"

// Webhook posts each Message as JSON to URL, signed the way Stripe signs its webhooks, so that a
// receiver can reuse a Stripe verification routine (stripe-go's webhook.ValidatePayload verifies it):
//
//	Membersync-Signature: t=1767225600,v1=5f2b…
//
// where t is the Unix time of sending and v1 is the lowercase hex HMAC-SHA256, keyed with the shared
// secret (MEMBERSYNC_ALERT_WEBHOOK_SECRET, used as is), of the string "{t}.{body}": the decimal
// timestamp, a full stop, and the exact request body bytes. A receiver recomputes the HMAC over the
// raw body, compares in constant time, and rejects timestamps more than 5 minutes from its clock
// (replays). The body is a Message: {"id", "rule", "status": "firing"|"repeat"|"resolved"|"test",
// "title", "detail", "since", "resolved_at", "affected" (-1 when unknown), "link", "notice",
// "sent_at"}; times are RFC 3339.
type Webhook struct {
	URL    string
	Secret string
	Client *http.Client
	// Now is the signing clock; nil means time.Now.
	Now func() time.Time
}

// Name implements Notifier.
func (w *Webhook) Name() string { return "webhook" }

// Notify implements Notifier.
func (w *Webhook) Notify(ctx context.Context, m Message) error {
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	h := http.Header{SignatureHeader: {Sign(w.Secret, now(), body)}}
	return post(ctx, w.Client, w.URL, body, h, false)
}

// Sign returns the Membersync-Signature header value for body sent at t (see Webhook).
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// post sends a JSON body and wants a 2xx. secretURL hides the URL from errors.
func post(ctx context.Context, client *http.Client, target string, body []byte, h http.Header, secretURL bool) error {
	if client == nil {
		client = httpClient(0, nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		if secretURL {
			return errors.New("the webhook URL is not valid")
		}
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "membersync-alerts")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if secretURL && errors.As(err, &ue) {
			err = ue.Err // url.Error names the URL
		}
		return fmt.Errorf("posting the alert: %w", err)
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("the receiver answered HTTP %d: %s", resp.StatusCode, oneLine(string(snippet)))
	}
	return nil
}

// Email sends alerts over SMTP, always upgraded with STARTTLS before anything else is said (a
// server that does not offer it is refused), authenticating with PLAIN when Username is set.
type Email struct {
	Addr     string // host:port
	Host     string // the server name, for its certificate and the authentication
	Username string
	Password string
	From     string
	To       []string
	// TLSConfig, when set, replaces the default (system roots, ServerName Host, TLS 1.2 or newer).
	TLSConfig *tls.Config
	// Hello is the EHLO name; default "localhost".
	Hello string
	// Timeout bounds the whole exchange when ctx has no deadline; default 10s.
	Timeout time.Duration
	// Now dates the messages; nil means time.Now.
	Now func() time.Time
	// Dial connects to Addr; nil means a plain dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Name implements Notifier.
func (e *Email) Name() string { return "email" }

// Notify implements Notifier: a plain-text message marked auto-generated.
func (e *Email) Notify(ctx context.Context, m Message) error {
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = config.DefaultAlertTimeout
	}
	s := &mail.Sender{Addr: e.Addr, Host: e.Host, Username: e.Username, Password: e.Password, From: e.From,
		TLSConfig: e.TLSConfig, Hello: e.Hello, Timeout: timeout, Now: e.Now, Dial: e.Dial}
	return s.Send(ctx, mail.Message{To: e.To, Subject: m.Subject(), Text: m.Text(), AutoGenerated: true})
}
