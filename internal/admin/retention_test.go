package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestPrunedEventPayload checks that the event page and the event API of an event whose payload
// retention pruned say so instead of failing, that what the event caused is still told, and that
// replay (which resyncs the person from Stripe and never reads the payload) still works.
func TestPrunedEventPayload(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect)
			f.clock.Advance(100 * 24 * time.Hour)
			res, err := f.st.Prune(t.Context(), store.RetentionPolicy{EventPayloads: 90 * 24 * time.Hour}, f.clock.Now())
			if err != nil || res.Of(store.PruneEventPayloads).Rows != 1 {
				t.Fatalf("prune: %s, %v; want the fixture's event pruned", res.Summary(), err)
			}
			c := f.login(RoleViewer)
			resp, body := c.get("/admin/events/" + f.eventID)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("event page: %d %s", resp.StatusCode, body)
			}
			for _, want := range []string{`id="payload-note"`, "Payload pruned after 100 days (retention)", "customer.subscription.updated"} {
				if !strings.Contains(body, want) {
					t.Errorf("event page lacks %q", want)
				}
			}
			if strings.Contains(body, "not JSON") {
				t.Error("event page calls the pruned payload not JSON")
			}

			resp, body = c.get("/api/v1/events/" + f.eventID)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("event API: %d %s", resp.StatusCode, body)
			}
			var v struct {
				ID      string          `json:"id"`
				Payload json.RawMessage `json:"payload"`
				Note    string          `json:"payload_note"`
				Caused  []any           `json:"caused"`
			}
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatal(err)
			}
			if v.ID != f.eventID || string(v.Payload) != "null" || !strings.Contains(v.Note, "pruned after 100 days") || len(v.Caused) == 0 {
				t.Errorf("event API = id %q payload %s note %q caused %d; want the id, a null payload, the pruned note and what it caused",
					v.ID, v.Payload, v.Note, len(v.Caused))
			}

			s := f.login(RoleSupport)
			if resp, body := s.postJSON("/api/v1/events/"+f.eventID+"/replay", nil); resp.StatusCode != http.StatusAccepted {
				t.Fatalf("replay of a pruned event: %d %s", resp.StatusCode, body)
			}
			if got, want := f.resyncCalls(), []string{fmt.Sprintf("%d:replay", f.personID)}; strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("resyncs = %v, want %v", got, want)
			}
		})
	}
}
