package kit

import (
	"context"
	"net/http"

	"github.com/membersync/membersync/internal/provider"
)

// AddToSequence adds the subscriber with email to sequence sequenceID. added is false when the
// subscriber was already in it. An inactive sequence is a Permanent error ("Sequence is inactive");
// an unknown sequence or subscriber is NotFound.
func (c *Client) AddToSequence(ctx context.Context, sequenceID int64, email string) (added bool, err error) {
	const op = "add_to_sequence"
	if err := checkEmail(op, email); err != nil {
		return false, err
	}
	resp, err := c.do(ctx, provider.Request{
		Operation: op, Target: "sequence:" + formatID(sequenceID),
		Method: http.MethodPost, Path: "/v4/sequences/" + formatID(sequenceID) + "/subscribers",
		Body: map[string]string{"email_address": email},
	})
	if err != nil {
		return false, err
	}
	switch resp.Status {
	case http.StatusCreated:
		return true, nil
	case http.StatusOK:
		return false, nil
	}
	return false, fail(op, resp)
}
