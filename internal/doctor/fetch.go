package doctor

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxBody bounds how much of a page doctor reads.
const maxBody = 1 << 20

// page is one HTTP response as doctor saw it, the body read (up to maxBody) and the connection closed.
type page struct {
	URL      string
	Status   int
	Header   http.Header
	Body     []byte
	Duration time.Duration
}

// client returns an HTTP client that dials through the auditor's dialer, verifies TLS against the
// configured roots at the configured time, never follows redirects and never uses a proxy.
func (a *auditor) client() *http.Client {
	tr := &http.Transport{
		DialContext:           a.dial,
		TLSClientConfig:       &tls.Config{RootCAs: a.opts.RootCAs, Time: a.now},
		DisableKeepAlives:     true,
		TLSHandshakeTimeout:   a.timeout,
		ResponseHeaderTimeout: a.timeout,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       a.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetch makes one request without following redirects. The duration is measured with the real clock:
// it is reported, never asserted.
func (a *auditor) fetch(ctx context.Context, method, url, contentType string, body string) (page, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return page{}, err
	}
	req.Header.Set("User-Agent", "membersync-doctor/1")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	c := a.client()
	defer c.CloseIdleConnections()
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return page{URL: url, Status: resp.StatusCode, Header: resp.Header, Body: b, Duration: time.Since(start)}, nil
}
