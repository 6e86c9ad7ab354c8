package uptime_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/uptime"
)

// recorder is a notifier that keeps every message.
type recorder struct {
	mu   sync.Mutex
	msgs []alert.Message
}

func (r *recorder) Name() string { return "recorder" }

func (r *recorder) Notify(_ context.Context, m alert.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	return nil
}

func (r *recorder) count(id, status string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m.AlertID == id && m.Status == status {
			n++
		}
	}
	return n
}

// site is a loopback target whose health the test switches.
type site struct {
	srv  *httptest.Server
	down atomic.Bool
	hits atomic.Int64
}

func newSite(t *testing.T) *site {
	s := &site{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		if s.down.Load() {
			http.Error(w, "upstream connect error", http.StatusBadGateway)
			return
		}
		fmt.Fprint(w, "<h1>Welcome to the club</h1>")
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// rig is the uptime job and the alert evaluator over one store, on one clock, driven a minute at
// a time as the periodic jobs would be.
type rig struct {
	t       *testing.T
	st      *store.Store
	clock   *providertest.Clock
	checker *uptime.Checker
	eval    *alert.Evaluator
	notes   *recorder
}

func newRig(t *testing.T, dialect string, targets ...config.UptimeTarget) *rig {
	clock := providertest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	st := storetest.Open(t, dialect)
	st.Now = clock.Now
	for i := range targets {
		targets[i].Source = fmt.Sprintf("uptime.targets[%d]", i)
		targets[i].Interval, targets[i].Timeout = config.Duration(time.Minute), config.Duration(5*time.Second)
	}
	cfg := &config.Config{PublicURL: "https://members.example.com", Uptime: config.UptimeConfig{Targets: targets}}
	notes := &recorder{}
	return &rig{t: t, st: st, clock: clock, notes: notes,
		checker: &uptime.Checker{Store: st, Config: cfg.Uptime, Now: clock.Now,
			Prober: uptime.NewProber(cfg.Uptime.Targets, nil, uptime.ProberOptions{Now: clock.Now})},
		eval: &alert.Evaluator{Store: st, PublicURL: cfg.PublicURL, Notifiers: []alert.Notifier{notes}, Now: clock.Now}}
}

// minute runs one minute: the uptime round, then the alert pass.
func (r *rig) minute() {
	r.t.Helper()
	r.clock.Advance(time.Minute)
	ctx := context.Background()
	if err := r.checker.Run(ctx); err != nil {
		r.t.Fatal(err)
	}
	if err := r.eval.Evaluate(ctx); err != nil {
		r.t.Fatal(err)
	}
}

// TestDownThreeIntervalsFiresOnceRecoversOnce: a page down for three probes fires one alert
// through the notifiers, which resolves once after it answers again; nothing repeats meanwhile.
func TestDownThreeIntervalsFiresOnceRecoversOnce(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			home := newSite(t)
			r := newRig(t, dialect, config.UptimeTarget{Name: "home", URL: home.srv.URL + "/", BodyContains: "Welcome"})
			for range 5 {
				r.minute()
			}
			home.down.Store(true)
			for i := range 3 {
				r.minute()
				if got, want := r.notes.count("uptime:home", alert.StatusFiring), map[bool]int{true: 1, false: 0}[i == 2]; got != want {
					t.Fatalf("after %d failed probes: %d firing messages, want %d", i+1, got, want)
				}
			}
			for range 4 { // still down: no second page
				r.minute()
			}
			home.down.Store(false)
			for range 6 {
				r.minute()
			}
			if f, res := r.notes.count("uptime:home", alert.StatusFiring), r.notes.count("uptime:home", alert.StatusResolved); f != 1 || res != 1 {
				t.Errorf("firing %d, resolved %d; want 1 and 1", f, res)
			}
			msg := r.notes.msgs[0]
			if msg.Title != "home is down" || !strings.Contains(msg.Detail, "answered 502 Bad Gateway, expected 200") || msg.Link != "https://members.example.com/admin#site-health" {
				t.Errorf("firing message: %q / %q / %q", msg.Title, msg.Detail, msg.Link)
			}
			if got := home.hits.Load(); got != 18 {
				t.Errorf("%d probes in 18 minutes, want one a minute", got)
			}
			sum, err := uptime.Summarize(context.Background(), r.st, "home", r.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if got := sum.Uptime[0]; got.OK != 11 || got.Total != 18 {
				t.Errorf("24 h uptime %d/%d, want 11/18 (7 probes failed)", got.OK, got.Total)
			}
		})
	}
}

// TestFlappingPagesOnce: a page that alternates between up and down for ten intervals pages at
// most once (and, being unstable, does page), and resolves once when it is steady.
func TestFlappingPagesOnce(t *testing.T) {
	home := newSite(t)
	r := newRig(t, store.SQLite, config.UptimeTarget{Name: "home", URL: home.srv.URL + "/"})
	for range 3 {
		r.minute()
	}
	for i := range 10 {
		home.down.Store(i%2 == 0)
		r.minute()
	}
	if got := r.notes.count("uptime:home", alert.StatusFiring); got != 1 {
		t.Errorf("flapping for 10 intervals: %d firing messages, want exactly 1", got)
	}
	if got := r.notes.count("uptime:home", alert.StatusResolved); got != 0 {
		t.Errorf("resolved %d times while flapping", got)
	}
	s, err := r.st.UptimeStateOf(context.Background(), "home")
	if err != nil || s.AlertKind != uptime.KindFlapping {
		t.Errorf("state %+v (%v), want flapping", s, err)
	}
	home.down.Store(false)
	for range 12 {
		r.minute()
	}
	if f, res := r.notes.count("uptime:home", alert.StatusFiring), r.notes.count("uptime:home", alert.StatusResolved); f != 1 || res != 1 {
		t.Errorf("after it steadied: firing %d, resolved %d; want 1 and 1", f, res)
	}
}

// TestRemovedTargetResolves: a target taken out of the config stops being probed and its alert
// resolves.
func TestRemovedTargetResolves(t *testing.T) {
	home := newSite(t)
	home.down.Store(true)
	r := newRig(t, store.SQLite, config.UptimeTarget{Name: "home", URL: home.srv.URL + "/"})
	for range 3 {
		r.minute()
	}
	if got := r.notes.count("uptime:home", alert.StatusFiring); got != 1 {
		t.Fatalf("firing %d, want 1", got)
	}
	r.checker.Config.Targets = nil
	r.minute()
	if got := r.notes.count("uptime:home", alert.StatusResolved); got != 1 {
		t.Errorf("resolved %d after the target was removed, want 1", got)
	}
	if got := home.hits.Load(); got != 3 {
		t.Errorf("%d probes, want 3 (none after removal)", got)
	}
}
