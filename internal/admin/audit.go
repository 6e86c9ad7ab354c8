package admin

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// auditRow is one audit entry as the pages and the API show it.
type auditRow struct {
	ID       int64     `json:"id"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	PersonID int64     `json:"person_id"`
	Before   string    `json:"before"`
	After    string    `json:"after"`
	Note     string    `json:"note"`
}

type auditView struct {
	Actor, Action, Target, From, To string
	PersonID                        int64
	Actions                         []string
	Entries                         []auditRow
	NextURL                         string
}

const auditPageSize = 100

func (h *Handler) loadAudit(ctx context.Context, q url.Values, base string) (auditView, error) {
	v := auditView{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), From: q.Get("from"), To: q.Get("to"), Entries: []auditRow{}}
	f := store.AuditFilter{Actor: v.Actor, Action: v.Action, Target: v.Target, Limit: auditPageSize}
	var err error
	if f.Since, err = parseDate("from", v.From); err != nil {
		return v, err
	}
	if f.Until, err = parseDate("to", v.To); err != nil {
		return v, err
	}
	if !f.Until.IsZero() {
		f.Until = f.Until.Add(24 * time.Hour)
	}
	if s := q.Get("person"); s != "" {
		if f.PersonID, err = strconv.ParseInt(s, 10, 64); err != nil {
			return v, respond.NewError(http.StatusBadRequest, "bad_person", "person must be a person id.")
		}
		v.PersonID = f.PersonID
	}
	if s := q.Get("before"); s != "" {
		if f.BeforeID, err = strconv.ParseInt(s, 10, 64); err != nil {
			return v, respond.NewError(http.StatusBadRequest, "bad_cursor", "The page link is malformed; start again from the first page.")
		}
	}
	entries, err := h.st.Audit(ctx, f)
	if err != nil {
		return v, err
	}
	for _, e := range entries {
		v.Entries = append(v.Entries, auditRow{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, PersonID: e.PersonID,
			Before: e.Before, After: e.After, Note: e.Note})
	}
	if len(entries) == auditPageSize {
		nq := url.Values{}
		for k, vs := range q {
			if k != "before" && k != "m" && len(vs) > 0 && vs[0] != "" {
				nq.Set(k, vs[0])
			}
		}
		nq.Set("before", strconv.FormatInt(entries[len(entries)-1].ID, 10))
		v.NextURL = base + "?" + nq.Encode()
	}
	if v.Actions, err = h.st.AuditActions(ctx); err != nil {
		return v, err
	}
	return v, nil
}

func (h *Handler) auditPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadAudit(r.Context(), r.URL.Query(), "/admin/audit")
	if err != nil {
		return err
	}
	h.render(w, r, p, http.StatusOK, "audit", view{Title: "Audit log", Nav: "audit", Data: v})
	return nil
}

func (h *Handler) apiAudit(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadAudit(r.Context(), r.URL.Query(), "/api/v1/audit")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": v.Entries, "next": v.NextURL})
	return nil
}
