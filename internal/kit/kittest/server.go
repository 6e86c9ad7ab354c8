// Package kittest is a stateful fake of the Kit API v4 for tests and the demo: subscribers, tags,
// taggings and sequences held in memory, served over real HTTP with Kit's documented shapes and
// status codes, its authentication headers (API key or OAuth token), its limits per credential (120
// requests per 60 s for a key, 600 for an OAuth token; 429 with the plain-text body "Retry later" and
// no Retry-After), the founder's "Tag added" automation rules (AddRule), and providertest fault
// injection on every route. Where Kit's documentation is silent the fake says so and, when a client
// must cope with more than one answer, offers each as an Option (UnknownEmailStatus).
package kittest

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/provider/providertest"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultAPIKey         = "kit_test_api_key"
	DefaultOAuthToken     = "kit_test_oauth_token"
	DefaultRateLimit      = 120 // requests per RateWindow per API key, as Kit documents
	DefaultOAuthRateLimit = 600 // requests per RateWindow per OAuth token, as Kit documents
	DefaultRateWindow     = 60 * time.Second
)

// Options configures a Server. Zero fields take the defaults above.
type Options struct {
	// APIKey is the only key accepted in X-Kit-Api-Key.
	APIKey string
	// OAuthToken is the only token accepted in Authorization: Bearer.
	OAuthToken string
	// RateLimit is how many requests one API key may make per RateWindow (default 120); a negative
	// value turns the limit off.
	RateLimit int
	// OAuthRateLimit is the same for the OAuth token (default 600); negative turns it off.
	OAuthRateLimit int
	// RateWindow is the sliding window of the limits (default 60 s).
	RateWindow time.Duration
	// UnknownEmailStatus is how the by-email endpoints (tag, add to sequence) answer an address no
	// subscriber has: 404 {"errors":["Not Found"]} by default, or 422. Kit documents that the
	// subscriber "must already exist" and lists 404 "when the provided id does not exist" and 422
	// for a missing address, but not which one an unknown address gets; a client must take either.
	UnknownEmailStatus int
	// Now is the clock for the limits, timestamps and the fault windows; nil means time.Now.
	Now func() time.Time
}

// Server is a running fake Kit. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to configure a kit.Client with, such as "http://127.0.0.1:41234".
	URL string
	// Faults injects failures, counts calls per endpoint (such as "POST /v4/tags/{tag_id}/subscribers")
	// and logs every mutation.
	Faults *providertest.Faults

	opts Options
	now  func() time.Time
	mux  *http.ServeMux
	http *httptest.Server

	mu          sync.Mutex
	lastID      int64                     // ids are unique across all objects (guarded by mu)
	lastSeq     int64                     // orders taggings and sequence entries (guarded by mu)
	subscribers map[int64]*Subscriber     // guarded by mu
	byEmail     map[string]int64          // normalized email → subscriber id (guarded by mu)
	tags        map[int64]*tag            // guarded by mu
	tagByName   map[string]int64          // guarded by mu
	taggings    map[int64]map[int64]entry // tag id → subscriber id → entry (guarded by mu)
	sequences   map[int64]*sequence       // guarded by mu
	already     map[string]int            // endpoint → "already done" answers (guarded by mu)
	hits        map[string][]time.Time    // credential → accepted request times (guarded by mu)
	rules       map[int64][]int64         // tag id → sequences a "Tag added" rule enrolls (guarded by mu)
}

// New starts a fake Kit on 127.0.0.1 with an empty account. Close it when done.
func New(opts Options) *Server {
	if opts.APIKey == "" {
		opts.APIKey = DefaultAPIKey
	}
	if opts.OAuthToken == "" {
		opts.OAuthToken = DefaultOAuthToken
	}
	if opts.RateLimit == 0 {
		opts.RateLimit = DefaultRateLimit
	}
	if opts.OAuthRateLimit == 0 {
		opts.OAuthRateLimit = DefaultOAuthRateLimit
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = DefaultRateWindow
	}
	if opts.UnknownEmailStatus != http.StatusUnprocessableEntity {
		opts.UnknownEmailStatus = http.StatusNotFound
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		Faults:      &providertest.Faults{Now: now},
		opts:        opts,
		now:         now,
		mux:         http.NewServeMux(),
		lastID:      1000,
		subscribers: map[int64]*Subscriber{},
		byEmail:     map[string]int64{},
		tags:        map[int64]*tag{},
		tagByName:   map[string]int64{},
		taggings:    map[int64]map[int64]entry{},
		sequences:   map[int64]*sequence{},
		already:     map[string]int{},
		hits:        map[string][]time.Time{},
		rules:       map[int64][]int64{},
	}
	s.routes()
	s.http = httptest.NewUnstartedServer(s)
	s.http.Start()
	s.URL = s.http.URL
	return s
}

// Close stops the server, waiting for requests in flight.
func (s *Server) Close() { s.http.Close() }

// ServeHTTP answers one request, so that a Server can also be mounted in another mux.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// routes is the whole HTTP surface of the fake.
func (s *Server) routes() {
	s.handle("GET /v4/subscribers", s.listSubscribers)
	s.handle("POST /v4/subscribers", s.upsertSubscriber)
	s.handle("GET /v4/subscribers/{id}", s.getSubscriber)
	s.handle("PUT /v4/subscribers/{id}", s.updateSubscriber)
	s.handle("POST /v4/subscribers/{id}/unsubscribe", s.unsubscribe)
	s.handle("GET /v4/subscribers/{id}/tags", s.subscriberTags)

	s.handle("GET /v4/tags", s.listTags)
	s.handle("POST /v4/tags", s.postTag)
	s.handle("GET /v4/tags/{tag_id}/subscribers", s.listTagSubscribers)
	s.handle("POST /v4/tags/{tag_id}/subscribers", s.tagByEmail)
	s.handle("DELETE /v4/tags/{tag_id}/subscribers", s.untagByEmail)
	s.handle("POST /v4/tags/{tag_id}/subscribers/{id}", s.tagByID)
	s.handle("DELETE /v4/tags/{tag_id}/subscribers/{id}", s.untagByID)

	s.handle("GET /v4/sequences", s.listSequences)
	s.handle("POST /v4/sequences/{id}/subscribers", s.addToSequence)

	s.handle("/", func(w http.ResponseWriter, _ *http.Request) { notFound(w) })
}

// handle serves pattern with h behind fault injection (counted under pattern), authentication and
// the rate limit, in that order, so that an injected fault answers before any check.
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	guarded := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fw, ok := w.(*faultWriter); ok {
			fw.pass()
		}
		cred, limit, ok := s.authenticate(r)
		if !ok {
			writeErrors(w, http.StatusUnauthorized, "The access token is invalid")
			return
		}
		if !s.admit(cred, limit) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte("Retry later"))
			return
		}
		h(w, r)
	})
	wrapped := s.Faults.Wrap(pattern, guarded)
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fw := &faultWriter{ResponseWriter: w}
		wrapped.ServeHTTP(fw, r)
		fw.finish()
	}))
}

// authenticate accepts the API key (X-Kit-Api-Key) or the OAuth token (Authorization: Bearer) and
// returns the credential's name and request limit.
func (s *Server) authenticate(r *http.Request) (cred string, limit int, ok bool) {
	if k := r.Header.Get("X-Kit-Api-Key"); k != "" {
		return "api_key", s.opts.RateLimit, equal(k, s.opts.APIKey)
	}
	if t, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found {
		return "oauth", s.opts.OAuthRateLimit, equal(t, s.opts.OAuthToken)
	}
	return "", 0, false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// admit counts one request for cred in a sliding window and reports whether it is within limit.
// Refused requests are not counted, so waiting one window always clears the limit.
func (s *Server) admit(cred string, limit int) bool {
	if limit < 0 {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	cutoff := now.Add(-s.opts.RateWindow)
	kept := s.hits[cred][:0]
	for _, t := range s.hits[cred] {
		if t.After(cutoff) {
			kept = append(kept, t)
		}
	}
	if len(kept) >= limit {
		s.hits[cred] = kept
		return false
	}
	s.hits[cred] = append(kept, now)
	return true
}

// faultWriter holds back an answer written by Faults.Wrap (an injected fault) so that an empty
// fault body can be given Kit's shape; once the request passes into the fake it writes through.
type faultWriter struct {
	http.ResponseWriter
	passed bool
	status int
	body   bytes.Buffer
}

func (f *faultWriter) pass() { f.passed = true }

func (f *faultWriter) WriteHeader(status int) {
	if f.passed {
		f.ResponseWriter.WriteHeader(status)
		return
	}
	f.status = status
}

func (f *faultWriter) Write(b []byte) (int, error) {
	if f.passed {
		return f.ResponseWriter.Write(b)
	}
	if f.status == 0 {
		f.status = http.StatusOK
	}
	return f.body.Write(b)
}

// finish writes a held-back fault: an empty 429 becomes Kit's "Retry later", any other empty error
// becomes {"errors":["<status text>"]}.
func (f *faultWriter) finish() {
	if f.passed || f.status == 0 {
		return
	}
	if f.body.Len() == 0 && f.status >= 400 {
		if f.status == http.StatusTooManyRequests {
			f.Header().Set("Content-Type", "text/plain; charset=utf-8")
			f.body.WriteString("Retry later")
		} else {
			f.Header().Set("Content-Type", "application/json; charset=utf-8")
			b, _ := json.Marshal(errorsBody{Errors: []string{http.StatusText(f.status)}})
			f.body.Write(b)
		}
	}
	f.ResponseWriter.WriteHeader(f.status)
	_, _ = f.ResponseWriter.Write(f.body.Bytes())
}

type errorsBody struct {
	Errors []string `json:"errors"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeErrors answers Kit's error shape, {"errors":["..."]}.
func writeErrors(w http.ResponseWriter, status int, msgs ...string) {
	writeJSON(w, status, errorsBody{Errors: msgs})
}

func notFound(w http.ResponseWriter) { writeErrors(w, http.StatusNotFound, "Not Found") }

// decode reads a JSON request body into v; an empty body leaves v as it is.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writeErrors(w, http.StatusRequestEntityTooLarge, "Request body is too large")
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return true
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeErrors(w, http.StatusBadRequest, "Request body is not valid JSON")
		return false
	}
	return true
}
