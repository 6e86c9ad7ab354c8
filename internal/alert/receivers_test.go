package alert_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/membersync/membersync/internal/mail/mailtest"
)

// httpReceiver is a local HTTP endpoint standing in for Slack or a JSON webhook receiver.
type httpReceiver struct {
	URL string
	srv *httptest.Server

	mu     sync.Mutex
	got    []httpDelivery // guarded by mu
	status int            // answer; 0 means 200; guarded by mu
	stall  bool           // hold every request until the client gives up; guarded by mu
}

type httpDelivery struct {
	Header http.Header
	Body   []byte
}

func newHTTPReceiver(t *testing.T) *httpReceiver {
	t.Helper()
	r := &httpReceiver{}
	release := make(chan struct{})
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status, stall := r.status, r.stall
		r.mu.Unlock()
		if stall {
			select {
			case <-req.Context().Done():
			case <-release:
			}
			return
		}
		if status != 0 && status != http.StatusOK {
			http.Error(w, "receiver unavailable", status)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, httpDelivery{Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets stalled handlers return
	r.URL = r.srv.URL + "/services/T000/B000/SECRETPATH"
	return r
}

func (r *httpReceiver) set(status int, stall bool) {
	r.mu.Lock()
	r.status, r.stall = status, stall
	r.mu.Unlock()
}

// take returns what arrived since the last take.
func (r *httpReceiver) Take() []httpDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// downURL returns the URL of a server that no longer listens.
func downURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u + "/services/T000/B000/SECRETPATH"
}

// newSMTPServer starts the SMTP server of mailtest, shaped by configure.
func newSMTPServer(t *testing.T, configure func(*mailtest.Options)) *mailtest.Server {
	t.Helper()
	var o mailtest.Options
	if configure != nil {
		configure(&o)
	}
	return mailtest.New(t, o)
}
