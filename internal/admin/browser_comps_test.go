package admin

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/membersync/membersync/internal/browsertest"
	"github.com/membersync/membersync/internal/store"
)

// TestBrowserComp grants a comp with the person page's own form as a support operator, at a
// desktop's and a phone's width, checks that the page and its story show it as a comp, saves a
// screenshot, then revokes it with the page's form.
func TestBrowserComp(t *testing.T) {
	for _, vp := range []struct {
		name string
		size browsertest.Viewport
	}{{"desktop", browsertest.Desktop}, {"phone", browsertest.Phone}} {
		t.Run(vp.name, func(t *testing.T) {
			f := newFixture(t, store.SQLite)
			b := &browser{t: t, ctx: browsertest.New(t, vp.size), base: f.srv.URL, phone: vp.size == browsertest.Phone}
			b.signIn(RoleSupport)
			page := fmt.Sprintf("%s/admin/people/%d", b.base, f.personID)
			b.do(chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS("#comp-form")),
				chromedp.SetValue(chromedp.CSS(`#comp-form select[name="plan"]`), "pro"),
				chromedp.SendKeys(chromedp.CSS(`#comp-form input[name="reason"]`), "speaker at the meetup"),
				chromedp.SetValue(chromedp.CSS(`#comp-form input[name="until"]`), "2025-03-31"),
				chromedp.Click(chromedp.CSS(`#comp-form button[type="submit"]`)),
				chromedp.WaitVisible(chromedp.CSS("#comps li")))
			if got := b.text("#flash"); !strings.Contains(got, "Comp granted") {
				t.Errorf("flash: %q", got)
			}
			comps := b.text("#comps")
			for _, want := range []string{"Pro membership", "comp · in force", "support@ops.example.com", "speaker at the meetup", "until 2025-04-01"} {
				if !strings.Contains(comps, want) {
					t.Errorf("comps section lacks %q: %s", want, comps)
				}
			}
			if story := b.text("#story"); !strings.Contains(story, "Comped Pro membership by support@ops.example.com") {
				t.Errorf("story does not tell the comp: %s", story)
			}
			b.do(chromedp.ScrollIntoView(chromedp.CSS("#comps")))
			b.shot("comp-person-page")

			b.do(chromedp.SendKeys(chromedp.CSS(`#comps form input[name="reason"]`), "the talk was canceled"),
				chromedp.Click(chromedp.CSS(`#comps form button[type="submit"]`)),
				// The grant's flash is still on the page until the revoke's answer replaces it:
				// wait for what only the new page has, the revoked comp's pill.
				chromedp.WaitVisible(chromedp.CSS("#comps .pill.off")))
			if comps := b.text("#comps"); !strings.Contains(comps, "comp · revoked") || !strings.Contains(comps, "the talk was canceled") {
				t.Errorf("after revoking: %s", comps)
			}
			if n := len(f.audit("person.comp")) + len(f.audit("person.revoke_comp")); n != 2 {
				t.Errorf("audit entries for the comp and its revocation: got %d, want 2", n)
			}
		})
	}
}
