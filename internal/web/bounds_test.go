package web_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/metrics"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/web"
)

// hangGuard is how long a test waits for an answer before it concludes that the server is waiting
// for a body that will never end. It only ever decides a failure.
const hangGuard = 20 * time.Second

// bodyTap wraps each webhook request's body while the handler runs and counts what the handler reads
// of it, by the request's X-Tap header.
type bodyTap struct {
	mu      sync.Mutex
	read    map[string]*atomic.Int64 // bytes read, by X-Tap; guarded by mu
	reading chan struct{}            // receives once per request, at its body's first Read
}

func newBodyTap() *bodyTap {
	return &bodyTap{read: map[string]*atomic.Int64{}, reading: make(chan struct{}, 64)}
}

func (tap *bodyTap) counter(id string) *atomic.Int64 {
	tap.mu.Lock()
	defer tap.mu.Unlock()
	if tap.read[id] == nil {
		tap.read[id] = new(atomic.Int64)
	}
	return tap.read[id]
}

// bytesRead returns how many bytes the server read of the body of the request tapped as id.
func (tap *bodyTap) bytesRead(id string) int64 { return tap.counter(id).Load() }

func (tap *bodyTap) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/webhooks/stripe" {
			next.ServeHTTP(w, r)
			return
		}
		// net/http looks at r.Body after the handler to decide how to close the connection: put the
		// original back.
		orig := r.Body
		r.Body = &tappedBody{ReadCloser: r.Body, tap: tap, n: tap.counter(r.Header.Get("X-Tap"))}
		next.ServeHTTP(w, r)
		r.Body = orig
	})
}

type tappedBody struct {
	io.ReadCloser
	tap     *bodyTap
	n       *atomic.Int64
	started bool
}

func (b *tappedBody) Read(p []byte) (int, error) {
	if !b.started {
		b.started = true
		b.tap.reading <- struct{}{}
	}
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// slowBody is a request body that sends its first bytes, then nothing until end sends the rest.
type slowBody struct {
	pr   *io.PipeReader
	pw   *io.PipeWriter
	rest []byte
	once sync.Once
}

func newSlowBody(t *testing.T, body []byte, first int) *slowBody {
	t.Helper()
	pr, pw := io.Pipe()
	go pw.Write(body[:first]) // returns when the client's transport has taken it, or the pipe closes
	b := &slowBody{pr: pr, pw: pw, rest: body[first:]}
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	return b
}

// end sends the rest of the body and closes it.
func (b *slowBody) end() {
	b.once.Do(func() {
		go func() {
			b.pw.Write(b.rest)
			b.pw.Close()
		}()
	})
}

type answer struct {
	status int
	header http.Header
	body   map[string]string
	err    error
}

// send posts body with a Stripe-Signature header (none when sig is "") and length as Content-Length
// (-1: unknown, chunked), and delivers the answer on the returned channel.
func send(url, tap string, body io.Reader, length int64, sig string) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		req, err := http.NewRequest(http.MethodPost, url+"/webhooks/stripe", body)
		if err != nil {
			out <- answer{err: err}
			return
		}
		req.ContentLength = length
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Tap", tap)
		if sig != "" {
			req.Header.Set("Stripe-Signature", sig)
		}
		// A connection of its own, as from many senders; kept alive as Stripe's are, so that the
		// server decides whether to read what is left of the body or close the connection.
		transport := &http.Transport{}
		defer transport.CloseIdleConnections()
		client := &http.Client{Transport: transport}
		resp, err := client.Do(req)
		if err != nil {
			out <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			out <- answer{status: resp.StatusCode, err: fmt.Errorf("status %d: body is not a JSON object: %q", resp.StatusCode, b)}
			return
		}
		out <- answer{status: resp.StatusCode, header: resp.Header, body: m}
	}()
	return out
}

func await(t *testing.T, ch <-chan answer, what string) answer {
	t.Helper()
	select {
	case a := <-ch:
		if a.err != nil {
			t.Fatalf("%s: %v", what, a.err)
		}
		return a
	case <-time.After(hangGuard):
		t.Fatalf("%s: no answer while the request body was still open: the server is waiting for the body", what)
		return answer{}
	}
}

// Finding 4: a delivery whose Stripe-Signature header is missing, malformed, too old or from the
// future is refused before a byte of its body is read: neither the handler nor net/http after it
// reads the body, and the answer arrives while a body that never ends is still being sent.
func TestWebhookRefusesUnsignedBeforeReadingBody(t *testing.T) {
	body := append(eventJSON("evt_unread", "invoice.paid", "cus_A", false), bytes.Repeat([]byte(" "), 100<<10)...)
	tests := []struct {
		name string
		sig  string
		code string
	}{
		{"missing", "", "missing_signature"},
		{"malformed", "v1=abc", "malformed_signature"},
		{"garbage", "hello", "malformed_signature"},
		{"v1 not hex", fmt.Sprintf("t=%d,v1=zz", now.Unix()), "malformed_signature"},
		{"too old", sign(body, secretOld, now.Add(-6*time.Minute)), "too_old"},
		{"from the future", sign(body, secretOld, now.Add(6*time.Minute)), "too_new"},
	}
	tap := newBodyTap()
	h := newWrappedHarness(t, "sqlite", tap.wrap)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Run("known length", func(t *testing.T) {
				a := await(t, send(h.url, t.Name(), bytes.NewReader(body), int64(len(body)), tt.sig), "refusal")
				if a.status != 400 || a.body["error"] != tt.code || a.body["message"] == "" {
					t.Errorf("got %d %v, want 400 %s with a message", a.status, a.body, tt.code)
				}
				if got := tap.bytesRead(t.Name()); got != 0 {
					t.Errorf("the handler read %d bytes of a body it refused on its header; want 0", got)
				}
			})
			t.Run("body never ends", func(t *testing.T) {
				slow := newSlowBody(t, body, 1024)
				a := await(t, send(h.url, t.Name(), slow.pr, -1, tt.sig), "refusal")
				if a.status != 400 || a.body["error"] != tt.code {
					t.Errorf("got %d %v, want 400 %s", a.status, a.body, tt.code)
				}
				if got := tap.bytesRead(t.Name()); got != 0 {
					t.Errorf("the handler read %d bytes of a body it refused on its header; want 0", got)
				}
			})
		})
	}
	if ev, jobs := h.counts(t); ev != 0 || jobs != 0 {
		t.Errorf("refused deliveries left %d events, %d jobs", ev, jobs)
	}
}

// Finding 4: the bytes of webhook bodies in flight are bounded across all requests. Slow senders
// with well-formed headers hold the whole budget; the next delivery is answered 503 with Retry-After
// (Stripe retries) without its body being read, one declaring more than MaxBody is answered 413 at
// once, /healthz still answers, and once the slow ones end they are accepted and the budget is free
// again.
func TestWebhookBodiesInFlightAreBounded(t *testing.T) {
	const held = 4
	tap := newBodyTap()
	h := newWrappedHarness(t, "sqlite", tap.wrap, func(s *web.Server) {
		s.BodyBudget = held * inbox.MaxBody
		s.Metrics = metrics.New(nil, nil, s.Log)
		s.MetricsToken = "tok"
	})
	var slow []*slowBody
	var answers []<-chan answer
	for i := range held {
		body := eventJSON(fmt.Sprintf("evt_slow%d", i), "invoice.paid", fmt.Sprintf("cus_slow%d", i), false)
		length := int64(-1) // unknown (chunked): reserves MaxBody
		if i%2 == 1 {
			body = append(body, bytes.Repeat([]byte(" "), inbox.MaxBody-len(body))...)
			length = inbox.MaxBody // declared: reserves what it declares
		}
		b := newSlowBody(t, body, 10)
		slow = append(slow, b)
		answers = append(answers, send(h.url, fmt.Sprint("slow", i), b.pr, length, sign(body, secretOld, now)))
	}
	for i := range held {
		select {
		case <-tap.reading:
		case <-time.After(hangGuard):
			t.Fatalf("only %d of %d slow deliveries reached their body", i, held)
		}
	}

	next := eventJSON("evt_next", "invoice.paid", "cus_B", false)
	a := await(t, send(h.url, "over", bytes.NewReader(next), int64(len(next)), sign(next, secretOld, now)), "delivery over the budget")
	if a.status != 503 || a.body["error"] != "busy" || a.header.Get("Retry-After") == "" {
		t.Errorf("over the budget: got %d %v Retry-After=%q, want 503 busy with Retry-After", a.status, a.body, a.header.Get("Retry-After"))
	}
	if got := tap.bytesRead("over"); got != 0 {
		t.Errorf("the server read %d bytes of a delivery over the budget; want 0", got)
	}

	huge := newSlowBody(t, next, 10)
	a = await(t, send(h.url, "huge", huge.pr, inbox.MaxBody+1, sign(next, secretOld, now)), "delivery declaring more than MaxBody")
	if a.status != 413 || a.body["error"] != "too_large" {
		t.Errorf("declared over MaxBody: got %d %v, want 413 too_large", a.status, a.body)
	}
	if got := tap.bytesRead("huge"); got != 0 {
		t.Errorf("the server read %d bytes of a delivery declaring more than MaxBody; want 0", got)
	}

	resp, err := http.Get(h.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz while the budget is spent: %d", resp.StatusCode)
	}

	for i, b := range slow {
		b.end()
		if a := await(t, answers[i], "slow delivery"); a.status != 200 || a.body["status"] != "accepted" {
			t.Errorf("slow delivery %d, once complete: got %d %v, want 200 accepted", i, a.status, a.body)
		}
	}
	a = await(t, send(h.url, "after", bytes.NewReader(next), int64(len(next)), sign(next, secretOld, now)), "delivery after the slow ones ended")
	if a.status != 200 || a.body["status"] != "accepted" {
		t.Errorf("after the slow deliveries ended: got %d %v, want 200 accepted (the budget must be released)", a.status, a.body)
	}

	req, _ := http.NewRequest(http.MethodGet, h.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	exposition, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`membersync_webhook_requests_total{result="busy"} 1`, `membersync_webhook_requests_total{result="too_large"} 1`, `membersync_webhook_requests_total{result="accepted"} 5`} {
		if !strings.Contains(string(exposition), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Finding 4: a validly signed delivery whose timestamp is more than Tolerance ahead of the server
// clock is refused (too_new); one inside the tolerance is accepted.
func TestWebhookRefusesFutureTimestamps(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			body := eventJSON("evt_future", "invoice.paid", "cus_A", false)
			for _, ahead := range []time.Duration{inbox.Tolerance + time.Second, 24 * time.Hour, 10 * 365 * 24 * time.Hour} {
				status, m := h.post(t, body, sign(body, secretOld, now.Add(ahead)))
				if status != 400 || m["error"] != "too_new" || !strings.Contains(m["message"], "future") {
					t.Errorf("signed %s ahead: got %d %v, want 400 too_new", ahead, status, m)
				}
			}
			if ev, jobs := h.counts(t); ev != 0 || jobs != 0 {
				t.Errorf("refused deliveries left %d events, %d jobs", ev, jobs)
			}
			status, m := h.post(t, body, sign(body, secretOld, now.Add(inbox.Tolerance-time.Second)))
			if status != 200 || m["status"] != "accepted" {
				t.Errorf("signed just inside the tolerance ahead: got %d %v, want 200 accepted", status, m)
			}
		})
	}
}
