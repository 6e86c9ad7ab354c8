package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// eventRow is one stored Stripe event without its payload.
type eventRow struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	CustomerID string    `json:"customer_id"`
	PersonID   int64     `json:"person_id"`
	State      string    `json:"state"`
	Source     string    `json:"source"`
	Livemode   bool      `json:"livemode"`
	Created    time.Time `json:"created"`
	ReceivedAt time.Time `json:"received_at"`
}

func rowOfEvent(ev store.Event) eventRow {
	return eventRow{ID: ev.ID, Type: ev.Type, CustomerID: ev.CustomerID, PersonID: ev.PersonID, State: ev.State, Source: ev.Source,
		Livemode: ev.Livemode, Created: ev.Created, ReceivedAt: ev.ReceivedAt}
}

// eventStates are the states an event may be filtered by.
var eventStates = []string{store.EventQueued, store.EventUnresolved, store.EventIgnored, "processed"}

type eventsView struct {
	Type, Status, From, To string
	Types                  []string
	States                 []string
	Events                 []eventRow
	// NextURL is the page of older events, "" on the last page.
	NextURL string
}

// dateLayout is the format of the date filters (an <input type="date">), in UTC.
const dateLayout = "2006-01-02"

func parseDate(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		return time.Time{}, respond.NewError(http.StatusBadRequest, "bad_date", name+" must be a date like 2025-01-31.")
	}
	return t, nil
}

func (h *Handler) loadEvents(ctx context.Context, q url.Values, base string) (eventsView, error) {
	v := eventsView{Type: q.Get("type"), Status: q.Get("status"), From: q.Get("from"), To: q.Get("to"), States: eventStates, Events: []eventRow{}}
	from, err := parseDate("from", v.From)
	if err != nil {
		return v, err
	}
	to, err := parseDate("to", v.To)
	if err != nil {
		return v, err
	}
	if !to.IsZero() {
		to = to.Add(24 * time.Hour) // the whole day
	}
	page, err := h.st.EventsPage(ctx, store.EventFilter{Type: v.Type, State: v.Status, Since: from, Until: to, Cursor: q.Get("cursor"), Limit: 50})
	if errors.Is(err, store.ErrBadCursor) {
		return v, respond.NewError(http.StatusBadRequest, "bad_cursor", "The page link is malformed; start again from the first page.")
	}
	if err != nil {
		return v, err
	}
	for _, ev := range page.Events {
		v.Events = append(v.Events, rowOfEvent(ev))
	}
	if page.Next != "" {
		nq := url.Values{}
		for k, vs := range q {
			if k != "cursor" && k != "m" && len(vs) > 0 && vs[0] != "" {
				nq.Set(k, vs[0])
			}
		}
		nq.Set("cursor", page.Next)
		v.NextURL = base + "?" + nq.Encode()
	}
	if v.Types, err = h.st.EventTypes(ctx); err != nil {
		return v, err
	}
	return v, nil
}

func (h *Handler) eventsPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadEvents(r.Context(), r.URL.Query(), "/admin/events")
	if err != nil {
		return err
	}
	h.render(w, r, p, http.StatusOK, "events", view{Title: "Events", Nav: "events", Data: v})
	return nil
}

func (h *Handler) apiEvents(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadEvents(r.Context(), r.URL.Query(), "/api/v1/events")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": v.Events, "next": v.NextURL})
	return nil
}

// Bounds of the payload an event page and the event API show laid out. A payload nested deeper
// than prettyMaxDepth, or whose laid-out form passes prettyMaxBytes, is shown instead as its
// redacted compact JSON cut to excerptMaxBytes, with a note: a stored payload is up to a webhook
// body, and laying out a deep one multiplies it by its depth.
const (
	prettyMaxDepth  = 32
	prettyMaxBytes  = 256 << 10
	excerptMaxBytes = 64 << 10
)

// eventView is one event with what it caused and its redacted payload.
type eventView struct {
	eventRow
	APIVersion string `json:"api_version"`
	// Caused says what the event caused (the syncs that covered it and what they changed);
	// CausedSteps are those syncs' raw journal entries, oldest first.
	Caused      []journey.Line `json:"caused"`
	CausedSteps []timelineRow  `json:"caused_steps"`
	// Payload is the redacted payload; null when it is too deep or too large to show whole.
	Payload json.RawMessage `json:"payload"`
	// Excerpt is the start of the redacted payload as compact JSON text when Payload is null, and
	// Note says why and how much of it is shown.
	Excerpt string `json:"payload_excerpt,omitempty"`
	Note    string `json:"payload_note,omitempty"`
	Pretty  string `json:"-"`
}

func (h *Handler) loadEvent(ctx context.Context, id string) (eventView, error) {
	ev, err := h.st.Event(ctx, id)
	if err != nil {
		return eventView{}, err
	}
	v := eventView{eventRow: rowOfEvent(ev), APIVersion: ev.APIVersion}
	eff, err := h.caused(ctx, ev)
	if err != nil {
		return eventView{}, err
	}
	v.Caused, v.CausedSteps = eff.Lines, []timelineRow{}
	for _, s := range eff.Steps {
		v.CausedSteps = append(v.CausedSteps, timelineRow{At: s.At, Kind: s.Kind, What: s.What, Result: s.Result, Detail: s.Detail, EventID: s.EventID})
	}
	if pruned, err := h.st.PayloadPrunedAt(ctx, ev.ID); err != nil {
		return eventView{}, err
	} else if !pruned.IsZero() {
		v.Payload = json.RawMessage(`null`)
		v.Note = fmt.Sprintf("Payload pruned after %d days (retention): the event's id, type, customer and what it caused are kept.",
			int(pruned.Sub(ev.ReceivedAt).Hours()/24))
		return v, nil
	}
	if len(ev.Payload) == 0 { // forgotten (store.Erase) rather than pruned: the id stays, the content went
		v.Payload = json.RawMessage(`null`)
		v.Note = "Payload erased: the person was forgotten (membersync forget); the event's id and type are kept for deduplication."
		return v, nil
	}
	red, depth, err := redactPayload(ev.Payload)
	if err != nil {
		v.Payload = json.RawMessage(`{"error":"the stored payload is not JSON"}`)
		v.Pretty = "(the stored payload is not JSON)"
		return v, nil
	}
	why := fmt.Sprintf("nests %d levels deep (more than %d)", depth, prettyMaxDepth)
	if depth <= prettyMaxDepth {
		if pretty, ok := indentBounded(red, prettyMaxBytes); ok {
			v.Payload, v.Pretty = red, pretty
			return v, nil
		}
		why = fmt.Sprintf("is too large to lay out (more than %d KiB)", prettyMaxBytes>>10)
	}
	v.Excerpt = excerpt(red, excerptMaxBytes)
	v.Note = "This payload " + why + ", so it is shown unformatted"
	if len(v.Excerpt) < len(red) {
		v.Note += fmt.Sprintf(", truncated to its first %d of %d bytes", len(v.Excerpt), len(red))
	}
	v.Note += "."
	return v, nil
}

// caused tells what the event caused, from its person's journal (journey.Caused).
func (h *Handler) caused(ctx context.Context, ev store.Event) (journey.Effect, error) {
	f := journey.Facts{Plans: h.cfg.Plans, Now: h.now()}
	if ev.PersonID != 0 {
		j, err := journey.Load(ctx, h.st, ev.PersonID)
		switch {
		case errors.Is(err, store.ErrNotFound): // a person merged away leaves the event behind
			return journey.Effect{Lines: []journey.Line{{Text: "The person it was linked to no longer exists (merged into the person with the same email, or erased)."}}}, nil
		case err != nil:
			return journey.Effect{}, err
		}
		f = j.Facts(h.cfg.Plans, h.now())
	}
	return journey.Caused(ev, f, h.names), nil
}

// excerpt returns at most n bytes of b, cut before a UTF-8 sequence.
func excerpt(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n])
}

// indentBounded lays out compact JSON (as redactPayload writes it) with two-space indentation, as
// json.Indent does, or reports false as soon as the result passes limit bytes.
func indentBounded(compact []byte, limit int) (string, bool) {
	var b strings.Builder
	depth := 0
	inString, escaped := false, false
	newline := func() {
		b.WriteByte('\n')
		for range depth {
			b.WriteString("  ")
		}
	}
	for i := 0; i < len(compact); i++ {
		if b.Len() > limit {
			return "", false
		}
		c := compact[i]
		if inString {
			b.WriteByte(c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			b.WriteByte(c)
		case '{', '[':
			b.WriteByte(c)
			if i+1 < len(compact) && (compact[i+1] == '}' || compact[i+1] == ']') {
				b.WriteByte(compact[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			b.WriteByte(c)
		case ',':
			b.WriteByte(c)
			newline()
		case ':':
			b.WriteString(": ")
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() > limit {
		return "", false
	}
	return b.String(), true
}

func (h *Handler) eventPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadEvent(r.Context(), r.PathValue("event"))
	if err != nil {
		return err
	}
	h.render(w, r, p, http.StatusOK, "event", view{Title: v.Type + " " + v.ID, Nav: "events", Data: v})
	return nil
}

func (h *Handler) apiEvent(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadEvent(r.Context(), r.PathValue("event"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) replayForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := h.doReplay(r.Context(), p, r.PathValue("event"))
	if err != nil {
		return err
	}
	http.Redirect(w, r, withFlash("/admin/events/"+url.PathEscape(ev.ID), "replayed"), http.StatusSeeOther)
	return nil
}

func (h *Handler) apiReplay(w http.ResponseWriter, r *http.Request, p *principal) error {
	ev, err := h.doReplay(r.Context(), p, r.PathValue("event"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "queued", "event_id": ev.ID, "person_id": ev.PersonID})
	return nil
}

// redactedKeys are payload fields that hold personal data or secrets; their values are replaced.
// Stripe never sends full card numbers; the last four digits, expiry and fingerprint go too.
var redactedKeys = map[string]bool{
	"email": true, "receipt_email": true, "customer_email": true, "name": true, "customer_name": true,
	"phone": true, "customer_phone": true, "address": true, "customer_address": true, "shipping": true,
	"customer_shipping": true, "billing_details": true, "customer_details": true, "shipping_details": true,
	"client_secret": true, "fingerprint": true, "last4": true, "exp_month": true, "exp_year": true,
	"ip": true, "ip_address": true, "tax_ids": true, "customer_tax_ids": true, "account_holder_name": true,
	"description": true, "metadata": true,
}

const redacted = "[redacted]"

// redactPayload returns the event JSON, compact, in its own key order, with the values of personal
// fields replaced by "[redacted]" (empty strings and nulls are left as they are), and how deep the
// result nests. It walks the tokens with its own stack, so a deep payload costs a few bytes a level.
func redactPayload(raw []byte) (json.RawMessage, int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	type frame struct {
		object    bool
		n         int  // values written so far
		expectKey bool // an object's next token is a key
	}
	var (
		out      bytes.Buffer
		stack    []frame
		maxDepth int
		hide     bool // the next value is a personal field's
		skip     int  // depth inside a container being replaced by "[redacted]"
	)
	// valueDone counts a finished value in its container and reports whether it was the top one.
	valueDone := func() bool {
		if len(stack) == 0 {
			return true
		}
		top := &stack[len(stack)-1]
		top.n++
		top.expectKey = top.object
		return false
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, 0, fmt.Errorf("decoding payload: %w", err)
		}
		d, isDelim := tok.(json.Delim)
		if skip > 0 {
			if isDelim && (d == '{' || d == '[') {
				skip++
			} else if isDelim {
				skip--
			}
			if skip == 0 && valueDone() {
				break
			}
			continue
		}
		if isDelim && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			out.WriteByte(byte(d))
			if valueDone() {
				break
			}
			continue
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.n > 0 && (!top.object || top.expectKey) {
				out.WriteByte(',')
			}
			if top.object && top.expectKey {
				key, _ := tok.(string)
				kb, _ := json.Marshal(key)
				out.Write(kb)
				out.WriteByte(':')
				hide = redactedKeys[strings.ToLower(key)]
				top.expectKey = false
				continue
			}
		}
		if isDelim {
			if hide {
				hide = false
				out.WriteString(`"` + redacted + `"`)
				skip = 1
				continue
			}
			out.WriteByte(byte(d))
			stack = append(stack, frame{object: d == '{', expectKey: d == '{'})
			maxDepth = max(maxDepth, len(stack))
			continue
		}
		switch v := tok.(type) {
		case nil, string:
			if hide && v != nil && v != "" {
				out.WriteString(`"` + redacted + `"`)
				break
			}
			b, _ := json.Marshal(v)
			out.Write(b)
		case json.Number:
			if hide {
				out.WriteString(`"` + redacted + `"`)
				break
			}
			out.WriteString(v.String())
		default: // bool
			if hide {
				out.WriteString(`"` + redacted + `"`)
				break
			}
			b, _ := json.Marshal(v)
			out.Write(b)
		}
		hide = false
		if valueDone() {
			break
		}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, 0, errors.New("decoding payload: data after the JSON value")
	}
	return out.Bytes(), maxDepth, nil
}
