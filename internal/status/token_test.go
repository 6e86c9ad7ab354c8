package status

import (
	"bytes"
	"crypto/aes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestTokens(t *testing.T) {
	key := []byte("token-test-key-0123456789abcdef")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	good := NewToken(key, 42, 720*time.Hour, now)
	cust := NewCustomerToken(key, 42, "cus_Buyer123", 720*time.Hour, now)
	flip := func(tok string, i int) string {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	reencode := func(tok string, mut func(b []byte) []byte) string {
		b, _ := base64.RawURLEncoding.DecodeString(tok)
		return base64.RawURLEncoding.EncodeToString(mut(b))
	}
	cases := []struct {
		name     string
		key      []byte
		token    string
		at       time.Time
		want     int64
		customer string
		wantErr  error
	}{
		{"valid", key, good, now, 42, "", nil},
		{"valid customer link", key, cust, now, 42, "cus_Buyer123", nil},
		{"valid until the last second", key, good, now.Add(720*time.Hour - time.Second), 42, "", nil},
		{"expired at the instant", key, good, now.Add(720 * time.Hour), 0, "", ErrExpiredToken},
		{"expired long ago", key, good, now.AddDate(2, 0, 0), 0, "", ErrExpiredToken},
		{"another key", []byte("another-key-0123456789abcdef"), good, now, 0, "", ErrBadToken},
		{"empty key", nil, good, now, 0, "", ErrBadToken},
		{"first character changed", key, flip(good, 0), now, 0, "", ErrBadToken},
		{"ciphertext changed", key, reencode(good, func(b []byte) []byte { b[20] ^= 1; return b }), now, 0, "", ErrBadToken},
		{"iv changed", key, reencode(good, func(b []byte) []byte { b[3] ^= 0x80; return b }), now, 0, "", ErrBadToken},
		{"customer cut off", key, reencode(cust, func(b []byte) []byte { return b[:len(b)-3] }), now, 0, "", ErrBadToken},
		{"customer scope stripped to a person scope", key, reencode(cust, func(b []byte) []byte { return b[:tokenIV+tokenFixed] }), now, 0, "", ErrBadToken},
		{"truncated", key, good[:len(good)-1], now, 0, "", ErrBadToken},
		{"extended", key, good + "A", now, 0, "", ErrBadToken},
		{"padded", key, good[:len(good)-1] + "=", now, 0, "", ErrBadToken},
		{"empty", key, "", now, 0, "", ErrBadToken},
		{"huge", key, strings.Repeat("A", 1<<16), now, 0, "", ErrBadToken},
		{"not base64", key, strings.Repeat("!", len(good)), now, 0, "", ErrBadToken},
		{"person zero", key, NewToken(key, 0, time.Hour, now), now, 0, "", ErrBadToken},
		{"negative person", key, NewToken(key, -5, time.Hour, now), now, 0, "", ErrBadToken},
		{"customer id too long", key, NewCustomerToken(key, 5, "cus_"+strings.Repeat("x", 300), time.Hour, now), now, 0, "", ErrBadToken},
		{"not a customer id", key, NewCustomerToken(key, 5, "sub_123", time.Hour, now), now, 0, "", ErrBadToken},
		{"largest person", key, NewToken(key, 1<<63-1, time.Hour, now), now, 1<<63 - 1, "", nil},
		{"version 1 token", key, v1Token(key, 42, now.Add(time.Hour)), now, 0, "", ErrBadToken},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseLink(c.key, c.token, c.at)
			if !errors.Is(err, c.wantErr) || got.PersonID != c.want || got.CustomerID != c.customer {
				t.Errorf("ParseLink = %+v, %v; want person %d customer %q, %v", got, err, c.want, c.customer, c.wantErr)
			}
		})
	}
}

// v1Token builds a token the way version 1 did (AES block + truncated HMAC, keys derived with the
// v1 labels): such links named a person to whoever opened the welcome page, and are refused now.
func v1Token(key []byte, pid int64, exp time.Time) string {
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	var plain [aes.BlockSize]byte
	binary.BigEndian.PutUint64(plain[0:8], uint64(pid))
	plain[0] = 1
	binary.BigEndian.PutUint64(plain[8:16], uint64(exp.Unix()))
	block, _ := aes.NewCipher(derive("membersync status link v1 encryption"))
	b := make([]byte, aes.BlockSize)
	block.Encrypt(b, plain[:])
	m := hmac.New(sha256.New, derive("membersync status link v1 mac"))
	m.Write(b)
	return base64.RawURLEncoding.EncodeToString(append(b, m.Sum(nil)[:16]...))
}

func TestTokenShape(t *testing.T) {
	key := []byte("token-test-key-0123456789abcdef")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for _, pid := range []int64{1, 2, 99, 1 << 40} {
		for _, ttl := range []time.Duration{time.Minute, 720 * time.Hour} {
			for _, cus := range []string{"", "cus_SecretCustomer1"} {
				tok := NewCustomerToken(key, pid, cus, ttl, now)
				if len(tok) > maxTokenLen {
					t.Errorf("token for %d/%s has %d characters, more than %d", pid, ttl, len(tok), maxTokenLen)
				}
				if strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
					t.Errorf("token %q is not URL-safe", tok)
				}
				b, _ := base64.RawURLEncoding.DecodeString(tok)
				var clear [8]byte
				binary.BigEndian.PutUint64(clear[:], uint64(pid))
				if bytes.Contains(b, clear[2:]) || (cus != "" && bytes.Contains(b, []byte("Secret"))) {
					t.Errorf("token %q shows person %d or its customer in clear", tok, pid)
				}
				if seen[tok] {
					t.Errorf("token %q repeats", tok)
				}
				seen[tok] = true
				if got, err := ParseLink(key, tok, now); err != nil || got.PersonID != pid || got.CustomerID != cus {
					t.Errorf("round trip of %d/%s/%q = %+v, %v", pid, ttl, cus, got, err)
				}
				if again := NewCustomerToken(key, pid, cus, ttl, now); again != tok {
					t.Errorf("the same link twice gave two tokens: %q, %q", tok, again)
				}
			}
		}
	}
}

// TestTokenEveryCharacterMatters changes each character of a token in turn: none of the changes
// may still name a person.
func TestTokenEveryCharacterMatters(t *testing.T) {
	key := []byte("token-test-key-0123456789abcdef")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tok := range []string{NewToken(key, 7, time.Hour, now), NewCustomerToken(key, 7, "cus_A1", time.Hour, now)} {
		for i := range len(tok) { // strict decoding: even the last character's padding bits count
			for _, c := range []byte{'A', 'z', '-', '_', '0'} {
				if tok[i] == c {
					continue
				}
				b := []byte(tok)
				b[i] = c
				if l, err := ParseLink(key, string(b), now); err == nil {
					t.Fatalf("token with character %d changed to %q was accepted (%+v)", i, c, l)
				}
			}
		}
	}
}

func FuzzParseLink(f *testing.F) {
	key := []byte("token-test-key-0123456789abcdef")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Add(NewToken(key, 7, time.Hour, now))
	f.Add(NewCustomerToken(key, 7, "cus_A1", time.Hour, now))
	f.Fuzz(func(t *testing.T, tok string) {
		if l, err := ParseLink(key, tok, now); err == nil && l.PersonID <= 0 {
			t.Fatalf("accepted %q naming person %d", tok, l.PersonID)
		}
	})
}
