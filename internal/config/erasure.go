package config

import "crypto/sha256"

// ErasureConfig configures the erasure of a person ("membersync forget", GDPR Art. 17).
type ErasureConfig struct {
	// OnCustomerDeleted erases a person once every Stripe customer of theirs is deleted (a
	// customer.deleted event, reason "customer.deleted in Stripe"), as `forget` would. Off by default:
	// deleting a customer in Stripe is often bookkeeping, not a request to be forgotten.
	OnCustomerDeleted bool `yaml:"on_customer_deleted"`
}

// erasureKeyLabel separates the tombstones' email-hash key from every other use of
// MEMBERSYNC_SIGNING_KEY (status links, log hashes, fingerprints).
const erasureKeyLabel = "membersync-erasure-v1:"

// ErasureKey keys the hash of an erased email in its tombstone (store.EmailHash):
// SHA-256("membersync-erasure-v1:" + MEMBERSYNC_SIGNING_KEY). Rotating the signing key makes old
// tombstones unmatchable by email (they still match by Stripe customer id).
func (s Secrets) ErasureKey() []byte {
	k := sha256.Sum256([]byte(erasureKeyLabel + s.SigningKey))
	return k[:]
}
