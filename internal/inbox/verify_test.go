package inbox

import (
	"errors"
	"fmt"
	"strings"
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
		{"just inside the tolerance ahead", sign("whsec_new", now.Add(Tolerance)), ""},
		{"one second too old", sign("whsec_new", now.Add(-Tolerance-time.Second)), "too_old"},
		{"one second too far in the future", sign("whsec_new", now.Add(Tolerance+time.Second)), "too_new"},
		{"a year in the future", sign("whsec_new", now.AddDate(1, 0, 0)), "too_new"},
		{"too old and signed with an unknown secret", sign("whsec_other", now.Add(-time.Hour)), "too_old"},
		{"unknown secret", sign("whsec_other", now), "bad_signature"},
		{"missing", "", "missing_signature"},
		{"no timestamp", "v1=abcd", "malformed_signature"},
		{"no v1", "t=1700000000,v0=abcd", "malformed_signature"},
		{"junk", "garbage", "malformed_signature"},
		{"v1 not hex", "t=1700000000,v1=zz", "malformed_signature"},
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

// TestCheckHeader checks the body-free pre-check: it refuses what Verify refuses for the header alone
// and passes a well-formed, timely header whatever its signature, which only the body can settle.
func TestCheckHeader(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	v := &Verifier{Secrets: []string{"whsec_a"}, Now: func() time.Time { return now }}
	sig := strings.Repeat("ab", 32)
	tests := []struct {
		header string
		code   string // "" for passed on to the signature check
	}{
		{fmt.Sprintf("t=%d,v1=%s", now.Unix(), sig), ""},
		{fmt.Sprintf("t=%d,v1=zz,v1=%s,v0=1", now.Unix(), sig), ""},
		{"", "missing_signature"},
		{"  ", "missing_signature"},
		{"t=1", "malformed_signature"},
		{"v1=" + sig, "malformed_signature"},
		{fmt.Sprintf("t=%d,v1=zz", now.Unix()), "malformed_signature"},
		{fmt.Sprintf("t=%d;v1=%s", now.Unix(), sig), "malformed_signature"},
		{"t=99999999999999999999,v1=" + sig, "malformed_signature"},
		{fmt.Sprintf("t=%d,v1=%s", now.Add(-Tolerance-time.Second).Unix(), sig), "too_old"},
		{fmt.Sprintf("t=%d,v1=%s", now.Add(Tolerance+time.Second).Unix(), sig), "too_new"},
		{fmt.Sprintf("t=%d,v1=%s", int64(1)<<62, sig), "too_new"},
	}
	for _, tt := range tests {
		err := v.CheckHeader(tt.header)
		var br *BadRequest
		switch {
		case tt.code == "" && err != nil:
			t.Errorf("CheckHeader(%q) = %v, want nil", tt.header, err)
		case tt.code != "" && (!errors.As(err, &br) || br.Code != tt.code):
			t.Errorf("CheckHeader(%q) = %v, want %s", tt.header, err, tt.code)
		}
	}
	var br *BadRequest
	if err := (&Verifier{Now: v.Now}).CheckHeader(fmt.Sprintf("t=%d,v1=%s", now.Unix(), sig)); !errors.As(err, &br) || br.Code != "bad_signature" {
		t.Errorf("no configured secret: got %v, want bad_signature", err)
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
