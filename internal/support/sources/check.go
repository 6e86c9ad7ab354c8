package sources

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/emersion/go-imap/v2"
)

// The connection checks `membersync check` and the admin's "Check connections" run: each source's
// credentials tried once, reading nothing a customer wrote.

// Check logs in to the mailbox and examines it (read-only, as a poll does), and returns how many
// messages it holds. It reads no message.
func (p *Poller) Check(ctx context.Context) (messages uint32, err error) {
	c, stop, err := p.connect(ctx)
	if err != nil {
		return 0, err
	}
	defer stop()
	defer c.Close()
	defer func() { _ = c.Logout().Wait() }()
	sel, err := c.Select(p.Config.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return 0, fmt.Errorf("imap: examining mailbox %q (support.imap.mailbox): %w", p.Config.Mailbox, err)
	}
	return sel.NumMessages, nil
}

// Check gets an access token with the app's credentials: what every note needs first.
func (c *HelpScout) Check(ctx context.Context) error {
	_, err := c.accessToken(ctx)
	return err
}

// Check reads the user the API token acts as (GET /api/v2/users/me.json, Zendesk's "Show Self")
// and returns their role. Zendesk answers wrong credentials 401; its docs also describe an
// anonymous user (no id) for a request it does not authenticate, so an answer without an id is a
// failure too, and so is an end-user, who cannot write private comments.
func (c *Zendesk) Check(ctx context.Context) (role string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/api/v2/users/me.json", nil)
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(c.Email+"/token", c.Token)
	req.Header.Set("Accept", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("zendesk: reading the API user: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", answerError("zendesk", resp, "check support.zendesk.subdomain, support.zendesk.email and ZENDESK_API_TOKEN (Admin Center → Apps and integrations → Zendesk API)")
	}
	var me struct {
		User struct {
			ID   *int64 `json:"id"`
			Role string `json:"role"`
		} `json:"user"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<10)).Decode(&me); err != nil {
		return "", fmt.Errorf("zendesk: reading the API user: %w", err)
	}
	switch {
	case me.User.ID == nil || *me.User.ID == 0:
		return "", fmt.Errorf("zendesk: the credentials were not accepted (Zendesk answered as an anonymous user): check support.zendesk.email and ZENDESK_API_TOKEN")
	case me.User.Role == "end-user":
		return me.User.Role, fmt.Errorf("zendesk: %s is an end user, who cannot write private comments: use an agent's email (support.zendesk.email)", c.Email)
	}
	return me.User.Role, nil
}
