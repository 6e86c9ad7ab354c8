package status_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membersync/membersync/internal/browsertest"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/status"
)

// The browser tests drive headless Chromium at a phone and a desktop viewport through the pages as
// serve mounts them (security headers included), and save screenshots (browsertest.ScreenshotDir).

var viewports = []struct {
	name string
	vp   browsertest.Viewport
}{{"phone", browsertest.Phone}, {"desktop", browsertest.Desktop}}

// tab is one browser tab on the world's server.
type tab struct {
	t       *testing.T
	w       *world
	ctx     context.Context
	mu      sync.Mutex
	console []string // errors and warnings the page logged (guarded by mu)
}

func newTab(t *testing.T, w *world, vp browsertest.Viewport) *tab {
	t.Helper()
	ctx := browsertest.New(t, vp)
	b := &tab{t: t, w: w, ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
				b.mu.Lock()
				b.console = append(b.console, m.String())
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// open navigates and returns the HTTP status of the document.
func (b *tab) open(path string) int64 {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.w.srv.URL+path))
	if err != nil {
		b.t.Fatalf("opening %s: %v", path, err)
	}
	return resp.Status
}

func (b *tab) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

func (b *tab) eval(expr string) bool {
	b.t.Helper()
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](expr))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return ok
}

// waitFor waits until the expression is true in the page, across navigations (an evaluation that
// fails while a page unloads is tried again).
func (b *tab) waitFor(expr string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	b.t.Fatalf("waiting for %s: still false after 30 s (last error: %v)", expr, last)
}

// checkLayout fails when the page scrolls sideways (too wide for a phone) or when the policy
// blocked something or a script failed.
func (b *tab) checkLayout(name string) {
	b.t.Helper()
	if !b.eval(`document.documentElement.scrollWidth <= window.innerWidth`) {
		b.t.Errorf("%s: the page is wider than the viewport", name)
	}
	if !b.eval(`getComputedStyle(document.body).fontFamily.indexOf("system-ui") >= 0`) {
		b.t.Errorf("%s: the stylesheet did not load", name)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.console {
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Refused") || strings.HasPrefix(m, "exception") {
			b.t.Errorf("%s: the console says %q", name, m)
		}
	}
}

func (b *tab) screenshot(name string) {
	b.t.Helper()
	browsertest.Screenshot(b.t, b.ctx, name)
}

// TestBrowserWelcomeWalksToReady opens the welcome page before the webhook arrived: it shows the
// payment confirmed and the access being set up, then, when the late webhook's sync grants the
// access, it turns to ready with the button to enter the community, without a reload.
func TestBrowserWelcomeWalksToReady(t *testing.T) {
	for _, v := range viewports {
		t.Run(v.name, func(t *testing.T) {
			w := newWorld(t, worldOptions{})
			cus, cs, _ := w.subscribe("ada@example.com")
			b := newTab(t, w, v.vp)
			if code := b.open("/welcome?session_id=" + cs); code != 200 {
				t.Fatalf("welcome page: %d", code)
			}
			if got := b.text("h1"); got != "Setting up your community access" {
				t.Errorf("heading %q", got)
			}
			if !b.eval(`document.querySelector('[data-step="paid"]').dataset.status === "done" &&
				document.querySelector('[data-step="access"]').dataset.status === "active" &&
				document.getElementById("enter").hidden`) {
				t.Error("the steps do not say: payment confirmed, access being set up")
			}
			b.checkLayout("setting up")
			b.screenshot("setting-up")
			b.eval(`window.stillTheSamePage = true`)

			w.deliver() // the webhook arrives late
			w.mustSync(w.person(cus))

			b.waitFor(`!document.getElementById("enter").hidden`)
			if got := b.text("h1"); got != "You're in" {
				t.Errorf("heading %q after the sync", got)
			}
			if !b.eval(`window.stillTheSamePage === true`) {
				t.Error("the page reloaded instead of updating itself")
			}
			if !b.eval(`document.getElementById("enter").href === "https://community.example.test/" &&
				[...document.querySelectorAll(".step")].every(s => s.dataset.status === "done")`) {
				t.Error("ready without every step done and the community button")
			}
			if !b.eval(`document.getElementById("enter").getBoundingClientRect().height >= 44`) {
				t.Error("the community button is too small to tap")
			}
			b.checkLayout("ready")
			b.screenshot("ready")
		})
	}
}

// TestBrowserPastDue opens the status link of a customer whose renewal failed: the page asks for a
// new payment method, and its button opens the Stripe billing portal (the fake's page).
func TestBrowserPastDue(t *testing.T) {
	for _, v := range viewports {
		t.Run(v.name, func(t *testing.T) {
			w := newWorld(t, worldOptions{})
			cus, _, sub := w.subscribe("ada@example.com")
			w.stripe.FailPayment(sub)
			w.deliver()
			pid := w.person(cus)
			w.mustSync(pid)
			b := newTab(t, w, v.vp)
			if code := b.open(w.link(pid, 720*time.Hour)); code != 200 {
				t.Fatalf("status page: %d", code)
			}
			if got := b.text("h1"); got != "Update your payment method" {
				t.Errorf("heading %q", got)
			}
			if got := b.text(".plan .badge"); got != "Payment failed" {
				t.Errorf("badge %q", got)
			}
			if detail := b.text(".plan p"); !strings.Contains(detail, "You keep access until") {
				t.Errorf("the plan does not say until when access lasts: %q", detail)
			}
			b.checkLayout("past due")
			b.screenshot("past-due")
			b.do(chromedp.Click(chromedp.ID("portal")))
			b.waitFor(`document.title === "Billing portal (fake)"`)
			if !b.eval(`location.href.startsWith(` + jsString(w.stripe.URL+"/p/session/bps_") + `)`) {
				t.Error("the button did not lead to the billing portal session")
			}
			if !journaled(t, w, pid, "billing_portal") {
				t.Error("opening the portal is not in the journal")
			}
		})
	}
}

// TestBrowserCircleDown shows the pages while Circle does not answer: the status page says so
// honestly, with when it was noticed and that the team was alerted, and its resend button asks
// for a sync; the welcome page says the same and, once Circle is back, turns ready by itself.
func TestBrowserCircleDown(t *testing.T) {
	for _, v := range viewports {
		t.Run(v.name, func(t *testing.T) {
			w := newWorld(t, worldOptions{})
			cus, cs, _ := w.subscribe("ada@example.com")
			w.deliver()
			pid := w.person(cus)
			w.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
			for attempt := 1; attempt <= 3; attempt++ {
				if err := w.sync(pid, attempt); err == nil {
					t.Fatal("the sync succeeded while Circle was down")
				}
			}
			b := newTab(t, w, v.vp)
			link := w.link(pid, 720*time.Hour)
			b.open(link)
			if got := b.text("h1"); got != "We're on it" {
				t.Errorf("heading %q", got)
			}
			if lead := b.text(".lead"); !strings.Contains(lead, "Circle, where the community lives, is not answering right now. Your access is saved and will appear automatically") {
				t.Errorf("the page does not explain the outage: %q", lead)
			}
			if noticed := b.text("#noticed"); !strings.HasPrefix(noticed, "We noticed it") || !strings.Contains(noticed, "The team has been alerted.") {
				t.Errorf("noticed line %q", noticed)
			}
			b.checkLayout("circle down")
			b.screenshot("status-circle-down")

			b.do(chromedp.Click(chromedp.ID("resend")))
			b.waitFor(`document.getElementById("flash") !== null`)
			if flash := b.text("#flash"); !strings.HasPrefix(flash, "Done: we are setting up your access again") {
				t.Errorf("flash %q", flash)
			}
			if reqs := w.resyncRequests(); len(reqs) != 1 || reqs[0] != (resync{pid, "resend_invitation"}) {
				t.Errorf("sync requests %+v, want one resend_invitation", reqs)
			}
			b.screenshot("status-resent")

			b.open("/welcome?session_id=" + cs)
			if !b.eval(`document.getElementById("progress").dataset.state === "trouble" &&
				document.querySelector('[data-step="access"]').dataset.status === "attention" &&
				!document.querySelector('[data-field="noticed"]').hidden`) {
				t.Error("the welcome page does not show the trouble")
			}
			b.screenshot("welcome-circle-down")

			w.circle.Faults.Heal()
			w.mustSync(pid)
			b.waitFor(`!document.getElementById("enter").hidden`)
			if got := b.text("h1"); got != "You're in" {
				t.Errorf("heading %q after Circle came back", got)
			}
			b.checkLayout("recovered")
		})
	}
}

// TestBrowserBadLinks opens a tampered and an expired status link: the same neutral page, a 404,
// and nothing about the person.
func TestBrowserBadLinks(t *testing.T) {
	for _, v := range viewports {
		t.Run(v.name, func(t *testing.T) {
			w := newWorld(t, worldOptions{})
			cus, _, _ := w.subscribe("ada@example.com")
			w.deliver()
			pid := w.person(cus)
			w.mustSync(pid)
			good := strings.TrimPrefix(w.link(pid, time.Hour), "/status/")
			swap := map[byte]byte{'A': 'B'}
			c := good[5]
			if r, ok := swap[c]; ok {
				c = r
			} else {
				c = 'A'
			}
			links := []struct{ name, path string }{
				{"tampered", "/status/" + good[:5] + string(c) + good[6:]},
				{"expired", "/status/" + status.NewToken([]byte(signingKey), pid, time.Hour, w.clock.Now().Add(-90*time.Minute))},
			}
			b := newTab(t, w, v.vp)
			var texts []string
			for _, l := range links {
				if code := b.open(l.path); code != 404 {
					t.Errorf("%s link: status %d, want 404", l.name, code)
				}
				body := b.text("body")
				if !strings.HasPrefix(body, "This link does not work") {
					t.Errorf("%s link page: %q", l.name, body)
				}
				if strings.Contains(body, "Pro") || strings.Contains(body, "a•••") {
					t.Errorf("%s link page reveals the person: %q", l.name, body)
				}
				texts = append(texts, body)
				b.checkLayout(l.name)
				b.screenshot(l.name + "-link")
			}
			if texts[0] != texts[1] {
				t.Error("the tampered and the expired link pages differ")
			}
		})
	}
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
