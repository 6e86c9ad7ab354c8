package circletest

import (
	"cmp"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// groupJSON renders g as Circle's access group record.
func (s *Server) groupJSON(g *group) map[string]any {
	return map[string]any{
		"id":                      g.id,
		"name":                    g.name,
		"description":             g.description,
		"status":                  g.status,
		"community_id":            s.opts.CommunityID,
		"community_members_count": len(g.memberships),
		"created_at":              timestamp(g.createdAt),
		"updated_at":              timestamp(g.createdAt),
	}
}

// membershipJSON renders one membership record of group g.
func (s *Server) membershipJSON(g *group, ms *membership) map[string]any {
	return map[string]any{
		"id":                  ms.id,
		"access_group_id":     g.id,
		"community_member_id": ms.memberID,
		"community_id":        s.opts.CommunityID,
		"created_at":          timestamp(ms.createdAt),
	}
}

// membership returns g's membership of member id, or nil.
func (g *group) membership(memberID int64) *membership {
	for _, ms := range g.memberships {
		if ms.memberID == memberID {
			return ms
		}
	}
	return nil
}

// groupByID returns the access group with id, or nil. Callers hold s.mu.
func (s *Server) groupByID(id int64) *group {
	i, found := slices.BinarySearchFunc(s.groups, id, func(g *group, id int64) int { return cmp.Compare(g.id, id) })
	if !found {
		return nil
	}
	return s.groups[i]
}

// join adds m to g unless it is there already, and reports whether it did. Callers hold s.mu.
func (s *Server) join(g *group, m *member) bool {
	if g.membership(m.id) != nil {
		return false
	}
	g.memberships = append(g.memberships, &membership{id: s.nextMembership, memberID: m.id, createdAt: s.opts.Now()})
	s.nextMembership++
	return true
}

// leave removes m from g and reports whether it was there. Callers hold s.mu.
func (s *Server) leave(g *group, m *member) bool {
	n := len(g.memberships)
	g.memberships = slices.DeleteFunc(g.memberships, func(ms *membership) bool { return ms.memberID == m.id })
	return len(g.memberships) < n
}

// groupAndMember resolves the {id} wildcard and an email to a group and a member, or the 404 Circle
// answers: "Missing record: access group" first, then "Missing record: user". Callers hold s.mu.
func (s *Server) groupAndMember(r *http.Request, email string) (*group, *member, int, any) {
	id, okID := pathID(r)
	g := s.groupByID(id)
	if !okID || g == nil {
		status, body := missing("access group")
		return nil, nil, status, body
	}
	m := s.memberByEmail(email)
	if m == nil {
		status, body := missing("user")
		return nil, nil, status, body
	}
	return g, m, 0, nil
}

// listAccessGroups serves GET /access_groups?status=active|archived|all (default active, the fake's
// choice), ids[]= (or ids=1,2) and name= (a case-insensitive substring).
func (s *Server) listAccessGroups(_ string, r *http.Request) (int, any) {
	page, perPage := pagination(r)
	q := r.URL.Query()
	status := q.Get("status")
	if status == "" {
		status = "active"
	}
	var ids []int64
	for _, v := range append(q["ids[]"], q["ids"]...) {
		for _, f := range strings.Split(v, ",") {
			if id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64); err == nil {
				ids = append(ids, id)
			}
		}
	}
	name := strings.ToLower(q.Get("name"))
	s.mu.Lock()
	defer s.mu.Unlock()
	var records []map[string]any
	for _, g := range s.groups {
		if (status == "all" || g.status == status) &&
			(len(ids) == 0 || slices.Contains(ids, g.id)) &&
			strings.Contains(strings.ToLower(g.name), name) {
			records = append(records, s.groupJSON(g))
		}
	}
	return http.StatusOK, paginate(records, page, perPage)
}

// addGroupMember serves POST /access_groups/{id}/community_members {email}: 201, or 404 for a
// missing group or member. Circle does not document adding a member who is already in the group;
// the fake answers 422 "already a member" (a client must accept that or a 2xx).
func (s *Server) addGroupMember(endpoint string, r *http.Request) (int, any) {
	var in struct {
		Email string `json:"email"`
	}
	if err := decodeBody(r, &in); err != nil {
		return badRequest(err)
	}
	if in.Email == "" {
		in.Email = r.URL.Query().Get("email")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, m, status, body := s.groupAndMember(r, in.Email)
	if g == nil {
		return status, body
	}
	if !s.join(g, m) {
		return invalid("Community member is already a member of this access group.", nil)
	}
	s.Faults.Record(endpoint, fmt.Sprintf("add member %d to access group %d", m.id, g.id))
	return http.StatusCreated, map[string]any{
		"success": true, "message": fmt.Sprintf("Member has been added to '%s' access group.", g.name),
	}
}

// removeGroupMember serves DELETE /access_groups/{id}/community_members?email=: 200, or 404
// "Missing record: access group community member" when the member is not in the group.
func (s *Server) removeGroupMember(endpoint string, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, m, status, body := s.groupAndMember(r, r.URL.Query().Get("email"))
	if g == nil {
		return status, body
	}
	if !s.leave(g, m) {
		return missing("access group community member")
	}
	s.Faults.Record(endpoint, fmt.Sprintf("remove member %d from access group %d", m.id, g.id))
	return http.StatusOK, map[string]any{
		"success": true, "message": fmt.Sprintf("Member has been removed from '%s' access group.", g.name),
	}
}

// checkGroupMember serves GET /access_groups/{id}/community_member?email=: the membership record,
// or 404.
func (s *Server) checkGroupMember(_ string, r *http.Request) (int, any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, m, status, body := s.groupAndMember(r, r.URL.Query().Get("email"))
	if g == nil {
		return status, body
	}
	ms := g.membership(m.id)
	if ms == nil {
		return missing("access group community member")
	}
	return http.StatusOK, s.membershipJSON(g, ms)
}

// listGroupMembers serves GET /access_groups/{id}/community_members: membership records (no
// email), oldest first.
func (s *Server) listGroupMembers(_ string, r *http.Request) (int, any) {
	page, perPage := pagination(r)
	id, okID := pathID(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.groupByID(id)
	if !okID || g == nil {
		return missing("access group")
	}
	records := make([]map[string]any, 0, len(g.memberships))
	for _, ms := range g.memberships {
		records = append(records, s.membershipJSON(g, ms))
	}
	return http.StatusOK, paginate(records, page, perPage)
}
