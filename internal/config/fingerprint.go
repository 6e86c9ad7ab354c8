package config

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
)

// fingerprintLabel separates the fingerprint key from every other use of MEMBERSYNC_SIGNING_KEY
// (status links, log hashes); "v1" names the scheme, so that a later one cannot be confused with it.
const fingerprintLabel = "membersync-fingerprint-v1"

// Fingerprint identifies one configured secret without revealing it, so that an operator can tell
// which key a machine has loaded (after a rotation, or to compare two machines) from `membersync
// check`, the admin settings page and serve's start-up log line.
//
// The scheme, version 1: with K = HMAC-SHA256(key "membersync-fingerprint-v1", message
// MEMBERSYNC_SIGNING_KEY), a secret's fingerprint is the first 8 hex digits of
// HMAC-SHA256(key K, message NAME 0x00 VALUE), NAME being the environment variable. Two machines
// that share the signing key show the same fingerprint for the same secret, and a different one as
// soon as the secret differs. The fingerprint is keyed, so it cannot be used to test guesses of a
// weak secret (an SMTP password) without the signing key, and it is never a part of the secret.
// The signing key's own fingerprint is the same HMAC under the fixed key
// "membersync-fingerprint-v1/signing-key" instead of K (a key derived from itself would add
// nothing); that is safe because a signing key is 32 or more random characters, beyond guessing, and
// it is computed only for a key of that length. Without a signing key no other fingerprint is
// computed.
type Fingerprint struct {
	// Env is the environment variable.
	Env string
	// Set reports whether it holds a value.
	Set bool
	// Prints are the fingerprints, one per value (STRIPE_WEBHOOK_SECRET holds two during a rotation);
	// empty when the secret is not set or cannot be fingerprinted.
	Prints []string
	// Detail qualifies the value without revealing it: "test mode", "no password", "rotation"…
	Detail string
	// Why says why a set secret has no fingerprint.
	Why string
}

// String words f for people: "not set", "set (test mode), fingerprint 1a2b3c4d",
// "2 set (rotation), fingerprints 1a2b3c4d, 5e6f7a8b", "set (no fingerprint: …)".
func (f Fingerprint) String() string {
	if !f.Set {
		return "not set"
	}
	s := "set"
	if len(f.Prints) > 1 {
		s = fmt.Sprintf("%d set", len(f.Prints))
	}
	if f.Detail != "" {
		s += " (" + f.Detail + ")"
	}
	switch {
	case len(f.Prints) == 1:
		s += ", fingerprint " + f.Prints[0]
	case len(f.Prints) > 1:
		s += ", fingerprints " + strings.Join(f.Prints, ", ")
	case f.Why != "":
		s += " (no fingerprint: " + f.Why + ")"
	}
	return s
}

// Short is f for a log attribute: the fingerprints separated by commas, or "not set", or "set".
func (f Fingerprint) Short() string {
	switch {
	case !f.Set:
		return "not set"
	case len(f.Prints) == 0:
		return "set"
	}
	return strings.Join(f.Prints, ",")
}

// Fingerprints returns the fingerprint of every secret membersync reads, in a fixed order:
// STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, CIRCLE_API_TOKEN, KIT_API_KEY, MEMBERSYNC_SIGNING_KEY,
// MEMBERSYNC_METRICS_TOKEN, the alert notifiers' secrets, and the password of
// MEMBERSYNC_DATABASE_URL. Never a value, never a part of one.
func (s Secrets) Fingerprints() []Fingerprint {
	var key []byte
	if s.SigningKey != "" {
		m := hmac.New(sha256.New, []byte(fingerprintLabel))
		m.Write([]byte(s.SigningKey))
		key = m.Sum(nil)
	}
	one := func(env string, values ...string) Fingerprint {
		f := Fingerprint{Env: env}
		for _, v := range values {
			if v == "" {
				continue
			}
			f.Set = true
			if key == nil {
				f.Why = EnvSigningKey + " is not set"
				continue
			}
			f.Prints = append(f.Prints, fingerprint(key, env, v))
		}
		return f
	}
	stripe := one(EnvStripeSecretKey, s.StripeSecretKey)
	if m := s.StripeMode(); m != "" {
		stripe.Detail = m + " mode"
	}
	webhook := one(EnvStripeWebhookSecret, s.StripeWebhookSecrets...)
	if len(s.StripeWebhookSecrets) > 1 {
		webhook.Detail = "rotation"
	}
	signing := Fingerprint{Env: EnvSigningKey, Set: s.SigningKey != ""}
	if len([]rune(s.SigningKey)) >= MinSigningKeyLen {
		signing.Prints = []string{fingerprint([]byte(fingerprintLabel+"/signing-key"), EnvSigningKey, s.SigningKey)}
	} else if signing.Set {
		signing.Why = "shorter than 32 characters"
	}
	db := one(EnvDatabaseURL, databasePassword(s.DatabaseURL))
	if s.DatabaseURL != "" && !db.Set {
		db = Fingerprint{Env: EnvDatabaseURL, Set: true, Detail: "no password"}
	}
	return append([]Fingerprint{
		stripe, webhook,
		one(EnvCircleAPIToken, s.CircleAPIToken),
		one(EnvKitAPIKey, s.KitAPIKey),
		one(EnvKitOAuthToken, s.KitOAuthToken),
		signing,
		one(EnvMetricsToken, s.MetricsToken),
		one(EnvSlackWebhookURL, s.Alerts.SlackWebhookURL),
		one(EnvAlertWebhookSecret, s.Alerts.WebhookSecret),
		one(EnvSMTPPassword, s.Alerts.SMTPPassword),
		db,
	}, s.Support.fingerprints(one)...)
}

// fingerprint is the first 8 hex digits of HMAC-SHA256(key, name 0x00 value).
func fingerprint(key []byte, name, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))[:8]
}

// databasePassword returns the password a database URL carries, in its user info or in a password
// parameter, or "".
func databasePassword(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return ""
	}
	if u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			return pw
		}
	}
	q := u.Query()
	for name := range q {
		if strings.EqualFold(name, "password") {
			return q.Get(name)
		}
	}
	return ""
}

// FingerprintOf returns the fingerprint of the secret that env names (its first value), or "" when
// it is not set or cannot be fingerprinted. Instances that share MEMBERSYNC_SIGNING_KEY agree on it,
// so it names a credential across instances (the provider budgets' keys) without revealing it.
func (s Secrets) FingerprintOf(env string) string {
	for _, f := range s.Fingerprints() {
		if f.Env == env && len(f.Prints) > 0 {
			return f.Prints[0]
		}
	}
	return ""
}
