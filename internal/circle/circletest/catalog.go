package circletest

import "fmt"

// RenameAccessGroup renames access group id, as the community's admin would in Circle, so that
// tests can watch a name change reach membersync's catalog.
func (s *Server) RenameAccessGroup(id int64, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByID(id)
	if g == nil {
		return fmt.Errorf("no access group %d", id)
	}
	g.name = name
	s.Faults.Record(directEndpoint, fmt.Sprintf("rename access group %d", g.id))
	return nil
}
