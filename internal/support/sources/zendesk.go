package sources

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/support"
)

// Zendesk's signed webhooks (developer.zendesk.com/documentation/webhooks/verifying): each
// request carries X-Zendesk-Webhook-Signature-Timestamp (RFC 3339) and
// X-Zendesk-Webhook-Signature, the base64 HMAC-SHA256 of the timestamp followed directly by the
// raw body, keyed with the webhook's signing secret. A trigger's webhook body is what the founder
// wrote in the trigger: membersync reads the shape ZendeskTemplate documents.
const (
	ZendeskSignatureHeader = "X-Zendesk-Webhook-Signature"
	ZendeskTimestampHeader = "X-Zendesk-Webhook-Signature-Timestamp"
)

// ZendeskTemplate is the JSON body to paste into the trigger's "Notify by → Active webhook"
// action. Zendesk fills the placeholders (escaped for JSON in a JSON body).
const ZendeskTemplate = `{
  "ticket_id": "{{ticket.id}}",
  "requester_email": "{{ticket.requester.email}}",
  "subject": "{{ticket.title}}",
  "comment": "{{ticket.latest_comment.value}}",
  "updated_at": "{{ticket.updated_at_with_timestamp}}"
}`

// SignZendesk returns the X-Zendesk-Webhook-Signature of body sent with timestamp ts.
func SignZendesk(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) zendesk() endpoint {
	return endpoint{
		source: SourceZendesk,
		header: func(r *http.Request) error {
			sig, ts := r.Header.Get(ZendeskSignatureHeader), r.Header.Get(ZendeskTimestampHeader)
			if sig == "" || ts == "" {
				return refused(http.StatusUnauthorized, "missing_signature", "missing "+ZendeskSignatureHeader+" or "+ZendeskTimestampHeader+
					": only signed deliveries from a Zendesk webhook are accepted")
			}
			if base64.StdEncoding.DecodedLen(len(sig)) > 64 {
				return refused(http.StatusUnauthorized, "malformed_signature", ZendeskSignatureHeader+" is not a base64 HMAC-SHA256")
			}
			at, err := time.Parse(time.RFC3339, ts)
			if err != nil {
				return refused(http.StatusUnauthorized, "malformed_signature", ZendeskTimestampHeader+" is not an RFC 3339 time")
			}
			return fresh(h.now(), at)
		},
		verify: func(r *http.Request, body []byte) error {
			got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Header.Get(ZendeskSignatureHeader)))
			m := hmac.New(sha256.New, []byte(h.ZendeskSecret))
			m.Write([]byte(r.Header.Get(ZendeskTimestampHeader)))
			m.Write(body)
			if err != nil || !hmac.Equal(got, m.Sum(nil)) {
				return refused(http.StatusUnauthorized, "bad_signature", ZendeskSignatureHeader+" does not match the body: check that "+
					"ZENDESK_WEBHOOK_SECRET is the webhook's signing secret")
			}
			return nil
		},
		parse: func(r *http.Request, body []byte) (support.Message, bool, error) {
			return ParseZendesk(body, h.now())
		},
	}
}

// fresh refuses a signature timestamp more than Tolerance away from now.
func fresh(now, at time.Time) error {
	switch {
	case at.Before(now.Add(-Tolerance)):
		return refused(http.StatusUnauthorized, "too_old", fmt.Sprintf("the signature timestamp is %s old, more than the %s tolerance: a replayed or badly delayed delivery (check the server clock)",
			now.Sub(at).Round(time.Second), Tolerance))
	case at.After(now.Add(Tolerance)):
		return refused(http.StatusUnauthorized, "too_new", fmt.Sprintf("the signature timestamp is %s in the future, more than the %s tolerance (check the server clock)",
			at.Sub(now).Round(time.Second), Tolerance))
	}
	return nil
}

// zendeskBody is ZendeskTemplate's shape; ids may come as numbers or strings, and comment_id, when
// the founder adds it, names the comment.
type zendeskBody struct {
	TicketID       json.Number `json:"ticket_id"`
	CommentID      json.Number `json:"comment_id"`
	RequesterEmail string      `json:"requester_email"`
	Subject        string      `json:"subject"`
	Comment        string      `json:"comment"`
	UpdatedAt      string      `json:"updated_at"`
}

// ParseZendesk reads a trigger's body (ZendeskTemplate): the ticket's latest comment as a message,
// TicketRef the ticket. ExternalID is "<ticket>/<comment_id>", or "<ticket>/c<hash of the
// comment>" without a comment_id, so that a repeated delivery of one comment is one message.
func ParseZendesk(body []byte, now time.Time) (m support.Message, ok bool, err error) {
	var z zendeskBody
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&z); err != nil {
		return m, false, fmt.Errorf("the body is not the JSON of the documented trigger template: %v", err)
	}
	ticket, err := strconv.ParseInt(string(z.TicketID), 10, 64)
	if err != nil || ticket <= 0 {
		return m, false, errors.New(`ticket_id must be the ticket's number ("{{ticket.id}}")`)
	}
	email := strings.TrimSpace(z.RequesterEmail)
	if email == "" || !strings.Contains(email, "@") {
		return m, false, errors.New(`requester_email must be the requester's email ("{{ticket.requester.email}}")`)
	}
	text := strings.TrimSpace(z.Comment)
	if text == "" {
		return m, false, errors.New(`comment must be the latest comment ("{{ticket.latest_comment.value}}")`)
	}
	ref := strconv.FormatInt(ticket, 10)
	comment := string(z.CommentID)
	if comment == "" {
		sum := sha256.Sum256([]byte(text))
		comment = "c" + hex.EncodeToString(sum[:8])
	}
	at := now
	for _, layout := range []string{time.RFC3339, "January 2, 2006 15:04", "2006-01-02 15:04:05 -0700"} {
		if t, err := time.Parse(layout, strings.TrimSpace(z.UpdatedAt)); err == nil {
			at = t
			break
		}
	}
	return support.Message{Source: SourceZendesk, ExternalID: ref + "/" + clip(comment, 100), TicketRef: ref, From: email,
		Subject: clip(strings.TrimSpace(z.Subject), 1000), Body: clip(text, maxText), ReceivedAt: at.UTC()}, true, nil
}
