package kittest

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/identity"
)

// Subscriber is a subscriber held by the fake.
type Subscriber struct {
	ID        int64
	Email     string // normalized: trimmed, NFC, lowercase
	FirstName string
	State     string // "active" or "cancelled"
	CreatedAt time.Time
}

type tag struct {
	id        int64
	name      string
	createdAt time.Time
}

type sequence struct {
	id        int64
	name      string
	active    bool
	createdAt time.Time
	entries   map[int64]entry // subscriber id → entry
}

// entry is one tagging or sequence subscription; seq orders them for cursors.
type entry struct {
	seq int64
	at  time.Time
}

// Subscriber states the fake knows.
const (
	stateActive    = "active"
	stateCancelled = "cancelled"
)

var states = map[string]bool{"active": true, "inactive": true, "cancelled": true, "bounced": true, "complained": true}

func (s *Server) nextID() int64 {
	s.lastID++
	return s.lastID
}

func (s *Server) nextSeq() int64 {
	s.lastSeq++
	return s.lastSeq
}

// lookup returns the subscriber with email, if any. Guarded by s.mu.
func (s *Server) lookup(email string) *Subscriber {
	id, ok := s.byEmail[identity.NormalizeEmail(email)]
	if !ok {
		return nil
	}
	return s.subscribers[id]
}

// upsert creates the subscriber for email or returns the existing one. Guarded by s.mu.
func (s *Server) upsert(email, firstName, state string) (sub *Subscriber, created bool) {
	if sub := s.lookup(email); sub != nil {
		return sub, false
	}
	if state == "" {
		state = stateActive
	}
	sub = &Subscriber{ID: s.nextID(), Email: identity.NormalizeEmail(email), FirstName: firstName,
		State: state, CreatedAt: s.now().UTC()}
	s.subscribers[sub.ID] = sub
	s.byEmail[sub.Email] = sub.ID
	return sub, true
}

// setEmail moves sub to email; it fails when another subscriber holds it. Guarded by s.mu.
func (s *Server) setEmail(sub *Subscriber, email string) error {
	norm := identity.NormalizeEmail(email)
	if other, ok := s.byEmail[norm]; ok && other != sub.ID {
		return fmt.Errorf("email address has already been taken")
	}
	delete(s.byEmail, sub.Email)
	sub.Email = norm
	s.byEmail[norm] = sub.ID
	return nil
}

// ensureTag returns the tag named name, creating it when missing. Guarded by s.mu.
func (s *Server) ensureTag(name string) (*tag, bool) {
	if id, ok := s.tagByName[name]; ok {
		return s.tags[id], false
	}
	t := &tag{id: s.nextID(), name: name, createdAt: s.now().UTC()}
	s.tags[t.id] = t
	s.tagByName[name] = t.id
	s.taggings[t.id] = map[int64]entry{}
	return t, true
}

// tag adds tagID to sub and reports whether it was new. Guarded by s.mu.
func (s *Server) tag(tagID int64, sub *Subscriber) (entry, bool) {
	if e, ok := s.taggings[tagID][sub.ID]; ok {
		return e, false
	}
	e := entry{seq: s.nextSeq(), at: s.now().UTC()}
	s.taggings[tagID][sub.ID] = e
	return e, true
}

// validEmail is the fake's idea of an acceptable address: something@something.
func validEmail(email string) bool {
	local, domain, ok := strings.Cut(strings.TrimSpace(email), "@")
	return ok && local != "" && domain != "" && !strings.ContainsAny(domain, "@ ")
}

// pathID parses the path value name as an id.
func pathID(r *http.Request, name string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return id, err == nil && id > 0
}

func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// subscriberJSON renders Kit's subscriber object; extra adds fields such as tagged_at.
func subscriberJSON(sub *Subscriber, extra ...any) map[string]any {
	m := map[string]any{
		"id":            sub.ID,
		"first_name":    nil,
		"email_address": sub.Email,
		"state":         sub.State,
		"created_at":    timestamp(sub.CreatedAt),
		"fields":        map[string]any{},
	}
	if sub.FirstName != "" {
		m["first_name"] = sub.FirstName
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i].(string)] = extra[i+1]
	}
	return m
}

// pagination is Kit's cursor block.
type pagination struct {
	HasPreviousPage bool    `json:"has_previous_page"`
	HasNextPage     bool    `json:"has_next_page"`
	StartCursor     *string `json:"start_cursor"`
	EndCursor       *string `json:"end_cursor"`
	PerPage         int     `json:"per_page"`
}

// Page sizes, as Kit documents them.
const (
	defaultPerPage = 500
	maxPerPage     = 1000
)

// paginate picks the window of keys (sorted ascending) that r asks for with after, before and
// per_page, and returns the index range [lo, hi) and the pagination block. Cursors name the key of
// the first or last item, encoded like Kit's ("WzEyXQ==" is "[12]").
func paginate(r *http.Request, keys []int64) (lo, hi int, p pagination, err error) {
	q := r.URL.Query()
	per := defaultPerPage
	if v := q.Get("per_page"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil {
			return 0, 0, p, fmt.Errorf("per_page is not a number")
		}
		per = min(max(n, 1), maxPerPage)
	}
	p.PerPage = per
	lo, hi = 0, min(per, len(keys))
	switch {
	case q.Get("after") != "":
		k, ok := decodeCursor(q.Get("after"))
		if !ok {
			return 0, 0, p, fmt.Errorf("invalid cursor")
		}
		lo = sort.Search(len(keys), func(i int) bool { return keys[i] > k })
		hi = min(lo+per, len(keys))
	case q.Get("before") != "":
		k, ok := decodeCursor(q.Get("before"))
		if !ok {
			return 0, 0, p, fmt.Errorf("invalid cursor")
		}
		hi = sort.Search(len(keys), func(i int) bool { return keys[i] >= k })
		lo = max(hi-per, 0)
	}
	p.HasPreviousPage = lo > 0
	p.HasNextPage = hi < len(keys)
	if lo < hi {
		start, end := encodeCursor(keys[lo]), encodeCursor(keys[hi-1])
		p.StartCursor, p.EndCursor = &start, &end
	}
	return lo, hi, p, nil
}

func encodeCursor(k int64) string {
	return base64.StdEncoding.EncodeToString([]byte("[" + strconv.FormatInt(k, 10) + "]"))
}

func decodeCursor(c string) (int64, bool) {
	b, err := base64.StdEncoding.DecodeString(c)
	if err != nil {
		return 0, false
	}
	s, ok := strings.CutPrefix(string(b), "[")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, "]")
	if !ok {
		return 0, false
	}
	k, err := strconv.ParseInt(s, 10, 64)
	return k, err == nil
}

// statusFilter returns the state a list request asks for: "" for all, default active.
func statusFilter(r *http.Request) (string, bool) {
	switch v := r.URL.Query().Get("status"); v {
	case "":
		return stateActive, true
	case "all":
		return "", true
	default:
		return v, states[v]
	}
}
