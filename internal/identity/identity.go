// Package identity owns how one person is recognised across Stripe, Circle and Kit: the normalized email.
package identity

import (
	"strings"

	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail returns the canonical form of an email address: trimmed, Unicode NFC, lowercased.
// Dots and +tags are kept: "A.B+x@Example.com " and "a.b+x@example.com" are one person, "ab@…" another.
func NormalizeEmail(email string) string {
	return strings.ToLower(norm.NFC.String(strings.TrimSpace(email)))
}
