// Package zendesktest is a stateful fake of the parts of Zendesk Support membersync uses, for tests
// and the demo: tickets with their comments, and the Ticketing API's update (PUT
// /api/v2/tickets/{id}.json with {"ticket": {"comment": {"body", "public"}}}) under basic
// authentication "{email}/token:{api_token}" (401 {"error": "Couldn't authenticate you"}, 404
// RecordNotFound); and the other direction, a trigger's webhook: Deliver posts the body of
// sources.ZendeskTemplate, filled in, signed with X-Zendesk-Webhook-Signature and its timestamp
// as Zendesk does. Every route goes through providertest fault injection.
package zendesktest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/support/sources"
)

// Defaults of Options.
const (
	DefaultEmail = "agent@example.com"
	DefaultToken = "zd_test_api_token"
)

// Options configures a Server; zero fields take the defaults.
type Options struct {
	Email, Token string
	Now          func() time.Time
}

// Comment is one comment of a ticket.
type Comment struct {
	ID       int64
	AuthorID int64 // the requester's id, or the agent's
	Body     string
	Public   bool
	At       time.Time
}

// Ticket is a ticket as the fake holds it.
type Ticket struct {
	ID        int64
	Subject   string
	Requester string // email
	Comments  []Comment
	UpdatedAt time.Time
}

// AgentID is the id of the agent the API token belongs to.
const AgentID = 9001

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	URL    string
	Faults *providertest.Faults

	opts Options
	http *httptest.Server

	mu      sync.Mutex
	lastID  int64             // guarded by mu
	tickets map[int64]*Ticket // guarded by mu
}

// New starts a fake on a loopback port; Close stops it.
func New(opts Options) *Server {
	if opts.Email == "" {
		opts.Email = DefaultEmail
	}
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, Faults: &providertest.Faults{Now: opts.Now}, tickets: map[int64]*Ticket{}}
	mux := http.NewServeMux()
	mux.Handle("PUT /api/v2/tickets/{file}", s.Faults.Wrap("PUT /api/v2/tickets/{id}.json", http.HandlerFunc(s.update)))
	mux.Handle("GET /api/v2/users/me.json", s.Faults.Wrap("GET /api/v2/users/me.json", http.HandlerFunc(s.me)))
	s.http = httptest.NewServer(mux)
	s.URL = s.http.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.http.Close() }

// AddTicket opens a ticket from requester with a first public comment and returns it.
func (s *Server) AddTicket(requester, subject, text string) Ticket {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastID++
	t := &Ticket{ID: 100 + s.lastID, Subject: subject, Requester: requester, UpdatedAt: s.opts.Now().UTC().Truncate(time.Second)}
	s.lastID++
	t.Comments = append(t.Comments, Comment{ID: 7000 + s.lastID, AuthorID: 1, Body: text, Public: true, At: t.UpdatedAt})
	s.tickets[t.ID] = t
	return copyTicket(t)
}

// Ticket returns ticket id and whether it exists.
func (s *Server) Ticket(id int64) (Ticket, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tickets[id]
	if !ok {
		return Ticket{}, false
	}
	return copyTicket(t), true
}

// PrivateComments returns the private comments (internal notes) of ticket id.
func (s *Server) PrivateComments(id int64) []Comment {
	t, _ := s.Ticket(id)
	var out []Comment
	for _, c := range t.Comments {
		if !c.Public {
			out = append(out, c)
		}
	}
	return out
}

func copyTicket(t *Ticket) Ticket {
	out := *t
	out.Comments = append([]Comment(nil), t.Comments...)
	return out
}

// Body returns t's trigger body as sources.ZendeskTemplate fills it: the latest comment.
func Body(t Ticket) []byte {
	last := t.Comments[len(t.Comments)-1]
	b, _ := json.Marshal(map[string]string{"ticket_id": strconv.FormatInt(t.ID, 10), "requester_email": t.Requester,
		"subject": t.Subject, "comment": last.Body, "updated_at": t.UpdatedAt.Format(time.RFC3339)})
	return b
}

// Deliver posts t's trigger body to url, signed with secret at time at as Zendesk signs its
// webhooks, and returns the answer's status and body.
func Deliver(client *http.Client, url, secret string, at time.Time, t Ticket) (int, string, error) {
	return DeliverBody(client, url, secret, at, Body(t))
}

// DeliverBody posts body to url signed as Zendesk does.
func DeliverBody(client *http.Client, url, secret string, at time.Time, body []byte) (int, string, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	ts := at.UTC().Format(time.RFC3339)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sources.ZendeskTimestampHeader, ts)
	req.Header.Set(sources.ZendeskSignatureHeader, sources.SignZendesk(secret, ts, body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func fail(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// update is PUT /api/v2/tickets/{id}.json: only a comment is taken, as membersync sends.
// authenticated checks the request's email/token basic auth, answering 401 as Zendesk does for
// wrong credentials.
func (s *Server) authenticated(w http.ResponseWriter, r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Email+"/token")) != 1 ||
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.opts.Token)) != 1 {
		fail(w, http.StatusUnauthorized, map[string]string{"error": "Couldn't authenticate you"})
		return false
	}
	return true
}

// me answers GET /api/v2/users/me.json ("Show Self") with the agent the token acts as. Zendesk
// documents an anonymous user for unauthenticated requests; this fake answers wrong credentials
// 401, which is what its other endpoints do, and the client handles both.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	if !s.authenticated(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"user": map[string]any{"id": 1, "email": s.opts.Email, "role": "agent"}})
}

func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	if !s.authenticated(w, r) {
		return
	}
	file := r.PathValue("file")
	if len(file) < 6 || file[len(file)-5:] != ".json" {
		fail(w, http.StatusNotFound, map[string]string{"error": "InvalidEndpoint", "description": "Not found"})
		return
	}
	id, err := strconv.ParseInt(file[:len(file)-5], 10, 64)
	if err != nil {
		fail(w, http.StatusNotFound, map[string]string{"error": "RecordNotFound", "description": "Not found"})
		return
	}
	var in struct {
		Ticket struct {
			Comment *struct {
				Body   string `json:"body"`
				Public *bool  `json:"public"`
			} `json:"comment"`
		} `json:"ticket"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || in.Ticket.Comment == nil || in.Ticket.Comment.Body == "" {
		fail(w, http.StatusUnprocessableEntity, map[string]any{"error": "RecordInvalid", "description": "Record validation errors",
			"details": map[string]any{"base": []map[string]string{{"description": "Comment: cannot be blank"}}}})
		return
	}
	public := true // Zendesk's default for a comment
	if in.Ticket.Comment.Public != nil {
		public = *in.Ticket.Comment.Public
	}
	s.mu.Lock()
	t, found := s.tickets[id]
	var c Comment
	if found {
		s.lastID++
		c = Comment{ID: 7000 + s.lastID, AuthorID: AgentID, Body: in.Ticket.Comment.Body, Public: public, At: s.opts.Now()}
		t.Comments = append(t.Comments, c)
		t.UpdatedAt = c.At
	}
	var out Ticket
	if found {
		out = copyTicket(t)
	}
	s.mu.Unlock()
	if !found {
		fail(w, http.StatusNotFound, map[string]string{"error": "RecordNotFound", "description": "Not found"})
		return
	}
	s.Faults.Record("PUT /api/v2/tickets/{id}.json", fmt.Sprintf("comment %d (public %v) on ticket %d", c.ID, public, id))
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"ticket": map[string]any{"id": out.ID, "subject": out.Subject, "updated_at": out.UpdatedAt.Format(time.RFC3339)},
		"audit":  map[string]any{"ticket_id": out.ID, "author_id": AgentID, "events": []map[string]any{{"id": c.ID, "type": "Comment", "body": c.Body, "public": public}}},
	})
}
