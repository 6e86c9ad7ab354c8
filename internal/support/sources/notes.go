package sources

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultTimeout bounds one call to Help Scout or Zendesk.
const DefaultTimeout = 20 * time.Second

// maxNote bounds a note's text: both help desks take far more, a diagnosis is a few lines.
const maxNote = 16 << 10

// PostError is a help desk's refusal of a note. A Permanent one (the ticket is gone, the
// credentials are refused) is recorded and not retried; any other is retried, after RetryAfter
// when the help desk said how long to wait (429).
type PostError struct {
	Desk       string
	Status     int
	RetryAfter time.Duration
	Permanent  bool
	Detail     string
}

func (e *PostError) Error() string {
	s := fmt.Sprintf("%s answered %d", e.Desk, e.Status)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return s
}

// answerError turns a non-2xx answer into a PostError: 429 and 5xx are retried, other 4xx are not.
func answerError(desk string, resp *http.Response, hint string) *PostError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	e := &PostError{Desk: desk, Status: resp.StatusCode, Detail: strings.TrimSpace(string(b))}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.RetryAfter = retryAfter(resp.Header)
	case resp.StatusCode >= 500:
	default:
		e.Permanent = true
		if hint != "" {
			e.Detail = hint + "; " + e.Detail
		}
	}
	if len(e.Detail) > 300 {
		e.Detail = e.Detail[:300]
	}
	return e
}

// retryAfter reads Retry-After (seconds or an HTTP date) or Help Scout's X-RateLimit-Retry-After;
// 60 s when neither says, the windows both desks count in.
func retryAfter(h http.Header) time.Duration {
	for _, k := range []string{"Retry-After", "X-RateLimit-Retry-After"} {
		v := strings.TrimSpace(h.Get(k))
		if v == "" {
			continue
		}
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return min(time.Duration(n)*time.Second, time.Hour)
		}
		if t, err := http.ParseTime(v); err == nil {
			return min(max(time.Until(t), time.Second), time.Hour)
		}
	}
	return time.Minute
}

// HelpScout posts private notes through the Mailbox API 2.0 with an OAuth app's client
// credentials (developer.helpscout.com/mailbox-api/overview/authentication): it exchanges the app
// id and secret for an access token at POST /v2/oauth2/token, keeps it until shortly before it
// expires (Help Scout's last two days), and takes a new one when a call is answered 401.
type HelpScout struct {
	BaseURL   string // https://api.helpscout.net
	AppID     string
	AppSecret string
	HTTP      *http.Client
	Now       func() time.Time

	mu      sync.Mutex
	token   string    // guarded by mu
	expires time.Time // guarded by mu
}

func (c *HelpScout) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *HelpScout) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return &http.Client{Timeout: DefaultTimeout}
}

// accessToken returns a valid token, fetching one when needed.
func (c *HelpScout) accessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.token != "" && c.now().Before(c.expires) {
		return c.token, nil
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.AppID}, "client_secret": {c.AppSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/v2/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("help scout: getting an access token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", answerError("help scout's token endpoint", resp, "check HELPSCOUT_APP_ID and HELPSCOUT_APP_SECRET (Your Profile → My Apps)")
	}
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&tok); err != nil || tok.AccessToken == "" {
		return "", fmt.Errorf("help scout: the token endpoint answered no access_token")
	}
	life := time.Duration(tok.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour
	}
	c.token, c.expires = tok.AccessToken, c.now().Add(life-min(life/10, 5*time.Minute))
	return c.token, nil
}

// PostNote adds text as a note (seen by agents only) to conversation ref:
// POST /v2/conversations/{id}/notes {"text": …}, answered 201.
func (c *HelpScout) PostNote(ctx context.Context, ref, text string) error {
	if _, err := strconv.ParseInt(ref, 10, 64); err != nil {
		return &PostError{Desk: "help scout", Permanent: true, Detail: fmt.Sprintf("%q is not a conversation id", ref)}
	}
	body, _ := json.Marshal(map[string]string{"text": clip(text, maxNote)})
	for attempt := 0; ; attempt++ {
		tok, err := c.accessToken(ctx)
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.BaseURL+"/v2/conversations/"+ref+"/notes", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.client().Do(req)
		if err != nil {
			return fmt.Errorf("help scout: posting a note on conversation %s: %w", ref, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			resp.Body.Close()
			c.mu.Lock()
			c.token = "" // expired or revoked early: take a new one once
			c.mu.Unlock()
			continue
		}
		defer resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return answerError("help scout", resp, "")
		}
		return nil
	}
}

// Zendesk posts private comments through the Ticketing API: PUT /api/v2/tickets/{id}.json with
// {"ticket": {"comment": {"body": …, "public": false}}}, authenticated as "{email}/token" with an
// API token (developer.zendesk.com/api-reference/introduction/security-and-auth).
type Zendesk struct {
	BaseURL string // https://{subdomain}.zendesk.com
	Email   string
	Token   string
	HTTP    *http.Client
}

// PostNote adds text as a private comment on ticket ref.
func (c *Zendesk) PostNote(ctx context.Context, ref, text string) error {
	if _, err := strconv.ParseInt(ref, 10, 64); err != nil {
		return &PostError{Desk: "zendesk", Permanent: true, Detail: fmt.Sprintf("%q is not a ticket id", ref)}
	}
	var payload struct {
		Ticket struct {
			Comment struct {
				Body   string `json:"body"`
				Public bool   `json:"public"`
			} `json:"comment"`
		} `json:"ticket"`
	}
	payload.Ticket.Comment.Body = clip(text, maxNote)
	body, _ := json.Marshal(payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.BaseURL+"/api/v2/tickets/"+ref+".json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.Email+"/token", c.Token)
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("zendesk: commenting on ticket %s: %w", ref, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = "check support.zendesk.email and ZENDESK_API_TOKEN (Admin Center → Apps and integrations → Zendesk API)"
		}
		return answerError("zendesk", resp, hint)
	}
	return nil
}
