package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/demo"
	"github.com/membersync/membersync/internal/kit/kittest"
)

// The providers' documented limits and membersync's default rates, which --scale multiplies alike.
const (
	kitLimit         = 120  // requests per 60 s per API key, sliding; 429 "Retry later", no Retry-After
	circleLimit      = 2000 // requests per 5 min per IP; 429 without Retry-After
	stripeLimit      = 25   // requests per second in a sandbox (100 live); 429 rate_limit
	kitConfigured    = 100  // membersync's default kit.requests_per_minute
	circleConfigured = 300  // membersync's default circle.requests_per_minute
	stripeConfigured = 1200 // membersync's default Stripe rate (billing.DefaultRequestsPerMinute)
)

// Latencies of the fakes' answers: what the providers take on a good day.
const (
	stripeLatency = 150 * time.Millisecond
	circleLatency = 200 * time.Millisecond
	kitLatency    = 150 * time.Millisecond
)

// limits are the fakes' rate limits and membersync's configured rates at one scale.
type limits struct {
	scale                                float64
	kitPerMin, circlePer5Min, stripePerS int
	kitRate, circleRate, stripeRate      int // membersync's requests_per_minute
}

func scaled(scale float64) limits {
	s := func(n int) int { return max(1, int(float64(n)*scale+0.5)) }
	return limits{scale: scale, kitPerMin: s(kitLimit), circlePer5Min: s(circleLimit), stripePerS: s(stripeLimit),
		kitRate: s(kitConfigured), circleRate: s(circleConfigured), stripeRate: s(stripeConfigured)}
}

// circlePerMin is Circle's limit as a rate per minute.
func (l limits) circlePerMin() float64 { return float64(l.circlePer5Min) / 5 }

// fakes are the three providers in this process, each behind a meter that counts its answers by
// status (a fake's own call counters do not see the requests its rate limit refuses).
type fakes struct {
	*demo.World
	stripe, circle, kit *meter
}

func startFakes(l limits) *fakes {
	w := demo.NewWorld(demo.Options{
		Kit:    kittest.Options{RateLimit: l.kitPerMin, RateWindow: kittest.DefaultRateWindow},
		Circle: circletest.Options{RateLimit: l.circlePer5Min, RateWindow: circletest.DefaultRateWindow},
	})
	w.Stripe.Faults.SetLatency(stripeLatency)
	w.Circle.Faults.SetLatency(circleLatency)
	w.Kit.Faults.SetLatency(kitLatency)
	circleURL, _ := url.Parse(w.Circle.URL)
	circleProxy := httputil.NewSingleHostReverseProxy(circleURL)
	circleProxy.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
	// stripetest has no rate limit of its own: the meter answers Stripe's 429 above the scaled limit.
	return &fakes{World: w,
		stripe: newMeter(w.Stripe.Handler(), &window{limit: l.stripePerS, span: time.Second}),
		circle: newMeter(circleProxy, nil),
		kit:    newMeter(w.Kit, nil)}
}

func (f *fakes) close() {
	f.stripe.srv.Close()
	f.circle.srv.Close()
	f.kit.srv.Close()
	f.World.Close()
}

// meter serves a fake and counts its answers by status (0: the caller went away before the answer);
// with a window it answers Stripe's 429 to the requests beyond the window's limit.
type meter struct {
	srv    *httptest.Server
	window *window

	mu sync.Mutex
	n  map[int]int // answers by status (guarded by mu)
}

func newMeter(h http.Handler, win *window) *meter {
	m := &meter{n: map[int]int{}, window: win}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m.window != nil && !m.window.admit(time.Now()) {
			m.count(http.StatusTooManyRequests)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":{"code":"rate_limit","doc_url":"https://stripe.com/docs/error-codes/rate-limit","message":"Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.","type":"invalid_request_error"}}`))
			return
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if r.Context().Err() != nil {
			m.count(0) // the caller went away (an instance killed mid-call): no answer reached it
			return
		}
		m.count(sw.status())
	}))
	m.srv.Config.ReadHeaderTimeout = 10 * time.Second
	return m
}

func (m *meter) count(status int) {
	m.mu.Lock()
	m.n[status]++
	m.mu.Unlock()
}

// counts returns the answers by status so far.
func (m *meter) counts() map[int]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int]int, len(m.n))
	for k, v := range m.n {
		out[k] = v
	}
	return out
}

// total returns how many requests the fake answered, and how many of them were 429s.
func (m *meter) total() (calls, limited int) {
	for status, n := range m.counts() {
		calls += n
		if status == http.StatusTooManyRequests {
			limited += n
		}
	}
	return calls, limited
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// window is a sliding-window limit: at most limit requests in any span.
type window struct {
	limit int
	span  time.Duration

	mu   sync.Mutex
	hits []time.Time // admitted requests within the last span (guarded by mu)
}

func (w *window) admit(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	cut := 0
	for cut < len(w.hits) && !w.hits[cut].After(now.Add(-w.span)) {
		cut++
	}
	w.hits = w.hits[cut:]
	if len(w.hits) >= w.limit {
		return false
	}
	w.hits = append(w.hits, now)
	return true
}

// config returns membersync's config for the fakes (through their meters) at the scaled rates.
func (f *fakes) config(databaseURL string, l limits) (string, error) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(f.ConfigYAML("127.0.0.1:0", "http://localhost:8080", databaseURL)), &doc); err != nil {
		return "", err
	}
	set := map[string]map[string]any{
		"stripe": {"base_url": f.stripe.srv.URL, "requests_per_minute": l.stripeRate},
		"circle": {"base_url": f.circle.srv.URL, "requests_per_minute": l.circleRate},
		"kit":    {"base_url": f.kit.srv.URL, "requests_per_minute": l.kitRate},
	}
	for section, keys := range set {
		sec, _ := doc[section].(map[string]any)
		if sec == nil {
			sec = map[string]any{}
		}
		for k, v := range keys {
			sec[k] = v
		}
		doc[section] = sec
	}
	out, err := yaml.Marshal(doc)
	return string(out), err
}

var (
	circleAddRe    = regexp.MustCompile(`^add member (\d+) to access group (\d+)$`)
	circleCreateRe = regexp.MustCompile(`^create member (\d+)$`)
	kitSubRe       = regexp.MustCompile(`subscriber (\d+)`)
)

// effects is what reached the fakes for the buyers: when each got Circle access and their last
// Kit change, and how many members were created and access-group adds made for each.
type effects struct {
	circleAccess map[string]time.Time // email → first add to the Pro access group
	kitLast      map[string]time.Time // email → last Kit change of their subscriber
	creates      map[string]int
	adds         map[string]int
	onboarded    int // buyers in the onboarding sequence
	tagged       int // buyers with the active tag
}

func (f *fakes) effects(buyers []string) effects {
	e := effects{circleAccess: map[string]time.Time{}, kitLast: map[string]time.Time{}, creates: map[string]int{}, adds: map[string]int{}}
	members := map[string]string{}
	for _, m := range f.Circle.Members() {
		members[strconv.FormatInt(m.ID, 10)] = m.Email
	}
	pro := strconv.FormatInt(f.ProGroup, 10)
	for _, m := range f.Circle.Faults.Mutations() {
		if m.Endpoint == "direct" {
			continue
		}
		if g := circleCreateRe.FindStringSubmatch(m.Detail); g != nil {
			e.creates[members[g[1]]]++
		}
		if g := circleAddRe.FindStringSubmatch(m.Detail); g != nil {
			email := members[g[1]]
			e.adds[email]++
			if _, seen := e.circleAccess[email]; !seen && g[2] == pro {
				e.circleAccess[email] = m.At
			}
		}
	}
	subs := map[string]string{}
	for _, s := range f.Kit.Subscribers() {
		subs[strconv.FormatInt(s.ID, 10)] = s.Email
	}
	for _, m := range f.Kit.Faults.Mutations() {
		if m.Endpoint == "control" {
			continue
		}
		if g := kitSubRe.FindStringSubmatch(m.Detail); g != nil {
			if email := subs[g[1]]; m.At.After(e.kitLast[email]) {
				e.kitLast[email] = m.At
			}
		}
	}
	for _, b := range buyers {
		for _, t := range f.Kit.TagsOf(b) {
			if t == f.TagActive {
				e.tagged++
				break
			}
		}
		for _, q := range f.Kit.SequencesOf(b) {
			if q == f.SeqOnboarding {
				e.onboarded++
				break
			}
		}
	}
	return e
}

// converged reports how many buyers have Circle access and the active Kit tag.
func (f *fakes) converged(buyers map[string]bool) (circle, kit int) {
	for _, e := range f.Circle.GroupMemberEmails(f.ProGroup) {
		if buyers[e] {
			circle++
		}
	}
	for b := range buyers {
		for _, t := range f.Kit.TagsOf(b) {
			if t == f.TagActive {
				kit++
				break
			}
		}
	}
	return circle, kit
}

// purchases creates n buyers who each subscribe to Pro through Checkout, and returns their emails
// and each one's events, in the order the fake recorded them.
func (f *fakes) purchases(n int) (emails []string, events [][]stripetest.Event) {
	customers := make([]string, n)
	for i := range n {
		emails = append(emails, fmt.Sprintf("buyer%05d@launch.example", i))
		customers[i] = f.Stripe.CreateCustomer(emails[i], fmt.Sprintf("Buyer %d", i))
		f.Stripe.SubscribeViaCheckout(customers[i], f.ProPrice, 0)
	}
	index := make(map[string]int, n)
	for i, c := range customers {
		index[c] = i
	}
	events = make([][]stripetest.Event, n)
	for _, e := range f.Stripe.Events() {
		if i, ok := index[e.CustomerID]; ok {
			events[i] = append(events[i], e)
		}
	}
	return emails, events
}
