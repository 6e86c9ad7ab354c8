package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file holds the admin event list: stored events by page, newest first, without payloads.

// EventFilter narrows the event list; zero fields match everything.
type EventFilter struct {
	Type   string
	State  string    // queued | unresolved | ignored | processed | …
	Since  time.Time // received at or after
	Until  time.Time // received before
	Cursor string    // from EventPage.Next: continue after that event
	Limit  int       // default 50
}

// EventPage is one page of events, newest first, without payloads.
type EventPage struct {
	Events []Event
	// Next is the cursor of the following (older) page, "" on the last page.
	Next string
}

// ErrBadCursor is a malformed paging cursor.
var ErrBadCursor = errors.New("bad cursor")

// EventsPage lists stored events matching f, newest first.
func (s *Store) EventsPage(ctx context.Context, f EventFilter) (EventPage, error) {
	q := "SELECT id, type, customer_id, person_id, created, livemode, api_version, received_at, source, state FROM stripe_events WHERE 1 = 1"
	var args []any
	if f.Type != "" {
		q += " AND type = ?"
		args = append(args, f.Type)
	}
	if f.State != "" {
		q += " AND state = ?"
		args = append(args, f.State)
	}
	if !f.Since.IsZero() {
		q += " AND received_at >= ?"
		args = append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		q += " AND received_at < ?"
		args = append(args, micros(f.Until))
	}
	if f.Cursor != "" {
		us, id, ok := strings.Cut(f.Cursor, ":")
		at, err := strconv.ParseInt(us, 10, 64)
		if !ok || err != nil || id == "" {
			return EventPage{}, ErrBadCursor
		}
		q += " AND (received_at < ? OR (received_at = ? AND id < ?))"
		args = append(args, at, at, id)
	}
	limit := limitOr(f.Limit, 50)
	q += fmt.Sprintf(" ORDER BY received_at DESC, id DESC LIMIT %d", limit+1)
	r, err := s.query(ctx, q, args...)
	if err != nil {
		return EventPage{}, fmt.Errorf("listing events: %w", err)
	}
	defer r.Close()
	var page EventPage
	for r.Next() {
		var ev Event
		var created, received int64
		if err := r.Scan(&ev.ID, &ev.Type, &ev.CustomerID, &ev.PersonID, &created, &ev.Livemode, &ev.APIVersion, &received, &ev.Source, &ev.State); err != nil {
			return EventPage{}, err
		}
		ev.Created, ev.ReceivedAt = time.Unix(created, 0).UTC(), fromMicros(received)
		page.Events = append(page.Events, ev)
	}
	if err := r.Err(); err != nil {
		return EventPage{}, err
	}
	if len(page.Events) > limit {
		page.Events = page.Events[:limit]
		last := page.Events[limit-1]
		page.Next = strconv.FormatInt(micros(last.ReceivedAt), 10) + ":" + last.ID
	}
	return page, nil
}

// EventTypes returns the distinct event types stored (for the filter).
func (s *Store) EventTypes(ctx context.Context) ([]string, error) {
	return s.textColumn(ctx, "SELECT DISTINCT type FROM stripe_events ORDER BY type LIMIT 200")
}
