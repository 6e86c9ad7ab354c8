package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// maxWho bounds the customer id or email an operator types to resync.
const maxWho = 320

// errWho answers a resync request that names no customer.
var errWho = respond.NewError(http.StatusBadRequest, "invalid_input", "Give a Stripe customer id (cus_…) or an email address.")

// resyncCustomerAction resyncs the person of who (cus_… or email), adopting the customer from Stripe when
// no webhook ever named them, and records the operator's action. It returns the person.
func (h *Handler) resyncCustomerAction(ctx context.Context, p *principal, who, note string) (int64, []string, error) {
	if h.resyncCustomer == nil {
		return 0, nil, errNoResync
	}
	who = strings.TrimSpace(who)
	if who == "" || len(who) > maxWho || strings.ContainsAny(who, " \t\r\n") {
		return 0, nil, errWho
	}
	pid, adopted, err := h.resyncCustomer(ctx, who)
	if errors.Is(err, converge.ErrUnknownCustomer) {
		return 0, nil, respond.NewError(http.StatusNotFound, "unknown_customer", err.Error())
	}
	if err != nil {
		return 0, nil, err
	}
	detail := note
	if len(adopted) > 0 {
		detail = strings.TrimSpace(fmt.Sprintf("no webhook had named %s: adopted from Stripe. %s", strings.Join(adopted, ", "), note))
	}
	if err := h.audit(ctx, p, store.AuditEntry{Action: "person.resync", Target: target("person", pid), PersonID: pid,
		After: toJSON(map[string]any{"who": who, "adopted": adopted}), Note: note}); err != nil {
		return 0, nil, err
	}
	return pid, adopted, h.journal(ctx, p, pid, "resync", "", "queued", "", detail)
}

// resyncCustomerForm is the people page's "resync a customer" form.
func (h *Handler) resyncCustomerForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	pid, _, err := h.resyncCustomerAction(r.Context(), p, r.PostFormValue("who"), truncate(strings.TrimSpace(r.PostFormValue("note")), maxNote))
	if err != nil {
		return err
	}
	http.Redirect(w, r, withFlash(fmt.Sprintf("/admin/people/%d", pid), "resync"), http.StatusSeeOther)
	return nil
}

// apiResyncCustomer is POST /api/v1/resync {"who": "cus_…"|"email", "note": "…"}.
func (h *Handler) apiResyncCustomer(w http.ResponseWriter, r *http.Request, p *principal) error {
	in, err := input(r)
	if err != nil {
		return err
	}
	pid, adopted, err := h.resyncCustomerAction(r.Context(), p, in["who"], truncate(strings.TrimSpace(in["note"]), maxNote))
	if err != nil {
		return err
	}
	if adopted == nil {
		adopted = []string{}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "queued", "person_id": pid, "adopted": adopted})
	return nil
}
