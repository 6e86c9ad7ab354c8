package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/support"
)

// ingestSupport triages messages as the sources would: one from the fixture's person (ada), one
// from a stranger.
func (f *fixture) ingestSupport() (ada, stranger support.Outcome) {
	f.t.Helper()
	ctx := context.Background()
	tr := &support.Triage{Store: f.st, Now: f.clock.Now, Plans: testConfig().Plans}
	var err error
	if ada, err = tr.Ingest(ctx, support.Message{Source: support.SourceHelpScout, ExternalID: "42/1", TicketRef: "42",
		From: "ada@example.com", Subject: "Secret subject", Body: "I paid but I can't log in"}); err != nil {
		f.t.Fatal(err)
	}
	if stranger, err = tr.Ingest(ctx, support.Message{Source: support.SourceIMAP, ExternalID: "INBOX/1/1",
		From: "who@example.org", Body: "Quiero un reembolso"}); err != nil {
		f.t.Fatal(err)
	}
	return ada, stranger
}

func TestSupportPage(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			f := newFixture(t, d)
			ada, stranger := f.ingestSupport()
			viewer := f.login(RoleViewer)
			resp, body := viewer.get("/admin/support")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /admin/support: %d", resp.StatusCode)
			}
			for _, want := range []string{
				fmt.Sprintf(`id="msg-%d"`, ada.ID), fmt.Sprintf(`href="/admin/people/%d">ada@example.com</a>`, f.personID),
				ada.Diagnosis.Summary, "no payment found for this email", `id="support-chart"`, `id="support-acceptance"`,
				"matched: access: can", "refund: reembols*",
			} {
				if !strings.Contains(body, escaped(want)) {
					t.Errorf("the page lacks %q", want)
				}
			}
			if strings.Contains(body, "Secret subject") {
				t.Error("a subject shows although keep_bodies is off")
			}
			if strings.Contains(body, "/resend") || strings.Contains(body, "/status-link") {
				t.Error("a viewer is offered the support role's fixes")
			}
			if resp, _ := viewer.postForm(fmt.Sprintf("/admin/support/%d/resend", ada.ID), url.Values{}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("viewer resend: %d, want 403", resp.StatusCode)
			}

			// Filtered by category, and a bad filter or cursor is a 400.
			if _, body := viewer.get("/admin/support?category=refund"); strings.Contains(body, fmt.Sprintf(`id="msg-%d"`, ada.ID)) ||
				!strings.Contains(body, fmt.Sprintf(`id="msg-%d"`, stranger.ID)) {
				t.Error("the refund filter should list only the refund message")
			}
			for _, q := range []string{"category=spam", "before=x", "before=-1"} {
				if resp, _ := viewer.get("/api/v1/support?" + q); resp.StatusCode != http.StatusBadRequest {
					t.Errorf("?%s: %d, want 400", q, resp.StatusCode)
				}
			}

			// The JSON twin.
			resp, body = viewer.get("/api/v1/support")
			var js supportJSON
			if err := json.Unmarshal([]byte(body), &js); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /api/v1/support: %d %v %s", resp.StatusCode, err, body)
			}
			if len(js.Messages) != 2 || js.Messages[1].ID != ada.ID || js.Messages[1].PersonID != f.personID || js.Messages[0].Category != "refund" ||
				js.Volume == nil || js.Volume.ThisWeek["access"] != 1 || js.Messages[1].NoteStatus != "pending" {
				t.Errorf("API answer %s", body)
			}

			// The person page lists the person's message.
			if _, body := viewer.get(fmt.Sprintf("/admin/people/%d", f.personID)); !strings.Contains(body, `id="person-support"`) ||
				!strings.Contains(body, fmt.Sprintf("/admin/support#msg-%d", ada.ID)) {
				t.Error("the person page does not list their support message")
			}
			// The overview shows the weekly chart and the acceptance tile.
			if _, body := viewer.get("/admin"); !strings.Contains(body, `id="overview-support"`) || !strings.Contains(body, "Support messages per ISO week") {
				t.Error("the overview lacks the support volume")
			}
		})
	}
}

// escaped is s as html/template prints it, for the characters the test needs as html/template does for the cases the test needs.
func escaped(s string) string { return strings.ReplaceAll(s, "'", "&#39;") }

func TestSupportFixes(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			f := newFixture(t, d)
			ada, stranger := f.ingestSupport()
			sup := f.login(RoleSupport)
			if _, body := sup.get("/admin/support"); !strings.Contains(body, fmt.Sprintf(`action="/admin/support/%d/status-link"`, ada.ID)) {
				t.Error("the support role is not offered the status link")
			}

			resp, _ := sup.postForm(fmt.Sprintf("/admin/support/%d/resend", ada.ID), url.Values{})
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("resend: %d", resp.StatusCode)
			}
			if calls := f.resyncCalls(); len(calls) != 1 || calls[0] != fmt.Sprintf("%d:resend_invitation", f.personID) {
				t.Errorf("resyncs %v, want one resend_invitation of person %d", calls, f.personID)
			}
			if a := f.audit("person.resend_invitation"); len(a) != 1 || a[0].PersonID != f.personID {
				t.Errorf("audit %+v", a)
			}

			resp, body := sup.postForm(fmt.Sprintf("/admin/support/%d/status-link", ada.ID), url.Values{})
			link := regexp.MustCompile(`https://members\.example\.com/status/[A-Za-z0-9_\-.]+`).FindString(body)
			if resp.StatusCode != http.StatusOK || link == "" || !strings.Contains(body, `id="status-link-url"`) {
				t.Fatalf("status link: %d, link %q", resp.StatusCode, link)
			}
			if a := f.audit("person.status_link"); len(a) != 1 || strings.Contains(a[0].Note, link) {
				t.Errorf("audit %+v: want one entry that does not hold the link", a)
			}

			// A message that matched no person has nothing to fix.
			for _, path := range []string{"resend", "status-link"} {
				if resp, _ := sup.postForm(fmt.Sprintf("/admin/support/%d/%s", stranger.ID, path), url.Values{}); resp.StatusCode != http.StatusConflict {
					t.Errorf("%s for no person: %d, want 409", path, resp.StatusCode)
				}
			}
			if resp, _ := sup.postForm("/admin/support/99999/resend", url.Values{}); resp.StatusCode != http.StatusNotFound {
				t.Errorf("resend of a missing message: %d, want 404", resp.StatusCode)
			}
			if ms, _ := f.st.SupportMessages(context.Background(), store.SupportFilter{}); len(ms) != 2 {
				t.Errorf("%d messages stored, want 2", len(ms))
			}
		})
	}
}
