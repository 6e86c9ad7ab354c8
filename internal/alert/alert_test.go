package alert_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/mail/mailtest"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

const publicURL = "https://members.example.com"

var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func testConfig() config.AlertsConfig {
	return config.AlertsConfig{
		Repeat:          config.Duration(30 * time.Minute),
		Timeout:         config.Duration(2 * time.Second),
		WebhookFailures: config.WebhookFailuresRule{PendingFor: config.Duration(10 * time.Minute), Threshold: 1},
		CircleFailures:  config.CircleFailuresRule{Window: config.Duration(time.Hour), Max: 3},
		ReviewAge:       config.ReviewAgeRule{OlderThan: config.Duration(time.Hour)},
		ConvergeP95:     config.ConvergeRule{Window: config.Duration(15 * time.Minute), Threshold: config.Duration(2 * time.Second), MinEvents: 1},
		WebhookSilence:  config.SilenceRule{After: config.Duration(2 * time.Hour)},
	}
}

// harness is one store with the three real receivers, a fake Stripe on the same clock, and a clock.
type harness struct {
	t        *testing.T
	st       *store.Store
	clk      *providertest.Clock
	cfg      config.AlertsConfig
	slack    *httpReceiver
	hook     *httpReceiver
	smtp     *mailtest.Server
	refusals *alert.Refusals
	stripe   *stripetest.Server

	mu       sync.Mutex
	latest   time.Time // Stripe's newest event; guarded by mu
	latestOK bool      // guarded by mu
	failures []string  // OnNotifyFailure calls; guarded by mu

	done map[string]bool // set-ups made once
}

func newHarness(t *testing.T, dialect string) *harness {
	t.Helper()
	h := &harness{t: t, st: storetest.Open(t, dialect), clk: providertest.NewClock(t0), cfg: testConfig(),
		slack: newHTTPReceiver(t), hook: newHTTPReceiver(t), smtp: newSMTPServer(t, nil), done: map[string]bool{}}
	h.st.Now = h.clk.Now
	h.refusals = &alert.Refusals{Store: h.st, Now: h.clk.Now}
	h.stripe = stripetest.New(stripetest.Options{Now: h.clk.Now})
	t.Cleanup(h.stripe.Close)
	return h
}

// fakeStripe returns the fake Stripe the harness's evaluators read.
func fakeStripe(h *harness) *stripetest.Server { return h.stripe }

// ackAll delivers every event the fake Stripe recorded to an endpoint that acknowledges them: Stripe
// then holds none as undelivered.
func ackAll(t *testing.T, s *stripetest.Server) {
	t.Helper()
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer hs.Close()
	for _, r := range s.Deliver(context.Background(), hs.URL, stripetest.Bodies(s.Events()), stripetest.DeliveryOptions{}) {
		if r.Status != http.StatusOK {
			t.Fatalf("delivering %s: %d %v", r.EventID, r.Status, r.Err)
		}
	}
}

func (h *harness) notifiers() []alert.Notifier {
	client := &http.Client{}
	return []alert.Notifier{
		&alert.Slack{URL: h.slack.URL, Client: client},
		&alert.Webhook{URL: h.hook.URL, Secret: webhookSecret, Client: client},
		&alert.Email{Addr: h.smtp.Addr, Host: "127.0.0.1", Username: "alerts@example.com", Password: "smtp-pass-123",
			From: "alerts@example.com", To: []string{"founder@example.com"}, TLSConfig: tlsRoots(h.smtp)},
	}
}

// evaluator returns a new Evaluator on the harness's store: a fresh process, as after a restart.
func (h *harness) evaluator() *alert.Evaluator {
	return &alert.Evaluator{
		Store: h.st, Config: h.cfg, PublicURL: publicURL, Notifiers: h.notifiers(), Refusals: h.refusals, Now: h.clk.Now,
		Stripe: billing.NewReader(billing.Config{SecretKey: h.stripe.SecretKey(), BaseURL: h.stripe.URL, Now: h.clk.Now}),
		LatestStripeEvent: func(context.Context) (time.Time, bool, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.latest, h.latestOK, nil
		},
		OnNotifyFailure: func(n string) {
			h.mu.Lock()
			h.failures = append(h.failures, n)
			h.mu.Unlock()
		},
	}
}

func (h *harness) setLatest(t time.Time) {
	h.mu.Lock()
	h.latest, h.latestOK = t, true
	h.mu.Unlock()
}

func (h *harness) evaluate(ev *alert.Evaluator) {
	h.t.Helper()
	if err := ev.Evaluate(context.Background()); err != nil {
		h.t.Fatalf("Evaluate at %s: %v", h.clk.Now().Format(time.TimeOnly), err)
	}
}

// expect takes what the three receivers got since the last call and checks that each got exactly
// the one message of status (none when status is ""). It returns the message as the JSON webhook
// carried it, its signature verified with stripe-go.
func (h *harness) expect(status string) alert.Message {
	t := h.t
	t.Helper()
	slack, hook, mails := h.slack.Take(), h.hook.Take(), h.smtp.Take()
	want := 1
	if status == "" {
		want = 0
	}
	if len(slack) != want || len(hook) != want || len(mails) != want {
		t.Fatalf("at %s: slack got %d, webhook %d, email %d messages; want %d each (%s)\nwebhook: %s",
			h.clk.Now().Format(time.TimeOnly), len(slack), len(hook), len(mails), want, status, bodies(hook))
	}
	if want == 0 {
		return alert.Message{}
	}
	if err := webhook.ValidatePayload(hook[0].Body, hook[0].Header.Get(alert.SignatureHeader), webhookSecret); err != nil {
		t.Errorf("webhook signature: %v", err)
	}
	var m alert.Message
	if err := json.Unmarshal(hook[0].Body, &m); err != nil {
		t.Fatal(err)
	}
	if m.Status != status {
		t.Fatalf("status: got %q, want %q (%s)", m.Status, status, m.Title)
	}
	label := map[string]string{alert.StatusFiring: "FIRING", alert.StatusRepeat: "STILL FIRING", alert.StatusResolved: "RESOLVED"}[status]
	var text map[string]string
	_ = json.Unmarshal(slack[0].Body, &text)
	if !strings.Contains(text["text"], "*"+label+": "+slackEscape(m.Title)+"*") || !strings.Contains(text["text"], "<"+m.Link+"|Open in membersync>") {
		t.Errorf("Slack text %q lacks %q or the link %s", text["text"], label+": "+m.Title, m.Link)
	}
	subject, body, _ := readMail(t, mails[0].Data)
	if want := "[membersync] " + label + ": " + m.Title; subject != want {
		t.Errorf("email subject: got %q, want %q", subject, want)
	}
	if !strings.Contains(body, m.Link) {
		t.Errorf("email body lacks the link %s:\n%s", m.Link, body)
	}
	return m
}

func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func bodies(ds []httpDelivery) string {
	var out []string
	for _, d := range ds {
		out = append(out, string(d.Body))
	}
	return strings.Join(out, "\n")
}

func ingest(t *testing.T, st *store.Store, id, customer string, created time.Time) store.IngestResult {
	t.Helper()
	var res store.IngestResult
	err := st.InTx(context.Background(), func(tx *store.Tx) error {
		var err error
		res, err = tx.IngestEvent(context.Background(), store.Event{ID: id, Type: "invoice.paid", CustomerID: customer, Created: created,
			Actionable: true, Source: "webhook", Payload: []byte(`{"id":"` + id + `"}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func openReview(t *testing.T, h *harness, at time.Time, it store.ReviewItem) {
	t.Helper()
	now := h.clk.Now()
	h.clk.Set(at)
	defer h.clk.Set(now)
	if _, err := h.st.OpenReview(context.Background(), it); err != nil {
		t.Fatal(err)
	}
}

func journal(t *testing.T, st *store.Store, e store.JournalEntry) {
	t.Helper()
	if err := st.AppendJournal(context.Background(), e); err != nil {
		t.Fatal(err)
	}
}

// ruleCase makes one rule's condition hold (hold is called before every pass while it should) and
// clear, and says what its messages must say.
type ruleCase struct {
	id       string
	hold     func(h *harness, now time.Time)
	clear    func(h *harness, now time.Time)
	title    string // the firing message's title
	detail   []string
	link     string // path after the public URL
	affected int
	since    time.Duration // before t0
}

func ruleCases() []ruleCase {
	first := func(h *harness, key string) bool {
		if h.done[key] {
			return false
		}
		h.done[key] = true
		return true
	}
	return []ruleCase{
		{
			id: alert.RuleDrift,
			hold: func(h *harness, now time.Time) {
				if first(h, "drift") {
					openReview(h.t, h, now, store.ReviewItem{Kind: "drift_detected", ActionKey: "sweep",
						Reason: "the drift sweep found 12 drifted people and 0 unknown members (threshold 10)"})
				}
			},
			clear: func(h *harness, now time.Time) {
				if _, err := h.st.ResolveReviews(context.Background(), 0, "drift_detected", "*", "test", "repaired"); err != nil {
					h.t.Fatal(err)
				}
			},
			title:    "Drift between billing and Circle/Kit",
			detail:   []string{"The drift sweep found 12 drifted people", "membersync reconcile"},
			link:     "/admin",
			affected: -1,
		},
		{
			id: alert.RuleWebhookFailures,
			hold: func(h *harness, now time.Time) {
				h.refusals.Record("bad_signature") // anyone can send these: never counted
				if first(h, "undelivered") {
					// Two events Stripe has held as undelivered for 20 and 15 minutes.
					h.clk.Set(now.Add(-20 * time.Minute))
					h.stripe.CreateCustomer("ada@example.com", "")
					h.clk.Set(now.Add(-15 * time.Minute))
					h.stripe.CreateCustomer("bob@example.com", "")
					h.clk.Set(now)
				}
			},
			clear:    func(h *harness, now time.Time) { ackAll(h.t, h.stripe) },
			title:    "Stripe could not deliver 2 events to its webhook endpoints",
			detail:   []string{"lists 2 events", "10m or more", "customer.created), was created 2026-03-02 09:40 UTC", publicURL + "/webhooks/stripe", "membersync backfill"},
			link:     "/admin/events",
			affected: -1,
			since:    20 * time.Minute,
		},
		{
			id: alert.RuleCircleFailures,
			hold: func(h *harness, now time.Time) {
				if !first(h, "circle") {
					return
				}
				for i, pid := range []int64{11, 11, 12, 12} {
					end := now.Add(-time.Duration(10-i) * time.Minute)
					journal(h.t, h.st, store.JournalEntry{PersonID: pid, At: end.Add(-5 * time.Second), Kind: "call", Action: "circle:add_access_group",
						Target: "access_group:1", Result: "transient", Status: 503, Detail: "circle add_access_group: transient (HTTP 503): Service Unavailable"})
					journal(h.t, h.st, store.JournalEntry{PersonID: pid, At: end, Kind: "sync", Action: "sync", Target: "webhook", Result: "retry", Duration: 10 * time.Second})
				}
			},
			clear:    func(*harness, time.Time) {},
			title:    "Circle sync failures: 4 in the last 1h (more than 3)",
			detail:   []string{"4 syncs failed on Circle calls", "Last error: circle add_access_group: transient (HTTP 503)"},
			link:     "/admin",
			affected: 2,
			since:    10 * time.Minute,
		},
		{
			id: alert.RuleReviewAge,
			hold: func(h *harness, now time.Time) {
				if first(h, "review") {
					openReview(h.t, h, t0.Add(-2*time.Hour), store.ReviewItem{PersonID: 21, Kind: "action_failed", ActionKey: "circle:add_access_group:1",
						Reason: "this action can never succeed as sent", LastError: "circle add_access_group: permanent (HTTP 422): ada@example.com is not allowed"})
				}
			},
			clear: func(h *harness, now time.Time) {
				if _, err := h.st.ResolveReviews(context.Background(), 21, "action_failed", "*", "test", "fixed"); err != nil {
					h.t.Fatal(err)
				}
			},
			title:    "1 review item open longer than 1h",
			detail:   []string{"The oldest (action_failed, open 2h)", "[email] is not allowed"},
			link:     "/admin/people/21",
			affected: 1,
			since:    2 * time.Hour,
		},
		{
			id: alert.RuleCredentials + ":kit",
			hold: func(h *harness, now time.Time) {
				if first(h, "credentials") {
					for _, pid := range []int64{31, 32} {
						openReview(h.t, h, now, store.ReviewItem{PersonID: pid, Kind: "credentials", ActionKey: "kit",
							Reason: "kit rejected membersync's credentials", LastError: "kit tag_subscriber: config (HTTP 401): The access token is invalid"})
					}
				}
			},
			clear: func(h *harness, now time.Time) {
				for _, pid := range []int64{31, 32} {
					if _, err := h.st.ResolveReviews(context.Background(), pid, "credentials", "*", "test", "key fixed"); err != nil {
						h.t.Fatal(err)
					}
				}
			},
			title:    "Kit rejected membersync's credentials",
			detail:   []string{"2 syncs stopped", "Fix KIT_API_KEY in the environment", "(HTTP 401)"},
			link:     "/admin/review",
			affected: 2,
		},
		{
			id: alert.RuleConvergeP95,
			hold: func(h *harness, now time.Time) {
				// An event a minute ago that took 5 s to converge.
				recv := now.Add(-time.Minute)
				h.clk.Set(recv)
				res := ingest(h.t, h.st, "evt_"+now.Format("150405"), "cus_slow", now)
				h.clk.Set(now)
				journal(h.t, h.st, store.JournalEntry{PersonID: res.PersonID, At: recv.Add(5 * time.Second), Kind: "sync", Action: "sync",
					Target: "webhook", Result: "converged", Duration: time.Second})
			},
			clear:    func(*harness, time.Time) {},
			title:    "Time to converge p95 is 5.0s over the last 15m (threshold 2.0s)",
			detail:   []string{"1 of 1 event took longer than 2.0s"},
			link:     "/admin/people/1",
			affected: 1,
			since:    time.Minute,
		},
		{
			id: alert.RuleWebhookSilence,
			hold: func(h *harness, now time.Time) {
				if first(h, "silence") {
					h.clk.Set(t0.Add(-3 * time.Hour))
					ingest(h.t, h.st, "evt_last", "cus_A", t0.Add(-3*time.Hour))
					h.clk.Set(now)
					h.setLatest(t0.Add(-time.Hour))
				}
			},
			clear: func(h *harness, now time.Time) {
				// Deliveries are back, and their syncs converge.
				res := ingest(h.t, h.st, "evt_back", "cus_A", t0.Add(-time.Hour))
				journal(h.t, h.st, store.JournalEntry{PersonID: res.PersonID, At: now.Add(time.Second), Kind: "sync", Action: "sync", Result: "converged", Duration: 500 * time.Millisecond})
			},
			title:    "No Stripe webhook received for 3h5m while Stripe has newer events",
			detail:   []string{"The last webhook arrived 2026-03-02 07:00 UTC", "an event created 2026-03-02 09:00 UTC", publicURL + "/webhooks/stripe"},
			link:     "/admin/events",
			affected: -1,
			since:    3 * time.Hour,
		},
	}
}

// TestRules drives every rule through its life with real receivers and an injected clock: it fires
// once, stays quiet, repeats after the interval, survives a new Evaluator (a restart) without
// firing again, and sends one resolved message when it clears.
func TestRules(t *testing.T) {
	for _, tc := range ruleCases() {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			for _, d := range storetest.Dialects() {
				t.Run(d, func(t *testing.T) {
					h := newHarness(t, d)
					ev := h.evaluator()
					step := func(at time.Time, ev *alert.Evaluator, status string) alert.Message {
						t.Helper()
						h.clk.Set(at)
						tc.hold(h, at)
						h.evaluate(ev)
						return h.expect(status)
					}
					fired := t0
					if tc.id == alert.RuleWebhookSilence {
						step(t0, ev, "") // Stripe's newer event may be on its way: wait out the hold
						fired = t0.Add(5 * time.Minute)
					}
					m := step(fired, ev, alert.StatusFiring)
					if m.AlertID != tc.id || m.Title != tc.title || m.Link != publicURL+tc.link || m.Affected != tc.affected || m.Notice != 1 {
						t.Errorf("firing message:\n got %s %q %s affected %d notice %d\nwant %s %q %s affected %d notice 1",
							m.AlertID, m.Title, m.Link, m.Affected, m.Notice, tc.id, tc.title, publicURL+tc.link, tc.affected)
					}
					for _, want := range tc.detail {
						if !strings.Contains(m.Detail, want) {
							t.Errorf("detail %q lacks %q", m.Detail, want)
						}
					}
					if strings.Contains(m.Detail, "ada@example.com") {
						t.Errorf("detail %q carries a raw email", m.Detail)
					}
					if want := t0.Add(-tc.since); tc.since != 0 && !m.Since.Truncate(time.Minute).Equal(want.Truncate(time.Minute)) {
						t.Errorf("since: got %v, want %v", m.Since, want)
					}
					step(fired.Add(time.Minute), ev, "")
					step(fired.Add(29*time.Minute), ev, "")
					if r := step(fired.Add(30*time.Minute), ev, alert.StatusRepeat); r.Notice != 2 || !r.Since.Equal(m.Since) {
						t.Errorf("repeat: notice %d since %v; want 2 and %v", r.Notice, r.Since, m.Since)
					}

					restarted := h.evaluator()
					step(fired.Add(31*time.Minute), restarted, "")
					if f := restarted.Firing(context.Background()); len(f) != 1 || f[0].ID != tc.id || f[0].Notices != 2 || f[0].Link != m.Link {
						t.Errorf("Firing after a restart: got %+v, want %s with 2 notices", f, tc.id)
					}

					clearAt := fired.Add(31*time.Minute + 2*time.Hour)
					h.clk.Set(clearAt)
					tc.clear(h, clearAt)
					h.evaluate(restarted)
					r := h.expect(alert.StatusResolved)
					if r.AlertID != tc.id || r.ResolvedAt == nil || !r.ResolvedAt.Equal(clearAt) {
						t.Errorf("resolved message: %+v, want %s resolved at %v", r, tc.id, clearAt)
					}
					h.clk.Set(clearAt.Add(time.Minute))
					h.evaluate(restarted)
					h.expect("")
					if f := restarted.Firing(context.Background()); len(f) != 0 {
						t.Errorf("Firing after it cleared: %+v", f)
					}
					hist, err := h.st.AlertNotifications(context.Background(), 10)
					if err != nil {
						t.Fatal(err)
					}
					var statuses []string
					for _, n := range hist {
						statuses = append(statuses, n.Status)
						if !n.Delivered || n.Results != "slack=ok webhook=ok email=ok" {
							t.Errorf("notification %+v: want delivered by all three", n)
						}
					}
					if want := []string{"resolved", "repeat", "firing"}; !slices.Equal(statuses, want) {
						t.Errorf("history: got %v, want %v", statuses, want)
					}
				})
			}
		})
	}
}

// TestRulesStayQuiet checks each rule's threshold from the quiet side.
func TestRulesStayQuiet(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *harness)
		hold  bool // also evaluate after the silence rule's hold time
	}{
		{"three Circle sync failures (more than 3 fire)", func(h *harness) {
			for i := range 3 {
				end := t0.Add(-time.Duration(i+1) * time.Minute)
				journal(h.t, h.st, store.JournalEntry{PersonID: 1, At: end.Add(-time.Second), Kind: "call", Action: "circle:add_access_group", Result: "transient"})
				journal(h.t, h.st, store.JournalEntry{PersonID: 1, At: end, Kind: "sync", Action: "sync", Result: "retry", Duration: 5 * time.Second})
			}
		}, false},
		{"review item open 59 minutes", func(h *harness) {
			openReview(h.t, h, t0.Add(-59*time.Minute), store.ReviewItem{PersonID: 1, Kind: "action_failed", ActionKey: "x", Reason: "r"})
		}, false},
		{"refused deliveries of every code", func(h *harness) {
			for _, c := range []string{"bad_signature", "too_old", "livemode_mismatch", "unavailable", "missing_signature", "malformed_signature"} {
				h.refusals.Record(c)
			}
		}, false},
		{"an event Stripe has held as undelivered for 9 minutes", func(h *harness) {
			h.clk.Set(t0.Add(-9 * time.Minute))
			h.stripe.CreateCustomer("a@example.com", "")
			h.clk.Set(t0)
		}, false},
		{"events Stripe delivered", func(h *harness) {
			h.clk.Set(t0.Add(-time.Hour))
			h.stripe.CreateCustomer("a@example.com", "")
			h.clk.Set(t0)
			ackAll(h.t, h.stripe)
		}, false},
		{"two undelivered events under a threshold of three", func(h *harness) {
			h.cfg.WebhookFailures.Threshold = 3
			h.clk.Set(t0.Add(-time.Hour))
			h.stripe.CreateCustomer("a@example.com", "")
			h.stripe.CreateCustomer("b@example.com", "")
			h.clk.Set(t0)
		}, false},
		{"webhook failures rule disabled", func(h *harness) {
			h.cfg.WebhookFailures.Disabled = true
			h.clk.Set(t0.Add(-time.Hour))
			h.stripe.CreateCustomer("a@example.com", "")
			h.clk.Set(t0)
		}, false},
		{"converged in exactly the threshold; another too recent to judge", func(h *harness) {
			h.clk.Set(t0.Add(-time.Minute))
			a := ingest(h.t, h.st, "evt_a", "cus_A", t0)
			journal(h.t, h.st, store.JournalEntry{PersonID: a.PersonID, At: t0.Add(-time.Minute + 2*time.Second), Kind: "sync", Action: "sync", Result: "converged", Duration: time.Second})
			h.clk.Set(t0.Add(-time.Second))
			ingest(h.t, h.st, "evt_b", "cus_B", t0)
			h.clk.Set(t0)
		}, false},
		{"no webhook for 3h but Stripe has nothing newer", func(h *harness) {
			h.clk.Set(t0.Add(-3 * time.Hour))
			ingest(h.t, h.st, "evt_a", "cus_A", t0.Add(-3*time.Hour))
			h.clk.Set(t0)
			h.setLatest(t0.Add(-3 * time.Hour))
		}, true},
		{"Stripe has newer events but the last webhook is 1h old", func(h *harness) {
			h.clk.Set(t0.Add(-time.Hour))
			ingest(h.t, h.st, "evt_a", "cus_A", t0.Add(-time.Hour))
			h.clk.Set(t0)
			h.setLatest(t0.Add(-time.Minute))
		}, true},
		{"a hand-built zero config takes the defaults", func(h *harness) {
			h.cfg = config.AlertsConfig{}
			openReview(h.t, h, t0.Add(-59*time.Minute), store.ReviewItem{PersonID: 1, Kind: "action_failed", ActionKey: "x", Reason: "r"})
			h.clk.Set(t0.Add(-time.Minute))
			a := ingest(h.t, h.st, "evt_a", "cus_A", t0)
			journal(h.t, h.st, store.JournalEntry{PersonID: a.PersonID, At: t0.Add(-time.Minute + time.Second), Kind: "sync", Action: "sync", Result: "converged", Duration: 100 * time.Millisecond})
			h.clk.Set(t0)
		}, false},
		{"credentials rule disabled", func(h *harness) {
			h.cfg.Credentials.Disabled = true
			openReview(h.t, h, t0, store.ReviewItem{PersonID: 1, Kind: "credentials", ActionKey: "circle", Reason: "rejected"})
		}, false},
		{"backup rule disabled", func(h *harness) {
			h.cfg.Backup.Disabled = true
			if err := h.st.RecordBackupRun(context.Background(), store.BackupRun{At: t0, Err: "no space left on device"}); err != nil {
				h.t.Fatal(err)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, d := range storetest.Dialects() {
				t.Run(d, func(t *testing.T) {
					h := newHarness(t, d)
					tt.setup(h)
					ev := h.evaluator()
					times := []time.Time{t0, t0}
					if tt.hold {
						times = []time.Time{t0, t0.Add(5 * time.Minute)}
					}
					for _, at := range times {
						h.clk.Set(at)
						h.evaluate(ev)
						h.expect("")
					}
					if f := ev.Firing(context.Background()); len(f) != 0 {
						t.Errorf("Firing: %+v, want none", f)
					}
				})
			}
		})
	}
}

func tlsRoots(s *mailtest.Server) *tls.Config { return &tls.Config{RootCAs: s.Roots} }

// TestNotifierOutage shows that a notifier that is down or hangs neither stalls the pass nor keeps
// the others from delivering; its failures are counted, and a message nobody received is retried.
func TestNotifierOutage(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			h := newHarness(t, d)
			h.cfg.Timeout = config.Duration(300 * time.Millisecond)
			h.hook.set(0, true) // accepts the connection and never answers
			ev := h.evaluator()
			ev.Notifiers[0] = &alert.Slack{URL: downURL(t), Client: &http.Client{}} // nothing listens
			openReview(t, h, t0, store.ReviewItem{PersonID: 7, Kind: "credentials", ActionKey: "circle", Reason: "rejected"})

			h.evaluate(ev) // returns: the hung receiver is cut off by the timeout
			if got := len(h.smtp.Take()); got != 1 {
				t.Fatalf("email got %d messages, want 1 while the other notifiers are out", got)
			}
			stats := ev.NotifierStats()
			if stats["slack"].Failed != 1 || stats["webhook"].Failed != 1 || stats["email"].Sent != 1 || stats["email"].Failed != 0 {
				t.Errorf("notifier stats: %+v", stats)
			}
			h.mu.Lock()
			failures := slices.Sorted(slices.Values(h.failures))
			h.mu.Unlock()
			if !slices.Equal(failures, []string{"slack", "webhook"}) {
				t.Errorf("OnNotifyFailure: got %v, want slack and webhook", failures)
			}
			hist, err := h.st.AlertNotifications(context.Background(), 5)
			if err != nil || len(hist) != 1 || !hist[0].Delivered || !strings.Contains(hist[0].Results, "slack=failed") ||
				!strings.Contains(hist[0].Results, "webhook=failed") || !strings.Contains(hist[0].Results, "email=ok") {
				t.Errorf("history: %+v, %v", hist, err)
			}

			// Delivered by one notifier: not sent again on the next pass.
			h.clk.Set(t0.Add(time.Minute))
			h.evaluate(ev)
			if got := len(h.smtp.Take()); got != 0 {
				t.Errorf("email got %d messages on the next pass, want 0", got)
			}

			// Every notifier out: the message stays owed and is retried until one delivers it.
			only := newHTTPReceiver(t)
			only.set(http.StatusServiceUnavailable, false)
			ev2 := h.evaluator()
			ev2.Notifiers = []alert.Notifier{&alert.Webhook{URL: only.URL, Secret: webhookSecret, Client: &http.Client{}}}
			openReview(t, h, t0.Add(-2*time.Hour), store.ReviewItem{PersonID: 8, Kind: "action_failed", ActionKey: "k", Reason: "stuck"})
			for i := range 2 {
				h.clk.Set(t0.Add(time.Duration(2+i) * time.Minute))
				h.evaluate(ev2)
				f := firing(ev2, alert.RuleReviewAge)
				if f == nil || !f.LastSent.IsZero() || f.Notices != 0 {
					t.Fatalf("pass %d with every notifier out: review_age %+v, want firing with its message owed", i+1, f)
				}
			}
			if st := ev2.NotifierStats()["webhook"]; st.Failed != 2 || !strings.Contains(st.LastError, "HTTP 503") {
				t.Errorf("webhook stats: %+v, want 2 failures (HTTP 503)", st)
			}
			only.set(0, false)
			h.clk.Set(t0.Add(4 * time.Minute))
			h.evaluate(ev2)
			got := only.Take()
			if len(got) != 1 {
				t.Fatalf("after the receiver came back: %d messages, want 1", len(got))
			}
			var m alert.Message
			if err := json.Unmarshal(got[0].Body, &m); err != nil || m.AlertID != alert.RuleReviewAge || m.Status != alert.StatusFiring || m.Notice != 1 {
				t.Errorf("retried message: %+v (%v), want the first review_age message", m, err)
			}
			h.clk.Set(t0.Add(5 * time.Minute))
			h.evaluate(ev2)
			if n := len(only.Take()); n != 0 {
				t.Errorf("the pass after delivery sent %d messages, want 0", n)
			}
		})
	}
}

func firing(ev *alert.Evaluator, id string) *alert.Firing {
	for _, f := range ev.Firing(context.Background()) {
		if f.ID == id {
			return &f
		}
	}
	return nil
}

// TestTwoInstancesSendOnce runs two evaluators, each with its own connection to one database (two
// instances), at the same moment: each transition's message goes out once.
func TestTwoInstancesSendOnce(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			url := storetest.URL(t, d)
			open := func() *store.Store {
				st, err := store.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				if _, err := st.Migrate(context.Background()); err != nil {
					t.Fatal(err)
				}
				return st
			}
			h := newHarness(t, d)
			h.st = open()
			h.st.Now = h.clk.Now
			one := h.evaluator()
			h.st = open()
			h.st.Now = h.clk.Now
			two := h.evaluator()
			both := func(status string) {
				t.Helper()
				var wg sync.WaitGroup
				for _, ev := range []*alert.Evaluator{one, two} {
					wg.Go(func() {
						if err := ev.Evaluate(context.Background()); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				h.expect(status)
			}
			openReview(t, h, t0, store.ReviewItem{PersonID: 9, Kind: "credentials", ActionKey: "stripe", Reason: "rejected"})
			both(alert.StatusFiring)
			h.clk.Set(t0.Add(time.Minute))
			both("")
			h.clk.Set(t0.Add(30 * time.Minute))
			both(alert.StatusRepeat)
			if _, err := h.st.ResolveReviews(context.Background(), 9, "credentials", "*", "test", "fixed"); err != nil {
				t.Fatal(err)
			}
			h.clk.Set(t0.Add(31 * time.Minute))
			both(alert.StatusResolved)
		})
	}
}

// TestRefusalsKeptWhileDatabaseDown counts refusals while the database is gone (the very moment
// deliveries are refused with 503) and writes them once it is back.
func TestRefusalsKeptWhileDatabaseDown(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			url := storetest.URL(t, d)
			st, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			clk := providertest.NewClock(t0)
			r := &alert.Refusals{Store: st, Now: clk.Now}
			st.Close() // the database is gone
			for range 3 {
				r.Record("unavailable")
			}
			r.Record("bad signature!") // odd codes are folded
			if err := r.Flush(ctx); err == nil {
				t.Fatal("Flush to a closed database: got no error")
			}
			back, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer back.Close()
			r.Store = back
			clk.Set(t0.Add(time.Minute))
			r.Record("unavailable")
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			counts, first, err := back.WebhookRefusalCounts(ctx, t0.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if counts["unavailable"] != 4 || counts["other"] != 1 || !first["unavailable"].Equal(t0) {
				t.Errorf("counts after the database came back: %v (first %v), want unavailable 4 from %v and other 1", counts, first, t0)
			}
			if err := r.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if again, _, _ := back.WebhookRefusalCounts(ctx, t0.Add(-time.Hour)); again["unavailable"] != 4 {
				t.Errorf("a second flush wrote again: %v", again)
			}
		})
	}
}
