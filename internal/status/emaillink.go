package status

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/mail"
	"github.com/membersync/membersync/internal/store"
)

// Mailer sends one email; a mail.Sender is one.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) error
}

// Email-link limits: what one client may ask for, and how many links one address may receive.
const (
	emailLinkPerClient = 10
	emailLinkPerEmail  = 3
	emailLinkWindow    = time.Hour
	// emailLinkTTL is how long a mailed link lives: it shows every membership of the address.
	emailLinkTTL = 7 * 24 * time.Hour
	// emailSends bounds the emails being sent at once; past it a request is dropped (and logged),
	// so that no flood of requests queues unbounded work.
	emailSends = 4
)

// emailLink serves POST /status/email-link: "email me my status link". A link that shows every
// membership of an address is mailed to that address — the channel that proves it — and is never
// shown on screen. The answer is the same whether or not the address has a membership, and the
// email goes out in the background, so that neither the words nor the timing tell a stranger who
// is a member.
func (h *Handler) emailLink(w http.ResponseWriter, r *http.Request) {
	if h.d.Mailer == nil || len(h.key) == 0 {
		h.neutral(w, http.StatusNotFound, "We cannot email links",
			"This site does not send membership links by email. Write to us and we will help.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	ctx := r.Context()
	allowed, err := h.d.Store.StatusLimitHit(ctx, "maillink-client:"+h.clientBucket(r), emailLinkWindow, emailLinkPerClient)
	if err != nil {
		h.unavailable(w, r, "email link", err)
		return
	}
	if !allowed {
		w.Header().Set("Retry-After", seconds(emailLinkWindow))
		h.neutral(w, http.StatusTooManyRequests, "Too many requests",
			"This address has asked for many links already. Please wait an hour and try again, or write to us.")
		return
	}
	email := identity.NormalizeEmail(r.PostFormValue("email"))
	if len(email) > 254 || strings.Count(email, "@") != 1 || strings.HasPrefix(email, "@") || strings.HasSuffix(email, "@") || strings.ContainsAny(email, " \r\n<>,") {
		h.render(w, http.StatusBadRequest, "neutral", page{Title: "Check the address", Heading: "Check the address",
			Lead: "That does not look like an email address. Type the address you used at checkout.", EmailLink: true})
		return
	}
	sent := page{Title: "Check your inbox", Heading: "Check your inbox",
		Lead: fmt.Sprintf("If a membership uses %s, we have emailed a link to it. It can take a few minutes; check your spam folder too.", email)}
	m := hmac.New(sha256.New, h.addrKey)
	m.Write([]byte("email:" + email))
	allowed, err = h.d.Store.StatusLimitHit(ctx, "maillink:"+hex.EncodeToString(m.Sum(nil))[:24], emailLinkWindow, emailLinkPerEmail)
	if err != nil {
		h.unavailable(w, r, "email link", err)
		return
	}
	if !allowed {
		h.render(w, http.StatusOK, "neutral", sent) // the address has links on their way; say nothing more
		return
	}
	pid, err := h.d.Store.PersonIDByEmail(ctx, email)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.render(w, http.StatusOK, "neutral", sent)
		return
	case err != nil:
		h.unavailable(w, r, "email link", err)
		return
	}
	h.mailLink(pid, email)
	h.render(w, http.StatusOK, "neutral", sent)
}

// mailLink sends the person's link in the background, at most emailSends at once.
func (h *Handler) mailLink(pid int64, email string) {
	select {
	case h.sends <- struct{}{}:
	default:
		h.d.Log.Warn("status link email dropped: too many being sent", "person_id", pid)
		return
	}
	link := h.d.Config.PublicURL + "/status/" + NewToken(h.key, pid, emailLinkTTL, h.now())
	msg := mail.Message{To: []string{email}, Subject: "Your membership page",
		Text: "Here is the link to your membership page, as you asked:\n\n" + link +
			"\n\nIt shows every membership of this email address and works for 7 days. Keep it to yourself." +
			"\n\nDid not ask for it? Ignore this email: nobody else has seen the link."}
	go func() {
		defer func() { <-h.sends }()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := h.d.Mailer.Send(ctx, msg); err != nil {
			h.d.Log.Error("emailing a status link", "person_id", pid, "err", err)
			h.journal(ctx, pid, "status_link_emailed", "failed", "the customer asked for their status link by email; sending it failed")
			return
		}
		h.journal(ctx, pid, "status_link_emailed", "sent", "the customer asked for their status link by email; it was sent to the address")
	}()
}
