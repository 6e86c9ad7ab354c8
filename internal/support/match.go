package support

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/store"
)

// match is who a message is about: the sender's person, and another person an email address or
// Stripe customer id in the message belongs to ("I paid with ana@work.example").
type match struct {
	sender int64 // the sender's person; 0 for none
	other  int64 // another person the message names; 0 for none
	// otherBy is how the message named other: a masked email or a customer id.
	otherBy string
	// found are the addresses and customer ids found in the message that name no one, masked.
	found []string
}

// personID is the person the message is filed under: the sender's, else the one it names.
func (m match) personID() int64 {
	if m.sender != 0 {
		return m.sender
	}
	return m.other
}

// maxMentions bounds the addresses and customer ids looked up per message.
const maxMentions = 5

var (
	emailPattern    = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
	customerPattern = regexp.MustCompile(`\bcus_[A-Za-z0-9]{6,64}\b`)
)

// match finds the sender's person by normalized email, then every email and customer id in text
// (at most maxMentions of each) that belongs to someone else.
func (t *Triage) match(ctx context.Context, from, text string) (match, error) {
	var m match
	if from != "" {
		pid, err := t.Store.PersonIDByAnyEmail(ctx, from)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return m, fmt.Errorf("matching the sender of a support message: %w", err)
		}
		m.sender = pid
	}
	seen := map[string]bool{from: true}
	for _, e := range emailPattern.FindAllString(text, maxMentions*4) {
		e = identity.NormalizeEmail(e)
		if seen[e] || len(seen) > maxMentions {
			continue
		}
		seen[e] = true
		pid, err := t.Store.PersonIDByAnyEmail(ctx, e)
		if errors.Is(err, store.ErrNotFound) {
			m.found = append(m.found, MaskEmail(e))
			continue
		}
		if err != nil {
			return m, fmt.Errorf("matching an email in a support message: %w", err)
		}
		if pid != m.sender && m.other == 0 {
			m.other, m.otherBy = pid, MaskEmail(e)
		}
	}
	for i, c := range customerPattern.FindAllString(text, maxMentions) {
		if i >= maxMentions || seen[c] {
			continue
		}
		seen[c] = true
		pid, err := t.Store.PersonIDByCustomer(ctx, c)
		if errors.Is(err, store.ErrNotFound) {
			m.found = append(m.found, c)
			continue
		}
		if err != nil {
			return m, fmt.Errorf("matching a customer id in a support message: %w", err)
		}
		if pid != m.sender && m.other == 0 {
			m.other, m.otherBy = pid, c
		}
	}
	return m, nil
}

// MaskEmail keeps up to three characters of the local part and the domain, "ana•••@example.com":
// enough for support to recognise the address they are told about, not enough to harvest it from
// a stored diagnosis.
func MaskEmail(email string) string {
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" {
		return "an address"
	}
	keep := min(3, utf8.RuneCountInString(local)-1)
	if keep < 1 {
		keep = 1
	}
	return string([]rune(local)[:keep]) + "•••@" + domain
}
