package admin

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// reviewRow is one review item as the pages and the API show it: its title and the suggested
// action in words (journey.ReviewOf), with the code (kind and action key) beside them.
type reviewRow struct {
	ID          int64     `json:"id"`
	PersonID    int64     `json:"person_id"`
	PersonEmail string    `json:"person_email"`
	Title       string    `json:"title"`
	Action      string    `json:"suggested_action"`
	Kind        string    `json:"kind"`
	ActionKey   string    `json:"action_key"`
	Reason      string    `json:"reason"`
	LastError   string    `json:"last_error"`
	Status      string    `json:"status"`
	Occurrences int       `json:"occurrences"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	ResolvedAt  time.Time `json:"resolved_at"`
	ResolvedBy  string    `json:"resolved_by"`
	Resolution  string    `json:"resolution"`
}

func rowOfReview(it store.ReviewItem, email string, names catalog.Names) reviewRow {
	title, action := journey.ReviewOf(it, names)
	return reviewRow{ID: it.ID, PersonID: it.PersonID, PersonEmail: email, Title: title, Action: action, Kind: it.Kind, ActionKey: it.ActionKey, Reason: it.Reason,
		LastError: it.LastError, Status: it.Status, Occurrences: it.Occurrences, CreatedAt: it.CreatedAt, UpdatedAt: it.UpdatedAt,
		ResolvedAt: it.ResolvedAt, ResolvedBy: it.ResolvedBy, Resolution: it.Resolution}
}

type reviewView struct {
	Status string // open | resolved | all
	Items  []reviewRow
}

func (h *Handler) loadReviews(ctx context.Context, status string) (reviewView, error) {
	switch status {
	case "", "open":
		status = "open"
	case "resolved", "all":
	default:
		return reviewView{}, respond.NewError(http.StatusBadRequest, "bad_status", "status must be open, resolved or all.")
	}
	filter := status
	if filter == "all" {
		filter = ""
	}
	items, err := h.st.Reviews(ctx, filter, 0, 200)
	if err != nil {
		return reviewView{}, err
	}
	v := reviewView{Status: status, Items: []reviewRow{}}
	emails := map[int64]string{}
	for _, it := range items {
		email, ok := emails[it.PersonID]
		if !ok && it.PersonID != 0 {
			pr, err := h.st.Person(ctx, it.PersonID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return reviewView{}, err
			}
			email = pr.Email
			emails[it.PersonID] = email
		}
		v.Items = append(v.Items, rowOfReview(it, email, h.names))
	}
	return v, nil
}

func (h *Handler) reviewPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadReviews(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		return err
	}
	h.render(w, r, p, http.StatusOK, "review", view{Title: "Review queue", Nav: "review", Data: v})
	return nil
}

func (h *Handler) apiReview(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadReviews(r.Context(), r.URL.Query().Get("status"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": v.Status, "items": v.Items})
	return nil
}

func (h *Handler) retryForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "item")
	if err != nil {
		return err
	}
	if _, err := h.doRetry(r.Context(), p, id); err != nil {
		return err
	}
	http.Redirect(w, r, withFlash(back(r, "/admin/review"), "retried"), http.StatusSeeOther)
	return nil
}

func (h *Handler) resolveForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "item")
	if err != nil {
		return err
	}
	if _, err := h.doResolve(r.Context(), p, id, r.PostFormValue("note")); err != nil {
		return err
	}
	http.Redirect(w, r, withFlash(back(r, "/admin/review"), "resolved"), http.StatusSeeOther)
	return nil
}

func (h *Handler) apiRetry(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "item")
	if err != nil {
		return err
	}
	it, err := h.doRetry(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "retried", "item": rowOfReview(it, "", h.names)})
	return nil
}

func (h *Handler) apiResolve(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "item")
	if err != nil {
		return err
	}
	in, err := input(r)
	if err != nil {
		return err
	}
	it, err := h.doResolve(r.Context(), p, id, in["note"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "resolved", "item": rowOfReview(it, "", h.names)})
	return nil
}
