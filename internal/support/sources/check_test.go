package sources_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/support/sources"
	"github.com/membersync/membersync/internal/support/sources/helpscouttest"
	"github.com/membersync/membersync/internal/support/sources/zendesktest"
)

// TestDeskChecks: the help desks' credentials are tried once, against the fakes, and each wrong
// answer (refused credentials, Zendesk's anonymous user, an end user who cannot write private
// comments) fails with what to fix.
func TestDeskChecks(t *testing.T) {
	ctx := context.Background()
	hs := helpscouttest.New(helpscouttest.Options{})
	defer hs.Close()
	if err := (&sources.HelpScout{BaseURL: hs.URL, AppID: helpscouttest.DefaultAppID, AppSecret: helpscouttest.DefaultAppSecret}).Check(ctx); err != nil {
		t.Errorf("Help Scout with the app's credentials: %v", err)
	}
	if err := (&sources.HelpScout{BaseURL: hs.URL, AppID: helpscouttest.DefaultAppID, AppSecret: "wrong"}).Check(ctx); err == nil ||
		!strings.Contains(err.Error(), "HELPSCOUT_APP_SECRET") {
		t.Errorf("Help Scout with a wrong secret: %v; want an error naming HELPSCOUT_APP_SECRET", err)
	}

	zd := zendesktest.New(zendesktest.Options{})
	defer zd.Close()
	if role, err := (&sources.Zendesk{BaseURL: zd.URL, Email: zendesktest.DefaultEmail, Token: zendesktest.DefaultToken}).Check(ctx); err != nil || role != "agent" {
		t.Errorf("Zendesk with the token: %q, %v; want agent", role, err)
	}
	if _, err := (&sources.Zendesk{BaseURL: zd.URL, Email: zendesktest.DefaultEmail, Token: "wrong"}).Check(ctx); err == nil ||
		!strings.Contains(err.Error(), "ZENDESK_API_TOKEN") {
		t.Errorf("Zendesk with a wrong token: %v; want an error naming ZENDESK_API_TOKEN", err)
	}
	for name, body := range map[string]string{
		"anonymous": `{"user":{"id":null,"role":"end-user"}}`,
		"end user":  `{"user":{"id":7,"role":"end-user"}}`,
	} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(body))
		}))
		if _, err := (&sources.Zendesk{BaseURL: srv.URL, Email: "x@example.com", Token: "t"}).Check(ctx); err == nil {
			t.Errorf("Zendesk answering %s: no error", name)
		}
		srv.Close()
	}
}
