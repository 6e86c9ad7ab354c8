package status

import (
	"bytes"
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
	flip := func(tok string, i int) string {
		b := []byte(tok)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	reencode := func(mut func(b []byte)) string {
		b, _ := base64.RawURLEncoding.DecodeString(good)
		mut(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	cases := []struct {
		name    string
		key     []byte
		token   string
		at      time.Time
		want    int64
		wantErr error
	}{
		{"valid", key, good, now, 42, nil},
		{"valid until the last second", key, good, now.Add(720*time.Hour - time.Second), 42, nil},
		{"expired at the instant", key, good, now.Add(720 * time.Hour), 0, ErrExpiredToken},
		{"expired long ago", key, good, now.AddDate(2, 0, 0), 0, ErrExpiredToken},
		{"another key", []byte("another-key-0123456789abcdef"), good, now, 0, ErrBadToken},
		{"empty key", nil, good, now, 0, ErrBadToken},
		{"first character changed", key, flip(good, 0), now, 0, ErrBadToken},
		{"encrypted block changed", key, reencode(func(b []byte) { b[8] ^= 1 }), now, 0, ErrBadToken},
		{"signature changed", key, reencode(func(b []byte) { b[31] ^= 0x80 }), now, 0, ErrBadToken},
		{"blocks swapped", key, reencode(func(b []byte) { copy(b, append(b[16:32:32], b[:16]...)) }), now, 0, ErrBadToken},
		{"truncated", key, good[:len(good)-1], now, 0, ErrBadToken},
		{"extended", key, good + "A", now, 0, ErrBadToken},
		{"padded", key, good[:len(good)-1] + "=", now, 0, ErrBadToken},
		{"empty", key, "", now, 0, ErrBadToken},
		{"not base64", key, strings.Repeat("!", tokenLen), now, 0, ErrBadToken},
		{"person zero", key, NewToken(key, 0, time.Hour, now), now, 0, ErrBadToken},
		{"negative person", key, NewToken(key, -5, time.Hour, now), now, 0, ErrBadToken},
		{"person beyond 56 bits", key, NewToken(key, 1<<56, time.Hour, now), now, 0, ErrBadToken},
		{"largest person", key, NewToken(key, 1<<56-1, time.Hour, now), now, 1<<56 - 1, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseToken(c.key, c.token, c.at)
			if !errors.Is(err, c.wantErr) || got != c.want {
				t.Errorf("ParseToken = %d, %v; want %d, %v", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestTokenShape(t *testing.T) {
	key := []byte("token-test-key-0123456789abcdef")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	for _, pid := range []int64{1, 2, 99, 1 << 40} {
		for _, ttl := range []time.Duration{time.Minute, 720 * time.Hour} {
			tok := NewToken(key, pid, ttl, now)
			if len(tok) != tokenLen {
				t.Errorf("token for %d/%s has %d characters, want %d", pid, ttl, len(tok), tokenLen)
			}
			if strings.Trim(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
				t.Errorf("token %q is not URL-safe", tok)
			}
			b, _ := base64.RawURLEncoding.DecodeString(tok)
			var clear [8]byte
			binary.BigEndian.PutUint64(clear[:], uint64(pid))
			if bytes.Contains(b, clear[1:]) {
				t.Errorf("token %q shows person %d in clear", tok, pid)
			}
			if seen[tok] {
				t.Errorf("token %q repeats", tok)
			}
			seen[tok] = true
			if got, err := ParseToken(key, tok, now); err != nil || got != pid {
				t.Errorf("round trip of %d/%s = %d, %v", pid, ttl, got, err)
			}
		}
	}
}

// TestTokenEveryCharacterMatters changes each character of a token in turn: none of the changes
// may still name a person.
func TestTokenEveryCharacterMatters(t *testing.T) {
	key := []byte("token-test-key-0123456789abcdef")
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tok := NewToken(key, 7, time.Hour, now)
	for i := range len(tok) { // strict decoding: even the last character's padding bits count
		for _, c := range []byte{'A', 'z', '-', '_', '0'} {
			if tok[i] == c {
				continue
			}
			b := []byte(tok)
			b[i] = c
			if pid, err := ParseToken(key, string(b), now); err == nil {
				t.Fatalf("token with character %d changed to %q was accepted (person %d)", i, c, pid)
			}
		}
	}
}
