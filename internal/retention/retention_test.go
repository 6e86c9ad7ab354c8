package retention_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/retention"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/web"
)

const secret = "whsec_retention0123456789"

// wall is the time of the deliveries' signatures: the verifier's clock.
var wall = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// endpoint is the real webhook handler (verifier, inbox, store, insert-only queue) over HTTP, on a
// store whose clock the test moves (it stamps received_at, which retention counts from).
type endpoint struct {
	url   string
	st    *store.Store
	clock atomic.Int64 // unix microseconds of st.Now
}

func newEndpoint(t *testing.T, dialect string) *endpoint {
	t.Helper()
	e := &endpoint{st: storetest.Open(t, dialect)}
	e.clock.Store(wall.UnixMicro())
	e.st.Now = func() time.Time { return time.UnixMicro(e.clock.Load()).UTC() }
	q, err := queue.New(e.st, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	in := inbox.New(e.st, q, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	srv := &web.Server{Inbox: in, Verifier: &inbox.Verifier{Secrets: []string{secret}, Now: func() time.Time { return wall }}, Log: log}
	ts := httptest.NewServer(srv.Routes())
	t.Cleanup(func() { ts.Close(); cancel(); <-done })
	e.url = ts.URL
	return e
}

func (e *endpoint) setClock(t time.Time) { e.clock.Store(t.UnixMicro()) }

func eventBody(id, customer string) []byte {
	return []byte(fmt.Sprintf(`{"id":%q,"object":"event","api_version":"2026-03-25.dahlia","created":%d,"livemode":false,"type":"invoice.paid",`+
		`"data":{"object":{"id":"in_%s","object":"invoice","customer":%q,"customer_email":"ada@example.com"}}}`, id, wall.Unix()-5, id, customer))
}

// deliver posts a signed event as Stripe does and returns the HTTP status and the answer's status
// field (accepted, duplicate, ignored); an error for a transport failure.
func (e *endpoint) deliver(id, customer string) (int, string, error) {
	body := eventBody(id, customer)
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: wall}).Header
	req, err := http.NewRequest(http.MethodPost, e.url+"/webhooks/stripe", bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Stripe-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]string
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m["status"], nil
}

func (e *endpoint) mustDeliver(t *testing.T, id, customer, want string) {
	t.Helper()
	status, got, err := e.deliver(id, customer)
	if err != nil || status != http.StatusOK || got != want {
		t.Fatalf("delivery of %s: %d %q %v; want 200 %q", id, status, got, err, want)
	}
}

// TestRetentionWhileWebhooksArrive is the test: a retention pass prunes exactly the expired
// payloads in batches while webhooks keep arriving over HTTP, every one acknowledged (200, and one
// between every two batches), and a redelivery of a pruned event still answers "duplicate".
func TestRetentionWhileWebhooksArrive(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEndpoint(t, dialect)
			ctx := context.Background()
			const expired, kept, batch = 300, 40, 20

			e.setClock(wall.Add(-120 * 24 * time.Hour))
			for i := range expired {
				e.mustDeliver(t, fmt.Sprintf("evt_old%04d", i), fmt.Sprintf("cus_%03d", i%50), "accepted")
			}
			e.setClock(wall.Add(-30 * 24 * time.Hour))
			for i := range kept {
				e.mustDeliver(t, fmt.Sprintf("evt_recent%04d", i), "cus_R", "accepted")
			}
			e.setClock(wall)

			// Deliveries keep arriving throughout the pass.
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var during int
			var failures []string
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					status, res, err := e.deliver(fmt.Sprintf("evt_live%05d", i), "cus_L")
					mu.Lock()
					during++
					if err != nil || status != http.StatusOK || (res != "accepted" && res != "duplicate") {
						failures = append(failures, fmt.Sprintf("%d %q %v", status, res, err))
					}
					mu.Unlock()
				}
			}()

			var between int
			policy := retention.Policy(defaults(t))
			policy.BatchSize = batch
			policy.AfterBatch = func(kind string, rows int64) {
				// The pass holds no transaction here: a delivery is stored and acknowledged now.
				status, res, err := e.deliver(fmt.Sprintf("evt_between%03d", between), "cus_B")
				if err != nil || status != http.StatusOK || res != "accepted" {
					t.Errorf("delivery between batches: %d %q %v; want 200 accepted", status, res, err)
				}
				between++
			}
			var logs bytes.Buffer
			r := &retention.Runner{Store: e.st, Policy: policy, Now: func() time.Time { return wall },
				Log: slog.New(slog.NewTextHandler(&logs, nil))}
			pass, err := r.Run(ctx)
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			pass.Log(r.Log)

			got := pass.Pruned.Of(store.PruneEventPayloads)
			if got.Rows != expired || got.Batches != expired/batch {
				t.Errorf("pruned %d payloads in %d batches, want %d in %d", got.Rows, got.Batches, expired, expired/batch)
			}
			if between != expired/batch {
				t.Errorf("%d deliveries between batches, want %d", between, expired/batch)
			}
			mu.Lock()
			if len(failures) > 0 {
				t.Errorf("%d of %d deliveries during the pass were not acknowledged: %v", len(failures), during, failures)
			}
			mu.Unlock()

			// Exactly the expired payloads went; every id stayed.
			for i := range expired {
				id := fmt.Sprintf("evt_old%04d", i)
				if ev, err := e.st.Event(ctx, id); err != nil || len(ev.Payload) != 0 {
					t.Fatalf("%s: payload %d bytes, %v; want pruned", id, len(ev.Payload), err)
				}
			}
			for i := range kept {
				id := fmt.Sprintf("evt_recent%04d", i)
				if ev, err := e.st.Event(ctx, id); err != nil || len(ev.Payload) == 0 {
					t.Fatalf("%s: payload %d bytes, %v; want kept", id, len(ev.Payload), err)
				}
			}
			ids, err := e.st.EventIDs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want := expired + kept + between + during; len(ids) != want {
				t.Errorf("%d event ids stored, want %d", len(ids), want)
			}

			// Redeliveries of pruned events are duplicates, years later too, and restore nothing.
			e.setClock(wall.Add(3 * 365 * 24 * time.Hour))
			for _, id := range []string{"evt_old0000", "evt_old0150", "evt_old0299"} {
				e.mustDeliver(t, id, "cus_000", "duplicate")
				if ev, _ := e.st.Event(ctx, id); len(ev.Payload) != 0 {
					t.Errorf("%s: the duplicate restored the payload", id)
				}
			}

			out := logs.String()
			if !strings.Contains(out, "event_payloads=300") || strings.Contains(out, "ada@example.com") || strings.Contains(out, "evt_old") {
				t.Errorf("the pass's log line should hold counts only:\n%s", out)
			}
			t.Logf("%s: %d payloads pruned in %d batches while %d deliveries were acknowledged (%d between batches)",
				dialect, got.Rows, got.Batches, during+between, between)
		})
	}
}

// defaults returns the config's retention defaults.
func defaults(t *testing.T) config.RetentionConfig {
	t.Helper()
	c, err := config.Parse([]byte("plans: [{id: pro, stripe: {prices: [price_1]}, circle: {access_groups: [1]}}]\n"), func(string) string { return "" })
	if err != nil {
		t.Fatalf("parsing a minimal config: %v", err)
	}
	return c.Retention
}

func TestPolicyOfTheConfig(t *testing.T) {
	r := defaults(t)
	r.JournalDetail = config.KeepForever
	p := retention.Policy(r)
	if p.EventPayloads != 90*24*time.Hour || p.JournalDetail != 0 || p.BatchSize != 500 {
		t.Errorf("policy = %+v; want 90-day payloads, the journal kept forever (0) and batches of 500", p)
	}
}

// TestWorker runs the job as River would and checks a cut-short pass is not a failure.
func TestWorker(t *testing.T) {
	st := storetest.Open(t, store.SQLite)
	st.Now = func() time.Time { return wall.Add(-100 * 24 * time.Hour) }
	err := st.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.IngestEvent(context.Background(), store.Event{ID: "evt_w", Type: "customer.updated", Created: wall, Payload: []byte(`{}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	w := &retention.Worker{Runner: &retention.Runner{Store: st, Policy: retention.Policy(defaults(t)), Now: func() time.Time { return wall }}}
	if err := w.Work(context.Background(), &river.Job[retention.Args]{}); err != nil {
		t.Fatalf("Work: %v", err)
	}
	if ev, _ := st.Event(context.Background(), "evt_w"); len(ev.Payload) != 0 {
		t.Errorf("the job left the expired payload %q", ev.Payload)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Work(ctx, &river.Job[retention.Args]{}); err != nil {
		t.Errorf("a pass cut short failed the job: %v", err)
	}
	if got := w.Timeout(nil); got != retention.Timeout {
		t.Errorf("Timeout = %s, want %s", got, retention.Timeout)
	}
	if (retention.Args{}).Kind() != "retention" {
		t.Error("the job kind changed: River would not find the jobs already queued")
	}
}
