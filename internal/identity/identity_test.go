package identity

import "testing"

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"  Ada@Example.COM ", "ada@example.com"},
		{"a.b+vip@example.com", "a.b+vip@example.com"}, // dots and +tags are kept
		{"ab@example.com", "ab@example.com"},
		{"Jose\u0301@example.com", "jos\u00e9@example.com"}, // NFD → NFC
		{"JOS\u00c9@EXAMPLE.COM", "jos\u00e9@example.com"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := NormalizeEmail(tt.in); got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if NormalizeEmail("a.b@example.com") == NormalizeEmail("ab@example.com") {
		t.Error("dots must not be removed: they are different mailboxes at most providers")
	}
}

func TestHash(t *testing.T) {
	t.Parallel()
	k1, k2 := []byte("key-one"), []byte("key-two")
	a := Hash(k1, "Ada@Example.com")
	if a != Hash(k1, " ada@example.com") {
		t.Error("the hash must be of the normalized email, so one person greps as one")
	}
	if a == Hash(k2, "ada@example.com") {
		t.Error("the hash must depend on the key")
	}
	if a == Hash(k1, "bob@example.com") || len(a) != 18 || a[:2] != "p_" {
		t.Errorf("unexpected hash %q", a)
	}
	if Hash(k1, "") != "" {
		t.Error("no email, no hash")
	}
}
