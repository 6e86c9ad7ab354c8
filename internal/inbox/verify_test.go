package inbox

import (
	"errors"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"evt_1"}`)
	sign := func(secret string, at time.Time) string {
		return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at}).Header
	}
	v := &Verifier{Secrets: []string{"whsec_old", "whsec_new"}, Now: func() time.Time { return now }}
	tests := []struct {
		name   string
		header string
		code   string // "" for accepted
	}{
		{"old secret during rotation", sign("whsec_old", now), ""},
		{"new secret during rotation", sign("whsec_new", now), ""},
		{"just inside the tolerance", sign("whsec_new", now.Add(-Tolerance)), ""},
		{"timestamp in the future", sign("whsec_new", now.Add(time.Minute)), ""},
		{"one second too old", sign("whsec_new", now.Add(-Tolerance-time.Second)), "too_old"},
		{"unknown secret", sign("whsec_other", now), "bad_signature"},
		{"missing", "", "missing_signature"},
		{"no timestamp", "v1=abcd", "malformed_signature"},
		{"no v1", "t=1700000000,v0=abcd", "malformed_signature"},
		{"junk", "garbage", "malformed_signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Verify(body, tt.header)
			var br *BadRequest
			switch {
			case tt.code == "" && err != nil:
				t.Errorf("got %v, want accepted", err)
			case tt.code != "" && (!errors.As(err, &br) || br.Code != tt.code):
				t.Errorf("got %v, want %s", err, tt.code)
			}
		})
	}
	if err := (&Verifier{Now: func() time.Time { return now }}).Verify(body, sign("whsec_new", now)); err == nil {
		t.Error("no configured secret must refuse everything")
	}
}

func TestParseEnvelope(t *testing.T) {
	env, err := ParseEnvelope([]byte(`{"id":"evt_1","object":"event","api_version":"2026-03-25.dahlia","created":1800000000,"livemode":true,"type":"invoice.paid","data":{"object":{"object":"invoice","customer":{"id":"cus_X","object":"customer"}}}}`))
	if err != nil || env.CustomerID != "cus_X" || !env.Livemode || env.Type != "invoice.paid" || env.Created.Unix() != 1800000000 {
		t.Errorf("expanded customer: %+v, %v", env, err)
	}
	env, err = ParseEnvelope([]byte(`{"id":"evt_2","object":"event","created":1,"livemode":false,"type":"customer.updated","data":{"object":{"object":"customer","id":"cus_Y"}}}`))
	if err != nil || env.CustomerID != "cus_Y" || env.APIVersion != "" {
		t.Errorf("customer object: %+v, %v", env, err)
	}
	env, err = ParseEnvelope([]byte(`{"id":"evt_3","object":"event","created":1,"livemode":false,"type":"charge.dispute.created","data":{"object":{"object":"dispute","charge":"ch_1"}}}`))
	if err != nil || env.CustomerID != "" {
		t.Errorf("dispute names no customer: %+v, %v", env, err)
	}
	for _, bad := range []string{`[]`, `{"id":"x","object":"event"}`, `{"id":"evt_1","object":"event","type":"t","created":1,"data":{"object":{}}}`, `{"id":"evt_1","object":"event","type":"t","created":1,"livemode":false,"data":{"object":"str"}}`} {
		if _, err := ParseEnvelope([]byte(bad)); err == nil {
			t.Errorf("ParseEnvelope(%s): want an error", bad)
		}
	}
}

func TestActionable(t *testing.T) {
	for typ, want := range map[string]bool{
		"invoice.paid": true, "invoice.upcoming": false, "customer.subscription.deleted": true,
		"charge.dispute.closed": true, "checkout.session.completed": true, "customer.updated": true,
		"product.created": false, "price.updated": false, "refund.created": true,
	} {
		if got := Actionable(typ); got != want {
			t.Errorf("Actionable(%q) = %v, want %v", typ, got, want)
		}
	}
}
