// Package identity owns how one person is recognised across Stripe, Circle and Kit: the normalized email.
package identity

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail returns the canonical form of an email address: trimmed, Unicode NFC, lowercased.
// Dots and +tags are kept: "A.B+x@Example.com " and "a.b+x@example.com" are one person, "ab@…" another.
func NormalizeEmail(email string) string {
	return strings.ToLower(norm.NFC.String(strings.TrimSpace(email)))
}

// Hash returns a short keyed hash of the normalized email, for logs: the same person gives the same
// hash (so a journey can be followed with grep) and the email cannot be read back.
func Hash(key []byte, email string) string {
	if email == "" {
		return ""
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(NormalizeEmail(email)))
	return "p_" + hex.EncodeToString(m.Sum(nil)[:8])
}
