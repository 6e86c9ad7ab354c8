package admin

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membersync/membersync/internal/browsertest"
	"github.com/membersync/membersync/internal/store"
)

// TestBrowser drives the admin UI in headless Chromium at a desktop's and a phone's width: sign in,
// search a person, open the journey, resync and see the new sync, resolve a review item with a note
// and find it in the audit log. It saves a screenshot of each step.
func TestBrowser(t *testing.T) {
	for _, vp := range []struct {
		name string
		size browsertest.Viewport
	}{{"desktop", browsertest.Desktop}, {"phone", browsertest.Phone}} {
		t.Run(vp.name, func(t *testing.T) {
			f := newFixture(t, store.SQLite)
			var bob store.IngestResult
			if err := f.st.InTx(context.Background(), func(tx *store.Tx) error {
				var err error
				bob, err = tx.IngestEvent(context.Background(), store.Event{ID: "evt_bob", Type: "invoice.paid", CustomerID: "cus_bob", Actionable: true, Created: f.clock.Now(), Payload: []byte(`{}`)})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if err := f.st.SetIdentity(context.Background(), bob.PersonID, "bob@example.com", "Bob"); err != nil {
				t.Fatal(err)
			}
			seedHistory(t, f)
			b := &browser{t: t, ctx: browsertest.New(t, vp.size), base: f.srv.URL, phone: vp.size == browsertest.Phone}

			// Anonymous: the admin sends us to sign in.
			b.do(chromedp.Navigate(b.base+"/admin/people"), chromedp.WaitVisible(chromedp.CSS("#email")))
			if loc := b.location(); !strings.Contains(loc, "/login?next=%2Fadmin%2Fpeople") {
				t.Errorf("anonymous: at %s, want the sign-in page", loc)
			}
			b.shot("1-login")
			b.do(chromedp.SendKeys(chromedp.CSS("#email"), email(RoleSupport)),
				chromedp.SendKeys(chromedp.CSS("#password"), passwords[RoleSupport]),
				chromedp.Click(chromedp.CSS("#signin")),
				chromedp.WaitVisible(chromedp.CSS("#q")))
			if loc := b.location(); !strings.HasSuffix(loc, "/admin/people") {
				t.Errorf("after sign-in: at %s, want /admin/people (the page asked for)", loc)
			}

			// The overview.
			b.do(chromedp.Navigate(b.base+"/admin"), chromedp.WaitVisible(chromedp.CSS("#health")))
			if got := b.text("#health"); !strings.Contains(got, "review item") {
				t.Errorf("health banner: %q, want the open review item named", got)
			}
			b.shot("2-overview")

			// Search a person.
			b.do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/people"]`)), chromedp.WaitVisible(chromedp.CSS("#q")),
				chromedp.SendKeys(chromedp.CSS("#q"), "ada"), chromedp.Click(chromedp.CSS("#search")),
				chromedp.WaitVisible(chromedp.CSS(`#people[data-query="ada"]`)))
			if got := b.text("#people"); !strings.Contains(got, "ada@example.com") || strings.Contains(got, "bob@example.com") {
				t.Errorf("search results: %q", got)
			}
			b.shot("3-people-search")

			// Open the person: the story on top, every step folded underneath.
			b.do(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#people a[href="/admin/people/%d"]`, f.personID))), chromedp.WaitVisible(chromedp.CSS("#story")))
			if got := b.text("#story"); !strings.Contains(got, fmt.Sprintf("review item #%d", f.itemID)) || !strings.Contains(got, "This needs you.") {
				t.Errorf("story: %q, want the open review item and that it needs you", got)
			}
			if b.count("#raw[open]") != 0 {
				t.Error("the raw timeline is not folded")
			}
			b.shot("4-person-story")
			b.do(chromedp.Click(chromedp.CSS("#raw summary")), chromedp.WaitVisible(chromedp.CSS("#timeline")))
			journey := b.text("#timeline")
			for _, want := range []string{"customer.subscription.updated evt_1", "circle:add_access_group 11", "kit:tag_subscriber 21", "server 502"} {
				if !strings.Contains(journey, want) {
					t.Errorf("journey lacks %q: %s", want, journey)
				}
			}
			if got := b.text(".plans"); !strings.Contains(got, "Circle access group 11") || !strings.Contains(got, "missing") {
				t.Errorf("plans: %q, want the Kit tag shown missing beside the held group", got)
			}
			b.shot("4b-person-journey")

			// Resync and see the new sync.
			syncs := b.count("#timeline .kind-sync")
			f.clock.Advance(3 * time.Minute)
			b.do(chromedp.Click(chromedp.CSS("#resync")), chromedp.WaitVisible(chromedp.CSS("#flash")),
				chromedp.Click(chromedp.CSS("#raw summary")), chromedp.WaitVisible(chromedp.CSS("#timeline")))
			if got := b.count("#timeline .kind-sync"); got != syncs+1 {
				t.Errorf("syncs in the journey: %d before, %d after; want one more", syncs, got)
			}
			if got := b.text("#timeline .step:first-child"); !strings.Contains(got, "sync") || !strings.Contains(got, "converged") {
				t.Errorf("newest step: %q, want the new sync", got)
			}
			if got := b.text("#timeline"); !strings.Contains(got, "by "+email(RoleSupport)) {
				t.Errorf("the resync is not in the journey with its actor")
			}
			b.shot("5-after-resync")

			// Resolve the review item with a note.
			card := fmt.Sprintf("#review-%d", f.itemID)
			b.do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/review"]`)), chromedp.WaitVisible(chromedp.CSS(card)))
			b.shot("6-review-queue")
			b.do(chromedp.SendKeys(chromedp.CSS(card+` input[name="note"]`), "Tagged by hand in Kit"),
				chromedp.Click(chromedp.CSS(card+" .resolve button")),
				chromedp.WaitVisible(chromedp.CSS("#flash")))
			if b.count(card) != 0 || !strings.Contains(b.text("#empty"), "Nothing waits") {
				t.Errorf("the resolved item is still in the open queue")
			}
			b.shot("7-review-resolved")

			// Find it in the audit log.
			b.do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/audit"]`)), chromedp.WaitVisible(chromedp.CSS("#audit")))
			audit := b.text("#audit")
			for _, want := range []string{"review.resolve", "Tagged by hand in Kit", "person.resync", email(RoleSupport)} {
				if !strings.Contains(audit, want) {
					t.Errorf("audit log lacks %q", want)
				}
			}
			b.shot("8-audit")

			// The event with its redacted payload.
			b.do(chromedp.Navigate(b.base+"/admin/events/evt_1"), chromedp.WaitVisible(chromedp.CSS("#payload")))
			if got := b.text("#payload"); strings.Contains(got, "ada@example.com") || !strings.Contains(got, "[redacted]") {
				t.Errorf("payload not redacted: %s", got)
			}
			if got := b.text("#caused"); !strings.Contains(got, "The sync that covered it") {
				t.Errorf("what the event caused: %q", got)
			}
			b.shot("9-event")

			// Settings: check the connections.
			b.do(chromedp.Click(chromedp.CSS(`nav a[href="/admin/settings"]`)), chromedp.WaitVisible(chromedp.CSS("#check")),
				chromedp.Click(chromedp.CSS("#check")), chromedp.WaitVisible(chromedp.CSS("#checks")))
			if got := b.text("#checks"); !strings.Contains(got, "stripe reachable") || !strings.Contains(got, "kit failing") {
				t.Errorf("connection checks: %q", got)
			}
			if strings.Contains(b.text("main"), testSecretKey) {
				t.Error("the settings page shows the Stripe key")
			}
			b.shot("10-settings")
		})
	}
}

// seedHistory gives the overview charts a day of traffic: events, syncs of varying duration and a
// few failures, spread over the last 24 hours.
func seedHistory(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	now := f.clock.Now()
	defer f.clock.Set(now)
	for i := range 48 {
		at := now.Add(-time.Duration(47-i) * 29 * time.Minute)
		f.clock.Set(at)
		id := fmt.Sprintf("evt_h%02d", i)
		var res store.IngestResult
		if err := f.st.InTx(ctx, func(tx *store.Tx) error {
			var err error
			res, err = tx.IngestEvent(ctx, store.Event{ID: id, Type: "invoice.paid", CustomerID: fmt.Sprintf("cus_h%d", i%4), Actionable: true, Created: at, Payload: []byte(`{}`)})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		result, dur := "converged", time.Duration(150+(i*37)%400)*time.Millisecond
		if i%9 == 4 {
			result, dur = "retry", 0
		}
		if err := f.st.AppendJournal(ctx, store.JournalEntry{PersonID: res.PersonID, At: at.Add(2 * time.Second), Kind: "sync", Action: "sync",
			Target: "event", Result: result, Duration: dur}); err != nil {
			t.Fatal(err)
		}
	}
}

// browser wraps a chromedp tab with a deadline per step and the checks every page gets.
type browser struct {
	t     *testing.T
	ctx   context.Context
	base  string
	phone bool
}

func (b *browser) step() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, 30*time.Second)
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.location())
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) count(sel string) int {
	b.t.Helper()
	return b.eval(fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

func (b *browser) eval(js string) int {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return n
}

func (b *browser) location() string {
	ctx, cancel := b.step()
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

// shot saves a screenshot after checking that the page does not scroll sideways.
func (b *browser) shot(name string) {
	b.t.Helper()
	if over := b.eval("document.documentElement.scrollWidth - window.innerWidth"); over > 0 {
		b.t.Errorf("%s: the page is %d px wider than the window", name, over)
	}
	browsertest.Screenshot(b.t, b.ctx, name)
}
