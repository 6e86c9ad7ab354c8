package web_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/store/storetest"
)

// BenchmarkIngest measures signed deliveries over real HTTP (loopback) against the full webhook path
// (verify → envelope → one transaction with the job → 200) on SQLite and PostgreSQL, beside a bare
// handler that only verifies the HMAC. "max" runs 32 concurrent senders flat out with a new customer per
// event (the worst case); "max-8-per-customer" sends eight events per customer, as a checkout does;
// "rate1000" sends at 1,000 events/s. Each reports events/s and p50/p99 acknowledgement latency:
//
//	go test -run '^$' -bench Ingest -benchtime 5000x ./internal/web/
//
// (TEST_DATABASE_URL adds the PostgreSQL rows.)
func BenchmarkIngest(b *testing.B) {
	targets := []struct {
		name    string
		handler func(b *testing.B) http.Handler
	}{{"bare", bareHandler}}
	for _, d := range storetest.Dialects() {
		targets = append(targets, struct {
			name    string
			handler func(b *testing.B) http.Handler
		}{d, func(b *testing.B) http.Handler { return newHarness(b, d).handler }})
	}
	for _, tg := range targets {
		for _, mode := range []string{"max", "max-8-per-customer", "rate1000"} {
			b.Run(tg.name+"/"+mode, func(b *testing.B) {
				srv := httptest.NewServer(tg.handler(b))
				defer srv.Close()
				runLoad(b, srv.URL+"/webhooks/stripe", mode)
			})
		}
	}
}

var benchRun atomic.Int64

func bareHandler(b *testing.B) http.Handler {
	v := &inbox.Verifier{Secrets: []string{secretOld}, Now: func() time.Time { return now }}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(http.MaxBytesReader(w, r.Body, inbox.MaxBody))
		if err := v.Verify(body, r.Header.Get("Stripe-Signature")); err != nil {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"accepted"}`))
	})
}

func runLoad(b *testing.B, url, mode string) {
	const senders = 32
	run := benchRun.Add(1)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders, MaxConnsPerHost: senders}}
	bodies := make([][]byte, b.N)
	sigs := make([]string, b.N)
	perCustomer := 1 // each event names its own customer, the worst case: a new person and a job per event
	if mode == "max-8-per-customer" {
		perCustomer = 8 // a checkout sends about eight events for one customer
	}
	for i := range b.N {
		bodies[i] = eventJSON(fmt.Sprintf("evt_b%d_%d", run, i), "invoice.paid", fmt.Sprintf("cus_b%d_%d", run, i/perCustomer), false)
		sigs[i] = sign(bodies[i], secretOld, now)
	}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	var failures atomic.Int64
	var interval time.Duration
	if mode == "rate1000" {
		interval = time.Millisecond
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				if interval > 0 { // open loop: event i is due at start + i ms
					if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
						time.Sleep(d)
					}
				}
				t0 := time.Now()
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i]))
				req.Header.Set("Stripe-Signature", sigs[i])
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
				lat[i] = time.Since(t0)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if f := failures.Load(); f > 0 {
		b.Fatalf("%d of %d deliveries failed", f, b.N)
	}
	slices.Sort(lat)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
