package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/web"
)

const (
	secretOld = "whsec_old0123456789"
	secretNew = "whsec_new0123456789"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

type harness struct {
	url     string
	store   *store.Store
	handler http.Handler
}

// newHarness serves a webhook Server on st of dialect over real HTTP; each option adjusts the Server,
// and wrap, when not nil, wraps its handler.
func newHarness(t testing.TB, dialect string, options ...func(*web.Server)) *harness {
	return newWrappedHarness(t, dialect, nil, options...)
}

func newWrappedHarness(t testing.TB, dialect string, wrap func(http.Handler) http.Handler, options ...func(*web.Server)) *harness {
	t.Helper()
	st := storetest.Open(t, dialect)
	q, err := queue.New(st, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	in := inbox.New(st, q, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	srv := &web.Server{
		Inbox:    in,
		Verifier: &inbox.Verifier{Secrets: []string{secretOld, secretNew}, Now: func() time.Time { return now }},
		Log:      log,
	}
	for _, o := range options {
		o(srv)
	}
	handler := srv.Routes()
	if wrap != nil {
		handler = wrap(handler)
	}
	ts := httptest.NewServer(handler)
	t.Cleanup(func() { ts.Close(); cancel(); <-done })
	return &harness{url: ts.URL, store: st, handler: handler}
}

func eventJSON(id, typ, customer string, livemode bool) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2026-03-25.dahlia","created":%d,"livemode":%t,"type":%q,"data":{"object":{"id":"in_1","object":"invoice","customer":%q}}}`,
		id, now.Unix()-5, livemode, typ, customer))
}

func sign(body []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
}

func (h *harness) post(t *testing.T, body []byte, sig string) (int, map[string]string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("status %d: body is not a JSON object: %q", resp.StatusCode, b)
	}
	return resp.StatusCode, m
}

func (h *harness) counts(t *testing.T) (events, jobs int) {
	t.Helper()
	ids, err := h.store.EventIDs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sync, err := h.store.JobCount(context.Background(), converge.SyncArgs{}.Kind())
	if err != nil {
		t.Fatal(err)
	}
	resolve, err := h.store.JobCount(context.Background(), converge.ResolveArgs{}.Kind())
	if err != nil {
		t.Fatal(err)
	}
	return len(ids), sync + resolve
}

func TestWebhookAccepts(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			body := eventJSON("evt_1", "invoice.paid", "cus_A", false)
			status, m := h.post(t, body, sign(body, secretOld, now))
			if status != 200 || m["status"] != "accepted" {
				t.Fatalf("new event: got %d %v, want 200 accepted", status, m)
			}
			if ev, jobs := h.counts(t); ev != 1 || jobs != 1 {
				t.Fatalf("after new event: %d events, %d jobs; want 1, 1", ev, jobs)
			}

			status, m = h.post(t, body, sign(body, secretNew, now)) // rotated secret, same event
			if status != 200 || m["status"] != "duplicate" {
				t.Errorf("duplicate: got %d %v, want 200 duplicate", status, m)
			}
			other := eventJSON("evt_2", "customer.subscription.updated", "cus_A", false)
			status, m = h.post(t, other, sign(other, secretNew, now))
			if status != 200 || m["status"] != "accepted" {
				t.Errorf("second event signed with the new secret: got %d %v", status, m)
			}
			if ev, jobs := h.counts(t); ev != 2 || jobs != 1 {
				t.Errorf("a second event while a sync waits: %d events, %d jobs; want 2, 1", ev, jobs)
			}

			ignored := eventJSON("evt_3", "product.created", "", false)
			status, m = h.post(t, ignored, sign(ignored, secretOld, now))
			if status != 200 || m["status"] != "ignored" {
				t.Errorf("ignored type: got %d %v, want 200 ignored", status, m)
			}
			if ev, jobs := h.counts(t); ev != 3 || jobs != 1 {
				t.Errorf("after ignored type: %d events, %d jobs; want 3, 1", ev, jobs)
			}
		})
	}
}

func TestWebhookRefuses(t *testing.T) {
	good := eventJSON("evt_bad", "invoice.paid", "cus_A", false)
	tests := []struct {
		name   string
		body   []byte
		sig    string
		status int
		code   string
	}{
		{"missing signature", good, "", 400, "missing_signature"},
		{"malformed signature", good, "v1=abc", 400, "malformed_signature"},
		{"garbage signature", good, "hello", 400, "malformed_signature"},
		{"timestamp not a number", good, "t=soon,v1=00", 400, "malformed_signature"},
		{"wrong secret", good, sign(good, "whsec_someoneelse", now), 400, "bad_signature"},
		{"tampered body", bytes.Replace(good, []byte("cus_A"), []byte("cus_B"), 1), sign(good, secretOld, now), 400, "bad_signature"},
		{"too old", good, sign(good, secretOld, now.Add(-6*time.Minute)), 400, "too_old"},
		{"not JSON", []byte("hello"), sign([]byte("hello"), secretOld, now), 400, "bad_envelope"},
		{"not an event", []byte(`{"id":"evt_1","object":"charge"}`), sign([]byte(`{"id":"evt_1","object":"charge"}`), secretOld, now), 400, "bad_envelope"},
		{"thin event", []byte(`{"id":"evt_1","object":"v2.core.event"}`), sign([]byte(`{"id":"evt_1","object":"v2.core.event"}`), secretOld, now), 400, "bad_envelope"},
		{"no data.object", []byte(`{"id":"evt_1","object":"event","type":"x","created":1,"livemode":false,"data":{}}`), sign([]byte(`{"id":"evt_1","object":"event","type":"x","created":1,"livemode":false,"data":{}}`), secretOld, now), 400, "bad_envelope"},
		{"live event on a test key", eventJSON("evt_live", "invoice.paid", "cus_A", true), sign(eventJSON("evt_live", "invoice.paid", "cus_A", true), secretOld, now), 400, "livemode_mismatch"},
	}
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					status, m := h.post(t, tt.body, tt.sig)
					if status != tt.status || m["error"] != tt.code || m["message"] == "" {
						t.Errorf("got %d %v, want %d with error %q and a message", status, m, tt.status, tt.code)
					}
					if ev, jobs := h.counts(t); ev != 0 || jobs != 0 {
						t.Errorf("refused delivery left %d events, %d jobs", ev, jobs)
					}
				})
			}
			t.Run("oversized", func(t *testing.T) {
				big := append(eventJSON("evt_big", "invoice.paid", "cus_A", false), bytes.Repeat([]byte(" "), inbox.MaxBody)...)
				status, m := h.post(t, big, sign(big, secretOld, now))
				if status != 413 || m["error"] != "too_large" {
					t.Errorf("got %d %v, want 413 too_large", status, m)
				}
			})
			t.Run("wrong method", func(t *testing.T) {
				resp, err := http.Get(h.url + "/webhooks/stripe")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
					t.Errorf("GET: got %d Allow=%q, want 405 Allow=POST", resp.StatusCode, resp.Header.Get("Allow"))
				}
			})
			if ev, jobs := h.counts(t); ev != 0 || jobs != 0 {
				t.Errorf("refused deliveries left %d events, %d jobs", ev, jobs)
			}
		})
	}
}

// A database that cannot commit must never be acknowledged.
func TestWebhookUnavailable(t *testing.T) {
	h := newHarness(t, "sqlite")
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	body := eventJSON("evt_1", "invoice.paid", "cus_A", false)
	status, m := h.post(t, body, sign(body, secretOld, now))
	if status != 503 || m["error"] != "unavailable" || !strings.Contains(m["message"], "deliver it again") {
		t.Errorf("got %d %v, want 503 unavailable", status, m)
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t, "sqlite")
	resp, err := http.Get(h.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("healthz: got %d, nosniff=%q", resp.StatusCode, resp.Header.Get("X-Content-Type-Options"))
	}
}
