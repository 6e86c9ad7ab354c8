// Package helpscouttest is a stateful fake of the parts of Help Scout membersync uses, for tests
// and the demo: the Mailbox API 2.0's OAuth client-credentials token endpoint (POST
// /v2/oauth2/token, form-encoded, tokens that expire), conversations with their threads, and the
// note endpoint (POST /v2/conversations/{id}/notes: 201 with Resource-ID, 404 for an unknown
// conversation, 401 without a valid bearer token), notes kept per conversation; and the other
// direction, Help Scout's webhooks: Deliver posts a conversation event signed with
// X-HelpScout-Signature as Help Scout does. Every route goes through providertest fault injection
// (a 429 with Retry-After, 5xx, latency).
package helpscouttest

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
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
	DefaultAppID     = "hs_test_app_id"
	DefaultAppSecret = "hs_test_app_secret"
	// DefaultTokenLife is Help Scout's: two days.
	DefaultTokenLife = 48 * time.Hour
)

// Options configures a Server; zero fields take the defaults.
type Options struct {
	AppID, AppSecret string
	TokenLife        time.Duration
	Now              func() time.Time
}

// Note is a note as stored on a conversation.
type Note struct {
	ID        int64
	Text      string
	CreatedAt time.Time
}

// Thread is one thread of a conversation.
type Thread struct {
	ID        int64
	Type      string // customer, message, note
	Email     string // the customer's, for a customer thread
	Body      string // HTML
	CreatedAt time.Time
}

// Conversation is a conversation as the fake holds it.
type Conversation struct {
	ID, Number int64
	Subject    string
	Customer   string // the primary customer's email
	Threads    []Thread
	Notes      []Note
}

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	URL    string
	Faults *providertest.Faults

	opts Options
	http *httptest.Server

	mu     sync.Mutex
	lastID int64                   // guarded by mu
	convs  map[int64]*Conversation // guarded by mu
	tokens map[string]time.Time    // access token → expiry (guarded by mu)
}

// New starts a fake on a loopback port; Close stops it.
func New(opts Options) *Server {
	if opts.AppID == "" {
		opts.AppID = DefaultAppID
	}
	if opts.AppSecret == "" {
		opts.AppSecret = DefaultAppSecret
	}
	if opts.TokenLife == 0 {
		opts.TokenLife = DefaultTokenLife
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{opts: opts, Faults: &providertest.Faults{Now: opts.Now}, convs: map[int64]*Conversation{}, tokens: map[string]time.Time{}}
	mux := http.NewServeMux()
	route := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.Faults.Wrap(pattern, h)) }
	route("POST /v2/oauth2/token", s.token)
	route("POST /v2/conversations/{id}/notes", s.note)
	route("GET /v2/conversations/{id}", s.conversation)
	s.http = httptest.NewServer(mux)
	s.URL = s.http.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.http.Close() }

func (s *Server) nextID() int64 { s.lastID++; return s.lastID }

// AddConversation opens a conversation from customer with one customer thread, and returns it.
func (s *Server) AddConversation(customer, subject, text string) Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &Conversation{ID: 1000 + s.nextID(), Subject: subject, Customer: customer}
	c.Number = c.ID - 900
	c.Threads = append(c.Threads, Thread{ID: 5000 + s.nextID(), Type: "customer", Email: customer, Body: "<p>" + text + "</p>",
		CreatedAt: s.opts.Now().UTC().Truncate(time.Second)})
	s.convs[c.ID] = c
	return s.copyLocked(c)
}

// Reply adds a customer thread to conversation id and returns the conversation.
func (s *Server) Reply(id int64, text string) Conversation {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.convs[id]
	c.Threads = append(c.Threads, Thread{ID: 5000 + s.nextID(), Type: "customer", Email: c.Customer, Body: "<p>" + text + "</p>",
		CreatedAt: s.opts.Now().UTC().Truncate(time.Second)})
	return s.copyLocked(c)
}

// Conversation returns conversation id and whether it exists.
func (s *Server) Conversation(id int64) (Conversation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.convs[id]
	if !ok {
		return Conversation{}, false
	}
	return s.copyLocked(c), true
}

// Notes returns the notes of conversation id, oldest first.
func (s *Server) Notes(id int64) []Note {
	c, _ := s.Conversation(id)
	return c.Notes
}

func (s *Server) copyLocked(c *Conversation) Conversation {
	out := *c
	out.Threads = append([]Thread(nil), c.Threads...)
	out.Notes = append([]Note(nil), c.Notes...)
	return out
}

// Payload returns conversation c as Help Scout's v2 webhook body: the conversation object with its
// threads embedded, newest first, each with its creator.
func Payload(c Conversation) []byte {
	type person struct {
		ID    int64  `json:"id,omitempty"`
		Type  string `json:"type"`
		Email string `json:"email"`
	}
	type thread struct {
		ID        int64  `json:"id"`
		Type      string `json:"type"`
		Status    string `json:"status"`
		State     string `json:"state"`
		Body      string `json:"body"`
		CreatedBy person `json:"createdBy"`
		CreatedAt string `json:"createdAt"`
	}
	var threads []thread
	for i := len(c.Threads) - 1; i >= 0; i-- {
		t := c.Threads[i]
		by := person{Type: "user", Email: "agent@example.com"}
		if t.Type == "customer" {
			by = person{Type: "customer", Email: t.Email}
		}
		threads = append(threads, thread{ID: t.ID, Type: t.Type, Status: "active", State: "published", Body: t.Body, CreatedBy: by,
			CreatedAt: t.CreatedAt.Format(time.RFC3339)})
	}
	b, _ := json.Marshal(map[string]any{
		"id": c.ID, "number": c.Number, "type": "email", "status": "active", "state": "published", "subject": c.Subject,
		"mailboxId": 1, "primaryCustomer": person{ID: 77, Type: "customer", Email: c.Customer},
		"createdBy": person{ID: 77, Type: "customer", Email: c.Customer},
		"_embedded": map[string]any{"threads": threads},
	})
	return b
}

// Deliver posts conversation c as event to url, signed with secret as Help Scout signs its
// webhooks, and returns the answer's status and body.
func Deliver(client *http.Client, url, secret, event string, c Conversation) (int, string, error) {
	body := Payload(c)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(sources.HelpScoutEventHeader, event)
	req.Header.Set(sources.HelpScoutSignatureHeader, sources.SignHelpScout(secret, body))
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// fail answers Help Scout's error shape.
func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/vnd.error+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"message": msg, "logRef": "fake"})
}

// token is the client-credentials grant: form-encoded only, as Help Scout requires.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		fail(w, http.StatusBadRequest, "the token endpoint takes application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		fail(w, http.StatusBadRequest, "bad form")
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		fail(w, http.StatusBadRequest, "unsupported grant_type")
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("client_id")), []byte(s.opts.AppID)) != 1 ||
		subtle.ConstantTimeCompare([]byte(r.PostForm.Get("client_secret")), []byte(s.opts.AppSecret)) != 1 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":"invalid_client","error_description":"Bad client credentials"}`))
		return
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	tok := hex.EncodeToString(b[:])
	s.mu.Lock()
	s.tokens[tok] = s.opts.Now().Add(s.opts.TokenLife)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "bearer", "access_token": tok, "expires_in": int64(s.opts.TokenLife.Seconds())})
}

// ExpireTokens makes every issued token invalid (Help Scout revoked them early).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// authorized checks the bearer token.
func (s *Server) authorized(r *http.Request) bool {
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.tokens[h[len(prefix):]]
	return ok && s.opts.Now().Before(exp)
}

func (s *Server) conversationID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	if !s.authorized(r) {
		fail(w, http.StatusUnauthorized, "invalid or expired access token")
		return 0, false
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		fail(w, http.StatusNotFound, "Resource not found")
		return 0, false
	}
	return id, true
}

// note is POST /v2/conversations/{id}/notes {"text": …}: 201 Created with Resource-ID.
func (s *Server) note(w http.ResponseWriter, r *http.Request) {
	id, ok := s.conversationID(w, r)
	if !ok {
		return
	}
	var in struct {
		Text string `json:"text"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || in.Text == "" {
		fail(w, http.StatusBadRequest, "text: may not be empty")
		return
	}
	s.mu.Lock()
	c, found := s.convs[id]
	var nid int64
	if found {
		nid = 5000 + s.nextID()
		c.Notes = append(c.Notes, Note{ID: nid, Text: in.Text, CreatedAt: s.opts.Now()})
	}
	s.mu.Unlock()
	if !found {
		fail(w, http.StatusNotFound, "Resource not found")
		return
	}
	s.Faults.Record("POST /v2/conversations/{id}/notes", fmt.Sprintf("note %d on conversation %d", nid, id))
	w.Header().Set("Resource-ID", strconv.FormatInt(nid, 10))
	w.WriteHeader(http.StatusCreated)
}

// conversation is GET /v2/conversations/{id}, the webhook's shape.
func (s *Server) conversation(w http.ResponseWriter, r *http.Request) {
	id, ok := s.conversationID(w, r)
	if !ok {
		return
	}
	c, found := s.Conversation(id)
	if !found {
		fail(w, http.StatusNotFound, "Resource not found")
		return
	}
	w.Header().Set("Content-Type", "application/hal+json")
	_, _ = w.Write(Payload(c))
}
