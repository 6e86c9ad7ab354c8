package sources

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/membersync/membersync/internal/support"
)

// checkMessage is what every parser promises of a message it accepts: a source id, a sender,
// valid UTF-8 within the bounds.
func checkMessage(t *testing.T, m support.Message) {
	t.Helper()
	if m.ExternalID == "" || m.From == "" || m.ReceivedAt.IsZero() {
		t.Fatalf("accepted message without id, sender or time: %+v", m)
	}
	for _, s := range []string{m.ExternalID, m.Subject, m.Body} {
		if !utf8.ValidString(s) {
			t.Fatalf("invalid UTF-8 in %+v", m)
		}
	}
	if len(m.Body) > maxText || len(m.Subject) > 1000 {
		t.Fatalf("body %d bytes, subject %d: over the bounds", len(m.Body), len(m.Subject))
	}
}

func FuzzParseHelpScout(f *testing.F) {
	f.Add(HelpScoutConvoCreated, []byte(`{"id":12,"subject":"Help","primaryCustomer":{"email":"a@b.c"},"_embedded":{"threads":[{"id":3,"type":"customer","body":"<p>I paid</p>","createdAt":"2026-12-01T10:00:00Z","createdBy":{"type":"customer","email":"a@b.c"}}]}}`))
	f.Add(HelpScoutCustomerReply, []byte(`{"id":12,"customer":{"email":"a@b.c"},"threads":[{"id":4,"type":"customer","body":"x"},{"id":5,"type":"message","body":"y"}]}`))
	f.Add(HelpScoutConvoCreated, []byte(`{"id":-1}`))
	f.Add("convo.deleted", []byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		m, ok, err := ParseHelpScout(event, body)
		if ok && err == nil {
			checkMessage(t, m)
			if m.TicketRef == "" || !strings.HasPrefix(m.ExternalID, m.TicketRef+"/") {
				t.Fatalf("ticket %q, id %q", m.TicketRef, m.ExternalID)
			}
		}
	})
}

func FuzzParseZendesk(f *testing.F) {
	f.Add([]byte(`{"ticket_id":"35","requester_email":"a@b.c","subject":"Help","comment":"I paid but can't log in","updated_at":"2026-12-01T10:00:00Z"}`))
	f.Add([]byte(`{"ticket_id":35,"comment_id":99,"requester_email":"a@b.c","comment":"x"}`))
	f.Add([]byte(`{"ticket_id":"","requester_email":"","comment":""}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, ok, err := ParseZendesk(body, time.Unix(1, 0))
		if ok && err == nil {
			checkMessage(t, m)
		}
	})
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"id":"m1","from":"a@b.c","subject":"s","body":"b","received_at":"2026-12-01T10:00:00Z"}`))
	f.Add([]byte(`{"id":"m1","from":"Ana <a@b.c>","body":"b"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, ok, err := ParseWebhook(body, time.Unix(1, 0))
		if ok && err == nil {
			checkMessage(t, m)
		}
	})
}

func FuzzParseMail(f *testing.F) {
	f.Add([]byte("From: a@b.c\r\nSubject: Help\r\n\r\nI paid"))
	f.Add([]byte("From: =?ISO-8859-1?Q?Jos=E9?= <j@b.c>\r\nSubject: =?UTF-8?B?w4lsw6h2ZQ==?=\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/html\r\n\r\n<p>Hola</p>\r\n--x--\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nPagu\xe9\r\n--b"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		pm, err := parseMail(raw)
		if err == nil && (!utf8.ValidString(pm.Body) || !utf8.ValidString(pm.Subject) || len(pm.Body) > maxText) {
			t.Fatalf("parsed %+v", pm)
		}
	})
}

func FuzzSignatureParts(f *testing.F) {
	f.Add("t=1767225600,v1=5f2b")
	f.Add("t=1,v1=" + strings.Repeat("ab", 32) + ",v1=" + strings.Repeat("cd", 32))
	f.Fuzz(func(t *testing.T, h string) {
		_, sigs, err := signatureParts(h)
		if err == nil && (len(sigs) == 0 || len(sigs) > 4) {
			t.Fatalf("%d signatures accepted", len(sigs))
		}
	})
}
