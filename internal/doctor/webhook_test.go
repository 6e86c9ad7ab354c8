package doctor

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var responseTime = regexp.MustCompile(`→ HTTP \d{3} in [0-9.]+(µs|ms|s)$`)

func TestWebhookProbe(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		status int
		want   Status
	}{
		{"refused 400", 400, StatusPass},
		{"refused 401", 401, StatusPass},
		{"accepts forgeries", 200, StatusFail},
		{"accepts forgeries 204", 204, StatusFail},
		{"crashes", 500, StatusFail},
		{"not the endpoint", 404, StatusWarn},
		{"forbidden", 403, StatusWarn},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, "hook.test")
			f.dns.add(t, "hook.test. 300 IN A 127.0.0.1")
			var gotSig, gotBody string
			f.routes["https://hook.test/webhooks/stripe"] = func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost {
					t.Errorf("method %s, want POST", r.Method)
				}
				gotSig = r.Header.Get("Stripe-Signature")
				for k := range r.Header { // doctor carries no credential of any kind
					if k != "User-Agent" && k != "Content-Type" && k != "Content-Length" && k != "Accept-Encoding" && k != "Connection" {
						t.Errorf("the probe sent header %s", k)
					}
				}
				b, _ := io.ReadAll(r.Body)
				gotBody = string(b)
				w.WriteHeader(tc.status)
			}
			o := f.start().options("hook.test", f.pki)
			o.WebhookURL = "https://hook.test/webhooks/stripe"
			r := run(t, o)
			got := wantStatus(t, r, GroupWebhook, "unsigned POST refused", tc.want)
			if gotSig != "" {
				t.Errorf("the probe sent a Stripe-Signature %q", gotSig)
			}
			if !strings.Contains(gotBody, `"object":"event"`) {
				t.Errorf("the probe body %q does not look like an event", gotBody)
			}
			if !responseTime.MatchString(got.Detail[0]) {
				t.Errorf("detail %q should end with the response time", got.Detail[0])
			}
			wantStatus(t, r, GroupWebhook, "webhook URL", StatusPass)
		})
	}
}

func TestWebhookPlainHTTPAndUnreachableFail(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "hook.test")
	f.dns.add(t, "hook.test. 300 IN A 127.0.0.1")
	f.routes["http://hook.test/webhooks/stripe"] = respond(400, "")
	w := f.start()
	o := w.options("hook.test", f.pki)
	o.WebhookURL = "http://hook.test/webhooks/stripe"
	r := run(t, o)
	wantStatus(t, r, GroupWebhook, "webhook URL", StatusFail)
	wantStatus(t, r, GroupWebhook, "unsigned POST refused", StatusPass)

	o.WebhookURL = "https://nowhere.test/webhooks/stripe"
	r = run(t, o)
	wantStatus(t, r, GroupWebhook, "unsigned POST refused", StatusFail)

	o.WebhookURL = ""
	r = run(t, o)
	wantStatus(t, r, GroupWebhook, "unsigned POST refused", StatusUnknown)
}

func TestIsLocalHost(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true, "10.1.2.3": true, "app.localhost": true,
		"example.com": false, "203.0.113.9": false, "good.test": false} {
		if got := isLocalHost(h); got != want {
			t.Errorf("isLocalHost(%q) = %v, want %v", h, got, want)
		}
	}
}
