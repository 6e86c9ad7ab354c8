package storetest

import (
	"strings"
	"testing"
)

func TestCardData(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    []string // substrings of the findings, in any order; nil for none
	}{
		{"a PAN in a string", `{"data":{"object":{"description":"paid with 4242424242424242"}}}`, []string{"$.data.object.description: a card number (16 digits ending 4242)"}},
		{"a PAN in groups", `{"note":"card 4000-0566-5566-5556 used"}`, []string{"$.note: a card number"}},
		{"a PAN as a number", `{"n":378282246310005}`, []string{"$.n: a card number (15 digits ending 0005)"}},
		{"a cvc key", `{"payment_method":{"card":{"cvc":"123"}}}`, []string{"$.payment_method.card.cvc: a card verification code key"}},
		{"a CVV key anywhere", `{"x":[{"CVV":"1"}]}`, []string{"$.x[0].CVV: a card verification code key"}},
		{"a number under card", `{"source":{"card":{"number":"x","last4":"4242"}}}`, []string{"$.source.card.number: a card number key in a card object"}},
		{"a number in a card object", `{"object":"card","number":"x"}`, []string{"$.number: a card number key in a card object"}},
		{"a PAN in text", `not json 5555555555554444 here`, []string{"text: a card number (16 digits ending 4444)"}},
		// What Stripe does send, and other digits, are no card data.
		{"last4, brand, checks", `{"card":{"brand":"visa","last4":"4242","exp_month":12,"exp_year":2030,"cvc_check":"pass","fingerprint":"Xt5EWLLDS7FJjR1c"}}`, nil},
		{"a number outside a card", `{"invoice":{"number":"A1B2C3-0001"},"phone":{"number":"+1 555 0100"}}`, nil},
		{"ids and timestamps", `{"id":"pi_4242424242424242","created":1735689600,"amount":4900,"ref":"4242424242424242x"}`, nil},
		{"not Luhn-valid", `{"n":"4242424242424241"}`, nil},
		{"too short or too long", `{"a":"424242424242","b":"42424242424242424242"}`, nil},
		{"empty", ``, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CardData([]byte(tt.payload))
			if len(got) != len(tt.want) {
				t.Fatalf("CardData = %q, want %d finding(s) %q", got, len(tt.want), tt.want)
			}
			for _, w := range tt.want {
				found := false
				for _, g := range got {
					found = found || strings.Contains(g, w)
				}
				if !found {
					t.Errorf("CardData = %q, want one with %q", got, w)
				}
			}
			for _, g := range got {
				if strings.Contains(g, "4242424242424242") || strings.Contains(g, "5555555555554444") {
					t.Errorf("a finding shows the card number: %q", g)
				}
			}
		})
	}
}
