// Package circletest is a stateful fake of the Circle.so Admin API v2, served over real HTTP, for
// membersync's tests and its demo. It keeps community members, access groups and their memberships,
// answers with the shapes and status codes that providers/circle.md documents, wraps every route
// with providertest.Faults (forced errors, outages, latency, per-endpoint counters, mutation log),
// counts requests per calendar month like Circle's quota, and can emulate Circle's rate limit and
// its member limits (the plan's member cap, the daily limit on new members).
//
// Where Circle does not document an answer, the fake makes a choice and says so on the route:
// creating an existing email (422 by default, see DuplicatePolicy), adding a member who is already
// in an access group (422 "already a member"), the default page size (10) and page_count (the
// number of pages), and when the daily member limit resets (00:00 UTC).
package circletest

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/provider/providertest"
)

// DefaultToken is the API token a Server accepts when Options.Token is empty.
const DefaultToken = "circle-test-token"

// Defaults of the fake where Circle documents nothing or Options leave a field zero.
const (
	DefaultPerPage    = 10
	MaxPerPage        = 100
	DefaultRateWindow = 5 * time.Minute // Circle: 2,000 requests per 5 min per IP
)

// prefix is the path of the Admin API v2.
const prefix = "/api/admin/v2"

// DuplicatePolicy is what POST /community_members does for an email that is already a member.
// Circle does not document it, so the fake can play each plausible answer.
type DuplicatePolicy int

const (
	// DuplicateReject answers 422 with an error body and creates nothing (the default).
	DuplicateReject DuplicatePolicy = iota
	// DuplicateReturnExisting answers 201 with the existing member and creates nothing.
	DuplicateReturnExisting
	// DuplicateCreate creates a second member with the same email, so that DuplicateMembers can
	// catch a client that creates without searching first.
	DuplicateCreate
)

// Options configures a Server. The zero value is a working fake.
type Options struct {
	// Token is the only API token accepted, as "Bearer <token>" or "Token <token>"; default
	// DefaultToken.
	Token string
	// Now is the clock for timestamps, the monthly counter and the rate-limit window; nil means
	// time.Now.
	Now func() time.Time
	// RateLimit, when positive, answers 429 (without Retry-After, as Circle documents) to requests
	// beyond RateLimit in one RateWindow (a fixed window that starts with its first request; Circle
	// does not document how its window moves). Off by default.
	RateLimit int
	// RateWindow is the rate-limit window, default 5 minutes.
	RateWindow time.Duration
	// OnDuplicateCreate is what creating an existing email does; default DuplicateReject.
	OnDuplicateCreate DuplicatePolicy
	// BlockedDomains are email domains that POST /community_members refuses with 422.
	BlockedDomains []string
	// MemberLimit, when positive, makes POST /community_members answer 403 once the community
	// holds that many members (Circle's plan member limit, with its "errors" key).
	MemberLimit int
	// DailyMemberLimit, when positive, makes POST /community_members answer 403
	// {"success":false,"errors":"Daily member limit exceeded."} once that many members were created
	// through it in the current UTC day of Now. Circle documents the answer but not when its day
	// resets: the fake starts a new day at 00:00 UTC. Members added through the control API do not
	// count.
	DailyMemberLimit int
	// CommunityID is reported in records; default 1.
	CommunityID int64
}

// Server is a running fake Circle. Its methods are safe for concurrent use with the HTTP handlers.
type Server struct {
	// URL is the base URL to configure the client with (scheme://127.0.0.1:port, no path).
	URL string
	// Token is the accepted API token.
	Token string
	// Faults injects failures into every route and counts calls; endpoint names are the route
	// patterns, such as "GET /api/admin/v2/community_members/search".
	Faults *providertest.Faults

	srv  *httptest.Server
	opts Options

	mu             sync.Mutex
	members        []*member // ordered by id; guarded by mu
	groups         []*group  // ordered by id; guarded by mu
	nextMember     int64     // guarded by mu
	nextGroup      int64     // guarded by mu
	nextMembership int64     // guarded by mu
	month          string    // "2006-01" of monthCount; guarded by mu
	monthCount     int       // guarded by mu
	windowStart    time.Time // guarded by mu
	windowCount    int       // guarded by mu
	day            string    // "2006-01-02" (UTC) of dayCreated; guarded by mu
	dayCreated     int       // members created over HTTP that day; guarded by mu
}

// member is one community member (guarded by Server.mu).
type member struct {
	id        int64
	email     string // normalized
	name      string
	headline  string
	active    bool
	createdAt time.Time
	updatedAt time.Time
}

// group is one access group (guarded by Server.mu).
type group struct {
	id          int64
	name        string
	description string
	status      string // "active" or "archived"
	createdAt   time.Time
	memberships []*membership // ordered by id
}

// membership is one member in one access group.
type membership struct {
	id        int64
	memberID  int64
	createdAt time.Time
}

// New starts a fake Circle on 127.0.0.1 with a random port. Close it when done.
func New(opts Options) *Server {
	if opts.Token == "" {
		opts.Token = DefaultToken
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RateWindow <= 0 {
		opts.RateWindow = DefaultRateWindow
	}
	if opts.CommunityID == 0 {
		opts.CommunityID = 1
	}
	s := &Server{
		Token:  opts.Token,
		Faults: &providertest.Faults{Now: opts.Now},
		opts:   opts,
		// Distinct id ranges make a confused id (a membership id used as a member id) visible.
		nextMember:     1001,
		nextGroup:      11,
		nextMembership: 500001,
	}
	s.srv = httptest.NewServer(s.routes())
	s.URL = s.srv.URL
	return s
}

// Close shuts the server down.
func (s *Server) Close() { s.srv.Close() }

// routes is the whole HTTP surface of the fake.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, fn apiFunc) {
		mux.Handle(pattern, s.Faults.Wrap(pattern, s.api(pattern, fn)))
	}
	handle("GET "+prefix+"/community_members/search", s.searchMember)
	handle("GET "+prefix+"/community_members", s.listMembers)
	handle("POST "+prefix+"/community_members", s.createMember)
	handle("GET "+prefix+"/community_members/{id}", s.getMember)
	handle("PUT "+prefix+"/community_members/{id}", s.updateMember)
	handle("DELETE "+prefix+"/community_members/{id}", s.deleteMember)
	handle("GET "+prefix+"/community_members/{id}/access_groups", s.memberAccessGroups)
	handle("GET "+prefix+"/access_groups", s.listAccessGroups)
	handle("POST "+prefix+"/access_groups/{id}/community_members", s.addGroupMember)
	handle("DELETE "+prefix+"/access_groups/{id}/community_members", s.removeGroupMember)
	handle("GET "+prefix+"/access_groups/{id}/community_members", s.listGroupMembers)
	handle("GET "+prefix+"/access_groups/{id}/community_member", s.checkGroupMember)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody("Oops! Missing record. Please try again later.", nil))
	}))
	return s.metered(mux)
}

// apiFunc serves one authenticated request and returns the status and the JSON answer. endpoint is
// the route pattern, for the mutation log.
type apiFunc func(endpoint string, r *http.Request) (int, any)

// api authenticates the request and writes fn's answer.
func (s *Server) api(endpoint string, fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r.Header.Get("Authorization")) {
			writeJSON(w, http.StatusUnauthorized, errorBody("The API token is invalid.", nil))
			return
		}
		status, body := fn(endpoint, r)
		writeJSON(w, status, body)
	})
}

// authorized accepts "Bearer <token>" (Circle's quick-start) and "Token <token>" (its OpenAPI).
func (s *Server) authorized(header string) bool {
	scheme, tok, found := strings.Cut(header, " ")
	if !found || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "Token")) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.opts.Token)) == 1
}

// metered counts every request against the monthly quota and applies the optional rate limit
// before routing, as Circle's edge would. A rate-limited request reaches no route, so the Faults
// counters do not see it.
func (s *Server) metered(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.meter() {
			// Circle documents the 429 and recommends waiting about 60 s; it sends no Retry-After. The
			// body is not documented: this one is Circle's usual error shape, and the client reads
			// nothing from it.
			writeJSON(w, http.StatusTooManyRequests, errorBody("Too many requests. Please try again later.", nil))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// meter counts one request and reports whether it exceeds the rate limit.
func (s *Server) meter() bool {
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := now.UTC().Format("2006-01"); m != s.month {
		s.month, s.monthCount = m, 0
	}
	s.monthCount++
	if s.opts.RateLimit <= 0 {
		return false
	}
	if s.windowStart.IsZero() || !now.Before(s.windowStart.Add(s.opts.RateWindow)) {
		s.windowStart, s.windowCount = now, 0
	}
	s.windowCount++
	if s.windowCount > s.opts.RateLimit {
		return true
	}
	return false
}

// errorJSON is Circle's error shape, fields in Circle's order.
type errorJSON struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	// Details may be nil, a string, an object or an array.
	Details any `json:"error_details"`
}

// errorBody is Circle's error answer with message and details.
func errorBody(message string, details any) errorJSON {
	return errorJSON{Message: message, Details: details}
}

// missing is Circle's 404 answer for a missing thing, such as "access group".
func missing(thing string) (int, any) {
	return http.StatusNotFound, errorBody("Oops! Missing record. Please try again later.",
		map[string]any{"message": "Missing record: " + thing})
}

// invalid is a 422 validation answer.
func invalid(message string, details any) (int, any) {
	return http.StatusUnprocessableEntity, errorBody(message, details)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	b, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"success":false,"message":"internal error","error_details":null}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// decodeBody reads a JSON object body into v; an empty body leaves v as is.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// badRequest is the answer to a body that is not JSON.
func badRequest(err error) (int, any) {
	return http.StatusBadRequest, errorBody("Bad request", fmt.Sprint(err))
}

// pathID parses the {id} wildcard.
func pathID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

// pagination reads page (default 1) and per_page (default 10, capped at 100); values that are not
// positive integers take the default.
func pagination(r *http.Request) (page, perPage int) {
	q := r.URL.Query()
	page, perPage = 1, DefaultPerPage
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		page = n
	}
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, MaxPerPage)
	}
	return page, perPage
}

// envelope is Circle's pagination envelope. PageCount is the number of pages (Circle's spec names
// the field without defining it).
type envelope struct {
	Page        int  `json:"page"`
	PerPage     int  `json:"per_page"`
	HasNextPage bool `json:"has_next_page"`
	Count       int  `json:"count"`
	PageCount   int  `json:"page_count"`
	Records     any  `json:"records"`
}

// paginate returns page of records.
func paginate[T any](records []T, page, perPage int) envelope {
	start := min((page-1)*perPage, len(records))
	end := min(start+perPage, len(records))
	out := make([]T, end-start)
	copy(out, records[start:end])
	return envelope{
		Page: page, PerPage: perPage, HasNextPage: end < len(records), Count: len(records),
		PageCount: (len(records) + perPage - 1) / perPage, Records: out,
	}
}

// timestamp formats t as Circle does (UTC, milliseconds).
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
