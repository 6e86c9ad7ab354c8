package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/demo"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestTwoInstancesShareOneBudget runs two serve instances on one PostgreSQL database against fakes
// that enforce the providers' rate limits (Kit: 120 requests per sliding window per API key; Circle:
// 2,000 per fixed window), and delivers every webhook of 50 new subscribers to both instances in a
// shuffled order. Every subscriber must converge (Pro access group, active tag, onboarding
// sequence) with exactly one Circle member create and one access-group add each, and neither fake
// may ever answer 429: the instances spend one budget per credential, kept in the database.
//
// At Kit's real 120 per 60 s the 50 onboardings would take over a minute, so the fakes' windows are
// shortened and membersync's configured rates raised by the same factor (scale): the limits keep
// their shape and their ratio to membersync's rates, and the run takes seconds. Only loopback fakes
// accept such rates (config.validateRates).
func TestTwoInstancesShareOneBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two instances and 50 subscribers end to end")
	}
	t.Parallel()
	const (
		scale       = 6 // Kit: 120 requests per 10 s; membersync: 600 per minute
		subscribers = 50
	)
	dbURL := storetest.URL(t, store.Postgres) // skips without TEST_DATABASE_URL
	dw := demo.NewWorld(demo.Options{
		Kit:    kittest.Options{RateWindow: kittest.DefaultRateWindow / scale},
		Circle: circletest.Options{RateLimit: 2000, RateWindow: circletest.DefaultRateWindow / scale},
	})
	t.Cleanup(dw.Close)
	circleMeter, kitMeter := newStatusMeter(t, dw.Circle.URL), newStatusMeter(t, dw.Kit.URL)

	yml := setConfigKeys(t, dw.ConfigYAML("127.0.0.1:0", "http://localhost:0", dbURL), map[string]map[string]any{
		"circle": {"base_url": circleMeter.URL(), "requests_per_minute": 300 * scale},
		"kit":    {"base_url": kitMeter.URL(), "requests_per_minute": 100 * scale},
	})
	env := dw.Env("", "test-signing-key-0123456789abcdef")
	urls := []string{startInstance(t, yml, env, dw.Stripe.Now), startInstance(t, yml, env, dw.Stripe.Now)}

	emails := make([]string, subscribers)
	for i := range emails {
		emails[i] = fmt.Sprintf("launch%02d@example.com", i)
		dw.Stripe.SubscribeViaCheckout(dw.Stripe.CreateCustomer(emails[i], fmt.Sprintf("Buyer %d", i)), dw.ProPrice, 0)
	}
	deliverToAll(t, dw.Stripe, urls, rand.New(rand.NewPCG(16, 2)))

	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := waitSettled(context.Background(), st, 3*time.Minute); err != nil {
		t.Fatalf("%v\n%s%s", err, st.DebugJobs(context.Background()), st.DebugUnsettled(context.Background()))
	}

	for _, e := range emails {
		if !slices.Contains(dw.Circle.GroupMemberEmails(dw.ProGroup), e) {
			t.Errorf("%s is not in the Pro access group", e)
		}
		if !slices.Contains(dw.Kit.TagsOf(e), dw.TagActive) {
			t.Errorf("%s has Kit tags %v, want the active tag %d", e, dw.Kit.TagsOf(e), dw.TagActive)
		}
		if !slices.Contains(dw.Kit.SequencesOf(e), dw.SeqOnboarding) {
			t.Errorf("%s is in Kit sequences %v, want onboarding %d", e, dw.Kit.SequencesOf(e), dw.SeqOnboarding)
		}
	}
	creates, adds := circleEffects(dw.Circle)
	for _, e := range emails {
		if creates[e] != 1 || adds[e] != 1 {
			t.Errorf("%s: %d Circle member creates and %d access-group adds, want exactly one each", e, creates[e], adds[e])
		}
	}
	for _, ep := range []string{"POST /api/admin/v2/community_members", "POST /api/admin/v2/access_groups/{id}/community_members"} {
		if got := dw.Circle.Faults.Calls(ep); got != subscribers {
			t.Errorf("%s called %d times for %d subscribers, want one each", ep, got, subscribers)
		}
	}
	if d := dw.Circle.DuplicateMembers(); len(d) > 0 {
		t.Errorf("duplicate Circle members: %v", d)
	}
	if d := dw.Kit.DuplicateEntries(); len(d) > 0 {
		t.Errorf("duplicate Kit entries: %v", d)
	}
	if n := kitMeter.count(http.StatusTooManyRequests); n > 0 {
		t.Errorf("Kit answered 429 %d times (answers %v), want never: the instances exceeded one key's limit together", n, kitMeter.counts())
	}
	if n := circleMeter.count(http.StatusTooManyRequests); n > 0 {
		t.Errorf("Circle answered 429 %d times (answers %v), want never", n, circleMeter.counts())
	}
	t.Logf("per purchase: %.2f Circle calls, %.2f Kit calls; Kit answers %v, Circle answers %v",
		float64(dw.Circle.Faults.TotalCalls())/subscribers, float64(dw.Kit.Faults.TotalCalls())/subscribers,
		kitMeter.counts(), circleMeter.counts())
}

// startInstance runs one serve instance in this process on the config and secrets, and returns its
// base URL; it is stopped at cleanup.
func startInstance(t *testing.T, yml string, env map[string]string, now func() time.Time) string {
	t.Helper()
	cfg, err := config.Parse([]byte(yml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	var logOut io.Writer = io.Discard
	if os.Getenv("MEMBERSYNC_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(logOut, nil)), serveOptions{
			app: appOptions{now: now, retryBase: 20 * time.Millisecond}, ready: ready})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + addr
}

// deliverToAll sends every event the fake Stripe recorded to each instance, once each, in an order
// shuffled by rng, eight at a time; every delivery must be acknowledged.
func deliverToAll(t *testing.T, stripe *stripetest.Server, urls []string, rng *rand.Rand) {
	t.Helper()
	type send struct {
		ev  stripetest.EventJSON
		url string
	}
	var plan []send
	for _, e := range stripe.Events() {
		for _, u := range urls {
			plan = append(plan, send{e.JSON, u + "/webhooks/stripe"})
		}
	}
	rng.Shuffle(len(plan), func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	next := make(chan send)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed []string
	for range 8 {
		wg.Go(func() {
			for s := range next {
				for _, r := range stripe.Deliver(context.Background(), s.url, []stripetest.EventJSON{s.ev}, stripetest.DeliveryOptions{}) {
					if r.Err != nil || r.Status != http.StatusOK {
						mu.Lock()
						failed = append(failed, fmt.Sprintf("%s to %s: %d %v", r.EventID, s.url, r.Status, r.Err))
						mu.Unlock()
					}
				}
			}
		})
	}
	for _, s := range plan {
		next <- s
	}
	close(next)
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d deliveries not acknowledged, first: %s", len(failed), failed[0])
	}
}

var (
	createMemberRe = regexp.MustCompile(`^create member (\d+)$`)
	addMemberRe    = regexp.MustCompile(`^add member (\d+) to access group \d+$`)
)

// circleEffects counts, per member email, the members created and the access-group adds that
// reached the fake Circle over HTTP (its mutation log, without changes made through its control API).
func circleEffects(c *circletest.Server) (creates, adds map[string]int) {
	byID := map[string]string{}
	for _, m := range c.Members() {
		byID[fmt.Sprint(m.ID)] = m.Email
	}
	creates, adds = map[string]int{}, map[string]int{}
	for _, m := range c.Faults.Mutations() {
		if m.Endpoint == "direct" {
			continue
		}
		if g := createMemberRe.FindStringSubmatch(m.Detail); g != nil {
			creates[byID[g[1]]]++
		}
		if g := addMemberRe.FindStringSubmatch(m.Detail); g != nil {
			adds[byID[g[1]]]++
		}
	}
	return creates, adds
}

// statusMeter is a reverse proxy in front of a fake that counts the fake's answers by status, 429s
// included (a fake's call counters do not always see the requests its rate limit refuses).
type statusMeter struct {
	srv *httptest.Server
	mu  sync.Mutex
	n   map[int]int // guarded by mu
}

func newStatusMeter(t *testing.T, target string) *statusMeter {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	m := &statusMeter{n: map[int]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(r *http.Response) error {
		m.mu.Lock()
		m.n[r.StatusCode]++
		m.mu.Unlock()
		return nil
	}
	m.srv = httptest.NewServer(rp)
	t.Cleanup(m.srv.Close)
	return m
}

// URL is the base URL to configure membersync with instead of the fake's.
func (m *statusMeter) URL() string { return m.srv.URL }

func (m *statusMeter) count(status int) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n[status]
}

func (m *statusMeter) counts() map[int]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[int]int, len(m.n))
	for k, v := range m.n {
		out[k] = v
	}
	return out
}

// setConfigKeys returns the YAML config with the keys set under each top-level section (such as
// kit.requests_per_minute), whatever else the config holds.
func setConfigKeys(t *testing.T, yml string, set map[string]map[string]any) string {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(yml), &doc); err != nil {
		t.Fatal(err)
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
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
