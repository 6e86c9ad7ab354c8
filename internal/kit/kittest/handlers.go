package kittest

import (
	"fmt"
	"net/http"
	"sort"

	"github.com/membersync/membersync/internal/identity"
)

// emailBody is the body of the calls that name a subscriber by email.
type emailBody struct {
	EmailAddress string `json:"email_address"`
}

// record logs a mutation of the endpoint that r was routed to.
func (s *Server) record(r *http.Request, format string, args ...any) {
	s.Faults.Record(r.Pattern, fmt.Sprintf(format, args...))
}

// noteAlready counts an idempotent "already done" answer of the endpoint r was routed to.
// Guarded by s.mu.
func (s *Server) noteAlready(r *http.Request) { s.already[r.Pattern]++ }

// writePage answers the page of items that r asks for as {name: [...], "pagination": {...}}. The
// items are sorted by key, the value a page cursor names; render turns one item into its JSON.
func writePage[T any](w http.ResponseWriter, r *http.Request, name string, items []T, key func(T) int64, render func(T) map[string]any) {
	keys := make([]int64, len(items))
	for i, it := range items {
		keys[i] = key(it)
	}
	lo, hi, p, err := paginate(r, keys)
	if err != nil {
		writeErrors(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	out := make([]map[string]any, 0, hi-lo)
	for _, it := range items[lo:hi] {
		out = append(out, render(it))
	}
	writeJSON(w, http.StatusOK, map[string]any{name: out, "pagination": p})
}

// listSubscribers serves GET /v4/subscribers?email_address=&status=.
func (s *Server) listSubscribers(w http.ResponseWriter, r *http.Request) {
	status, ok := statusFilter(r)
	if !ok {
		writeErrors(w, http.StatusUnprocessableEntity, "Status is not included in the list")
		return
	}
	email := r.URL.Query().Get("email_address")
	s.mu.Lock()
	defer s.mu.Unlock()
	var subs []*Subscriber
	for _, sub := range s.subscribers {
		if email != "" && sub.Email != identity.NormalizeEmail(email) {
			continue
		}
		if status != "" && sub.State != status {
			continue
		}
		subs = append(subs, sub)
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].ID < subs[j].ID })
	writePage(w, r, "subscribers", subs, func(sub *Subscriber) int64 { return sub.ID },
		func(sub *Subscriber) map[string]any { return subscriberJSON(sub) })
}

// upsertSubscriber serves POST /v4/subscribers: 201 created, 200 existed (only first_name changes).
func (s *Server) upsertSubscriber(w http.ResponseWriter, r *http.Request) {
	var body struct {
		EmailAddress string  `json:"email_address"`
		FirstName    *string `json:"first_name"`
		State        string  `json:"state"`
	}
	if !decode(w, r, &body) {
		return
	}
	if !validEmail(body.EmailAddress) {
		writeErrors(w, http.StatusUnprocessableEntity, "Email address is invalid")
		return
	}
	if body.State != "" && !states[body.State] {
		writeErrors(w, http.StatusUnprocessableEntity, "State is not included in the list")
		return
	}
	first := ""
	if body.FirstName != nil {
		first = *body.FirstName
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, created := s.upsert(body.EmailAddress, first, body.State)
	if created {
		s.record(r, "create subscriber %d", sub.ID)
		writeJSON(w, http.StatusCreated, map[string]any{"subscriber": subscriberJSON(sub)})
		return
	}
	s.noteAlready(r)
	if body.FirstName != nil && *body.FirstName != sub.FirstName {
		sub.FirstName = *body.FirstName
		s.record(r, "update first_name of subscriber %d", sub.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriber": subscriberJSON(sub)})
}

// subscriberByPath returns the subscriber named by the {id} path value. Guarded by s.mu.
func (s *Server) subscriberByPath(r *http.Request) *Subscriber {
	id, ok := pathID(r, "id")
	if !ok {
		return nil
	}
	return s.subscribers[id]
}

// getSubscriber serves GET /v4/subscribers/{id}.
func (s *Server) getSubscriber(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subscriberByPath(r)
	if sub == nil {
		notFound(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriber": subscriberJSON(sub)})
}

// updateSubscriber serves PUT /v4/subscribers/{id}: email_address and first_name.
func (s *Server) updateSubscriber(w http.ResponseWriter, r *http.Request) {
	var body struct {
		EmailAddress *string `json:"email_address"`
		FirstName    *string `json:"first_name"`
	}
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subscriberByPath(r)
	if sub == nil {
		notFound(w)
		return
	}
	if body.EmailAddress != nil {
		if !validEmail(*body.EmailAddress) {
			writeErrors(w, http.StatusUnprocessableEntity, "Email address is invalid")
			return
		}
		if identity.NormalizeEmail(*body.EmailAddress) != sub.Email {
			if err := s.setEmail(sub, *body.EmailAddress); err != nil {
				writeErrors(w, http.StatusUnprocessableEntity, "Email address has already been taken")
				return
			}
			s.record(r, "change email of subscriber %d", sub.ID)
		}
	}
	if body.FirstName != nil && *body.FirstName != sub.FirstName {
		sub.FirstName = *body.FirstName
		s.record(r, "update first_name of subscriber %d", sub.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscriber": subscriberJSON(sub)})
}

// unsubscribe serves POST /v4/subscribers/{id}/unsubscribe (204).
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subscriberByPath(r)
	if sub == nil {
		notFound(w)
		return
	}
	if sub.State == stateCancelled {
		s.noteAlready(r)
	} else {
		sub.State = stateCancelled
		s.record(r, "unsubscribe subscriber %d", sub.ID)
	}
	w.WriteHeader(http.StatusNoContent)
}

// subscriberTags serves GET /v4/subscribers/{id}/tags, in tagging order.
func (s *Server) subscriberTags(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.subscriberByPath(r)
	if sub == nil {
		notFound(w)
		return
	}
	type tagged struct {
		tag *tag
		e   entry
	}
	var ts []tagged
	for id, members := range s.taggings {
		if e, ok := members[sub.ID]; ok {
			ts = append(ts, tagged{s.tags[id], e})
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].e.seq < ts[j].e.seq })
	writePage(w, r, "tags", ts, func(t tagged) int64 { return t.e.seq }, func(t tagged) map[string]any {
		return map[string]any{"id": t.tag.id, "name": t.tag.name, "tagged_at": timestamp(t.e.at)}
	})
}

// listTags serves GET /v4/tags, in id order.
func (s *Server) listTags(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]int64, 0, len(s.tags))
	for id := range s.tags {
		keys = append(keys, id)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	writePage(w, r, "tags", keys, func(id int64) int64 { return id }, func(id int64) map[string]any {
		t := s.tags[id]
		return map[string]any{"id": t.id, "name": t.name, "created_at": timestamp(t.createdAt)}
	})
}

// postTag serves POST /v4/tags: idempotent by name, 201 new, 200 existing.
func (s *Server) postTag(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Name string `json:"name"`
	}
	if !decode(w, r, &body) {
		return
	}
	if body.Name == "" {
		writeErrors(w, http.StatusUnprocessableEntity, "Name can't be blank")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, created := s.ensureTag(body.Name)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.record(r, "create tag %d", t.id)
	} else {
		s.noteAlready(r)
	}
	writeJSON(w, status, map[string]any{"tag": map[string]any{"id": t.id, "name": t.name, "created_at": timestamp(t.createdAt)}})
}

// tagByPath returns the tag named by the {tag_id} path value. Guarded by s.mu.
func (s *Server) tagByPath(r *http.Request) *tag {
	id, ok := pathID(r, "tag_id")
	if !ok {
		return nil
	}
	return s.tags[id]
}

// listTagSubscribers serves GET /v4/tags/{tag_id}/subscribers, in tagging order.
func (s *Server) listTagSubscribers(w http.ResponseWriter, r *http.Request) {
	status, ok := statusFilter(r)
	if !ok {
		writeErrors(w, http.StatusUnprocessableEntity, "Status is not included in the list")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tagByPath(r)
	if t == nil {
		notFound(w)
		return
	}
	type tagged struct {
		sub *Subscriber
		e   entry
	}
	var ts []tagged
	for id, e := range s.taggings[t.id] {
		if sub := s.subscribers[id]; sub != nil && (status == "" || sub.State == status) {
			ts = append(ts, tagged{sub, e})
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].e.seq < ts[j].e.seq })
	writePage(w, r, "subscribers", ts, func(x tagged) int64 { return x.e.seq }, func(x tagged) map[string]any {
		return subscriberJSON(x.sub, "tagged_at", timestamp(x.e.at))
	})
}

// tagByEmail serves POST /v4/tags/{tag_id}/subscribers {email_address}: 201 tagged, 200 already,
// each with the subscriber; 404 for an unknown tag, 422 for a missing address, and for an address
// no subscriber has Options.UnknownEmailStatus (v4 does not create subscribers here: "The subscriber
// being tagged must already exist").
func (s *Server) tagByEmail(w http.ResponseWriter, r *http.Request) {
	var body emailBody
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tagByPath(r)
	if t == nil {
		notFound(w)
		return
	}
	if body.EmailAddress == "" {
		writeErrors(w, http.StatusUnprocessableEntity, "Either subscriber id or email address is required to tag subscriber")
		return
	}
	sub := s.lookup(body.EmailAddress)
	if sub == nil {
		s.unknownEmail(w)
		return
	}
	s.answerTag(w, r, t, sub)
}

// unknownEmail answers a by-email call for an address no subscriber has, as Options say: Kit
// documents neither a status nor a message for it.
func (s *Server) unknownEmail(w http.ResponseWriter) {
	if s.opts.UnknownEmailStatus == http.StatusUnprocessableEntity {
		writeErrors(w, http.StatusUnprocessableEntity, "Subscriber does not exist")
		return
	}
	notFound(w)
}

// tagByID serves POST /v4/tags/{tag_id}/subscribers/{id}: 201 tagged, 200 already, 404.
func (s *Server) tagByID(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, sub := s.tagByPath(r), s.subscriberByPath(r)
	if t == nil || sub == nil {
		notFound(w)
		return
	}
	s.answerTag(w, r, t, sub)
}

// answerTag tags sub and answers 201, or 200 when it was already tagged. Guarded by s.mu.
func (s *Server) answerTag(w http.ResponseWriter, r *http.Request, t *tag, sub *Subscriber) {
	e, added := s.tag(t.id, sub)
	status := http.StatusOK
	if added {
		status = http.StatusCreated
		s.record(r, "tag subscriber %d with tag %d", sub.ID, t.id)
		s.runRules(t.id, sub)
	} else {
		s.noteAlready(r)
	}
	writeJSON(w, status, map[string]any{"subscriber": subscriberJSON(sub, "tagged_at", timestamp(e.at))})
}

// untagByEmail serves DELETE /v4/tags/{tag_id}/subscribers with a JSON body {email_address}.
func (s *Server) untagByEmail(w http.ResponseWriter, r *http.Request) {
	var body emailBody
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tagByPath(r)
	if t == nil {
		notFound(w)
		return
	}
	if body.EmailAddress == "" {
		writeErrors(w, http.StatusUnprocessableEntity, "Email address is invalid")
		return
	}
	s.answerUntag(w, r, t, s.lookup(body.EmailAddress))
}

// untagByID serves DELETE /v4/tags/{tag_id}/subscribers/{id}: 204, or 404 when not tagged.
func (s *Server) untagByID(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tagByPath(r)
	if t == nil {
		notFound(w)
		return
	}
	s.answerUntag(w, r, t, s.subscriberByPath(r))
}

// answerUntag removes the tagging and answers 204, or 404 when there was none. Guarded by s.mu.
func (s *Server) answerUntag(w http.ResponseWriter, r *http.Request, t *tag, sub *Subscriber) {
	if sub == nil {
		notFound(w)
		return
	}
	if _, ok := s.taggings[t.id][sub.ID]; !ok {
		notFound(w)
		return
	}
	delete(s.taggings[t.id], sub.ID)
	s.record(r, "untag subscriber %d from tag %d", sub.ID, t.id)
	w.WriteHeader(http.StatusNoContent)
}

// listSequences serves GET /v4/sequences, in id order.
func (s *Server) listSequences(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]int64, 0, len(s.sequences))
	for id := range s.sequences {
		keys = append(keys, id)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	writePage(w, r, "sequences", keys, func(id int64) int64 { return id }, func(id int64) map[string]any {
		q := s.sequences[id]
		return map[string]any{"id": q.id, "name": q.name, "hold": !q.active, "repeat": false,
			"created_at": timestamp(q.createdAt)}
	})
}

// addToSequence serves POST /v4/sequences/{id}/subscribers {email_address}: 201 added, 200 already,
// 422 "Sequence is inactive", 404 for an unknown sequence, and Options.UnknownEmailStatus for an
// address no subscriber has ("The subscriber being added to the sequence must already exist").
func (s *Server) addToSequence(w http.ResponseWriter, r *http.Request) {
	var body emailBody
	if !decode(w, r, &body) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, _ := pathID(r, "id")
	q := s.sequences[id]
	if q == nil {
		notFound(w)
		return
	}
	if body.EmailAddress == "" {
		writeErrors(w, http.StatusUnprocessableEntity, "Email address is invalid")
		return
	}
	if !q.active {
		writeErrors(w, http.StatusUnprocessableEntity, "Sequence is inactive")
		return
	}
	sub := s.lookup(body.EmailAddress)
	if sub == nil {
		s.unknownEmail(w)
		return
	}
	e, ok := q.entries[sub.ID]
	status := http.StatusOK
	if ok {
		s.noteAlready(r)
	} else {
		e = entry{seq: s.nextSeq(), at: s.now().UTC()}
		q.entries[sub.ID] = e
		status = http.StatusCreated
		s.record(r, "add subscriber %d to sequence %d", sub.ID, q.id)
	}
	writeJSON(w, status, map[string]any{"subscriber": subscriberJSON(sub, "added_at", timestamp(e.at))})
}
