package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/web"
)

// clock is a test clock that moves only when told.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(now.UnixNano())
	return c
}

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// logLines collects JSON log records.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns the records whose msg is msg.
func (l *logLines) records(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// readyServer serves a web.Server whose Ready is ready, on the clock, logging to logs.
func readyServer(t *testing.T, ready func(context.Context) error, c *clock, logs *logLines) (*web.Readiness, string) {
	t.Helper()
	log := slog.New(slog.NewJSONHandler(logs, nil))
	rd := &web.Readiness{Check: ready, Log: log, Now: c.Now}
	srv := &web.Server{Log: log, Ready: rd, Now: c.Now}
	ts := httptest.NewServer(srv.Routes())
	t.Cleanup(ts.Close)
	return rd, ts.URL
}

func getReadyz(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// Finding 7: /readyz is public, so it answers only a status word. Why the instance is not ready (an
// error that names the database's user, password, host and name) goes to the log and to
// LastNotReady for the operator.
func TestReadyzRevealsNothing(t *testing.T) {
	dbErr := errors.New(`database: failed to connect to postgres://user:pw@dbhost/name: dial tcp 10.0.0.5:5432: connect: connection refused`)
	var failing atomic.Bool
	failing.Store(true)
	c, logs := newClock(), &logLines{}
	srv, url := readyServer(t, func(context.Context) error {
		if failing.Load() {
			return dbErr
		}
		return nil
	}, c, logs)

	status, body := getReadyz(t, url)
	if status != http.StatusServiceUnavailable || strings.TrimSpace(body) != `{"status":"unavailable"}` {
		t.Errorf("not ready: got %d %s, want 503 {\"status\":\"unavailable\"} and nothing more", status, body)
	}
	for _, secret := range []string{"postgres", "user", "pw", "dbhost", "name", "10.0.0.5", "5432", "refused", "database"} {
		if strings.Contains(body, secret) {
			t.Errorf("/readyz reveals %q: %s", secret, body)
		}
	}
	if recs := logs.records("not ready"); len(recs) != 1 || !strings.Contains(recs[0]["err"].(string), "dbhost") {
		t.Errorf("the log must say why: not-ready records %v in\n%s", recs, logs)
	}
	if err, at := srv.LastNotReady(); !errors.Is(err, dbErr) || !at.Equal(c.Now()) {
		t.Errorf("LastNotReady() = %v, %v; want %v at %v", err, at, dbErr, c.Now())
	}

	failing.Store(false)
	c.Advance(time.Second)
	status, body = getReadyz(t, url)
	if status != http.StatusOK || strings.TrimSpace(body) != `{"status":"ready"}` {
		t.Errorf("ready: got %d %s, want 200 {\"status\":\"ready\"}", status, body)
	}
	if err, _ := srv.LastNotReady(); !errors.Is(err, dbErr) {
		t.Errorf("LastNotReady() after recovery = %v; want the last failure kept for the operator", err)
	}
	if recs := logs.records("ready again"); len(recs) != 1 {
		t.Errorf("recovery: %d ready-again records, want 1, in\n%s", len(recs), logs)
	}
}

// A probe every second while the database is down logs one line per 10 seconds, carrying the count
// of failed checks, and one line when the instance is ready again.
func TestReadyzLogsNotReadyOncePerInterval(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	c, logs := newClock(), &logLines{}
	_, url := readyServer(t, func(context.Context) error {
		if failing.Load() {
			return errors.New("database: disk full")
		}
		return nil
	}, c, logs)

	for range 30 {
		if status, _ := getReadyz(t, url); status != http.StatusServiceUnavailable {
			t.Fatalf("status %d while failing", status)
		}
		c.Advance(time.Second)
	}
	recs := logs.records("not ready")
	var counts []float64
	for _, r := range recs {
		n, _ := r["failed_checks"].(float64)
		counts = append(counts, n)
	}
	if len(recs) != 3 || counts[0] != 1 || counts[1] != 10 || counts[2] != 10 {
		t.Errorf("30 failed checks in 30 s: got not-ready records with failed_checks %v, want [1 10 10]\n%s", counts, logs)
	}

	failing.Store(false)
	for range 5 {
		if status, _ := getReadyz(t, url); status != http.StatusOK {
			t.Fatalf("status %d once recovered", status)
		}
		c.Advance(time.Second)
	}
	again := logs.records("ready again")
	if len(again) != 1 || again[0]["failed_checks_not_logged"] != float64(9) {
		t.Errorf("recovery: got ready-again records %v, want one with failed_checks_not_logged 9\n%s", again, logs)
	}
}

// /readyz is public and its check writes to the database: requests at once share one check, and a
// check answers for a second, so a stranger polling it flat out costs one check a second.
func TestReadyzChecksAtMostOncePerSecond(t *testing.T) {
	var checks atomic.Int64
	release := make(chan struct{})
	c, logs := newClock(), &logLines{}
	_, url := readyServer(t, func(context.Context) error {
		checks.Add(1)
		<-release
		return nil
	}, c, logs)

	const callers = 20
	var wg sync.WaitGroup
	statuses := make(chan int, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(url + "/readyz")
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	for checks.Load() == 0 { // wait for the first check to start, then let it finish
		time.Sleep(time.Millisecond)
	}
	close(release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Errorf("status %d, want 200", s)
		}
	}
	for range callers {
		getReadyz(t, url)
	}
	if got := checks.Load(); got != 1 {
		t.Errorf("%d concurrent and %d later requests within a second ran %d checks, want 1", callers, callers, got)
	}
	c.Advance(time.Second)
	getReadyz(t, url)
	if got := checks.Load(); got != 2 {
		t.Errorf("a request a second later: %d checks in all, want 2", got)
	}
}
