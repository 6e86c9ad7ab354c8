package status

import (
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"time"
)

// A status-link token is base64url (no padding) of 32 bytes: one AES-256 block holding a version
// byte, the person id (7 bytes) and the expiry (unix seconds, 8 bytes), then the first 16 bytes of
// HMAC-SHA256 over that block (encrypt-then-MAC). Both keys are derived from
// MEMBERSYNC_SIGNING_KEY for this use only. The encryption keeps internal ids and the number of
// customers out of URLs; the MAC makes the token unforgeable.
const (
	tokenVersion = 1
	tokenMAC     = 16
	tokenLen     = 43 // base64url of aes.BlockSize+tokenMAC bytes
	maxPersonID  = 1<<56 - 1
)

// Token errors. Callers show both the same way: an expired link reveals no more than a forged one.
var (
	ErrBadToken     = errors.New("status link token is malformed or its signature does not match")
	ErrExpiredToken = errors.New("status link token has expired")
)

// NewToken returns a URL-safe token naming personID until now+ttl, signed with key (the
// MEMBERSYNC_SIGNING_KEY); it is the last segment of a /status/ link. key must not be empty.
func NewToken(key []byte, personID int64, ttl time.Duration, now time.Time) string {
	var plain [aes.BlockSize]byte
	binary.BigEndian.PutUint64(plain[0:8], uint64(personID)&maxPersonID)
	plain[0] = tokenVersion
	binary.BigEndian.PutUint64(plain[8:16], uint64(now.Add(ttl).Unix()))
	if personID <= 0 || personID > maxPersonID {
		plain[0] = 0 // never valid
	}
	encKey, macKey := tokenKeys(key)
	block, _ := aes.NewCipher(encKey) // a 32-byte key never fails
	b := make([]byte, aes.BlockSize, aes.BlockSize+tokenMAC)
	block.Encrypt(b, plain[:])
	b = append(b, tokenSum(macKey, b)...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseToken checks a token's MAC (in constant time) and expiry and returns the person it names.
// An empty key accepts no token.
func ParseToken(key []byte, token string, now time.Time) (personID int64, err error) {
	if len(key) == 0 || len(token) != tokenLen {
		return 0, ErrBadToken
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(b) != aes.BlockSize+tokenMAC {
		return 0, ErrBadToken
	}
	encKey, macKey := tokenKeys(key)
	if !hmac.Equal(b[aes.BlockSize:], tokenSum(macKey, b[:aes.BlockSize])) {
		return 0, ErrBadToken
	}
	block, _ := aes.NewCipher(encKey)
	var plain [aes.BlockSize]byte
	block.Decrypt(plain[:], b[:aes.BlockSize])
	if plain[0] != tokenVersion {
		return 0, ErrBadToken
	}
	pid := binary.BigEndian.Uint64(plain[0:8]) & maxPersonID
	exp := binary.BigEndian.Uint64(plain[8:16])
	if pid == 0 {
		return 0, ErrBadToken
	}
	if exp > 1<<62 || now.Unix() >= int64(exp) {
		return 0, ErrExpiredToken
	}
	return int64(pid), nil
}

// tokenKeys derives the encryption and MAC keys from the signing key, so that its other uses (email
// hashes in logs) never produce a valid token.
func tokenKeys(key []byte) (encKey, macKey []byte) {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return derive("membersync status link v1 encryption"), derive("membersync status link v1 mac")
}

// tokenSum is the truncated MAC of the encrypted block.
func tokenSum(macKey, block []byte) []byte {
	m := hmac.New(sha256.New, macKey)
	m.Write(block)
	return m.Sum(nil)[:tokenMAC]
}
