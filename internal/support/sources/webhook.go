package sources

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/support"
)

// WebhookSignatureHeader signs the generic support webhook exactly as membersync signs its own
// alert webhook (alert.Sign), the scheme Stripe uses:
//
//	Membersync-Signature: t=1767225600,v1=5f2b…
//
// t is the Unix time of sending, v1 the lowercase hex HMAC-SHA256 keyed with
// MEMBERSYNC_SUPPORT_WEBHOOK_SECRET of "{t}.{body}"; several v1 are accepted (a rotation), and a
// timestamp more than Tolerance from the clock is refused. The body is a WebhookMessage.
const WebhookSignatureHeader = "Membersync-Signature"

// WebhookMessage is the generic webhook's body. ID is the sender's id for the message (a repeated
// delivery with the same id is one message); ReceivedAt defaults to the time of delivery.
type WebhookMessage struct {
	ID         string    `json:"id"`
	From       string    `json:"from"`
	Subject    string    `json:"subject"`
	Body       string    `json:"body"`
	ReceivedAt time.Time `json:"received_at"`
}

// signatureParts reads "t=…,v1=…[,v1=…]": the timestamp and the decoded signatures.
func signatureParts(h string) (t time.Time, sigs [][]byte, err error) {
	var ts string
	for _, part := range strings.Split(h, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return t, nil, errors.New("v1 is not a hex HMAC-SHA256")
			}
			sigs = append(sigs, b)
		}
	}
	n, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return t, nil, errors.New("t is not a Unix time")
	}
	if len(sigs) == 0 || len(sigs) > 4 {
		return t, nil, errors.New("no v1 signature")
	}
	return time.Unix(n, 0), sigs, nil
}

func (h *Handler) webhook() endpoint {
	return endpoint{
		source: SourceWebhook,
		header: func(r *http.Request) error {
			v := r.Header.Get(WebhookSignatureHeader)
			if v == "" {
				return refused(http.StatusUnauthorized, "missing_signature", "missing "+WebhookSignatureHeader+": sign the body as membersync's alert webhook does (t=…,v1=…)")
			}
			if len(v) > 512 {
				return refused(http.StatusUnauthorized, "malformed_signature", WebhookSignatureHeader+" is too long")
			}
			at, _, err := signatureParts(v)
			if err != nil {
				return refused(http.StatusUnauthorized, "malformed_signature", "malformed "+WebhookSignatureHeader+": "+err.Error())
			}
			return fresh(h.now(), at)
		},
		verify: func(r *http.Request, body []byte) error {
			at, sigs, _ := signatureParts(r.Header.Get(WebhookSignatureHeader))
			m := hmac.New(sha256.New, []byte(h.WebhookSecret))
			m.Write([]byte(strconv.FormatInt(at.Unix(), 10)))
			m.Write([]byte("."))
			m.Write(body)
			want := m.Sum(nil)
			for _, s := range sigs {
				if hmac.Equal(s, want) {
					return nil
				}
			}
			return refused(http.StatusUnauthorized, "bad_signature", WebhookSignatureHeader+" does not match the body: check MEMBERSYNC_SUPPORT_WEBHOOK_SECRET on both sides")
		},
		parse: func(r *http.Request, body []byte) (support.Message, bool, error) {
			return ParseWebhook(body, h.now())
		},
	}
}

// ParseWebhook reads the generic webhook's body (WebhookMessage); ExternalID is its id.
func ParseWebhook(body []byte, now time.Time) (m support.Message, ok bool, err error) {
	var w WebhookMessage
	if err := json.Unmarshal(body, &w); err != nil {
		return m, false, fmt.Errorf(`the body must be {"id", "from", "subject", "body", "received_at"}: %v`, err)
	}
	w.ID = strings.TrimSpace(w.ID)
	if w.ID == "" || len(w.ID) > 200 {
		return m, false, errors.New("id is required (the sender's id of the message, at most 200 characters)")
	}
	a, err := mail.ParseAddress(strings.TrimSpace(w.From))
	if err != nil {
		return m, false, errors.New("from must be the sender's email address")
	}
	if strings.TrimSpace(w.Body) == "" && strings.TrimSpace(w.Subject) == "" {
		return m, false, errors.New("subject or body is required")
	}
	at := w.ReceivedAt
	if at.IsZero() {
		at = now
	}
	return support.Message{Source: SourceWebhook, ExternalID: clip(w.ID, 200), From: a.Address,
		Subject: clip(strings.TrimSpace(w.Subject), 1000), Body: clip(strings.TrimSpace(w.Body), maxText), ReceivedAt: at.UTC()}, true, nil
}
