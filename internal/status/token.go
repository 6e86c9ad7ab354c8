package status

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"time"
)

// A status-link token names a person, what of theirs it shows (its scope) and its expiry. The scope
// is either one Stripe customer — the link the welcome page hands the buyer of a checkout, which
// shows and changes only what that customer bought — or every customer of the person, which is
// issued only through a channel that proves the email (the operator's status-link command, or a
// link mailed to the address): an email typed at Checkout is not proof of identity (DESIGN.md,
// Trust boundaries).
//
// The token is base64url (no padding) of a synthetic IV (the first 16 bytes of HMAC-SHA256 over
// the plaintext) followed by the plaintext encrypted with AES-256-CTR under that IV: a
// deterministic authenticated encryption in the manner of SIV, so that a link stays the same while
// a page polls, the customer id and person id stay out of URLs, and a changed bit fails the MAC.
// The plaintext is a version byte, a scope byte, the person id and the expiry (8 bytes each), then
// for a customer scope the customer id. Both keys are derived from MEMBERSYNC_SIGNING_KEY for this
// use only. Version 1 tokens (which named a person whoever asked) are no longer accepted.
const (
	tokenVersion  = 2
	scopePerson   = 'p'
	scopeCustomer = 'c'
	tokenIV       = 16
	tokenFixed    = 1 + 1 + 8 + 8
	maxCustomerID = 255
	// maxTokenLen bounds what is decoded at all: base64 of the largest token.
	maxTokenLen = (tokenIV+tokenFixed+maxCustomerID)*4/3 + 4
)

// Token errors. Callers show both the same way: an expired link reveals no more than a forged one.
var (
	ErrBadToken     = errors.New("status link token is malformed or its signature does not match")
	ErrExpiredToken = errors.New("status link token has expired")
)

// Link is what a valid token grants.
type Link struct {
	PersonID int64
	// CustomerID is the one Stripe customer the link shows; "" means every customer of the person
	// (a link issued through a channel that proves the email).
	CustomerID string
	Expires    time.Time
}

// NewToken returns a URL-safe token for every customer of personID until now+ttl, signed with key
// (the MEMBERSYNC_SIGNING_KEY); it is the last segment of a /status/ link. Issue it only where the
// email is proven: to the operator, or mailed to the address. key must not be empty.
func NewToken(key []byte, personID int64, ttl time.Duration, now time.Time) string {
	return newToken(key, Link{PersonID: personID, Expires: now.Add(ttl)})
}

// NewCustomerToken returns a token that shows only what the Stripe customer customerID bought, of
// personID's memberships, until now+ttl.
func NewCustomerToken(key []byte, personID int64, customerID string, ttl time.Duration, now time.Time) string {
	return newToken(key, Link{PersonID: personID, CustomerID: customerID, Expires: now.Add(ttl)})
}

func newToken(key []byte, l Link) string {
	plain := make([]byte, tokenFixed, tokenFixed+len(l.CustomerID))
	plain[0], plain[1] = tokenVersion, scopePerson
	if l.CustomerID != "" {
		plain[1] = scopeCustomer
		plain = append(plain, l.CustomerID...)
	}
	binary.BigEndian.PutUint64(plain[2:10], uint64(l.PersonID))
	binary.BigEndian.PutUint64(plain[10:18], uint64(l.Expires.Unix()))
	if l.PersonID <= 0 || len(l.CustomerID) > maxCustomerID {
		plain[0] = 0 // never valid
	}
	encKey, macKey := tokenKeys(key)
	iv := tokenSum(macKey, plain)
	out := make([]byte, tokenIV+len(plain))
	copy(out, iv)
	block, _ := aes.NewCipher(encKey) // a 32-byte key never fails
	cipher.NewCTR(block, iv).XORKeyStream(out[tokenIV:], plain)
	return base64.RawURLEncoding.EncodeToString(out)
}

// ParseLink checks a token's MAC (in constant time) and expiry and returns what it grants. An empty
// key accepts no token.
func ParseLink(key []byte, token string, now time.Time) (Link, error) {
	if len(key) == 0 || len(token) > maxTokenLen {
		return Link{}, ErrBadToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) < tokenIV+tokenFixed {
		return Link{}, ErrBadToken
	}
	encKey, macKey := tokenKeys(key)
	iv, plain := b[:tokenIV], make([]byte, len(b)-tokenIV)
	block, _ := aes.NewCipher(encKey)
	cipher.NewCTR(block, iv).XORKeyStream(plain, b[tokenIV:])
	if !hmac.Equal(iv, tokenSum(macKey, plain)) || plain[0] != tokenVersion {
		return Link{}, ErrBadToken
	}
	l := Link{PersonID: int64(binary.BigEndian.Uint64(plain[2:10]))}
	exp := binary.BigEndian.Uint64(plain[10:18])
	switch {
	case plain[1] == scopePerson && len(plain) == tokenFixed:
	case plain[1] == scopeCustomer && len(plain) > tokenFixed && strings.HasPrefix(string(plain[tokenFixed:]), "cus_"):
		l.CustomerID = string(plain[tokenFixed:])
	default:
		return Link{}, ErrBadToken
	}
	if l.PersonID <= 0 {
		return Link{}, ErrBadToken
	}
	if exp > 1<<62 || now.Unix() >= int64(exp) {
		return Link{}, ErrExpiredToken
	}
	l.Expires = time.Unix(int64(exp), 0).UTC()
	return l, nil
}

// ParseToken is ParseLink for callers that need only the person.
func ParseToken(key []byte, token string, now time.Time) (personID int64, err error) {
	l, err := ParseLink(key, token, now)
	return l.PersonID, err
}

// tokenKeys derives the encryption and MAC keys from the signing key, so that its other uses (email
// hashes in logs, older token versions) never produce a valid token.
func tokenKeys(key []byte) (encKey, macKey []byte) {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return derive("membersync status link v2 encryption"), derive("membersync status link v2 mac")
}

// tokenSum is the synthetic IV: the truncated MAC of the plaintext.
func tokenSum(macKey, plain []byte) []byte {
	m := hmac.New(sha256.New, macKey)
	m.Write(plain)
	return m.Sum(nil)[:tokenIV]
}
