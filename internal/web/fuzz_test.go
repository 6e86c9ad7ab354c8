package web_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzWebhook sends arbitrary bodies and signature headers, and the same bodies validly signed, to
// the webhook handler: it must never panic and never answer 5xx (a 5xx tells Stripe to retry
// forever and is reserved for an unavailable database).
func FuzzWebhook(f *testing.F) {
	f.Add(eventJSON("evt_1", "invoice.paid", "cus_A", false), "t=1,v1=00")
	f.Add([]byte(`{"id":"evt_1","object":"event","type":"x","created":1,"livemode":false,"data":{"object":{"customer":{"id":"cus_1"}}}}`), "")
	f.Add([]byte(`{"object":"event","data":{"object":[]}}`), "t=,v1=")
	f.Add([]byte("\x00\xff"), "t=99999999999999999999,v1=zz,v0=1")
	h := newHarness(f, "sqlite")
	handler := h.handler
	f.Fuzz(func(t *testing.T, body []byte, sig string) {
		for _, header := range []string{sig, sign(body, secretOld, now)} {
			req := httptest.NewRequest(http.MethodPost, "/webhooks/stripe", bytes.NewReader(body))
			req.Header.Set("Stripe-Signature", header)
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("status %d for body %q sig %q: %s", rec.Code, body, header, rec.Body)
			}
		}
	})
}
