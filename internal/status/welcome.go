package status

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// recheckUnpaid is how often a session whose payment Stripe has not confirmed is read again.
const recheckUnpaid = 10 * time.Second

// progress is the welcome page's state: rendered into the page, and served as JSON to its script.
type progress struct {
	State   string `json:"state"`
	Done    bool   `json:"done"` // the page stops asking
	Title   string `json:"title"`
	Message string `json:"message"`
	Note    string `json:"note"`
	// NoticedAt is when the trouble was first noticed (RFC 3339), "" when there is none.
	NoticedAt string `json:"noticed_at"`
	Alerted   bool   `json:"alerted"` // the founder was alerted
	Steps     []step `json:"steps"`
	// CommunityURL is set once the access is ready.
	CommunityURL string `json:"community_url"`
	// StatusURL is the signed status page of the checkout's Stripe customer, once the person is known.
	StatusURL string `json:"status_url"`
	// EmailLink offers "email me my status link" (a guest checkout, whose page shows nothing).
	EmailLink bool `json:"email_link"`
	PollMS    int  `json:"poll_ms"`

	noticed time.Time
}

// step is one line of the progress list.
type step struct {
	ID     string `json:"id"` // paid, access, ready
	Label  string `json:"label"`
	Status string `json:"status"` // todo, active, done, attention
}

// welcome serves GET /welcome?session_id=cs_…, the Checkout success URL.
func (h *Handler) welcome(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.URL.Query().Get("session_id")
	co, err := h.checkout(ctx, h.clientBucket(r), id)
	switch {
	case errors.Is(err, errLimited):
		h.limited(w)
		return
	case errors.Is(err, errUnknown):
		h.neutral(w, http.StatusNotFound, "We could not find this checkout",
			"The link may be incomplete or mistyped. If you have just paid, your receipt from Stripe is in your inbox and your access is being set up all the same.")
		return
	case err != nil:
		h.unavailable(w, r, "welcome", err)
		return
	}
	pr, err := h.welcomeProgress(ctx, co)
	if err != nil {
		h.unavailable(w, r, "welcome", err)
		return
	}
	p := page{Title: pr.Title, Progress: &pr, ProgressURL: "/welcome/progress?session_id=" + url.QueryEscape(id), PollMS: pr.PollMS}
	if !pr.Done {
		p.Refresh = 10
	}
	h.render(w, http.StatusOK, "welcome", p)
}

// progress serves GET /welcome/progress?session_id=cs_…: the welcome page's state as JSON.
func (h *Handler) progress(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	co, err := h.checkout(ctx, h.clientBucket(r), r.URL.Query().Get("session_id"))
	switch {
	case errors.Is(err, errLimited):
		w.Header().Set("Retry-After", seconds(h.limits.LookupWindow))
		errProgressLimited.Write(w)
		return
	case errors.Is(err, errUnknown):
		errProgressUnknown.Write(w)
		return
	case err != nil:
		h.d.Log.Error("welcome progress", "err", err)
		w.Header().Set("Retry-After", "10")
		errProgressUnavailable.Write(w)
		return
	}
	pr, err := h.welcomeProgress(ctx, co)
	if err != nil {
		h.d.Log.Error("welcome progress", "err", err)
		w.Header().Set("Retry-After", "10")
		errProgressUnavailable.Write(w)
		return
	}
	respond.JSON(w, http.StatusOK, pr)
}

// The welcome page's script is answered these errors.
var (
	errProgressLimited     = respond.NewError(http.StatusTooManyRequests, "rate_limited", "Too many attempts from this address; try again in a few minutes.")
	errProgressUnknown     = respond.NewError(http.StatusNotFound, "not_found", "We could not find this checkout.")
	errProgressUnavailable = respond.NewError(http.StatusServiceUnavailable, "unavailable", "Please try again in a moment.")
)

// plausibleSessionID accepts what looks like a Checkout Session id, so that anything else costs
// no Stripe call.
func plausibleSessionID(id string) bool {
	if len(id) < 10 || len(id) > 255 || id[:3] != "cs_" {
		return false
	}
	for _, c := range id {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// checkout resolves a session id to what the page records of it, reading Stripe the first time
// (and again while the payment is unconfirmed). Unknown ids count against the client. The first
// time the payment is seen confirmed, if the webhook's event has not arrived, it asks for the
// person's sync itself: the customer does not wait for the webhook.
func (h *Handler) checkout(ctx context.Context, bucket, id string) (store.StatusCheckout, error) {
	if err := h.lookupAllowed(ctx, bucket); err != nil {
		return store.StatusCheckout{}, err
	}
	if !plausibleSessionID(id) {
		h.lookupFailed(ctx, bucket)
		return store.StatusCheckout{}, errUnknown
	}
	co, err := h.d.Store.StatusCheckout(ctx, id)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return co, err
	}
	if known && (co.Paid || h.now().Sub(co.CheckedAt) < recheckUnpaid) {
		return co, nil
	}
	s, err := h.d.Billing.CheckoutSession(ctx, id)
	switch {
	case err != nil && provider.KindOf(err) == provider.NotFound:
		h.lookupFailed(ctx, bucket)
		return co, errUnknown
	case err != nil && known:
		h.d.Log.Warn("re-reading a checkout session", "err", err)
		return co, nil // Stripe is not answering: keep what was seen
	case err != nil:
		return co, fmt.Errorf("reading the checkout session: %w", err)
	case s.Status != "complete" || s.Mode == "setup":
		// An open, expired or card-saving session has nothing to welcome: say nothing about it.
		return co, errUnknown
	}
	co.SessionID, co.CustomerID, co.CheckedAt = id, s.CustomerID, h.now()
	if !known {
		co.CreatedAt = co.CheckedAt
	}
	co.Paid = s.PaymentStatus == "paid" || s.PaymentStatus == "no_payment_required"
	co.Email = "" // a guest checkout's typed email proves nothing: it is neither kept nor matched
	if s.CustomerID != "" && co.PersonID == 0 {
		if co.PersonID, _, err = h.d.Store.PersonForCheckout(ctx, s.CustomerID); err != nil {
			return co, err
		}
	}
	if co.Paid && co.PersonID != 0 && co.CustomerID != "" && co.SyncRequestedAt.IsZero() {
		seen, err := h.d.Store.CheckoutEventSeen(ctx, co.CustomerID, id)
		if err != nil {
			return co, err
		}
		if !seen {
			if err := h.d.Resync(ctx, co.PersonID, "welcome"); err != nil {
				return co, fmt.Errorf("asking for the sync: %w", err)
			}
			co.SyncRequestedAt = h.now()
			h.journal(ctx, co.PersonID, "welcome_page", "sync_requested",
				"the customer opened the post-checkout page before the webhook arrived; membersync asked for a sync")
		}
	}
	if err := h.d.Store.SaveStatusCheckout(ctx, co); err != nil {
		return co, err
	}
	return co, nil
}

// welcomeProgress is the welcome page's state for a checkout.
func (h *Handler) welcomeProgress(ctx context.Context, co store.StatusCheckout) (progress, error) {
	pr := progress{PollMS: int(h.d.PollInterval / time.Millisecond)}
	if !co.Paid {
		pr.State, pr.Title = stateConfirming, "Confirming your payment"
		pr.Message = "Your bank is confirming the payment. This page updates by itself, and Stripe emails you a receipt once it is done."
		pr.Steps = steps(stateConfirming)
		return pr, nil
	}
	if co.CustomerID == "" {
		// A guest checkout names no Stripe customer, only an email typed at Checkout, which proves
		// nothing: the page says what happens next and shows nothing of whoever owns that email.
		pr.State, pr.Steps, pr.Done = stateSettingUp, steps(stateSettingUp), true
		pr.Title = "Payment confirmed"
		pr.Message = "Your community access is being set up for the email you entered at checkout. Circle emails you an invitation there; we can also email you a link to follow your membership."
		pr.EmailLink = h.d.Mailer != nil
		return pr, nil
	}
	pid, err := h.checkoutPerson(ctx, co)
	if err != nil {
		return pr, err
	}
	if pid == 0 {
		v := view{State: stateSettingUp}
		pr.State, pr.Steps = stateSettingUp, steps(stateSettingUp)
		pr.Title, pr.Message = words(v)
		return pr, nil
	}
	snap, err := h.load(ctx, pid, co.CustomerID)
	if err != nil {
		return pr, err
	}
	v := assess(snap, h.d.Config.Plans, h.now())
	state := v.State
	if state == stateReady && snap.Person.SyncedGeneration < snap.Person.Generation && snap.Sync.SyncedAt.Before(co.CreatedAt) {
		// The access predates this checkout and a sync is still to read it: not ready yet.
		state = stateSettingUp
		v.State = state
		v.Title, v.Message = words(v)
	}
	pr.State, pr.Title, pr.Message, pr.Note = state, v.Title, v.Message, v.Note
	pr.Steps = steps(state)
	if state == stateEnded {
		// Not "setting up": nothing is being set up. Say what happened instead.
		pr.Steps[1].Label = "No community access"
		if v.refunded() {
			pr.Steps[1].Label = "Refunded: no community access"
		}
	}
	pr.Done = state == stateReady || state == stateAction || state == stateEnded
	if state == stateReady {
		pr.CommunityURL = h.d.Config.Circle.CommunityURL
	}
	if v.Trouble != nil && state == stateTrouble {
		pr.noticed, pr.Alerted = v.Trouble.Since, v.Trouble.Alerted
		if !pr.noticed.IsZero() {
			pr.NoticedAt = pr.noticed.UTC().Format(time.RFC3339)
		}
		pr.PollMS = min(5*pr.PollMS, 30_000)
	}
	if !pr.Done && state != stateTrouble && h.now().Sub(co.CreatedAt) < fastPollFor {
		// Access usually lands within a second of the payment (README: benchmarks): poll fast for
		// the first seconds, so that the page does not sit on "setting up" for a whole interval.
		pr.PollMS = min(pr.PollMS, int(fastPoll/time.Millisecond))
	}
	if len(h.key) > 0 {
		pr.StatusURL = h.statusPath(pid, co.CustomerID)
	}
	return pr, nil
}

// The welcome page polls every fastPoll for the first fastPollFor after the checkout is first seen.
const (
	fastPoll    = 500 * time.Millisecond
	fastPollFor = 10 * time.Second
)

// checkoutPerson returns the checkout's person: the recorded one, or the survivor when it was
// merged into another (0 when none yet).
func (h *Handler) checkoutPerson(ctx context.Context, co store.StatusCheckout) (int64, error) {
	pid := co.PersonID
	if pid != 0 {
		_, err := h.d.Store.Person(ctx, pid)
		if err == nil {
			return pid, nil
		}
		if !errors.Is(err, store.ErrNotFound) || co.CustomerID == "" {
			return 0, err
		}
		pid, err = h.d.Store.PersonIDByCustomer(ctx, co.CustomerID)
		if err != nil {
			return 0, err
		}
	}
	if pid != co.PersonID {
		co.PersonID = pid
		if err := h.d.Store.SaveStatusCheckout(ctx, co); err != nil {
			return 0, err
		}
	}
	return pid, nil
}

func steps(state string) []step {
	paid, access, ready := "done", "todo", "todo"
	switch state {
	case stateConfirming:
		paid = "active"
	case stateSettingUp:
		access = "active"
	case stateReady:
		access, ready = "done", "done"
	default: // trouble, action, ended
		access = "attention"
	}
	paidLabel := "Payment confirmed"
	if state == stateConfirming {
		paidLabel = "Confirming your payment"
	}
	return []step{
		{ID: "paid", Label: paidLabel, Status: paid},
		{ID: "access", Label: "Setting up your community access", Status: access},
		{ID: "ready", Label: "Ready to enter the community", Status: ready},
	}
}

// statusPath is the path of a status page scoped to one Stripe customer of the person: the
// checkout's buyer sees what they bought, nothing that others with the same email bought. The
// expiry is counted from the hour, so that the link stays the same while the page is polled.
func (h *Handler) statusPath(personID int64, customerID string) string {
	return "/status/" + NewCustomerToken(h.key, personID, customerID, h.d.LinkTTL, h.now().Truncate(time.Hour))
}

// journal records a customer's step in the person's journey (best effort: the page still answers).
func (h *Handler) journal(ctx context.Context, personID int64, action, result, detail string) {
	err := h.d.Store.AppendJournal(ctx, store.JournalEntry{PersonID: personID, Kind: "note", Action: action, Result: result, Detail: detail})
	if err != nil {
		h.d.Log.Error("journaling a status page step", "action", action, "err", err)
	}
}
