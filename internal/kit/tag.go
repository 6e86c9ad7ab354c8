package kit

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/membersync/membersync/internal/provider"
)

// maxPerPage is the largest page Kit serves.
const maxPerPage = 1000

// Tag is a Kit tag.
type Tag struct {
	ID   int64
	Name string
}

// SubscriberPage is one page of a tag's subscribers. EndCursor is the after argument for the next
// page when HasNextPage is true.
type SubscriberPage struct {
	Subscribers []Subscriber
	HasNextPage bool
	EndCursor   string
}

// pagination is Kit's cursor block; cursors are null on an empty page.
type pagination struct {
	HasNextPage bool    `json:"has_next_page"`
	EndCursor   *string `json:"end_cursor"`
}

// TagSubscriber tags the existing subscriber with email. added is false when the subscriber
// already had the tag. Kit v4 does not create subscribers here ("The subscriber being tagged must
// already exist"): an unknown email (or tag) is an error, so upsert first, or use TagOrCreate.
func (c *Client) TagSubscriber(ctx context.Context, tagID int64, email string) (added bool, err error) {
	_, added, err = c.tagByEmail(ctx, tagID, email)
	return added, err
}

// tagOp names the tag-by-email call in errors and call records.
const tagOp = "tag_subscriber"

// tagByEmail is POST /v4/tags/{tag_id}/subscribers {email_address}: 201 tagged, 200 already tagged,
// each with the subscriber in the body. The subscriber is zero when the body does not hold one
// (Kit documents that it does): the tag is applied all the same.
func (c *Client) tagByEmail(ctx context.Context, tagID int64, email string) (sub Subscriber, added bool, err error) {
	if err := checkEmail(tagOp, email); err != nil {
		return Subscriber{}, false, err
	}
	resp, err := c.do(ctx, provider.Request{
		Operation: tagOp, Target: tagTarget(tagID),
		Method: http.MethodPost, Path: "/v4/tags/" + formatID(tagID) + "/subscribers",
		Body: map[string]string{"email_address": email},
	})
	if err != nil {
		return Subscriber{}, false, err
	}
	switch resp.Status {
	case http.StatusCreated, http.StatusOK:
		var out struct {
			Subscriber subscriberJSON `json:"subscriber"`
		}
		if resp.Decode(&out) == nil {
			sub = out.Subscriber.subscriber()
		}
		return sub, resp.Status == http.StatusCreated, nil
	}
	return Subscriber{}, false, fail(tagOp, resp)
}

// UntagSubscriber removes tag tagID from subscriber subscriberID. Kit's 404 (not tagged, or gone)
// means there is nothing left to do, so it returns nil.
func (c *Client) UntagSubscriber(ctx context.Context, tagID, subscriberID int64) error {
	const op = "untag_subscriber"
	resp, err := c.do(ctx, provider.Request{
		Operation: op, Target: tagTarget(tagID) + " " + subscriberTarget(subscriberID),
		Method: http.MethodDelete, Path: "/v4/tags/" + formatID(tagID) + "/subscribers/" + formatID(subscriberID),
	})
	if err != nil {
		return err
	}
	switch resp.Status {
	case http.StatusNoContent, http.StatusOK, http.StatusNotFound:
		return nil
	}
	return fail(op, resp)
}

// Tags returns every tag of the account, following the cursor through all pages.
func (c *Client) Tags(ctx context.Context) ([]Tag, error) {
	const op = "list_tags"
	var tags []Tag
	after := ""
	for {
		q := url.Values{"per_page": {strconv.Itoa(maxPerPage)}}
		if after != "" {
			q.Set("after", after)
		}
		resp, err := c.do(ctx, provider.Request{
			Operation: op, Target: "tags",
			Method: http.MethodGet, Path: "/v4/tags?" + q.Encode(),
		})
		if err != nil {
			return nil, err
		}
		if resp.Status != http.StatusOK {
			return nil, fail(op, resp)
		}
		var out struct {
			Tags []struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			} `json:"tags"`
			Pagination pagination `json:"pagination"`
		}
		if err := resp.Decode(&out); err != nil {
			return nil, decodeError(op, resp, err)
		}
		for _, t := range out.Tags {
			tags = append(tags, Tag{ID: t.ID, Name: t.Name})
		}
		next := out.Pagination.EndCursor
		if !out.Pagination.HasNextPage || next == nil || *next == "" || *next == after {
			return tags, nil
		}
		after = *next
	}
}

// TagSubscribers returns one page of the subscribers (in any state) holding tag tagID, starting
// after the cursor after ("" for the first page). perPage is clamped to Kit's 1..1000; zero or
// less means Kit's default of 500.
func (c *Client) TagSubscribers(ctx context.Context, tagID int64, after string, perPage int) (SubscriberPage, error) {
	const op = "list_tag_subscribers"
	q := url.Values{"status": {"all"}}
	if perPage > 0 {
		q.Set("per_page", strconv.Itoa(min(perPage, maxPerPage)))
	}
	if after != "" {
		q.Set("after", after)
	}
	resp, err := c.do(ctx, provider.Request{
		Operation: op, Target: tagTarget(tagID),
		Method: http.MethodGet, Path: "/v4/tags/" + formatID(tagID) + "/subscribers?" + q.Encode(),
	})
	if err != nil {
		return SubscriberPage{}, err
	}
	if resp.Status != http.StatusOK {
		return SubscriberPage{}, fail(op, resp)
	}
	var out struct {
		Subscribers []subscriberJSON `json:"subscribers"`
		Pagination  pagination       `json:"pagination"`
	}
	if err := resp.Decode(&out); err != nil {
		return SubscriberPage{}, decodeError(op, resp, err)
	}
	page := SubscriberPage{HasNextPage: out.Pagination.HasNextPage}
	if out.Pagination.EndCursor != nil {
		page.EndCursor = *out.Pagination.EndCursor
	}
	page.Subscribers = make([]Subscriber, 0, len(out.Subscribers))
	for _, s := range out.Subscribers {
		page.Subscribers = append(page.Subscribers, s.subscriber())
	}
	return page, nil
}

func tagTarget(tagID int64) string { return "tag:" + formatID(tagID) }

func formatID(n int64) string { return strconv.FormatInt(n, 10) }
