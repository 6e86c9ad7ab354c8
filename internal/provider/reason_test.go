package provider

import (
	"errors"
	"fmt"
	"testing"
)

func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, ""},
		{fmt.Errorf("listing group 11: %w", &Error{Provider: "circle", Operation: "list_members", Status: 401, Kind: Config, Message: "Unauthorized"}),
			"Circle said 401 (list_members): Unauthorized"},
		{&Error{Provider: "kit", Operation: "list_tag_subscribers", Kind: Transient, Err: errors.New("dial tcp: refused")},
			"Kit did not answer (list_tag_subscribers): transient"},
		{errors.New("reading https://x/?email=a@b.c failed"), "reading https://x/"},
	} {
		if got := Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
