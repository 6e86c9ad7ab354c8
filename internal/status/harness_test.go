package status_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/status"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/web"
)

const signingKey = "status-test-signing-key-0123456789"

// world is the status pages served like serve does (behind web.Server's security headers) over
// real HTTP, with the real sync engine against fake Stripe, Circle and Kit. Syncs run only when
// the test says (sync), as a worker would after the queue hands it the job.
type world struct {
	t      *testing.T
	clock  *providertest.Clock
	stripe *stripetest.Server
	circle *circletest.Server
	kit    *kittest.Server
	store  *store.Store
	cfg    *config.Config
	engine *converge.Engine
	status *status.Handler
	srv    *httptest.Server

	proPrice, coursePrice string
	proGroup, courseGroup int64

	mu      sync.Mutex
	resyncs []resync // guarded by mu
}

type resync struct {
	PersonID int64
	Reason   string
}

type worldOptions struct {
	dialect  string
	limits   status.Limits
	noPortal bool
	// poll is the welcome page's polling interval (default 100 ms: the browser tests wait less).
	poll time.Duration
	// mailer sends "email me my status link" messages; nil hides the offer.
	mailer status.Mailer
}

func newWorld(t *testing.T, opts worldOptions) *world {
	t.Helper()
	if opts.dialect == "" {
		opts.dialect = store.SQLite
	}
	if opts.poll == 0 {
		opts.poll = 100 * time.Millisecond
	}
	w := &world{t: t, clock: providertest.NewClock(time.Now().UTC().Truncate(time.Second))}
	w.stripe = stripetest.New(stripetest.Options{Now: w.clock.Now})
	w.circle = circletest.New(circletest.Options{Now: w.clock.Now})
	w.kit = kittest.New(kittest.Options{Now: w.clock.Now})
	t.Cleanup(func() { w.stripe.Close(); w.circle.Close(); w.kit.Close() })

	w.proGroup = w.circle.AddAccessGroup("Pro members")
	w.courseGroup = w.circle.AddAccessGroup("Course")
	tagActive := w.kit.CreateTag("pro-active")
	tagPastDue := w.kit.CreateTag("pro-past-due")
	w.proPrice = w.stripe.CreatePrice(w.stripe.CreateProduct("Pro"), 2900, true)
	w.coursePrice = w.stripe.CreatePrice(w.stripe.CreateProduct("Course"), 19900, false)

	w.cfg = &config.Config{
		PublicURL: "http://status.example.test",
		Support:   config.Support{Email: "help@example.test"},
		Stripe:    config.StripeConfig{BaseURL: w.stripe.URL, BillingPortal: !opts.noPortal},
		Circle:    config.CircleConfig{BaseURL: w.circle.URL, CommunityURL: "https://community.example.test/"},
		Kit:       config.KitConfig{BaseURL: w.kit.URL},
		Plans: []config.Plan{
			{ID: "pro", Name: "Pro membership", Stripe: config.PlanStripe{Prices: []string{w.proPrice}},
				Circle:      config.PlanCircle{AccessGroups: []int64{w.proGroup}},
				Kit:         config.PlanKit{Tags: map[string]int64{"active": tagActive, "past_due": tagPastDue}},
				GracePeriod: config.Duration(72 * time.Hour)},
			{ID: "course", Name: "Lifetime course", Stripe: config.PlanStripe{Prices: []string{w.coursePrice}},
				Circle: config.PlanCircle{AccessGroups: []int64{w.courseGroup}}},
		},
		Secrets: config.Secrets{SigningKey: signingKey},
	}

	w.store = storetest.Open(t, opts.dialect)
	w.store.Now = w.clock.Now
	var logOut io.Writer = io.Discard
	if os.Getenv("MEMBERSYNC_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logOut, nil))
	reader := billing.NewReader(billing.Config{SecretKey: w.stripe.SecretKey(), BaseURL: w.stripe.URL})
	w.engine = &converge.Engine{
		Store:   w.store,
		Billing: reader,
		Circle:  circle.New(circle.Config{BaseURL: w.circle.URL, Token: w.circle.Token, MaxRetries: -1, RequestsPerMinute: 6000}),
		Kit:     kit.New(kit.Config{BaseURL: w.kit.URL, APIKey: kittest.DefaultAPIKey, MaxRetries: -1, RequestsPerMinute: 6000}),
		Queue:   nopQueue{},
		Plans:   w.cfg.Plans,
		Log:     log,
		Now:     w.clock.Now,
	}
	w.status = status.New(status.Deps{
		Store:        w.store,
		Billing:      reader,
		Resync:       w.resync,
		Config:       w.cfg,
		Log:          log,
		Now:          w.clock.Now,
		Limits:       opts.limits,
		PollInterval: opts.poll,
		ClientAddr:   func(r *http.Request) string { return r.Header.Get("X-Test-Client") },
		Mailer:       opts.mailer,
	})
	srv := &web.Server{Log: log, Mounts: []web.Mounter{w.status}}
	w.srv = httptest.NewServer(srv.Routes())
	t.Cleanup(w.srv.Close)
	return w
}

// resync is the Resync dependency: it marks the person dirty like converge.Resyncer.Person does, and
// records the request instead of enqueuing a job.
func (w *world) resync(ctx context.Context, personID int64, reason string) error {
	err := w.store.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Trigger(ctx, personID)
		return err
	})
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.resyncs = append(w.resyncs, resync{personID, reason})
	return nil
}

func (w *world) resyncRequests() []resync {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]resync(nil), w.resyncs...)
}

// sync runs the person's sync as the worker would, at the given attempt; an error means the job
// would retry.
func (w *world) sync(personID int64, attempt int) error {
	_, err := w.engine.Sync(context.Background(), personID, "test", attempt)
	return err
}

// deliver stores the fake Stripe's events since the last call as the inbox would (signal only: the
// test runs the syncs). It returns the people the events marked dirty.
func (w *world) deliver() []int64 {
	w.t.Helper()
	ctx := context.Background()
	seen := map[int64]bool{}
	var people []int64
	for _, e := range w.stripe.Events() {
		payload := []byte(e.JSON)
		ev := store.Event{ID: e.ID, Type: e.Type, CustomerID: billing.EventCustomerID(payload), Created: e.Created,
			Actionable: true, Payload: payload}
		if ev.CustomerID == "" {
			continue
		}
		err := w.store.InTx(ctx, func(tx *store.Tx) error {
			res, err := tx.IngestEvent(ctx, ev)
			if err == nil && res.PersonID != 0 && !seen[res.PersonID] {
				seen[res.PersonID] = true
				people = append(people, res.PersonID)
			}
			return err
		})
		if err != nil {
			w.t.Fatal(err)
		}
	}
	return people
}

// person returns the person of a Stripe customer.
func (w *world) person(customerID string) int64 {
	w.t.Helper()
	pid, err := w.store.PersonIDByCustomer(context.Background(), customerID)
	if err != nil {
		w.t.Fatalf("person of %s: %v", customerID, err)
	}
	return pid
}

// link returns a status link path for the person, valid for ttl from now.
func (w *world) link(personID int64, ttl time.Duration) string {
	return "/status/" + status.NewToken([]byte(signingKey), personID, ttl, w.clock.Now())
}

// client is an HTTP client that does not follow redirects, as one test client address.
func (w *world) client(addr string) *testClient {
	jar, _ := cookiejar.New(nil)
	return &testClient{w: w, addr: addr, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type testClient struct {
	w    *world
	addr string
	hc   *http.Client
}

// do sends a request and returns the status, headers and body.
func (c *testClient) do(method, path string) (int, http.Header, string) {
	c.w.t.Helper()
	req, err := http.NewRequest(method, c.w.srv.URL+path, nil)
	if err != nil {
		c.w.t.Fatal(err)
	}
	req.Header.Set("X-Test-Client", c.addr)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.w.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.w.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

type nopQueue struct{}

func (nopQueue) Insert(context.Context, river.JobArgs, *river.InsertOpts) error { return nil }
