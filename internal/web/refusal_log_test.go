package web_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/web"
)

// TestRefusalFloodWritesBoundedLogs: a stranger posting forged deliveries as fast as they can
// gets a 400 each, but the log gets one line per second saying how many it stands for.
func TestRefusalFloodWritesBoundedLogs(t *testing.T) {
	c, logs := newClock(), &logLines{}
	srv := &web.Server{Log: slog.New(slog.NewJSONHandler(logs, nil)), Now: c.Now,
		Verifier: &inbox.Verifier{Secrets: []string{secretOld}, Now: c.Now}}
	ts := httptest.NewServer(srv.Routes())
	defer ts.Close()
	body := eventJSON("evt_forged", "invoice.paid", "cus_A", false)
	post := func() {
		req, _ := http.NewRequest("POST", ts.URL+"/webhooks/stripe", strings.NewReader(string(body)))
		req.Header.Set("Stripe-Signature", sign(body, "whsec_not_the_secret", c.Now()))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("forged delivery: %d, want 400", resp.StatusCode)
		}
	}
	for range 200 {
		post()
	}
	c.Advance(1500 * time.Millisecond)
	post()
	recs := logs.records("webhook refused")
	if len(recs) != 2 {
		t.Fatalf("200 + 1 refusals wrote %d log lines, want 2 (one per second)", len(recs))
	}
	if got := recs[1]["refusals_not_logged"]; got != float64(199) {
		t.Errorf("the second line stands for %v refusals not logged, want 199", got)
	}
}
