package circletest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/identity"
)

// memberJSON renders m as Circle's community member object (a subset of its fields).
func (s *Server) memberJSON(m *member) map[string]any {
	first, last, _ := strings.Cut(m.name, " ")
	accepted := ""
	if m.active {
		accepted = timestamp(m.updatedAt)
	}
	return map[string]any{
		"id":                       m.id,
		"name":                     m.name,
		"first_name":               first,
		"last_name":                last,
		"email":                    m.email,
		"headline":                 m.headline,
		"active":                   m.active,
		"accepted_invitation":      accepted,
		"community_id":             s.opts.CommunityID,
		"created_at":               timestamp(m.createdAt),
		"updated_at":               timestamp(m.updatedAt),
		"avatar_url":               nil,
		"member_tags":              []any{},
		"flattened_profile_fields": map[string]any{},
	}
}

// memberByEmail returns the oldest member with the normalized email, or nil. Callers hold s.mu.
func (s *Server) memberByEmail(email string) *member {
	email = identity.NormalizeEmail(email)
	for _, m := range s.members {
		if m.email == email {
			return m
		}
	}
	return nil
}

// memberByID returns the member with id, or nil. Callers hold s.mu.
func (s *Server) memberByID(id int64) *member {
	i, found := slices.BinarySearchFunc(s.members, id, func(m *member, id int64) int { return cmp.Compare(m.id, id) })
	if !found {
		return nil
	}
	return s.members[i]
}

// addMember creates a member. Callers hold s.mu.
func (s *Server) addMember(email, name string, active bool) *member {
	email = identity.NormalizeEmail(email)
	name = strings.TrimSpace(name)
	if name == "" {
		name, _, _ = strings.Cut(email, "@")
	}
	now := s.opts.Now()
	m := &member{id: s.nextMember, email: email, name: name, active: active, createdAt: now, updatedAt: now}
	s.nextMember++
	s.members = append(s.members, m)
	return m
}

// removeMember deletes m from the community and from every access group. Callers hold s.mu.
func (s *Server) removeMember(m *member) {
	s.members = slices.DeleteFunc(s.members, func(x *member) bool { return x == m })
	for _, g := range s.groups {
		g.memberships = slices.DeleteFunc(g.memberships, func(ms *membership) bool { return ms.memberID == m.id })
	}
}

// validEmail is a loose check, enough to answer 422 to something that is plainly not an address.
func validEmail(email string) bool {
	local, domain, found := strings.Cut(email, "@")
	return found && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(email, " \t\r\n") &&
		!strings.Contains(domain, "@")
}

// searchMember serves GET /community_members/search?email=: the member object, invited or active,
// or 404.
func (s *Server) searchMember(_ string, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memberByEmail(r.URL.Query().Get("email"))
	if m == nil {
		return missing("community member")
	}
	return http.StatusOK, s.memberJSON(m)
}

// listMembers serves GET /community_members?status=active|inactive|all (default active).
func (s *Server) listMembers(_ string, r *http.Request) (int, any) {
	page, perPage := pagination(r)
	status := r.URL.Query().Get("status")
	s.mu.Lock()
	defer s.mu.Unlock()
	var records []map[string]any
	for _, m := range s.members {
		switch {
		case status == "all", status == "inactive" && !m.active, status != "inactive" && m.active:
			records = append(records, s.memberJSON(m))
		}
	}
	return http.StatusOK, paginate(records, page, perPage)
}

// createMember serves POST /community_members. For an email that is already a member Circle
// documents nothing; the fake follows Options.OnDuplicateCreate (422 by default).
func (s *Server) createMember(endpoint string, r *http.Request) (int, any) {
	var in struct {
		Email          string `json:"email"`
		Name           string `json:"name"`
		Password       string `json:"password"`
		SkipInvitation bool   `json:"skip_invitation"`
		Headline       string `json:"headline"`
	}
	if err := decodeBody(r, &in); err != nil {
		return badRequest(err)
	}
	email := identity.NormalizeEmail(in.Email)
	if !validEmail(email) {
		return invalid("Email is invalid", map[string]any{"email": []string{"is invalid"}})
	}
	if in.Password != "" && len(in.Password) < 8 {
		return invalid("Password is too short (minimum is 8 characters)", []string{"Password is too short"})
	}
	_, domain, _ := strings.Cut(email, "@")
	for _, d := range s.opts.BlockedDomains {
		if strings.EqualFold(d, domain) {
			return invalid("Email domain is not allowed in this community.", nil)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if existing := s.memberByEmail(email); existing != nil {
		switch s.opts.OnDuplicateCreate {
		case DuplicateReturnExisting:
			return http.StatusCreated, map[string]any{
				"message": "This member is already in the community.", "community_member": s.memberJSON(existing),
			}
		case DuplicateReject:
			return invalid("Email has already been taken", map[string]any{"email": []string{"has already been taken"}})
		}
	}
	if s.opts.MemberLimit > 0 && len(s.members) >= s.opts.MemberLimit {
		return http.StatusForbidden, map[string]any{
			"success": false, "errors": "You have reached the member limit for your plan. Please upgrade to add more members.",
		}
	}
	if s.opts.DailyMemberLimit > 0 && s.createdToday() >= s.opts.DailyMemberLimit {
		return http.StatusForbidden, map[string]any{"success": false, "errors": "Daily member limit exceeded."}
	}
	s.dayCreated++
	m := s.addMember(email, in.Name, false)
	m.headline = in.Headline
	s.Faults.Record(endpoint, fmt.Sprintf("create member %d", m.id))
	msg := "This member has been invited to the community."
	if in.SkipInvitation {
		msg = "This member has been added to the community."
	}
	return http.StatusCreated, map[string]any{"message": msg, "community_member": s.memberJSON(m)}
}

// createdToday returns how many members POST /community_members created in the current UTC day,
// starting the count again on a new day (Circle does not document when its day resets; the fake
// assumes 00:00 UTC). Callers hold s.mu.
func (s *Server) createdToday() int {
	if day := s.opts.Now().UTC().Format(time.DateOnly); day != s.day {
		s.day, s.dayCreated = day, 0
	}
	return s.dayCreated
}

// getMember serves GET /community_members/{id}.
func (s *Server) getMember(_ string, r *http.Request) (int, any) {
	id, okID := pathID(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memberByID(id)
	if !okID || m == nil {
		return missing("community member")
	}
	return http.StatusOK, s.memberJSON(m)
}

// updateMember serves PUT /community_members/{id}: name, first_name, last_name and headline change;
// space, space-group and tag ids are accepted and ignored (Circle's semantics for them are unverified).
func (s *Server) updateMember(endpoint string, r *http.Request) (int, any) {
	var in struct {
		Name      *string `json:"name"`
		FirstName *string `json:"first_name"`
		LastName  *string `json:"last_name"`
		Headline  *string `json:"headline"`
	}
	if err := decodeBody(r, &in); err != nil {
		return badRequest(err)
	}
	id, okID := pathID(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memberByID(id)
	if !okID || m == nil {
		return missing("community member")
	}
	first, last, _ := strings.Cut(m.name, " ")
	if in.FirstName != nil {
		first = *in.FirstName
	}
	if in.LastName != nil {
		last = *in.LastName
	}
	name := strings.TrimSpace(first + " " + last)
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	if name == "" {
		return invalid("Name can't be blank", map[string]any{"name": []string{"can't be blank"}})
	}
	m.name = name
	if in.Headline != nil {
		m.headline = *in.Headline
	}
	m.updatedAt = s.opts.Now()
	s.Faults.Record(endpoint, fmt.Sprintf("update member %d", m.id))
	return http.StatusOK, map[string]any{"message": "Community member updated.", "community_member": s.memberJSON(m)}
}

// deleteMember serves DELETE /community_members/{id}: the member leaves the community and every
// access group (Circle calls it deactivation; the fake forgets the member).
func (s *Server) deleteMember(endpoint string, r *http.Request) (int, any) {
	id, okID := pathID(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.memberByID(id)
	if !okID || m == nil {
		return missing("community member")
	}
	s.removeMember(m)
	s.Faults.Record(endpoint, fmt.Sprintf("remove member %d from the community", m.id))
	return http.StatusOK, map[string]any{"success": true, "message": "This member has been removed from the community."}
}

// memberAccessGroups serves GET /community_members/{id}/access_groups: the groups the member is in.
func (s *Server) memberAccessGroups(_ string, r *http.Request) (int, any) {
	page, perPage := pagination(r)
	id, okID := pathID(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !okID || s.memberByID(id) == nil {
		return missing("community member")
	}
	var records []map[string]any
	for _, g := range s.groups {
		if g.membership(id) != nil {
			records = append(records, s.groupJSON(g))
		}
	}
	return http.StatusOK, paginate(records, page, perPage)
}
