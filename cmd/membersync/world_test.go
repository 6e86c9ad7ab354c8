package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/demo"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// world is membersync serve running against the demo's fake Stripe, Circle and Kit over real HTTP.
type world struct {
	t      testing.TB
	dw     *demo.World
	stripe *stripetest.Server
	circle *circletest.Server
	kit    *kittest.Server
	cfg    *config.Config
	cfgAt  string            // the config written to a file, for CLI commands
	envs   map[string]string // the secrets, for CLI commands
	store  *store.Store
	queue  *queue.Queue // insert-only, for resyncs from the test
	url    string       // serve's base URL

	proPrice, coursePrice  string
	proGroup, courseGroup  int64
	tagActive, tagPastDue  int64
	tagCanceled, tagCourse int64
	seqOnboarding          int64
	seqRetention           int64
}

type worldOptions struct {
	dialect string
	logs    io.Writer // serve's log lines; default discarded (MEMBERSYNC_TEST_LOG=1 shows them)
	fakes   demo.Options
	// yaml is appended to the generated config (extra keys such as trusted_proxies).
	yaml string
}

func newWorld(t testing.TB, opts worldOptions) *world {
	t.Helper()
	if opts.dialect == "" {
		opts.dialect = store.SQLite
	}
	dw := demo.NewWorld(opts.fakes)
	t.Cleanup(dw.Close)
	w := &world{t: t, dw: dw, stripe: dw.Stripe, circle: dw.Circle, kit: dw.Kit,
		proPrice: dw.ProPrice, coursePrice: dw.CoursePrice, proGroup: dw.ProGroup, courseGroup: dw.CourseGroup,
		tagActive: dw.TagActive, tagPastDue: dw.TagPastDue, tagCanceled: dw.TagCanceled, tagCourse: dw.TagCourse,
		seqOnboarding: dw.SeqOnboarding, seqRetention: dw.SeqRetention}

	yaml := dw.ConfigYAML("127.0.0.1:0", "http://localhost:0", storetest.URL(t, opts.dialect))
	yaml += "\n" + opts.yaml
	env := dw.Env(opts.fakes.Kit.APIKey, "test-signing-key-0123456789abcdef")
	env[config.EnvMetricsToken] = "metrics-token-for-tests"
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
	if err := w.dw.Deliver(context.Background(), w.url+"/webhooks/stripe", opts); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) env() map[string]string { return w.envs }
func (w *world) cfgFile() string        { return w.cfgAt }

// resyncCustomers brings each Stripe customer under management and enqueues its person's sync, as
// reconcile --from-stripe and resync would: this heals dropped webhooks and applies clock changes.
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
		if err := (converge.Resyncer{Store: w.store, Queue: w.queue}).Customer(ctx, c, "resync"); err != nil {
			w.t.Fatal(err)
		}
	}
}

// skip marks the recorded events as delivered without sending them (a lost webhook).
func (w *world) skip() { w.dw.Skip() }

// rewind makes the next deliver send every event again.
func (w *world) rewind() { w.dw.Rewind() }

// rewindLast makes the next deliver send the last batch again.
func (w *world) rewindLast() { w.dw.RewindLast() }

// settle waits until every trigger has been synced.
func (w *world) settle() {
	w.t.Helper()
	if err := waitSettled(context.Background(), w.store, 30*time.Second); err != nil {
		if os.Getenv("MEMBERSYNC_TEST_STACKS") != "" {
			buf := make([]byte, 1<<22)
			os.WriteFile(os.Getenv("MEMBERSYNC_TEST_STACKS"), buf[:runtime.Stack(buf, true)], 0o644)
		}
		w.t.Fatalf("%v\n%s%s", err, w.store.DebugJobs(context.Background()), w.store.DebugUnsettled(context.Background()))
	}
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
