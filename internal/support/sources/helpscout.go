package sources

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/support"
)

// Help Scout's webhooks (developer.helpscout.com/webhooks): each delivery names its event in
// X-HelpScout-Event and signs the raw body in X-HelpScout-Signature, the base64 HMAC-SHA1 keyed
// with the webhook's secret key. The body of a conversation event is the Mailbox API 2.0
// conversation, threads embedded.
const (
	HelpScoutSignatureHeader = "X-HelpScout-Signature"
	HelpScoutEventHeader     = "X-HelpScout-Event"
	// The events triaged: a new conversation, and a customer's reply on one.
	HelpScoutConvoCreated  = "convo.created"
	HelpScoutCustomerReply = "convo.customer.reply.created"
)

// SignHelpScout returns the X-HelpScout-Signature of body under secret.
func SignHelpScout(secret string, body []byte) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// verifyHelpScout reports whether sig is body's signature under secret, in constant time.
func verifyHelpScout(secret string, body []byte, sig string) bool {
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return false
	}
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

func (h *Handler) helpScout() endpoint {
	return endpoint{
		source: SourceHelpScout,
		header: func(r *http.Request) error {
			sig := r.Header.Get(HelpScoutSignatureHeader)
			if sig == "" {
				return refused(http.StatusUnauthorized, "missing_signature", "missing "+HelpScoutSignatureHeader+": only signed deliveries from Help Scout's webhooks are accepted")
			}
			if n := base64.StdEncoding.DecodedLen(len(sig)); n > 64 {
				return refused(http.StatusUnauthorized, "malformed_signature", HelpScoutSignatureHeader+" is not a base64 HMAC-SHA1")
			}
			return nil
		},
		verify: func(r *http.Request, body []byte) error {
			if !verifyHelpScout(h.HelpScoutSecret, body, r.Header.Get(HelpScoutSignatureHeader)) {
				return refused(http.StatusUnauthorized, "bad_signature", HelpScoutSignatureHeader+" does not match the body: check that "+
					"HELPSCOUT_WEBHOOK_SECRET is the webhook's secret key in Help Scout")
			}
			return nil
		},
		parse: func(r *http.Request, body []byte) (support.Message, bool, error) {
			return ParseHelpScout(r.Header.Get(HelpScoutEventHeader), body)
		},
	}
}

// hsConversation is the part of Help Scout's conversation object the triage reads (the v2 webhook
// payload; the legacy v1 fields customer and threads are read too).
type hsConversation struct {
	ID              int64      `json:"id"`
	Subject         string     `json:"subject"`
	PrimaryCustomer *hsPerson  `json:"primaryCustomer"`
	Customer        *hsPerson  `json:"customer"`
	Threads         []hsThread `json:"threads"`
	Embedded        struct {
		Threads []hsThread `json:"threads"`
	} `json:"_embedded"`
}

type hsPerson struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
	Type  string `json:"type"`
}

type hsThread struct {
	ID        int64     `json:"id"`
	Type      string    `json:"type"` // customer, message (an agent's reply), note, lineitem, chat, phone…
	Body      string    `json:"body"` // HTML
	Text      string    `json:"text"`
	State     string    `json:"state"` // published, draft, underReview, hidden
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy *hsPerson `json:"createdBy"`
	Customer  *hsPerson `json:"customer"`
}

// ParseHelpScout reads a Help Scout webhook body of event: the conversation's latest customer
// thread as a message (ExternalID "<conversation>/<thread>", TicketRef the conversation). ok is
// false for events that are not a customer writing (other events, a conversation an agent
// started); err is set for a body that is not a conversation.
func ParseHelpScout(event string, body []byte) (m support.Message, ok bool, err error) {
	switch event {
	case HelpScoutConvoCreated, HelpScoutCustomerReply:
	case "":
		return m, false, errors.New("missing " + HelpScoutEventHeader + " header")
	default:
		return m, false, nil
	}
	var c hsConversation
	if err := json.Unmarshal(body, &c); err != nil {
		return m, false, fmt.Errorf("the body is not a Help Scout conversation: %v", err)
	}
	if c.ID <= 0 {
		return m, false, errors.New("the conversation has no id")
	}
	threads := c.Embedded.Threads
	if len(threads) == 0 {
		threads = c.Threads
	}
	var latest *hsThread
	for i := range threads {
		t := &threads[i]
		if t.Type != "customer" || t.ID <= 0 || (t.State != "" && t.State != "published") {
			continue
		}
		if latest == nil || t.CreatedAt.After(latest.CreatedAt) || (t.CreatedAt.Equal(latest.CreatedAt) && t.ID > latest.ID) {
			latest = t
		}
	}
	if latest == nil {
		return m, false, nil // no customer thread: an agent started it
	}
	from := ""
	for _, p := range []*hsPerson{latest.CreatedBy, latest.Customer, c.PrimaryCustomer, c.Customer} {
		if p != nil && p.Email != "" && (p.Type == "" || p.Type == "customer") {
			from = p.Email
			break
		}
	}
	if from == "" {
		return m, false, errors.New("the conversation names no customer email")
	}
	text := latest.Text
	if text == "" {
		text = HTMLText(latest.Body)
	}
	at := latest.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	conv := strconv.FormatInt(c.ID, 10)
	return support.Message{Source: SourceHelpScout, ExternalID: conv + "/" + strconv.FormatInt(latest.ID, 10), TicketRef: conv,
		From: from, Subject: clip(strings.TrimSpace(c.Subject), 1000), Body: clip(text, maxText), ReceivedAt: at.UTC()}, true, nil
}
