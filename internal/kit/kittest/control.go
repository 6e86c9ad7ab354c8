package kittest

import (
	"fmt"
	"sort"

	"github.com/membersync/membersync/internal/identity"
)

// controlEndpoint names the mutations made through the Go control API in the mutation log, so that
// they can be told apart from those made through the HTTP API.
const controlEndpoint = "control"

// CreateTag returns the id of the tag named name, creating it when missing.
func (s *Server) CreateTag(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, created := s.ensureTag(name)
	if created {
		s.Faults.Record(controlEndpoint, fmt.Sprintf("create tag %d", t.id))
	}
	return t.id
}

// CreateSequence creates a sequence and returns its id. An inactive sequence refuses new
// subscribers with 422 "Sequence is inactive".
func (s *Server) CreateSequence(name string, active bool) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := &sequence{id: s.nextID(), name: name, active: active, createdAt: s.now().UTC(), entries: map[int64]entry{}}
	s.sequences[q.id] = q
	s.Faults.Record(controlEndpoint, fmt.Sprintf("create sequence %d", q.id))
	return q.id
}

// AddRule sets up a Kit automation rule with the trigger "Tag added" (tagID) and the action
// "Subscribe to a sequence" (sequenceID), as the founder would in Kit (Automate → Rules), and
// reports whether both exist. Kit documents such rules (help.kit.com, "How to create and manage
// automation rules in Kit") but not that a tag added through the API fires them; the fake assumes it
// does: a tag newly added through the API enrolls the subscriber in each active sequence of the
// tag's rules (once; an inactive sequence is skipped). A tag already held, or one added with
// TagDirect (a manual edit, which a third-party guide says fires no rule), runs nothing.
func (s *Server) AddRule(tagID, sequenceID int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tags[tagID] == nil || s.sequences[sequenceID] == nil {
		return false
	}
	s.rules[tagID] = append(s.rules[tagID], sequenceID)
	s.Faults.Record(controlEndpoint, fmt.Sprintf("add rule: tag %d added → subscribe to sequence %d", tagID, sequenceID))
	return true
}

// runRules runs the rules of tag tagID for sub, just tagged. Guarded by s.mu.
func (s *Server) runRules(tagID int64, sub *Subscriber) {
	for _, id := range s.rules[tagID] {
		q := s.sequences[id]
		if q == nil || !q.active {
			continue
		}
		if _, ok := q.entries[sub.ID]; ok {
			continue
		}
		q.entries[sub.ID] = entry{seq: s.nextSeq(), at: s.now().UTC()}
		s.Faults.Record(ruleEndpoint, fmt.Sprintf("add subscriber %d to sequence %d", sub.ID, id))
	}
}

// ruleEndpoint names, in the mutation log, what Kit's automation rules did (AddRule).
const ruleEndpoint = "rule"

// SetSequenceActive activates or deactivates sequence id and reports whether it exists.
func (s *Server) SetSequenceActive(id int64, active bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.sequences[id]
	if q == nil {
		return false
	}
	q.active = active
	s.Faults.Record(controlEndpoint, fmt.Sprintf("set sequence %d active=%t", id, active))
	return true
}

// CreateSubscriber returns the subscriber with email, creating an active one when missing, as a
// signup outside membersync would.
func (s *Server) CreateSubscriber(email, firstName string) Subscriber {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, created := s.upsert(email, firstName, "")
	if created {
		s.Faults.Record(controlEndpoint, fmt.Sprintf("create subscriber %d", sub.ID))
	}
	return *sub
}

// Subscriber returns the subscriber with email (compared normalized), if any.
func (s *Server) Subscriber(email string) (Subscriber, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.lookup(email)
	if sub == nil {
		return Subscriber{}, false
	}
	return *sub, true
}

// Subscribers returns every subscriber, by id.
func (s *Server) Subscribers() []Subscriber {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Subscriber, 0, len(s.subscribers))
	for _, sub := range s.subscribers {
		out = append(out, *sub)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// TagsOf returns the ids of the tags the subscriber with email holds, ascending; nil when the
// subscriber does not exist.
func (s *Server) TagsOf(email string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.lookup(email)
	if sub == nil {
		return nil
	}
	var ids []int64
	for id, members := range s.taggings {
		if _, ok := members[sub.ID]; ok {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// SequencesOf returns the ids of the sequences the subscriber with email is in, ascending.
func (s *Server) SequencesOf(email string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.lookup(email)
	if sub == nil {
		return nil
	}
	var ids []int64
	for id, q := range s.sequences {
		if _, ok := q.entries[sub.ID]; ok {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

// TagDirect tags the subscriber with email, as someone working in Kit's app would; the subscriber
// is created when missing. It fails only for an unknown tag.
func (s *Server) TagDirect(tagID int64, email string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tags[tagID] == nil {
		return fmt.Errorf("kittest: no tag %d", tagID)
	}
	sub, created := s.upsert(email, "", "")
	if created {
		s.Faults.Record(controlEndpoint, fmt.Sprintf("create subscriber %d", sub.ID))
	}
	if _, added := s.tag(tagID, sub); added {
		s.Faults.Record(controlEndpoint, fmt.Sprintf("tag subscriber %d with tag %d", sub.ID, tagID))
	}
	return nil
}

// UntagDirect removes tag tagID from the subscriber with email and reports whether it was there.
func (s *Server) UntagDirect(tagID int64, email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.lookup(email)
	if sub == nil {
		return false
	}
	if _, ok := s.taggings[tagID][sub.ID]; !ok {
		return false
	}
	delete(s.taggings[tagID], sub.ID)
	s.Faults.Record(controlEndpoint, fmt.Sprintf("untag subscriber %d from tag %d", sub.ID, tagID))
	return true
}

// SetSubscriberEmail changes a subscriber's email as the subscriber would in Kit's preferences. It
// fails when no subscriber has oldEmail or another one has newEmail.
func (s *Server) SetSubscriberEmail(oldEmail, newEmail string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.lookup(oldEmail)
	if sub == nil {
		return fmt.Errorf("kittest: no subscriber has the old email address")
	}
	if err := s.setEmail(sub, newEmail); err != nil {
		return fmt.Errorf("kittest: %w", err)
	}
	s.Faults.Record(controlEndpoint, fmt.Sprintf("change email of subscriber %d", sub.ID))
	return nil
}

// Unsubscribe cancels the subscriber with email, as an unsubscribe link would, and reports whether
// it exists.
func (s *Server) Unsubscribe(email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub := s.lookup(email)
	if sub == nil {
		return false
	}
	sub.State = stateCancelled
	s.Faults.Record(controlEndpoint, fmt.Sprintf("unsubscribe subscriber %d", sub.ID))
	return true
}

// AlreadyAnswers returns, per endpoint, how many idempotent "already done" answers the fake gave
// (200 on upsert, tag, sequence add, tag create; repeated unsubscribe). Such answers change nothing,
// so they never appear in the mutation log.
func (s *Server) AlreadyAnswers() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.already))
	for k, v := range s.already {
		m[k] = v
	}
	return m
}

// DuplicateEntries describes every duplicate the fake holds: two subscribers with one normalized
// email, two tags with one name, an email index that disagrees with the subscribers, and a tagging
// or sequence entry of a subscriber that does not exist. Taggings and sequence entries are sets, so
// a repeated tag or sequence add can never be stored twice; the result must always be empty.
func (s *Server) DuplicateEntries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	owners := map[string][]int64{}
	for id, sub := range s.subscribers {
		owners[identity.NormalizeEmail(sub.Email)] = append(owners[identity.NormalizeEmail(sub.Email)], id)
		if s.byEmail[sub.Email] != id {
			out = append(out, fmt.Sprintf("subscriber %d is not indexed by its email", id))
		}
	}
	for email, ids := range owners {
		if len(ids) > 1 {
			sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
			out = append(out, fmt.Sprintf("subscribers %v share the email %s", ids, email))
		}
	}
	for email, id := range s.byEmail {
		if sub := s.subscribers[id]; sub == nil || sub.Email != email {
			out = append(out, fmt.Sprintf("email index entry %s points at subscriber %d, which does not hold it", email, id))
		}
	}
	names := map[string][]int64{}
	for id, t := range s.tags {
		names[t.name] = append(names[t.name], id)
	}
	for name, ids := range names {
		if len(ids) > 1 {
			out = append(out, fmt.Sprintf("tags %v share the name %q", ids, name))
		}
	}
	for tagID, members := range s.taggings {
		for subID := range members {
			if s.subscribers[subID] == nil {
				out = append(out, fmt.Sprintf("tag %d holds missing subscriber %d", tagID, subID))
			}
		}
	}
	for _, q := range s.sequences {
		for subID := range q.entries {
			if s.subscribers[subID] == nil {
				out = append(out, fmt.Sprintf("sequence %d holds missing subscriber %d", q.id, subID))
			}
		}
	}
	sort.Strings(out)
	return out
}

// Tagged returns how many subscribers hold tag tagID.
func (s *Server) Tagged(tagID int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.taggings[tagID])
}
