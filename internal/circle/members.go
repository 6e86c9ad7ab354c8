package circle

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/provider"
)

// Member is a Circle community member, as far as membersync cares.
type Member struct {
	ID    int64
	Email string
	Name  string
	// Active is false for an invited member who has not confirmed their profile yet.
	Active bool
}

// memberJSON is Circle's community member object (only the fields membersync reads).
type memberJSON struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Active    bool   `json:"active"`
}

func (m memberJSON) member() Member {
	name := m.Name
	if name == "" {
		name = strings.TrimSpace(m.FirstName + " " + m.LastName)
	}
	return Member{ID: m.ID, Email: m.Email, Name: name, Active: m.Active}
}

// memberTarget names a call about a member known by email only: never the email itself.
const memberTarget = "member"

// FindMember returns the community member with email, invited or active. A member that does not
// exist is a *provider.Error of Kind NotFound.
func (c *Client) FindMember(ctx context.Context, email string) (Member, error) {
	const op = "find_member"
	if err := checkEmail(op, email); err != nil {
		return Member{}, err
	}
	path := "/community_members/search?email=" + url.QueryEscape(identity.NormalizeEmail(email))
	resp, err := c.do(ctx, op, memberTarget, http.MethodGet, path, nil)
	if err != nil {
		return Member{}, err
	}
	if !ok(resp.Status) {
		return Member{}, c.failStatus(op, resp)
	}
	return decodeMember(op, resp, false)
}

// CreateMember invites a new community member (Circle answers active:false until they confirm).
// skipInvitation creates the member without Circle's invitation email. Circle does not document the
// answer for an email that already exists; EnsureMember is the safe way to add someone. A 403 for
// one of Circle's member limits (the daily limit, the plan's member cap) is a *provider.Error of Kind
// Limit whose RetryAfter says when to try again.
func (c *Client) CreateMember(ctx context.Context, email, name string, skipInvitation bool) (Member, error) {
	const op = "create_member"
	if err := checkEmail(op, email); err != nil {
		return Member{}, err
	}
	body := struct {
		Email          string `json:"email"`
		Name           string `json:"name,omitempty"`
		SkipInvitation bool   `json:"skip_invitation"`
	}{identity.NormalizeEmail(email), strings.TrimSpace(name), skipInvitation}
	resp, err := c.do(ctx, op, memberTarget, http.MethodPost, "/community_members", body)
	if err != nil {
		return Member{}, err
	}
	if !ok(resp.Status) {
		return Member{}, c.failMember(op, resp)
	}
	return decodeMember(op, resp, true)
}

// EnsureMember returns the community member with email, creating (inviting) them when Circle has
// none; created reports whether this call created them. When the create is refused with a 422 (the
// answer for an existing email is undocumented; another worker or an admin may have added the
// person since the search), it searches once more before returning the error.
func (c *Client) EnsureMember(ctx context.Context, email, name string, skipInvitation bool) (m Member, created bool, err error) {
	m, err = c.FindMember(ctx, email)
	if err == nil {
		return m, false, nil
	}
	if provider.KindOf(err) != provider.NotFound {
		return Member{}, false, err
	}
	return c.CreateOrFindMember(ctx, email, name, skipInvitation)
}

// CreateOrFindMember is EnsureMember after a search that found nobody: it creates (invites) the
// member, and when the create is refused with a 422 it searches once more. The sync engine calls it
// when it searched ahead, beside its Stripe reads.
func (c *Client) CreateOrFindMember(ctx context.Context, email, name string, skipInvitation bool) (m Member, created bool, err error) {
	m, err = c.CreateMember(ctx, email, name, skipInvitation)
	if err == nil {
		return m, true, nil
	}
	var pe *provider.Error
	if errors.As(err, &pe) && pe.Status == http.StatusUnprocessableEntity {
		if found, ferr := c.FindMember(ctx, email); ferr == nil {
			return found, false, nil
		}
	}
	return Member{}, false, err
}

// Member returns the community member with id; a missing one is a NotFound error.
func (c *Client) Member(ctx context.Context, id int64) (Member, error) {
	const op = "get_member"
	resp, err := c.do(ctx, op, "member:"+strconv.FormatInt(id, 10), http.MethodGet,
		"/community_members/"+strconv.FormatInt(id, 10), nil)
	if err != nil {
		return Member{}, err
	}
	if !ok(resp.Status) {
		return Member{}, c.failStatus(op, resp)
	}
	return decodeMember(op, resp, false)
}

// decodeMember reads a member object, or with wrapped the {message, community_member:{…}} answer
// of a create (falling back to a bare member object).
func decodeMember(op string, resp *provider.Response, wrapped bool) (Member, error) {
	var m memberJSON
	if wrapped {
		var w struct {
			CommunityMember *memberJSON `json:"community_member"`
		}
		if err := resp.Decode(&w); err != nil {
			return Member{}, malformed(op, resp, err)
		}
		if w.CommunityMember != nil {
			m = *w.CommunityMember
		}
	}
	if m.ID == 0 {
		if err := json.Unmarshal(resp.Body, &m); err != nil {
			return Member{}, malformed(op, resp, err)
		}
	}
	if m.ID == 0 {
		return Member{}, malformed(op, resp, errors.New("community member without an id"))
	}
	return m.member(), nil
}

// checkEmail refuses an empty address before spending a request on it.
func checkEmail(op, email string) error {
	if strings.TrimSpace(email) == "" {
		return &provider.Error{Provider: providerName, Operation: op, Kind: provider.Permanent, Message: "empty email address"}
	}
	return nil
}
