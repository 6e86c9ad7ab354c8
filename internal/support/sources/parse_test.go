package sources

import (
	"strings"
	"testing"
	"time"
)

func TestParseMail(t *testing.T) {
	tests := []struct {
		name                string
		raw                 string
		from, subject, body string
		auto                bool
	}{
		{"plain", "From: Ana <Ana@Example.com>\r\nSubject: Help\r\n\r\nI paid but I can't log in\r\n",
			"Ana@Example.com", "Help", "I paid but I can't log in", false},
		{"encoded headers, latin-1 body", "From: =?ISO-8859-1?Q?Jos=E9?= <jose@example.es>\r\nSubject: =?UTF-8?Q?No_puedo_entrar_=C3=A1?=\r\n" +
			"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nPagu=E9 y no puedo entrar\r\n",
			"jose@example.es", "No puedo entrar á", "Pagué y no puedo entrar", false},
		{"alternative prefers text", "From: a@b.c\r\nSubject: s\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\n" +
			"Content-Type: text/html\r\n\r\n<p>HTML version</p>\r\n--x\r\nContent-Type: text/plain\r\n\r\nText version\r\n--x--\r\n",
			"a@b.c", "s", "Text version", false},
		{"html only", "From: a@b.c\r\nSubject: s\r\nContent-Type: text/html\r\n\r\n<html><head><style>p{}</style></head><body><p>J&apos;ai pay&eacute;</p><p>mais rien</p><script>x()</script></body></html>\r\n",
			"a@b.c", "s", "J'ai payé\n\nmais rien", false},
		{"auto reply", "From: a@b.c\r\nSubject: Away\r\nAuto-Submitted: auto-replied\r\n\r\nOut of office\r\n", "a@b.c", "Away", "Out of office", true},
		{"cut mid-part", "From: a@b.c\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nI can't log in and the rest was cu",
			"a@b.c", "s", "I can't log in and the rest was cu", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pm, err := parseMail([]byte(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if pm.From != tt.from || pm.Subject != tt.subject || pm.Body != tt.body || pm.Auto != tt.auto {
				t.Fatalf("got %+v, want from %q subject %q body %q auto %v", pm, tt.from, tt.subject, tt.body, tt.auto)
			}
		})
	}
}

func TestParseHelpScoutLatestCustomerThread(t *testing.T) {
	body := `{"id":77,"subject":"Access","primaryCustomer":{"email":"primary@example.com"},"_embedded":{"threads":[
		{"id":3,"type":"message","body":"agent reply","createdAt":"2026-12-01T12:00:00Z","createdBy":{"type":"user","email":"agent@example.com"}},
		{"id":2,"type":"customer","body":"<div>second</div>","createdAt":"2026-12-01T11:00:00Z","createdBy":{"type":"customer","email":"writer@example.com"}},
		{"id":1,"type":"customer","body":"first","createdAt":"2026-12-01T10:00:00Z","createdBy":{"type":"customer","email":"writer@example.com"}},
		{"id":4,"type":"customer","state":"draft","body":"draft","createdAt":"2026-12-01T13:00:00Z"}]}}`
	m, ok, err := ParseHelpScout(HelpScoutCustomerReply, []byte(body))
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if m.ExternalID != "77/2" || m.TicketRef != "77" || m.From != "writer@example.com" || m.Body != "second" ||
		!m.ReceivedAt.Equal(time.Date(2026, 12, 1, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("got %+v", m)
	}
	if _, ok, err := ParseHelpScout(HelpScoutConvoCreated, []byte(`{"id":5,"_embedded":{"threads":[{"id":1,"type":"message","body":"outbound"}]}}`)); ok || err != nil {
		t.Fatalf("a conversation an agent started: ok %v err %v, want ignored", ok, err)
	}
}

func TestParseZendeskIDs(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	a, _, err := ParseZendesk([]byte(`{"ticket_id":"35","requester_email":"a@b.c","comment":"I paid"}`), now)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := ParseZendesk([]byte(`{"ticket_id":35,"requester_email":"a@b.c","comment":"I paid"}`), now)
	c, _, _ := ParseZendesk([]byte(`{"ticket_id":35,"requester_email":"a@b.c","comment":"Still nothing"}`), now)
	d, _, _ := ParseZendesk([]byte(`{"ticket_id":35,"comment_id":"901","requester_email":"a@b.c","comment":"x"}`), now)
	if a.ExternalID != b.ExternalID || a.ExternalID == c.ExternalID || !strings.HasPrefix(a.ExternalID, "35/c") || d.ExternalID != "35/901" {
		t.Fatalf("ids %q %q %q %q: the same comment must have one id, another comment another", a.ExternalID, b.ExternalID, c.ExternalID, d.ExternalID)
	}
}
