// Package providertest holds what the stateful fakes of Stripe, Circle and Kit share: fault injection
// (forced errors for the next N calls or for a time window, latency), per-endpoint call counters, an
// ordered log of mutations, and a settable Clock that tests hand to fakes and clients alike. A fake
// wraps its handler with Faults.Wrap and names each endpoint it serves.
package providertest

import (
	"net/http"
	"sort"
	"sync"
	"time"
)

// Fault is one injected failure answer.
type Fault struct {
	Status int    // HTTP status to answer, such as 500 or 429
	Body   string // response body; a JSON error shaped like the provider's when empty is up to the fake
	// Header is added to the answer (for example Retry-After).
	Header http.Header
}

// Mutation is one state change a fake made, in order.
type Mutation struct {
	At       time.Time
	Endpoint string // such as "POST /api/admin/v2/access_groups/{id}/community_members"
	Detail   string // what changed, such as "add member 7 to access group 12"
}

// Faults is fault injection, counting and the mutation log for one fake server. The zero value is
// ready to use; all methods are safe for concurrent use.
type Faults struct {
	// Now is the clock used for windows and mutation timestamps; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	next      []Fault // answered, one each, by the next calls (guarded by mu)
	until     time.Time
	window    Fault
	latency   time.Duration
	calls     map[string]int
	mutations []Mutation
}

func (f *Faults) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// FailNext makes the next n calls answer with fault.
func (f *Faults) FailNext(n int, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		f.next = append(f.next, fault)
	}
}

// FailFor makes every call answer with fault for the duration d from now (an outage).
func (f *Faults) FailFor(d time.Duration, fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.until = f.now().Add(d)
	f.window = fault
}

// Heal ends any outage and drops pending injected failures.
func (f *Faults) Heal() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next = nil
	f.until = time.Time{}
}

// SetLatency delays every answer by d.
func (f *Faults) SetLatency(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.latency = d
}

// Calls returns how many calls reached the endpoint (such as "GET /v1/customers/{id}"), faults included.
func (f *Faults) Calls(endpoint string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[endpoint]
}

// AllCalls returns a copy of the per-endpoint counters.
func (f *Faults) AllCalls() map[string]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string]int, len(f.calls))
	for k, v := range f.calls {
		m[k] = v
	}
	return m
}

// TotalCalls returns how many calls reached the fake in all.
func (f *Faults) TotalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, v := range f.calls {
		n += v
	}
	return n
}

// ResetCalls zeroes the counters (the mutation log is kept).
func (f *Faults) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// Record appends a mutation to the log.
func (f *Faults) Record(endpoint, detail string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mutations = append(f.mutations, Mutation{At: f.now(), Endpoint: endpoint, Detail: detail})
}

// Mutations returns a copy of the mutation log, oldest first.
func (f *Faults) Mutations() []Mutation {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Mutation(nil), f.mutations...)
}

// Endpoints returns the endpoints that were called, sorted.
func (f *Faults) Endpoints() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for k := range f.calls {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// take counts a call to endpoint and returns the fault to answer with, if any, and the latency.
func (f *Faults) take(endpoint string) (*Fault, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[endpoint]++
	if len(f.next) > 0 {
		ft := f.next[0]
		f.next = f.next[1:]
		return &ft, f.latency
	}
	if !f.until.IsZero() && f.now().Before(f.until) {
		ft := f.window
		return &ft, f.latency
	}
	return nil, f.latency
}

// Wrap returns a handler that counts each call under its endpoint name, sleeps the configured latency
// and answers an injected fault instead of calling next when one is due. endpoint names a request;
// for a ServeMux-routed fake, (*http.Request).Pattern after routing is a good name, so Wrap is usually
// applied to each route's handler.
func (f *Faults) Wrap(endpoint string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ft, lat := f.take(endpoint)
		if lat > 0 {
			select {
			case <-time.After(lat):
			case <-r.Context().Done():
				return
			}
		}
		if ft != nil {
			for k, vs := range ft.Header {
				for _, v := range vs {
					w.Header().Add(k, v)
				}
			}
			if ft.Body != "" && w.Header().Get("Content-Type") == "" {
				w.Header().Set("Content-Type", "application/json")
			}
			w.WriteHeader(ft.Status)
			_, _ = w.Write([]byte(ft.Body))
			return
		}
		next.ServeHTTP(w, r)
	})
}
