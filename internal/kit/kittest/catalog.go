package kittest

import "fmt"

// RenameTag renames tag id, as the founder would in Kit (Kit's API has PUT /v4/tags/{id} {name}
// for it too), and reports whether the tag exists.
func (s *Server) RenameTag(id int64, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tags[id]
	if t == nil {
		return false
	}
	delete(s.tagByName, t.name)
	t.name = name
	s.tagByName[name] = id
	s.Faults.Record(controlEndpoint, fmt.Sprintf("rename tag %d", id))
	return true
}

// RenameSequence renames sequence id, as the founder would in Kit's editor, and reports whether
// the sequence exists.
func (s *Server) RenameSequence(id int64, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.sequences[id]
	if q == nil {
		return false
	}
	q.name = name
	s.Faults.Record(controlEndpoint, fmt.Sprintf("rename sequence %d", id))
	return true
}
