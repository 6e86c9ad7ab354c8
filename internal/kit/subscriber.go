package kit

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/provider"
)

// Subscriber is a Kit subscriber as membersync sees it.
type Subscriber struct {
	ID        int64
	Email     string
	FirstName string
	// State is Kit's subscriber state: "active", "cancelled", "bounced", "complained" or "inactive".
	State string
}

// subscriberJSON is Kit's subscriber object.
type subscriberJSON struct {
	ID           int64  `json:"id"`
	FirstName    string `json:"first_name"` // null when unset, which leaves ""
	EmailAddress string `json:"email_address"`
	State        string `json:"state"`
}

func (s subscriberJSON) subscriber() Subscriber {
	return Subscriber{ID: s.ID, Email: s.EmailAddress, FirstName: s.FirstName, State: s.State}
}

// UpsertSubscriber creates the subscriber for email, or finds the existing one (Kit then updates
// only its first name; an empty firstName is not sent). created reports that Kit made a new one.
func (c *Client) UpsertSubscriber(ctx context.Context, email, firstName string) (s Subscriber, created bool, err error) {
	const op = "upsert_subscriber"
	if err := checkEmail(op, email); err != nil {
		return Subscriber{}, false, err
	}
	body := map[string]string{"email_address": email}
	if firstName != "" {
		body["first_name"] = firstName
	}
	resp, err := c.do(ctx, provider.Request{
		Operation: op, Target: emailTarget(email),
		Method: http.MethodPost, Path: "/v4/subscribers", Body: body,
	})
	if err != nil {
		return Subscriber{}, false, err
	}
	switch resp.Status {
	case http.StatusOK, http.StatusCreated, http.StatusAccepted:
		var out struct {
			Subscriber subscriberJSON `json:"subscriber"`
		}
		if err := resp.Decode(&out); err != nil {
			return Subscriber{}, false, decodeError(op, resp, err)
		}
		return out.Subscriber.subscriber(), resp.Status != http.StatusOK, nil
	}
	return Subscriber{}, false, fail(op, resp)
}

// FindSubscriber returns the subscriber with email in any state; an unknown email is a NotFound
// error.
func (c *Client) FindSubscriber(ctx context.Context, email string) (Subscriber, error) {
	const op = "find_subscriber"
	if err := checkEmail(op, email); err != nil {
		return Subscriber{}, err
	}
	q := url.Values{"email_address": {email}, "status": {"all"}}
	resp, err := c.do(ctx, provider.Request{
		Operation: op, Target: emailTarget(email),
		Method: http.MethodGet, Path: "/v4/subscribers?" + q.Encode(),
	})
	if err != nil {
		return Subscriber{}, err
	}
	if resp.Status != http.StatusOK {
		return Subscriber{}, fail(op, resp)
	}
	var out struct {
		Subscribers []subscriberJSON `json:"subscribers"`
	}
	if err := resp.Decode(&out); err != nil {
		return Subscriber{}, decodeError(op, resp, err)
	}
	want := identity.NormalizeEmail(email)
	for _, s := range out.Subscribers {
		if identity.NormalizeEmail(s.EmailAddress) == want {
			return s.subscriber(), nil
		}
	}
	return Subscriber{}, &provider.Error{Provider: "kit", Operation: op, Kind: provider.NotFound,
		Message: "no subscriber has this email address"}
}

// UpdateSubscriberEmail changes the email address of subscriber id. Kit answers 422 (Permanent)
// when another subscriber holds the address, 404 (NotFound) when id is unknown.
func (c *Client) UpdateSubscriberEmail(ctx context.Context, id int64, email string) error {
	const op = "update_subscriber_email"
	if err := checkEmail(op, email); err != nil {
		return err
	}
	resp, err := c.do(ctx, provider.Request{
		Operation: op, Target: subscriberTarget(id),
		Method: http.MethodPut, Path: "/v4/subscribers/" + strconv.FormatInt(id, 10),
		Body: map[string]string{"email_address": email},
	})
	if err != nil {
		return err
	}
	if resp.Status == http.StatusOK {
		return nil
	}
	return fail(op, resp)
}

func subscriberTarget(id int64) string { return "subscriber:" + strconv.FormatInt(id, 10) }

// decodeError reports a 2xx answer whose body is not what Kit documents.
func decodeError(op string, resp *provider.Response, err error) error {
	return &provider.Error{Provider: "kit", Operation: op, Status: resp.Status, Kind: provider.Permanent,
		Message: "unexpected response body", Err: err}
}
