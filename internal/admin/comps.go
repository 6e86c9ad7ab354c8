package admin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// Comps: a support operator grants a person a plan without payment (a reason required, an end date
// optional) or revokes such a grant (a reason required). A comp is an entitlement input beside
// Stripe (entitlement.Comp): each action is stored, audited (person.comp, person.revoke_comp),
// journaled as an "admin" entry (Action comp or revoke_comp, Target the plan id, Detail "by ACTOR:
// REASON"), and followed by the person's sync, which grants or revokes through the one journaled
// path (Circle first, then Kit).

var (
	errCompReason  = respond.NewError(http.StatusBadRequest, "reason_required", "A comp needs a reason: say why this person gets the plan without paying.")
	errRevokeNote  = respond.NewError(http.StatusBadRequest, "reason_required", "Revoking a comp needs a reason.")
	errCompPlan    = respond.NewError(http.StatusBadRequest, "unknown_plan", "Choose one of the configured plans.")
	errCompUntil   = respond.NewError(http.StatusBadRequest, "bad_until", "The end date must be a future date such as 2027-01-31 (access lasts through that day, UTC), or empty for no end.")
	errCompRevoked = respond.NewError(http.StatusConflict, "already_revoked", "This comp is already revoked.")
)

// compRow is a comp as the person page and the API show it.
type compRow struct {
	ID           int64     `json:"id"`
	PlanID       string    `json:"plan_id"`
	PlanName     string    `json:"plan_name"`
	Reason       string    `json:"reason"`
	GrantedBy    string    `json:"granted_by"`
	GrantedAt    time.Time `json:"granted_at"`
	Until        time.Time `json:"until,omitzero"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokedBy    string    `json:"revoked_by,omitempty"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
	// Status is "in force", "ended" or "revoked".
	Status string `json:"status"`
}

// InForce reports whether the comp grants its plan now (the page offers to revoke it).
func (c compRow) InForce() bool { return c.Status == "in force" }

func (h *Handler) compRow(c store.Comp) compRow {
	row := compRow{ID: c.ID, PlanID: c.PlanID, PlanName: c.PlanID, Reason: c.Reason, GrantedBy: c.GrantedBy, GrantedAt: c.GrantedAt,
		Until: c.Until, RevokedAt: c.RevokedAt, RevokedBy: c.RevokedBy, RevokeReason: c.RevokeReason, Status: "in force"}
	for _, p := range h.cfg.Plans {
		if p.ID == c.PlanID && p.Name != "" {
			row.PlanName = p.Name
		}
	}
	switch {
	case !c.RevokedAt.IsZero():
		row.Status = "revoked"
	case !c.InForce(h.now()):
		row.Status = "ended"
	}
	return row
}

// compRows returns the person's comps, newest first.
func (h *Handler) compRows(ctx context.Context, personID int64) ([]compRow, error) {
	cs, err := h.st.Comps(ctx, personID)
	if err != nil {
		return nil, err
	}
	rows, _ := h.compsView(cs)
	return rows, nil
}

// compsView returns the comps cs (oldest first) as rows, newest first, and the plans a comp may
// grant, for the person page's form.
func (h *Handler) compsView(cs []store.Comp) ([]compRow, []option) {
	rows := []compRow{}
	for i := len(cs) - 1; i >= 0; i-- {
		rows = append(rows, h.compRow(cs[i]))
	}
	var plans []option
	for _, pl := range h.cfg.Plans {
		plans = append(plans, option{Value: pl.ID, Label: cmp.Or(pl.Name, pl.ID)})
	}
	return rows, plans
}

// compState is what the audit log keeps of a comp.
type compState struct {
	ID           int64     `json:"id"`
	PlanID       string    `json:"plan_id"`
	Reason       string    `json:"reason"`
	Until        time.Time `json:"until,omitzero"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
}

func stateOfComp(c store.Comp) compState {
	return compState{ID: c.ID, PlanID: c.PlanID, Reason: c.Reason, Until: c.Until, RevokedAt: c.RevokedAt, RevokeReason: c.RevokeReason}
}

// parseUntil reads a comp's optional end: a date (access through that day, UTC: the comp ends at
// the next midnight) or an RFC 3339 instant; it must be in the future.
func parseUntil(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err == nil {
		t = t.AddDate(0, 0, 1)
	} else if t, err = time.Parse(time.RFC3339, s); err != nil {
		return time.Time{}, errCompUntil
	}
	if !t.After(now) {
		return time.Time{}, errCompUntil
	}
	return t.UTC(), nil
}

// doComp grants the person planID without payment, then queues their sync.
func (h *Handler) doComp(ctx context.Context, p *principal, personID int64, planID, reason, until string) (store.Comp, error) {
	if h.resync == nil {
		return store.Comp{}, errNoResync
	}
	reason = truncate(strings.TrimSpace(reason), maxNote)
	if reason == "" {
		return store.Comp{}, errCompReason
	}
	planID = strings.TrimSpace(planID)
	known := false
	for _, pl := range h.cfg.Plans {
		known = known || pl.ID == planID
	}
	if !known {
		return store.Comp{}, errCompPlan
	}
	end, err := parseUntil(until, h.now())
	if err != nil {
		return store.Comp{}, err
	}
	c, err := h.st.AddComp(ctx, store.Comp{PersonID: personID, PlanID: planID, Reason: reason, GrantedBy: p.Actor(), GrantedAt: h.now(), Until: end})
	if errors.Is(err, store.ErrNotFound) {
		return c, errNotFound
	}
	if err != nil {
		return c, err
	}
	if err := h.audit(ctx, p, store.AuditEntry{Action: "person.comp", Target: target("person", personID), PersonID: personID,
		After: toJSON(stateOfComp(c)), Note: reason}); err != nil {
		return c, err
	}
	if err := h.journal(ctx, p, personID, "comp", planID, "granted", "", reason); err != nil {
		return c, err
	}
	return c, h.resync(ctx, personID, "comp")
}

// doRevokeComp revokes one of the person's comps, then queues their sync.
func (h *Handler) doRevokeComp(ctx context.Context, p *principal, personID, compID int64, reason string) (store.Comp, error) {
	if h.resync == nil {
		return store.Comp{}, errNoResync
	}
	reason = truncate(strings.TrimSpace(reason), maxNote)
	if reason == "" {
		return store.Comp{}, errRevokeNote
	}
	before, after, err := h.st.RevokeComp(ctx, personID, compID, p.Actor(), reason)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return after, errNotFound
	case errors.Is(err, store.ErrCompRevoked):
		return after, errCompRevoked
	case err != nil:
		return after, err
	}
	if err := h.audit(ctx, p, store.AuditEntry{Action: "person.revoke_comp", Target: target("person", personID), PersonID: personID,
		Before: toJSON(stateOfComp(before)), After: toJSON(stateOfComp(after)), Note: reason}); err != nil {
		return after, err
	}
	if err := h.journal(ctx, p, personID, "revoke_comp", after.PlanID, "revoked", "", reason); err != nil {
		return after, err
	}
	return after, h.resync(ctx, personID, "revoke_comp")
}

func (h *Handler) compForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	if _, err := h.doComp(r.Context(), p, id, r.PostFormValue("plan"), r.PostFormValue("reason"), r.PostFormValue("until")); err != nil {
		return err
	}
	http.Redirect(w, r, withFlash(fmt.Sprintf("/admin/people/%d", id), "comped"), http.StatusSeeOther)
	return nil
}

func (h *Handler) revokeCompForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	compID, err := pathID(r, "comp")
	if err != nil {
		return err
	}
	if _, err := h.doRevokeComp(r.Context(), p, id, compID, r.PostFormValue("reason")); err != nil {
		return err
	}
	http.Redirect(w, r, withFlash(fmt.Sprintf("/admin/people/%d", id), "comp-revoked"), http.StatusSeeOther)
	return nil
}

func (h *Handler) apiComps(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	if _, err := h.st.Person(r.Context(), id); err != nil {
		return err
	}
	rows, err := h.compRows(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"person_id": id, "comps": rows})
	return nil
}

func (h *Handler) apiAddComp(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	in, err := input(r)
	if err != nil {
		return err
	}
	c, err := h.doComp(r.Context(), p, id, in["plan"], in["reason"], in["until"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"status": "granted", "person_id": id, "comp": h.compRow(c)})
	return nil
}

func (h *Handler) apiRevokeComp(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	compID, err := pathID(r, "comp")
	if err != nil {
		return err
	}
	in, err := input(r)
	if err != nil {
		return err
	}
	c, err := h.doRevokeComp(r.Context(), p, id, compID, in["reason"])
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "revoked", "person_id": id, "comp": h.compRow(c)})
	return nil
}
