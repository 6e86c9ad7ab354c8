package admin

import (
	"context"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// The state-changing actions shared by the pages and the JSON API. Each one writes the audit log
// and, when it is about a person, that person's journal (kind "admin").

var (
	errNoResync   = respond.NewError(http.StatusServiceUnavailable, "unavailable", "Resync is not available on this instance.")
	errNoteNeeded = respond.NewError(http.StatusBadRequest, "note_required", "Resolving needs a note saying what was done.")
	errNotOpen    = respond.NewError(http.StatusConflict, "not_open", "This review item is already resolved.")
	errNoPerson   = respond.NewError(http.StatusConflict, "no_person", "This is not linked to a person yet, so there is nothing to sync. Resolve it instead.")
)

// maxNote bounds a note's length.
const maxNote = 2000

// audit records an action by p at the handler's clock.
func (h *Handler) audit(ctx context.Context, p *principal, e store.AuditEntry) error {
	e.At, e.Actor = h.now(), p.Actor()
	_, err := h.st.AppendAudit(ctx, e)
	return err
}

// journal records an admin step in a person's journey.
func (h *Handler) journal(ctx context.Context, p *principal, personID int64, action, target, result, eventID, note string) error {
	detail := "by " + p.Actor()
	if note != "" {
		detail += ": " + note
	}
	return h.st.AppendJournal(ctx, store.JournalEntry{PersonID: personID, At: h.now(), Kind: "admin", EventID: eventID,
		Action: action, Target: target, Result: result, Detail: detail})
}

// personState is what the audit log keeps of a person around a resync.
type personState struct {
	Generation       int64  `json:"generation"`
	SyncedGeneration int64  `json:"synced_generation"`
	Queued           bool   `json:"queued"`
	SyncError        string `json:"sync_error,omitempty"`
}

func (h *Handler) personState(ctx context.Context, personID int64) (personState, error) {
	p, err := h.st.Person(ctx, personID)
	if err != nil {
		return personState{}, err
	}
	ss, err := h.st.SyncState(ctx, personID)
	if err != nil {
		return personState{}, err
	}
	return personState{Generation: p.Generation, SyncedGeneration: p.SyncedGeneration, Queued: p.Queued, SyncError: ss.Error}, nil
}

// doResync queues a sync of the person.
func (h *Handler) doResync(ctx context.Context, p *principal, personID int64, note string) error {
	if h.resync == nil {
		return errNoResync
	}
	before, err := h.personState(ctx, personID)
	if err != nil {
		return err
	}
	if err := h.resync(ctx, personID, "resync"); err != nil {
		return err
	}
	after, err := h.personState(ctx, personID)
	if err != nil {
		return err
	}
	if err := h.audit(ctx, p, store.AuditEntry{Action: "person.resync", Target: target("person", personID), PersonID: personID,
		Before: toJSON(before), After: toJSON(after), Note: note}); err != nil {
		return err
	}
	return h.journal(ctx, p, personID, "resync", "", "queued", "", note)
}

// reviewState is what the audit log keeps of a review item.
type reviewState struct {
	Status     string `json:"status"`
	Kind       string `json:"kind"`
	ActionKey  string `json:"action_key,omitempty"`
	ResolvedBy string `json:"resolved_by,omitempty"`
	Resolution string `json:"resolution,omitempty"`
}

func stateOfReview(it store.ReviewItem) reviewState {
	return reviewState{Status: it.Status, Kind: it.Kind, ActionKey: it.ActionKey, ResolvedBy: it.ResolvedBy, Resolution: it.Resolution}
}

// doResolve closes an open review item with a required note.
func (h *Handler) doResolve(ctx context.Context, p *principal, itemID int64, note string) (store.ReviewItem, error) {
	note = strings.TrimSpace(note)
	if note == "" {
		return store.ReviewItem{}, errNoteNeeded
	}
	note = truncate(note, maxNote)
	return h.resolve(ctx, p, itemID, note, "review.resolve", "resolve")
}

func (h *Handler) resolve(ctx context.Context, p *principal, itemID int64, note, auditAction, journalAction string) (store.ReviewItem, error) {
	before, err := h.st.Review(ctx, itemID)
	if err != nil {
		return before, err
	}
	if before.Status != "open" {
		return before, errNotOpen
	}
	after, err := h.st.ResolveReview(ctx, itemID, p.Actor(), note)
	if errors.Is(err, store.ErrNotFound) {
		return before, errNotOpen // resolved by someone else meanwhile
	}
	if err != nil {
		return before, err
	}
	if err := h.audit(ctx, p, store.AuditEntry{Action: auditAction, Target: target("review", itemID), PersonID: after.PersonID,
		Before: toJSON(stateOfReview(before)), After: toJSON(stateOfReview(after)), Note: note}); err != nil {
		return after, err
	}
	if after.PersonID != 0 {
		if err := h.journal(ctx, p, after.PersonID, journalAction, target("review", itemID)+" "+after.Kind, "resolved", "", note); err != nil {
			return after, err
		}
	}
	return after, nil
}

// doRetry resolves a review item with the note "retry" and resyncs its person.
func (h *Handler) doRetry(ctx context.Context, p *principal, itemID int64) (store.ReviewItem, error) {
	if h.resync == nil {
		return store.ReviewItem{}, errNoResync
	}
	it, err := h.st.Review(ctx, itemID)
	if err != nil {
		return it, err
	}
	if it.Status != "open" {
		return it, errNotOpen
	}
	if it.PersonID == 0 {
		return it, errNoPerson
	}
	after, err := h.resolve(ctx, p, itemID, "retry", "review.retry", "retry")
	if err != nil {
		return after, err
	}
	if err := h.resync(ctx, it.PersonID, "retry"); err != nil {
		return after, err
	}
	return after, nil
}

// doReplay resyncs the person an event is about (the event itself is never re-applied: every sync
// re-reads billing from Stripe).
func (h *Handler) doReplay(ctx context.Context, p *principal, eventID string) (store.Event, error) {
	if h.resync == nil {
		return store.Event{}, errNoResync
	}
	ev, err := h.st.Event(ctx, eventID)
	if err != nil {
		return ev, err
	}
	if ev.PersonID == 0 {
		return ev, errNoPerson
	}
	if err := h.resync(ctx, ev.PersonID, "replay"); err != nil {
		return ev, err
	}
	if err := h.audit(ctx, p, store.AuditEntry{Action: "event.replay", Target: "event:" + ev.ID, PersonID: ev.PersonID,
		Before: toJSON(map[string]string{"type": ev.Type, "state": ev.State})}); err != nil {
		return ev, err
	}
	return ev, h.journal(ctx, p, ev.PersonID, "replay", ev.ID, "queued", ev.ID, "")
}

func target(kind string, id int64) string { return kind + ":" + strconv.FormatInt(id, 10) }

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// pathID reads a numeric path wildcard; anything else is a 404.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errNotFound
	}
	return id, nil
}

// input reads a request's fields from a JSON object or a form, whichever it sent.
func input(r *http.Request) (map[string]string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, respond.NewError(http.StatusBadRequest, "bad_json", "The body is not a JSON object.")
		}
		out := map[string]string{}
		for k, v := range m {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
		return out, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, respond.NewError(http.StatusBadRequest, "bad_form", "The form could not be read.")
	}
	out := map[string]string{}
	for k := range r.PostForm {
		out[k] = r.PostForm.Get(k)
	}
	return out, nil
}

// back returns the admin page a form asked to return to, or def.
func back(r *http.Request, def string) string {
	if b := r.PostFormValue("back"); b != "" {
		if s := safeNext(b); s != "/admin" || b == "/admin" {
			return s
		}
	}
	return def
}

// withFlash adds the flash code m to a local URL.
func withFlash(u, code string) string {
	pu, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := pu.Query()
	q.Set("m", code)
	pu.RawQuery = q.Encode()
	return pu.String()
}
