package stripetest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

// DeliveryOptions shape a Deliver run the way Stripe's deliveries misbehave.
type DeliveryOptions struct {
	// Duplicate sends every event twice: a second pass after the first, as a retry would.
	Duplicate bool
	// Shuffle sends in a random order drawn from Seed (the same seed gives the same order).
	Shuffle bool
	Seed    uint64
	// Delay waits this long before each send (per worker).
	Delay time.Duration
	// Concurrency is how many sends are in flight at once (default 1: one after the other).
	Concurrency int
	// Secret signs with this secret instead of Options.WebhookSecret (a wrong one, a rotated one).
	Secret string
	// Now is the clock of the signature timestamp. Default time.Now: receivers check the tolerance
	// against the wall clock, whatever the fake's clock says.
	Now func() time.Time
	// Client sends the requests; default a client with a 10 s timeout.
	Client *http.Client
}

// DeliveryResult is the outcome of one send.
type DeliveryResult struct {
	EventID string
	Attempt int // 1, or 2 for the duplicate
	Status  int // HTTP status; 0 when no answer came
	Err     error
}

// Deliver posts each event body to url as Stripe would: JSON body, Stripe-Signature header
// "t=…,v1=…" computed with stripe-go's webhook package. It returns one result per send, in the order
// of sending (which Shuffle and Duplicate change); with Concurrency > 1 sends overlap. An event whose
// delivery is answered 2xx is no longer pending: its pending_webhooks reads 0 from then on, and
// GET /v1/events?delivery_success=false leaves it out.
func (s *Server) Deliver(ctx context.Context, url string, events []EventJSON, opts DeliveryOptions) []DeliveryResult {
	type send struct {
		body    []byte
		attempt int
	}
	var plan []send
	for _, e := range events {
		plan = append(plan, send{e, 1})
	}
	if opts.Duplicate {
		for _, e := range events {
			plan = append(plan, send{e, 2})
		}
	}
	if opts.Shuffle {
		rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
		rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	}
	secret := opts.Secret
	if secret == "" {
		secret = s.opts.WebhookSecret
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	workers := max(opts.Concurrency, 1)

	results := make([]DeliveryResult, len(plan))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				p := plan[i]
				res := DeliveryResult{EventID: eventID(p.body), Attempt: p.attempt}
				if opts.Delay > 0 {
					select {
					case <-ctx.Done():
					case <-time.After(opts.Delay):
					}
				}
				if err := ctx.Err(); err != nil {
					res.Err = err
					results[i] = res
					continue
				}
				res.Status, res.Err = post(ctx, client, url, p.body, secret, now())
				if res.Err == nil && res.Status >= 200 && res.Status < 300 {
					s.acknowledged(res.EventID)
				}
				results[i] = res
			}
		}()
	}
	for i := range plan {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return results
}

func post(ctx context.Context, client *http.Client, url string, body []byte, secret string, at time.Time) (int, error) {
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

func eventID(body []byte) string {
	var e struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &e)
	return e.ID
}
