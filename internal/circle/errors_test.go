package circle

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseError(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 400)
	tests := []struct {
		name, body       string
		message, details string
		missing          string
		already          bool
	}{
		{
			name:    "404 with object details",
			body:    `{"success":false,"message":"Oops! Missing record. Please try again later.","error_details":{"message":"Missing record: access group community member"}}`,
			message: "Oops! Missing record. Please try again later.", details: "Missing record: access group community member",
			missing: "access group community member",
		},
		{
			name:    "string details",
			body:    `{"success":false,"message":"Oops!","error_details":"Missing record: Access Group."}`,
			message: "Oops!", details: "Missing record: Access Group.", missing: "access group",
		},
		{
			name:    "null details",
			body:    `{"success":false,"message":"The API token is invalid.","error_details":null}`,
			message: "The API token is invalid.",
		},
		{
			name:    "array details",
			body:    `{"success":false,"message":"Validation failed","error_details":["Email is invalid", "", {"message":"Name is blank"}, 3]}`,
			message: "Validation failed", details: "Email is invalid; Name is blank; 3",
		},
		{
			name:    "object details without message",
			body:    `{"success":false,"message":"Validation failed","error_details":{"password":["is too short"],"email":["is invalid","is taken"],"x":null}}`,
			message: "Validation failed", details: "email: is invalid; is taken; password: is too short",
		},
		{
			name:    "errors key instead of message",
			body:    `{"success":false,"errors":"Daily member limit exceeded."}`,
			message: "Daily member limit exceeded.",
		},
		{
			name:    "errors array",
			body:    `{"errors":["Member limit reached","Upgrade your plan"]}`,
			message: "Member limit reached; Upgrade your plan",
		},
		{
			name:    "error key",
			body:    `{"error":"Not authorized"}`,
			message: "Not authorized",
		},
		{
			name:    "already a member",
			body:    `{"success":false,"message":"Community member is ALREADY a member of this access group.","error_details":null}`,
			message: "Community member is ALREADY a member of this access group.", already: true,
		},
		{
			name:    "already in details only",
			body:    `{"success":false,"message":"Unprocessable","error_details":{"base":["has already been added"]}}`,
			message: "Unprocessable", details: "base: has already been added", already: true,
		},
		{
			name:    "message that is not a string",
			body:    `{"message":{"text":"odd"},"error_details":true}`,
			message: "text: odd", details: "true",
		},
		{
			name:    "numbers keep their digits",
			body:    `{"message":"x","error_details":{"id":12345678901234}}`,
			message: "x", details: "id: 12345678901234",
		},
		{
			name:    "deep nesting is cut",
			body:    `{"message":"x","error_details":[[[[[["too deep"]]]]]]}`,
			message: "x",
		},
		{
			name:    "whitespace collapsed",
			body:    "{\"message\":\"  two\\n lines \"}",
			message: "two lines",
		},
		{
			name:    "html page",
			body:    "<html>\n  <body>Bad Gateway</body>\n</html>",
			message: "<html> <body>Bad Gateway</body> </html>",
		},
		{name: "empty body"},
		{name: "JSON null", body: "null", message: "null"},
		{name: "JSON array", body: `["a"]`, message: `["a"]`},
		{name: "empty object", body: `{}`},
		{
			name:    "long message clipped on a rune boundary",
			body:    `{"message":"` + long + `"}`,
			message: long[:maxErrorText] + "…",
		},
		{name: "invalid UTF-8", body: "\xff\xfeoops", message: "\uFFFDoops"},
		{name: "missing record in message", body: `{"message":"Missing record: user"}`, message: "Missing record: user", missing: "user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseError([]byte(tt.body))
			if e.Message != tt.message || e.Details != tt.details {
				t.Errorf("parseError = {%q, %q}, want {%q, %q}", e.Message, e.Details, tt.message, tt.details)
			}
			if got := e.missingRecord(); got != tt.missing {
				t.Errorf("missingRecord = %q, want %q", got, tt.missing)
			}
			if got := e.saysAlready(); got != tt.already {
				t.Errorf("saysAlready = %v, want %v", got, tt.already)
			}
		})
	}
}

func TestAPIErrorString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		e    apiError
		want string
	}{
		{apiError{}, ""},
		{apiError{Message: "m"}, "m"},
		{apiError{Details: "d"}, "d"},
		{apiError{Message: "m", Details: "m"}, "m"},
		{apiError{Message: "Oops!", Details: "Missing record: user"}, "Oops! (Missing record: user)"},
	}
	for _, tt := range tests {
		if got := tt.e.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestMemberMissing(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"Missing record: access group community member": true,
		"Missing record: community member":              true,
		"Missing record: user":                          true,
		"Missing record: access group":                  false,
		"Missing record: space":                         false,
		"Not Found":                                     false,
		"":                                              false,
	}
	for details, want := range tests {
		if got := memberMissing(apiError{Details: details}); got != want {
			t.Errorf("memberMissing(%q) = %v, want %v", details, got, want)
		}
	}
}

// FuzzParseError checks that any answer parses into bounded, valid UTF-8 text.
func FuzzParseError(f *testing.F) {
	for _, seed := range []string{
		``, `{}`, `null`, `[]`, `"x"`, `{"message":null}`,
		`{"success":false,"message":"m","error_details":{"message":"Missing record: user"}}`,
		`{"message":"m","error_details":[1,{"a":[{"b":{"c":"d"}}]}]}`,
		`{"errors":{"email":["is invalid"]}}`,
		"{\"message\":\"\xff\"}", "<html>\x00</html>",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e := parseError(body)
		s := e.String()
		if !utf8.ValidString(s) {
			t.Errorf("parseError(%q) gave invalid UTF-8 %q", body, s)
		}
		if limit := 2*(maxErrorText+len("…")) + len(" ()"); len(s) > limit {
			t.Errorf("parseError(%q) gave %d bytes, more than %d", body, len(s), limit)
		}
		_ = e.missingRecord()
	})
}
