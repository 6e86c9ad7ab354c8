package provider

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	transport := &url.Error{Op: "Get", URL: "https://api.kit.com/v4/subscribers?email_address=a@example.com", Err: errors.New("connection refused")}
	tests := []struct {
		name          string
		err           error
		call, message string
		full          string // Error() of the *Error, when err is one
	}{
		{name: "nil"},
		{
			name: "status and message",
			err:  &Error{Provider: "circle", Operation: "add_access_group", Status: 401, Kind: Config, Message: "Unauthorized"},
			call: "circle add_access_group", message: "config (HTTP 401): Unauthorized",
			full: "circle add_access_group: config (HTTP 401): Unauthorized",
		},
		{
			name: "transport error left out",
			err:  fmt.Errorf("syncing: %w", &Error{Provider: "kit", Operation: "find_subscriber", Kind: Transient, Err: transport}),
			call: "kit find_subscriber", message: "transient",
			full: "kit find_subscriber: transient: " + transport.Error(),
		},
		{
			name:    "other error cut before the query",
			err:     fmt.Errorf("reading: %w", transport),
			message: `reading: Get "https://api.kit.com/v4/subscribers`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			call, message := Explain(tt.err)
			if call != tt.call || message != tt.message {
				t.Errorf("Explain = %q, %q; want %q, %q", call, message, tt.call, tt.message)
			}
			var pe *Error
			if errors.As(tt.err, &pe) && pe.Error() != tt.full {
				t.Errorf("Error() = %q, want %q", pe.Error(), tt.full)
			}
		})
	}
}
