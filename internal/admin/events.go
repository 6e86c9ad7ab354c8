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

	"github.com/membersync/membersync/internal/store"
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
		return time.Time{}, newUserError(http.StatusBadRequest, "bad_date", name+" must be a date like 2025-01-31.")
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
		return v, newUserError(http.StatusBadRequest, "bad_cursor", "The page link is malformed; start again from the first page.")
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

// eventView is one event with its redacted payload.
type eventView struct {
	eventRow
	APIVersion string          `json:"api_version"`
	Payload    json.RawMessage `json:"payload"` // redacted
	Pretty     string          `json:"-"`
}

func (h *Handler) loadEvent(ctx context.Context, id string) (eventView, error) {
	ev, err := h.st.Event(ctx, id)
	if err != nil {
		return eventView{}, err
	}
	v := eventView{eventRow: rowOfEvent(ev), APIVersion: ev.APIVersion}
	red, err := redactPayload(ev.Payload)
	if err != nil {
		v.Payload = json.RawMessage(`{"error":"the stored payload is not JSON"}`)
		v.Pretty = "(the stored payload is not JSON)"
		return v, nil
	}
	v.Payload = red
	var buf bytes.Buffer
	_ = json.Indent(&buf, red, "", "  ")
	v.Pretty = buf.String()
	return v, nil
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

// redactPayload returns the event JSON, in its own key order, with the values of personal fields
// replaced by "[redacted]" (empty strings and nulls are left as they are).
func redactPayload(raw []byte) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out bytes.Buffer
	if err := copyRedacted(dec, &out, false); err != nil {
		return nil, fmt.Errorf("decoding payload: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decoding payload: data after the JSON value")
	}
	return out.Bytes(), nil
}

// copyRedacted copies the decoder's next value to out, or "[redacted]" in its place.
func copyRedacted(dec *json.Decoder, out *bytes.Buffer, redact bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok {
		if redact {
			out.WriteString(`"` + redacted + `"`)
			for depth := 1; depth > 0; {
				t, err := dec.Token()
				if err != nil {
					return err
				}
				if d, ok := t.(json.Delim); ok {
					if d == '{' || d == '[' {
						depth++
					} else {
						depth--
					}
				}
			}
			return nil
		}
		out.WriteRune(rune(d))
		for i := 0; dec.More(); i++ {
			if i > 0 {
				out.WriteByte(',')
			}
			hide := false
			if d == '{' {
				k, err := dec.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				kb, _ := json.Marshal(key)
				out.Write(kb)
				out.WriteByte(':')
				hide = redactedKeys[strings.ToLower(key)]
			}
			if err := copyRedacted(dec, out, hide); err != nil {
				return err
			}
		}
		end, err := dec.Token()
		if err != nil {
			return err
		}
		out.WriteRune(rune(end.(json.Delim)))
		return nil
	}
	if redact && tok != nil && tok != "" {
		out.WriteString(`"` + redacted + `"`)
		return nil
	}
	switch v := tok.(type) {
	case json.Number:
		out.WriteString(v.String())
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		out.Write(b)
	}
	return nil
}
