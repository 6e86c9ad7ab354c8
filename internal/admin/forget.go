package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// The erasure of a person (GDPR Art. 17) from the person page and the API: admin only, a reason
// required, confirmed by typing the person's email (or FORGET when none is known). The store writes
// the tombstone and the audit entry "erased by … because …" without the email; the sync removes
// the person's Circle access and Kit tags and then scrubs them (store.FinishErasure), or, local
// only, the scrub runs at once.

var (
	errForgetReason  = respond.NewError(http.StatusBadRequest, "reason_required", "Erasing a person needs a reason: who asked and how. It is kept in the audit log (without the email).")
	errForgetConfirm = respond.NewError(http.StatusBadRequest, "confirm_mismatch", "To confirm, type the person's email exactly (or FORGET when the person has no email).")
	errForgetErased  = respond.NewError(http.StatusConflict, "already_erased", "This person is already erased.")
)

// forgetConfirmWord confirms the erasure of a person without a known email (or instead of it).
const forgetConfirmWord = "FORGET"

// maxForgetBody bounds the API's JSON body.
const maxForgetBody = 16 << 10

func init() {
	flashes["forgetting"] = "Erasure begun: a sync removes their Circle access and Kit tags, then every copy of their email is removed."
	flashes["forgotten"] = "Erased in membersync. Circle and Kit were left as they are."
}

// forgetResult is what the API answers.
type forgetResult struct {
	Status    string   `json:"status"` // erasing | erased
	PersonID  int64    `json:"person_id"`
	Erasure   int64    `json:"erasure"`
	Customers []string `json:"customers"`
	LocalOnly bool     `json:"local_only"`
}

// doForget checks the request and begins (or, local only, completes) the erasure.
func (h *Handler) doForget(ctx context.Context, p *principal, personID int64, reason, confirm string, localOnly bool) (store.Erasure, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return store.Erasure{}, errForgetReason
	}
	reason = truncate(reason, maxNote)
	person, err := h.st.Person(ctx, personID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Erasure{}, errNotFound
	}
	if err != nil {
		return store.Erasure{}, err
	}
	confirm = strings.TrimSpace(confirm)
	ok := confirm == forgetConfirmWord || (person.Email != "" && identity.NormalizeEmail(confirm) == person.Email)
	if !ok {
		return store.Erasure{}, errForgetConfirm
	}
	req := store.EraseRequest{PersonID: personID, Reason: reason, By: p.Actor(), LocalOnly: localOnly, Key: h.cfg.Secrets.ErasureKey()}
	if h.forget != nil { // serve: the mark and the sync's job in one transaction
		e, err := h.forget(ctx, req)
		if errors.Is(err, store.ErrErased) {
			return e, errForgetErased
		}
		return e, err
	}
	if h.resync == nil && !localOnly {
		return store.Erasure{}, errNoResync
	}
	var e store.Erasure
	err = h.st.InTx(ctx, func(tx *store.Tx) error {
		e, err = tx.BeginErasure(ctx, req)
		return err
	})
	if errors.Is(err, store.ErrErased) {
		return e, errForgetErased
	}
	if err != nil {
		return e, err
	}
	if localOnly {
		return h.st.FinishErasure(ctx, personID)
	}
	// The mark is committed: if this process stops before the sync is queued, the person stays
	// erasing and the next sync of theirs (or this action again) finishes it.
	return e, h.resync(ctx, personID, "erasure")
}

// forgetForm is the person page's Erase form.
func (h *Handler) forgetForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	localOnly := r.PostFormValue("local_only") != ""
	e, err := h.doForget(r.Context(), p, id, r.PostFormValue("reason"), r.PostFormValue("confirm"), localOnly)
	if err != nil {
		return err
	}
	code := "forgetting"
	if e.State == store.Erased {
		code = "forgotten"
	}
	http.Redirect(w, r, withFlash(fmt.Sprintf("/admin/people/%d", id), code), http.StatusSeeOther)
	return nil
}

// apiForget is POST /api/v1/people/{person}/forget {"reason": "…", "confirm": "EMAIL"|"FORGET",
// "local_only": false}.
func (h *Handler) apiForget(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	var in struct {
		Reason    string `json:"reason"`
		Confirm   string `json:"confirm"`
		LocalOnly bool   `json:"local_only"`
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxForgetBody))
		if err := dec.Decode(&in); err != nil && !errors.Is(err, io.EOF) {
			return respond.NewError(http.StatusBadRequest, "bad_json", "The body is not a JSON object with reason, confirm and local_only.")
		}
	} else {
		r.Body = http.MaxBytesReader(w, r.Body, maxForgetBody)
		if err := r.ParseForm(); err != nil {
			return respond.NewError(http.StatusBadRequest, "bad_form", "The form could not be read.")
		}
		in.Reason, in.Confirm = r.PostForm.Get("reason"), r.PostForm.Get("confirm")
		lo := r.PostForm.Get("local_only")
		in.LocalOnly = lo == "1" || lo == "true" || lo == "on"
	}
	e, err := h.doForget(r.Context(), p, id, in.Reason, in.Confirm, in.LocalOnly)
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if e.State == store.Erased {
		status = http.StatusOK
	}
	writeJSON(w, status, forgetResult{Status: e.State, PersonID: id, Erasure: e.ID, Customers: e.CustomerIDs, LocalOnly: e.LocalOnly})
	return nil
}

// erasureNote is a person's erasure as the person page shows it: under way (the sync removing their
// access) or done. The reason never holds the email (store.BeginErasure cut it out).
type erasureNote struct {
	State       string    `json:"state"` // erasing | erased
	By          string    `json:"by"`
	Reason      string    `json:"reason"`
	LocalOnly   bool      `json:"local_only"`
	RequestedAt time.Time `json:"requested_at"`
	ErasedAt    time.Time `json:"erased_at,omitzero"`
}

// erasureNote returns the person's erasure, nil when they are not erasing or erased (a person
// managed again after an erasure keeps the tombstone but is neither).
func (h *Handler) erasureNote(ctx context.Context, personID int64) (*erasureNote, error) {
	state, err := h.st.ErasureState(ctx, personID)
	if err != nil || state == "" {
		return nil, err
	}
	e, err := h.st.LatestErasure(ctx, personID)
	if errors.Is(err, store.ErrNotFound) {
		return &erasureNote{State: state}, nil
	}
	if err != nil {
		return nil, err
	}
	return &erasureNote{State: state, By: e.By, Reason: e.Reason, LocalOnly: e.LocalOnly, RequestedAt: e.RequestedAt, ErasedAt: e.ErasedAt}, nil
}
