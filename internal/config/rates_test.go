package config

import (
	"strings"
	"testing"
)

// TestRatesAboveTheLimitOnlyToLoopback: a request rate above Stripe's or Kit's documented limit is
// refused, unless the provider's base_url is a loopback host (a fake whose limits a benchmark scales
// by the same factor); a negative rate is refused everywhere.
func TestRatesAboveTheLimitOnlyToLoopback(t *testing.T) {
	t.Parallel()
	base := `
plans:
  - id: pro
    stripe: {prices: [price_1]}
    circle: {access_groups: [1]}
`
	tests := []struct {
		name    string
		yaml    string
		problem string // a substring of the one problem wanted; empty means the config is valid
	}{
		{"kit at its limit", "kit: {requests_per_minute: 120}", ""},
		{"kit above its limit", "kit: {requests_per_minute: 600}", "kit.requests_per_minute: 600 is outside 1..120"},
		{"kit above its limit over https", "kit: {base_url: \"https://api.kit.com\", requests_per_minute: 600}", "only when kit.base_url is a loopback host"},
		{"kit above its limit to a fake on 127.0.0.1", "kit: {base_url: \"http://127.0.0.1:4010\", requests_per_minute: 600}", ""},
		{"kit above its limit to a fake on localhost", "kit: {base_url: \"http://localhost:4010\", requests_per_minute: 600}", ""},
		{"kit above its limit to a fake on ::1", "kit: {base_url: \"http://[::1]:4010\", requests_per_minute: 600}", ""},
		{"kit above its limit to a host named like loopback", "kit: {base_url: \"https://127.0.0.1.example.com\", requests_per_minute: 600}", "kit.requests_per_minute: 600"},
		{"kit negative to a fake", "kit: {base_url: \"http://127.0.0.1:4010\", requests_per_minute: -1}", "kit.requests_per_minute: -1"},
		{"stripe above its limit", "stripe: {requests_per_minute: 30000}", "only when stripe.base_url is a loopback host"},
		{"stripe above its limit to a fake", "stripe: {base_url: \"http://127.0.0.1:4011\", requests_per_minute: 30000}", ""},
		{"stripe negative to a fake", "stripe: {base_url: \"http://127.0.0.1:4011\", requests_per_minute: -5}", "stripe.requests_per_minute: -5"},
		{"circle negative to a fake", "circle: {base_url: \"http://127.0.0.1:4012\", requests_per_minute: -5}", "circle.requests_per_minute: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(base+tt.yaml+"\n"), env(nil))
			switch {
			case tt.problem == "" && err != nil:
				t.Fatalf("got %v, want a valid config", err)
			case tt.problem != "" && err == nil:
				t.Fatalf("got no error, want %q", tt.problem)
			case tt.problem != "" && !strings.Contains(err.Error(), tt.problem):
				t.Fatalf("error %q\ndoes not contain %q", err, tt.problem)
			}
		})
	}
}
