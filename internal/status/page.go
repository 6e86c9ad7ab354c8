package status

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/membersync/membersync/internal/entitlement"

	"github.com/membersync/membersync/internal/store"
)

// linkPerson checks the request's token and returns what it grants: the person, and the Stripe
// customer it is scoped to ("" for every customer of the person). A customer-scoped link whose
// customer no longer belongs to the person opens nothing. On failure it has answered: a neutral
// 404 (the same page for a forged, expired or stale link), or 429.
func (h *Handler) linkPerson(w http.ResponseWriter, r *http.Request) (Link, bool) {
	ctx := r.Context()
	bucket := h.clientBucket(r)
	if err := h.lookupAllowed(ctx, bucket); err != nil {
		if errors.Is(err, errLimited) {
			h.limited(w)
		} else {
			h.unavailable(w, r, "status link", err)
		}
		return Link{}, false
	}
	link, err := ParseLink(h.key, r.PathValue("token"), h.now())
	if err == nil {
		var p store.Person
		p, err = h.d.Store.Person(ctx, link.PersonID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			h.unavailable(w, r, "status link", err)
			return Link{}, false
		}
		if err == nil && link.CustomerID != "" && !slices.Contains(p.CustomerIDs, link.CustomerID) {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		h.lookupFailed(ctx, bucket)
		h.badLink(w)
		return Link{}, false
	}
	return link, true
}

// badLink is the one answer to every link that does not open a page.
func (h *Handler) badLink(w http.ResponseWriter) {
	h.render(w, http.StatusNotFound, "neutral", page{Title: "This link does not work", Heading: "This link does not work",
		Lead:      "It may be incomplete, or it may have expired: links work for a limited time. We can email you a new one.",
		EmailLink: h.d.Mailer != nil})
}

// Flash messages after a form, by the query value the form redirects with.
var flashes = map[string]string{
	"resend-sent": "Done: we are setting up your access again. If you were not a member yet, Circle will email you an invitation once it is through. Already a member? Sign in on Circle with the email below; use its sign-in link if you never set a password.",
	"resend-wait": "You have asked several times already. Please wait a while before asking again, or write to us.",
}

// statusPage serves GET /status/{token}.
func (h *Handler) statusPage(w http.ResponseWriter, r *http.Request) {
	link, ok := h.linkPerson(w, r)
	if !ok {
		return
	}
	snap, err := h.load(r.Context(), link.PersonID, link.CustomerID)
	if err != nil {
		h.unavailable(w, r, "status page", err)
		return
	}
	v := assess(snap, h.d.Config.Plans, h.now())
	p := page{Title: v.Title, View: &v, Token: r.PathValue("token"), Flash: flashes[r.URL.Query().Get("done")],
		Portal: h.d.Config.Stripe.BillingPortal, EmailLink: link.CustomerID != "" && h.d.Mailer != nil}
	if v.State == stateSettingUp || v.State == stateTrouble {
		p.Refresh = 30
	}
	h.render(w, http.StatusOK, "status", p)
}

// portal serves POST /status/{token}/portal: a Stripe billing portal session made on demand, or
// the support contact when the portal is not enabled.
func (h *Handler) portal(w http.ResponseWriter, r *http.Request) {
	link, ok := h.linkPerson(w, r)
	if !ok {
		return
	}
	pid := link.PersonID
	ctx := r.Context()
	token := r.PathValue("token")
	if !h.d.Config.Stripe.BillingPortal {
		h.render(w, http.StatusOK, "support", page{Title: "Update your payment method", Token: token})
		return
	}
	allowed, err := h.d.Store.StatusLimitHit(ctx, "portal:"+strconv.FormatInt(pid, 10), h.limits.PortalWindow, h.limits.Portals)
	if err != nil {
		h.unavailable(w, r, "billing portal", err)
		return
	}
	if !allowed {
		w.Header().Set("Retry-After", seconds(h.limits.PortalWindow))
		h.render(w, http.StatusTooManyRequests, "support", page{Title: "Update your payment method", Token: token,
			Lead: "The billing portal has been opened many times from this link. Please try again later, or write to us."})
		return
	}
	customer, err := h.portalCustomer(ctx, link)
	if err != nil {
		h.unavailable(w, r, "billing portal", err)
		return
	}
	if customer == "" {
		h.render(w, http.StatusOK, "support", page{Title: "Update your payment method", Token: token})
		return
	}
	u, err := h.d.Billing.BillingPortalURL(ctx, customer, h.d.Config.PublicURL+"/status/"+token)
	if err != nil {
		h.d.Log.Error("creating a billing portal session", "err", err)
		w.Header().Set("Retry-After", "60")
		h.render(w, http.StatusServiceUnavailable, "support", page{Title: "Update your payment method", Token: token,
			Lead: "We could not open the billing portal just now. Please try again in a minute, or write to us."})
		return
	}
	h.journal(ctx, pid, "billing_portal", "opened", "the customer opened the Stripe billing portal from the status page")
	h.render(w, http.StatusOK, "portal", page{Title: "Opening the billing portal", PortalURL: u, Token: token})
}

// portalCustomer picks the Stripe customer whose portal to open: the one a customer-scoped link
// names, never another. A link for every customer of the person (the email was proven) opens the
// customer whose subscription is failing to pay, else the first linked one ("" when none).
func (h *Handler) portalCustomer(ctx context.Context, link Link) (string, error) {
	if link.CustomerID != "" {
		return link.CustomerID, nil
	}
	p, err := h.d.Store.Person(ctx, link.PersonID)
	if err != nil {
		return "", err
	}
	if len(p.CustomerIDs) == 0 {
		return "", nil
	}
	raw, err := h.d.Store.Billing(ctx, link.PersonID)
	if err != nil {
		return "", err
	}
	var b entitlement.Billing
	if raw != "" && json.Unmarshal([]byte(raw), &b) == nil {
		for _, c := range b.Customers {
			for _, sub := range c.Subscriptions {
				if (sub.Status == "past_due" || sub.Status == "unpaid") && slices.Contains(p.CustomerIDs, c.ID) {
					return c.ID, nil
				}
			}
		}
	}
	return p.CustomerIDs[0], nil
}

// resend serves POST /status/{token}/resend: it asks for the person's sync again (which invites
// them to Circle if they are not a member, and grants what is missing), at most Limits.Resends
// times per window, and journals the request.
func (h *Handler) resend(w http.ResponseWriter, r *http.Request) {
	link, ok := h.linkPerson(w, r)
	if !ok {
		return
	}
	pid := link.PersonID
	ctx := r.Context()
	back := "/status/" + r.PathValue("token")
	allowed, err := h.d.Store.StatusLimitHit(ctx, "resend:"+strconv.FormatInt(pid, 10), h.limits.ResendWindow, h.limits.Resends)
	if err != nil {
		h.unavailable(w, r, "resend", err)
		return
	}
	if !allowed {
		h.d.Log.Info("invitation resend refused: rate limited", "person_id", pid)
		http.Redirect(w, r, back+"?done=resend-wait#flash", http.StatusSeeOther)
		return
	}
	if err := h.d.Resync(ctx, pid, "resend_invitation"); err != nil {
		h.unavailable(w, r, "resend", err)
		return
	}
	h.journal(ctx, pid, "resend_invitation", "queued", "the customer asked to resend the community invitation from the status page; a sync was queued")
	http.Redirect(w, r, back+"?done=resend-sent#flash", http.StatusSeeOther)
}
