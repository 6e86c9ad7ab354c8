package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// world is membersync serve running against fake Stripe, Circle and Kit over real HTTP.
type world struct {
	t      testing.TB
	stripe *stripetest.Server
	circle *circletest.Server
	kit    *kittest.Server
	cfg    *config.Config
	cfgAt  string            // the config written to a file, for CLI commands
	envs   map[string]string // the secrets, for CLI commands
	store  *store.Store
	queue  *queue.Queue // insert-only, for resyncs from the test
	url    string       // serve's base URL
	sent   int          // events of the fake Stripe already delivered

	proPrice, coursePrice  string
	proGroup, courseGroup  int64
	tagActive, tagPastDue  int64
	tagCanceled, tagCourse int64
	seqOnboarding          int64
	seqRetention           int64
}

type worldOptions struct {
	dialect  string
	logs     io.Writer // serve's log lines; default discarded (MEMBERSYNC_TEST_LOG=1 shows them)
	stripeOp stripetest.Options
	kitOp    kittest.Options
	circleOp circletest.Options
}

func newWorld(t testing.TB, opts worldOptions) *world {
	t.Helper()
	if opts.dialect == "" {
		opts.dialect = store.SQLite
	}
	w := &world{t: t}
	w.stripe = stripetest.New(opts.stripeOp)
	w.circle = circletest.New(opts.circleOp)
	if opts.kitOp.APIKey == "" {
		opts.kitOp.APIKey = "kit_test_key"
	}
	w.kit = kittest.New(opts.kitOp)
	t.Cleanup(func() { w.stripe.Close(); w.circle.Close(); w.kit.Close() })

	w.proGroup = w.circle.AddAccessGroup("Pro members")
	w.courseGroup = w.circle.AddAccessGroup("Course")
	w.tagActive = w.kit.CreateTag("pro-active")
	w.tagPastDue = w.kit.CreateTag("pro-past-due")
	w.tagCanceled = w.kit.CreateTag("pro-canceled")
	w.tagCourse = w.kit.CreateTag("course-buyer")
	w.seqOnboarding = w.kit.CreateSequence("Welcome to Pro", true)
	w.seqRetention = w.kit.CreateSequence("Sorry to see you go", true)
	w.proPrice = w.stripe.CreatePrice(w.stripe.CreateProduct("Pro"), 2900, true)
	w.coursePrice = w.stripe.CreatePrice(w.stripe.CreateProduct("Course"), 19900, false)

	yaml := fmt.Sprintf(`
listen: "127.0.0.1:0"
public_url: "http://localhost:0"
database_url: %q
log_format: json
stripe: {base_url: %q}
circle: {base_url: %q, community_url: "https://community.example.test", requests_per_minute: 6000}
kit: {base_url: %q, requests_per_minute: 120}
plans:
  - id: pro
    name: Pro
    stripe: {prices: [%s]}
    circle: {access_groups: [%d]}
    kit:
      tags: {active: %d, trialing: %d, past_due: %d, canceling: %d, canceled: %d, grace_expired: %d}
      onboarding_sequence: %d
      retention_sequence: %d
    grace_period: 72h
  - id: course
    name: Course
    stripe: {prices: [%s]}
    circle: {access_groups: [%d]}
    kit: {tags: {active: %d}}
`, storetest.URL(t, opts.dialect), w.stripe.URL, w.circle.URL, w.kit.URL,
		w.proPrice, w.proGroup, w.tagActive, w.tagActive, w.tagPastDue, w.tagCanceled, w.tagCanceled, w.tagCanceled,
		w.seqOnboarding, w.seqRetention, w.coursePrice, w.courseGroup, w.tagCourse)
	env := map[string]string{
		config.EnvStripeSecretKey:     w.stripe.SecretKey(),
		config.EnvStripeWebhookSecret: w.stripe.WebhookSecret(),
		config.EnvCircleAPIToken:      w.circle.Token,
		config.EnvKitAPIKey:           opts.kitOp.APIKey,
		config.EnvSigningKey:          "test-signing-key-0123456789abcdef",
		config.EnvMetricsToken:        "metrics-token-for-tests",
	}
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	w.cfg, w.envs = cfg, env
	w.cfgAt = t.TempDir() + "/membersync.yaml"
	if err := os.WriteFile(w.cfgAt, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	var logOut io.Writer = io.Discard
	if opts.logs != nil {
		logOut = opts.logs
	} else if os.Getenv("MEMBERSYNC_TEST_LOG") != "" {
		logOut = os.Stderr
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(logOut, nil)), serveOptions{
			app:   appOptions{now: w.stripe.Now, retryBase: 20 * time.Millisecond, rateLimitSnooze: 200 * time.Millisecond},
			ready: ready,
		})
	}()
	select {
	case addr := <-ready:
		w.url = "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	st, err := store.Open(context.Background(), cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	w.store = st
	return w
}

// deliver sends every event the fake recorded since the last call, as Stripe would.
func (w *world) deliver(opts stripetest.DeliveryOptions) {
	w.t.Helper()
	evs := w.stripe.Events()
	var bodies []stripetest.EventJSON
	for _, e := range evs[w.sent:] {
		bodies = append(bodies, e.JSON)
	}
	w.sent = len(evs)
	for _, r := range w.stripe.Deliver(context.Background(), w.url+"/webhooks/stripe", bodies, opts) {
		if r.Err != nil || r.Status != 200 {
			w.t.Fatalf("delivery of %s: status %d, %v", r.EventID, r.Status, r.Err)
		}
	}
}

func (w *world) env() map[string]string { return w.envs }
func (w *world) cfgFile() string        { return w.cfgAt }

// resyncCustomers brings each Stripe customer under management (creating its person if no webhook
// ever named it, as reconcile --from-stripe does) and enqueues a sync of its person, as a resync
// would: this heals dropped webhooks and applies clock-driven changes.
func (w *world) resyncCustomers(customerIDs []string) {
	w.t.Helper()
	ctx := context.Background()
	if w.queue == nil {
		q, err := queue.New(w.store, queue.Options{})
		if err != nil {
			w.t.Fatal(err)
		}
		w.queue = q
	}
	for _, c := range customerIDs {
		err := w.store.InTx(ctx, func(tx *store.Tx) error {
			pid, created, err := tx.PersonForCustomer(ctx, c)
			if err != nil {
				return err
			}
			need := created
			if !created {
				if need, err = tx.Trigger(ctx, pid); err != nil {
					return err
				}
			}
			if !need {
				return nil
			}
			return w.queue.InsertTx(ctx, tx, []river.InsertManyParams{{Args: queue.SyncArgs{PersonID: pid, Reason: "resync"}}})
		})
		if err != nil {
			w.t.Fatal(err)
		}
	}
}

// skip marks the recorded events as delivered without sending them (a lost webhook).
func (w *world) skip() { w.sent = len(w.stripe.Events()) }

// settle waits until every trigger has been synced.
func (w *world) settle() {
	w.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var why string
	for time.Now().Before(deadline) {
		ok, reason, err := w.store.Settled(context.Background())
		if err != nil {
			w.t.Fatal(err)
		}
		if ok {
			return
		}
		why = reason
		time.Sleep(20 * time.Millisecond)
	}
	if os.Getenv("MEMBERSYNC_TEST_STACKS") != "" {
		buf := make([]byte, 1<<22)
		os.WriteFile(os.Getenv("MEMBERSYNC_TEST_STACKS"), buf[:runtime.Stack(buf, true)], 0o644)
	}
	w.t.Fatalf("not settled after 30 s: %s\n%s", why, w.store.DebugJobs(context.Background()))
}

// access returns the managed Circle groups the email is in.
func (w *world) access(email string) []int64 {
	var out []int64
	for _, g := range []int64{w.proGroup, w.courseGroup} {
		if slices.Contains(w.circle.GroupMemberEmails(g), email) {
			out = append(out, g)
		}
	}
	return out
}

// noDuplicates fails when any fake holds a duplicate member, tagging or sequence entry.
func (w *world) noDuplicates() {
	w.t.Helper()
	if d := w.circle.DuplicateMembers(); len(d) > 0 {
		w.t.Errorf("duplicate Circle members: %v", d)
	}
	if d := w.kit.DuplicateEntries(); len(d) > 0 {
		w.t.Errorf("duplicate Kit entries: %v", d)
	}
}
