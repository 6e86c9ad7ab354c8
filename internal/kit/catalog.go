package kit

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/membersync/membersync/internal/provider"
)

// Sequence is one of the account's sequences (Kit's "courses" in v3).
type Sequence struct {
	ID   int64
	Name string
	// Hold is Kit's hold flag: a held sequence sends no emails. Kit documents the field in the
	// list's answer but not its meaning beyond the name; membersync only shows it.
	Hold bool
	// Repeat is Kit's repeat flag (subscribers may go through the sequence again).
	Repeat    bool
	CreatedAt time.Time
}

// maxListPages bounds Sequences so that an answer that always claims a next page with a new cursor
// cannot loop forever: at 1000 a page it is a million sequences.
const maxListPages = 1000

// Sequences returns every sequence of the account, following the cursor through all pages of
// 1000 (GET /v4/sequences; Kit's answer is {sequences:[{id, name, hold, repeat, created_at}],
// pagination:{has_next_page, end_cursor, …}}). The catalog shows their names; the sync engine
// never needs the list.
func (c *Client) Sequences(ctx context.Context) ([]Sequence, error) {
	const op = "list_sequences"
	var out []Sequence
	after := ""
	for range maxListPages {
		q := url.Values{"per_page": {strconv.Itoa(maxPerPage)}}
		if after != "" {
			q.Set("after", after)
		}
		resp, err := c.do(ctx, provider.Request{
			Operation: op, Target: "sequences",
			Method: http.MethodGet, Path: "/v4/sequences?" + q.Encode(),
		})
		if err != nil {
			return nil, err
		}
		if resp.Status != http.StatusOK {
			return nil, fail(op, resp)
		}
		var page struct {
			Sequences []struct {
				ID        int64  `json:"id"`
				Name      string `json:"name"`
				Hold      bool   `json:"hold"`
				Repeat    bool   `json:"repeat"`
				CreatedAt string `json:"created_at"`
			} `json:"sequences"`
			Pagination pagination `json:"pagination"`
		}
		if err := resp.Decode(&page); err != nil {
			return nil, decodeError(op, resp, err)
		}
		for _, s := range page.Sequences {
			q := Sequence{ID: s.ID, Name: s.Name, Hold: s.Hold, Repeat: s.Repeat}
			if t, err := time.Parse(time.RFC3339, s.CreatedAt); err == nil {
				q.CreatedAt = t
			}
			out = append(out, q)
		}
		next := page.Pagination.EndCursor
		if !page.Pagination.HasNextPage || next == nil || *next == "" || *next == after || len(page.Sequences) == 0 {
			return out, nil
		}
		after = *next
	}
	return nil, &provider.Error{Provider: "kit", Operation: op, Kind: provider.Permanent,
		Message: fmt.Sprintf("more than %d pages of sequences", maxListPages)}
}
