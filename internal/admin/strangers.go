package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// A stranger review item (drift.ReviewStranger) has two buttons beside Resolve: Remove, which
// queues the sync that takes the stranger out of the managed groups and tags, and Comp, a link to
// the person page's comp form.

var (
	errNoRemove    = respond.NewError(http.StatusServiceUnavailable, "unavailable", "Removing strangers is not available on this instance.")
	errNotStranger = respond.NewError(http.StatusBadRequest, "not_stranger", "Only a stranger's review item has Remove.")
	errGone        = respond.NewError(http.StatusConflict, "no_stranger",
		"The latest drift sweep no longer lists them in a managed group or tag without a plan: there is nothing to remove. Resolve the item instead.")
)

// doRemoveStranger queues the removal of the stranger an open stranger item names, then resolves
// the item (audited as review.remove_stranger, journaled as remove_stranger).
func (h *Handler) doRemoveStranger(ctx context.Context, p *principal, itemID int64) (store.ReviewItem, error) {
	it, err := h.st.Review(ctx, itemID)
	if err != nil {
		return it, err
	}
	if it.Status != "open" {
		return it, errNotOpen
	}
	if it.Kind != drift.ReviewStranger || it.PersonID == 0 {
		return it, errNotStranger
	}
	if h.removeStranger == nil {
		return it, errNoRemove
	}
	if err := h.removeStranger(ctx, it.PersonID, p.Actor()); err != nil {
		if errors.Is(err, drift.ErrNoStranger) {
			return it, errGone
		}
		return it, err
	}
	return h.resolve(ctx, p, itemID, "removed: a sync is queued to take them out", "review.remove_stranger", "remove_stranger")
}

func (h *Handler) removeStrangerForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "item")
	if err != nil {
		return err
	}
	if _, err := h.doRemoveStranger(r.Context(), p, id); err != nil {
		return err
	}
	http.Redirect(w, r, withFlash(back(r, "/admin/review"), "removed"), http.StatusSeeOther)
	return nil
}

func (h *Handler) apiRemoveStranger(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "item")
	if err != nil {
		return err
	}
	it, err := h.doRemoveStranger(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "removal_queued", "item": rowOfReview(it, "", h.names)})
	return nil
}
