package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/membersync/membersync/internal/billing/stripetest"
)

// poster signs and posts Stripe events to the instances, as Stripe does.
type poster struct {
	secret string
	client *http.Client
}

func newPoster(secret string) *poster {
	return &poster{secret: secret, client: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second}}}
}

// post sends one event to an instance and returns the status (0 when no answer came).
func (p *poster) post(ctx context.Context, baseURL string, body []byte) int {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: p.secret, Timestamp: time.Now()})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// delivery is one send of one event: its first delivery, its duplicate, or a retry of either.
type delivery struct {
	at    time.Duration // after the start of the launch
	event int
	body  []byte
}

// launchTraffic delivers the launch: purchase i's events arrive at i·arrival/n, each event twice
// (the first within a second of the purchase, the duplicate within ten), each send to an instance
// drawn at random; a send that is not acknowledged is retried two seconds later, to another draw,
// until one is (Stripe retries for days).
type launchTraffic struct {
	poster    *poster
	instances func() []string // base URLs
	rng       *rand.Rand
	senders   int

	acked     []atomic.Bool // per event
	sent      atomic.Int64
	ok        atomic.Int64
	refused   atomic.Int64 // no answer or not 2xx (an instance down)
	mu        sync.Mutex
	latencies []time.Duration // of acknowledged sends, while the purchases arrive (guarded by mu)
	ackUntil  time.Duration   // sends starting after this are left out of latencies
}

// plan lays out the first sends of every event.
func (lt *launchTraffic) plan(events [][]stripetest.Event, arrival time.Duration) (sends []delivery, total int) {
	n := len(events)
	for i, evs := range events {
		base := time.Duration(int64(arrival) * int64(i) / int64(max(n, 1)))
		for _, e := range evs {
			sends = append(sends,
				delivery{at: base + time.Duration(lt.rng.Int64N(int64(time.Second))), event: total, body: e.JSON},
				delivery{at: base + time.Duration(lt.rng.Int64N(int64(10*time.Second))), event: total, body: e.JSON})
			total++
		}
	}
	sort.SliceStable(sends, func(a, b int) bool { return sends[a].at < sends[b].at })
	return sends, total
}

// run sends the plan from start, with retries, and returns when every event has been acknowledged
// or ctx ends.
func (lt *launchTraffic) run(ctx context.Context, start time.Time, sends []delivery, events int) {
	lt.acked = make([]atomic.Bool, events)
	work := make(chan delivery, 1024)
	var chains sync.WaitGroup // one per send until it is acknowledged
	chains.Add(len(sends))
	var rngMu sync.Mutex
	pick := func() string {
		urls := lt.instances()
		rngMu.Lock()
		defer rngMu.Unlock()
		return urls[lt.rng.IntN(len(urls))]
	}
	var senders sync.WaitGroup
	for range lt.senders {
		senders.Go(func() {
			for d := range work {
				began := time.Now()
				status := lt.poster.post(ctx, pick(), d.body)
				lt.sent.Add(1)
				if status >= 200 && status < 300 {
					lt.ok.Add(1)
					lt.acked[d.event].Store(true)
					if began.Sub(start) <= lt.ackUntil {
						lt.mu.Lock()
						lt.latencies = append(lt.latencies, time.Since(began))
						lt.mu.Unlock()
					}
					chains.Done()
					continue
				}
				lt.refused.Add(1)
				if ctx.Err() != nil {
					chains.Done()
					continue
				}
				retry := d
				time.AfterFunc(2*time.Second, func() {
					select {
					case work <- retry:
					case <-ctx.Done():
						chains.Done()
					}
				})
			}
		})
	}
	for _, d := range sends {
		if wait := time.Until(start.Add(d.at)); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		select {
		case work <- d:
		case <-ctx.Done():
			chains.Done()
		}
	}
	chains.Wait()
	close(work)
	senders.Wait()
}

// acknowledged counts the events acknowledged at least once.
func (lt *launchTraffic) acknowledged() int {
	n := 0
	for i := range lt.acked {
		if lt.acked[i].Load() {
			n++
		}
	}
	return n
}

// burst sends rate new events a second for d, round-robin over the instances, each at its
// scheduled instant whatever the answers before it (an open loop), and returns each send's latency
// from its scheduled instant to the answer, and how many were not acknowledged. The events are
// copies of launch events under new ids: each is stored and triggers its buyer's sync, which finds
// nothing to change. The caller shuffles them, so that a second holds many customers' events.
func burst(ctx context.Context, p *poster, urls []string, bodies [][]byte, rate int, d time.Duration) (lat []time.Duration, failed int) {
	n := int(d.Seconds() * float64(rate))
	lat = make([]time.Duration, n)
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := time.Now().Add(50 * time.Millisecond)
	for i := range n {
		at := start.Add(time.Duration(int64(time.Second) * int64(i) / int64(rate)))
		time.Sleep(time.Until(at))
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			statuses[i] = p.post(ctx, urls[i%len(urls)], bodies[i%len(bodies)])
			lat[i] = time.Since(at)
		})
	}
	wg.Wait()
	for _, s := range statuses {
		if s < 200 || s >= 300 {
			failed++
		}
	}
	return lat, failed
}

// renamed returns copies of the event bodies with new ids (evt_burst…), so that each is a new event.
func renamed(bodies [][]byte, n int) ([][]byte, error) {
	out := make([][]byte, 0, n)
	for i := range n {
		var ev map[string]any
		if err := json.Unmarshal(bodies[i%len(bodies)], &ev); err != nil {
			return nil, err
		}
		ev["id"] = fmt.Sprintf("evt_burst%06d", i)
		b, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// percentile returns the p-th percentile (0..100) of ds, sorting them.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	i := int(float64(len(ds)-1) * p / 100)
	return ds[i]
}
