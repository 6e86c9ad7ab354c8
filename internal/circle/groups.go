package circle

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/provider"
)

// MaxPerPage is the largest page Circle serves.
const MaxPerPage = 100

// maxPages bounds AccessGroups so that a provider that always says has_next_page cannot loop forever.
const maxPages = 1000

// missingGroup is what Circle's 404 names when the access group itself does not exist.
const missingGroup = "access group"

func groupTarget(groupID int64) string { return "access_group:" + strconv.FormatInt(groupID, 10) }

func groupPath(groupID int64, rest string) string {
	return "/access_groups/" + strconv.FormatInt(groupID, 10) + rest
}

func emailQuery(email string) string {
	return "?email=" + url.QueryEscape(identity.NormalizeEmail(email))
}

// AddToAccessGroup grants the member with email access group groupID. A member already in the group
// is success: Circle does not document a repeat add, so a 2xx is accepted, and so is a 422 that says
// "already", or any other 422 after a check confirms the membership. A missing group or member is a
// NotFound error.
func (c *Client) AddToAccessGroup(ctx context.Context, groupID int64, email string) error {
	const op = "add_access_group"
	if err := checkEmail(op, email); err != nil {
		return err
	}
	body := struct {
		Email string `json:"email"`
	}{identity.NormalizeEmail(email)}
	resp, err := c.do(ctx, op, groupTarget(groupID), http.MethodPost, groupPath(groupID, "/community_members"), body)
	if err != nil {
		return err
	}
	switch {
	case ok(resp.Status):
		return nil
	case resp.Status == http.StatusUnprocessableEntity:
		if parseError(resp.Body).saysAlready() {
			return nil
		}
		if in, err := c.InAccessGroup(ctx, groupID, email); err == nil && in {
			return nil
		}
		return c.fail(op, resp, provider.Permanent)
	}
	return c.failStatus(op, resp)
}

// RemoveFromAccessGroup revokes access group groupID from the member with email. A member who is not
// in the group (Circle's 404 "Missing record: access group community member") or not in the
// community at all is success; a missing access group, or a 404 that names nothing, is a NotFound
// error.
func (c *Client) RemoveFromAccessGroup(ctx context.Context, groupID int64, email string) error {
	const op = "remove_access_group"
	if err := checkEmail(op, email); err != nil {
		return err
	}
	resp, err := c.do(ctx, op, groupTarget(groupID), http.MethodDelete,
		groupPath(groupID, "/community_members"+emailQuery(email)), nil)
	if err != nil {
		return err
	}
	switch {
	case ok(resp.Status):
		return nil
	case resp.Status == http.StatusNotFound && memberMissing(parseError(resp.Body)):
		return nil
	}
	return c.failStatus(op, resp)
}

// InAccessGroup reports whether the member with email is in access group groupID. A missing access
// group, or a 404 that names nothing, is a NotFound error.
func (c *Client) InAccessGroup(ctx context.Context, groupID int64, email string) (bool, error) {
	const op = "check_access_group"
	if err := checkEmail(op, email); err != nil {
		return false, err
	}
	resp, err := c.do(ctx, op, groupTarget(groupID), http.MethodGet,
		groupPath(groupID, "/community_member"+emailQuery(email)), nil)
	if err != nil {
		return false, err
	}
	switch {
	case ok(resp.Status):
		return true, nil
	case resp.Status == http.StatusNotFound && memberMissing(parseError(resp.Body)):
		return false, nil
	}
	return false, c.failStatus(op, resp)
}

// memberMissing reports whether a 404 says the member or the membership is missing, as opposed to
// the access group (or an unknown path, which names nothing).
func memberMissing(e apiError) bool {
	thing := e.missingRecord()
	return thing != missingGroup && (strings.Contains(thing, "member") || thing == "user")
}

// GroupMember is one membership of an access group. Circle does not include the member's email.
type GroupMember struct {
	ID                int64
	AccessGroupID     int64
	CommunityMemberID int64
	CreatedAt         time.Time
}

// GroupMemberPage is one page of an access group's members.
type GroupMemberPage struct {
	Records     []GroupMember
	Page        int
	HasNextPage bool
	// Count is the number of members in the group, on all pages.
	Count int
}

// pageJSON is Circle's pagination envelope.
type pageJSON[T any] struct {
	Page        int  `json:"page"`
	PerPage     int  `json:"per_page"`
	HasNextPage bool `json:"has_next_page"`
	Count       int  `json:"count"`
	PageCount   int  `json:"page_count"`
	Records     []T  `json:"records"`
}

// AccessGroupMembers returns page (from 1) of access group groupID's members, perPage of them
// (clamped to 1…100). A missing group is a NotFound error.
func (c *Client) AccessGroupMembers(ctx context.Context, groupID int64, page, perPage int) (GroupMemberPage, error) {
	const op = "list_access_group_members"
	page = max(page, 1)
	perPage = min(max(perPage, 1), MaxPerPage)
	path := groupPath(groupID, fmt.Sprintf("/community_members?page=%d&per_page=%d", page, perPage))
	resp, err := c.do(ctx, op, groupTarget(groupID), http.MethodGet, path, nil)
	if err != nil {
		return GroupMemberPage{}, err
	}
	if !ok(resp.Status) {
		return GroupMemberPage{}, c.failStatus(op, resp)
	}
	var p pageJSON[struct {
		ID                int64  `json:"id"`
		AccessGroupID     int64  `json:"access_group_id"`
		CommunityMemberID int64  `json:"community_member_id"`
		CreatedAt         string `json:"created_at"`
	}]
	if err := resp.Decode(&p); err != nil {
		return GroupMemberPage{}, malformed(op, resp, err)
	}
	out := GroupMemberPage{Page: p.Page, HasNextPage: p.HasNextPage, Count: p.Count}
	if out.Page == 0 {
		out.Page = page
	}
	out.Records = make([]GroupMember, 0, len(p.Records))
	for _, r := range p.Records {
		gm := GroupMember{ID: r.ID, AccessGroupID: r.AccessGroupID, CommunityMemberID: r.CommunityMemberID}
		if t, err := time.Parse(time.RFC3339, r.CreatedAt); err == nil {
			gm.CreatedAt = t
		}
		if gm.AccessGroupID == 0 {
			gm.AccessGroupID = groupID
		}
		out.Records = append(out.Records, gm)
	}
	return out, nil
}

// AccessGroup is one of the community's access groups.
type AccessGroup struct {
	ID   int64
	Name string
	// Status is "active" or "archived".
	Status string
}

// AccessGroups returns every access group of the community, active and archived, reading all pages
// of 100.
func (c *Client) AccessGroups(ctx context.Context) ([]AccessGroup, error) {
	const op = "list_access_groups"
	var out []AccessGroup
	for n := 1; n <= maxPages; n++ {
		path := fmt.Sprintf("/access_groups?status=all&page=%d&per_page=%d", n, MaxPerPage)
		resp, err := c.do(ctx, op, "access_groups", http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		if !ok(resp.Status) {
			return nil, c.failStatus(op, resp)
		}
		var p pageJSON[struct {
			ID     int64  `json:"id"`
			Name   string `json:"name"`
			Status string `json:"status"`
		}]
		if err := resp.Decode(&p); err != nil {
			return nil, malformed(op, resp, err)
		}
		for _, r := range p.Records {
			out = append(out, AccessGroup{ID: r.ID, Name: r.Name, Status: r.Status})
		}
		if !p.HasNextPage || len(p.Records) == 0 {
			return out, nil
		}
	}
	return nil, &provider.Error{Provider: providerName, Operation: op, Kind: provider.Permanent,
		Message: fmt.Sprintf("more than %d pages of access groups", maxPages)}
}
