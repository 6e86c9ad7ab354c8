package circletest

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/membersync/membersync/internal/identity"
)

// directEndpoint names changes made through the control API (behind membersync's back) in the
// Faults mutation log, so that they are told apart from changes made over HTTP.
const directEndpoint = "direct"

// Member is a community member as the fake holds it.
type Member struct {
	ID    int64
	Email string // normalized
	Name  string
	// Active is false while an invited member has not confirmed their profile.
	Active    bool
	CreatedAt time.Time
}

func (m *member) export() Member {
	return Member{ID: m.id, Email: m.email, Name: m.name, Active: m.active, CreatedAt: m.createdAt}
}

// AddAccessGroup creates an active access group named name and returns its id.
func (s *Server) AddAccessGroup(name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := &group{id: s.nextGroup, name: name, status: "active", createdAt: s.opts.Now()}
	s.nextGroup++
	s.groups = append(s.groups, g)
	s.Faults.Record(directEndpoint, fmt.Sprintf("create access group %d", g.id))
	return g.id
}

// ArchiveAccessGroup marks access group id archived; its members stay.
func (s *Server) ArchiveAccessGroup(id int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByID(id)
	if g == nil {
		return fmt.Errorf("no access group %d", id)
	}
	g.status = "archived"
	s.Faults.Record(directEndpoint, fmt.Sprintf("archive access group %d", g.id))
	return nil
}

// Members returns every community member, oldest first.
func (s *Server) Members() []Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Member, 0, len(s.members))
	for _, m := range s.members {
		out = append(out, m.export())
	}
	return out
}

// MemberByEmail returns the member with email (matched on the normalized address).
func (s *Server) MemberByEmail(email string) (Member, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memberByEmail(email)
	if m == nil {
		return Member{}, false
	}
	return m.export(), true
}

// CreateMemberDirect adds an active member, as if the person had joined the community on their
// own. For an email that is already a member it returns that member unchanged.
func (s *Server) CreateMemberDirect(email, name string) Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.memberByEmail(email); m != nil {
		return m.export()
	}
	m := s.addMember(email, name, true)
	s.Faults.Record(directEndpoint, fmt.Sprintf("create member %d", m.id))
	return m.export()
}

// ConfirmMember marks the member with email active, as when an invited person accepts; it
// reports whether such a member exists.
func (s *Server) ConfirmMember(email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memberByEmail(email)
	if m == nil {
		return false
	}
	m.active = true
	m.updatedAt = s.opts.Now()
	s.Faults.Record(directEndpoint, fmt.Sprintf("confirm member %d", m.id))
	return true
}

// RemoveMemberDirect removes the member with email from the community and every access group,
// as an admin would in Circle's UI; it reports whether such a member existed.
func (s *Server) RemoveMemberDirect(email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memberByEmail(email)
	if m == nil {
		return false
	}
	s.removeMember(m)
	s.Faults.Record(directEndpoint, fmt.Sprintf("remove member %d from the community", m.id))
	return true
}

// GroupMemberEmails returns the emails of access group groupID's members, sorted; nil for an
// unknown group.
func (s *Server) GroupMemberEmails(groupID int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByID(groupID)
	if g == nil {
		return nil
	}
	out := make([]string, 0, len(g.memberships))
	for _, ms := range g.memberships {
		if m := s.memberByID(ms.memberID); m != nil {
			out = append(out, m.email)
		}
	}
	sort.Strings(out)
	return out
}

// AddToGroupDirect puts the member with email into access group groupID (a no-op when already
// there), as an admin would in Circle's UI.
func (s *Server) AddToGroupDirect(groupID int64, email string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, m, err := s.direct(groupID, email)
	if err != nil {
		return err
	}
	if s.join(g, m) {
		s.Faults.Record(directEndpoint, fmt.Sprintf("add member %d to access group %d", m.id, g.id))
	}
	return nil
}

// RemoveFromGroupDirect takes the member with email out of access group groupID (a no-op when not
// there), as an admin would in Circle's UI.
func (s *Server) RemoveFromGroupDirect(groupID int64, email string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, m, err := s.direct(groupID, email)
	if err != nil {
		return err
	}
	if s.leave(g, m) {
		s.Faults.Record(directEndpoint, fmt.Sprintf("remove member %d from access group %d", m.id, g.id))
	}
	return nil
}

// direct resolves a control-API group and member. Callers hold s.mu.
func (s *Server) direct(groupID int64, email string) (*group, *member, error) {
	g := s.groupByID(groupID)
	if g == nil {
		return nil, nil, fmt.Errorf("no access group %d", groupID)
	}
	m := s.memberByEmail(email)
	if m == nil {
		return nil, nil, errors.New("no community member with that email")
	}
	return g, m, nil
}

// DuplicateMembers returns the normalized emails held by more than one member, sorted. Circle
// should never hold one person twice, so a test of membersync expects this to be empty.
func (s *Server) DuplicateMembers() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]int{}
	for _, m := range s.members {
		seen[identity.NormalizeEmail(m.email)]++
	}
	var out []string
	for e, n := range seen {
		if n > 1 {
			out = append(out, e)
		}
	}
	slices.Sort(out)
	return out
}

// RequestsThisMonth returns how many requests reached the fake in the current calendar month (UTC,
// by Options.Now), whatever their answer: Circle's Admin API quota is monthly.
func (s *Server) RequestsThisMonth() int {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.UTC().Format("2006-01") != s.month {
		return 0
	}
	return s.monthCount
}
