package admin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/membersync/membersync/internal/browsertest"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/provider/providertest"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// signIn signs the browser in as the role's operator.
func (b *browser) signIn(r Role) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), email(r)),
		chromedp.SendKeys(chromedp.CSS("#password"), passwords[r]),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#health")))
}

// TestBrowserPeopleByPlanAndStage filters the people list by plan and stage with the page's own
// menus, at a desktop's and a phone's width, and saves a screenshot of each filtered list.
func TestBrowserPeopleByPlanAndStage(t *testing.T) {
	for _, vp := range []struct {
		name string
		size browsertest.Viewport
	}{{"desktop", browsertest.Desktop}, {"phone", browsertest.Phone}} {
		t.Run(vp.name, func(t *testing.T) {
			f := newFixture(t, store.SQLite)
			seedList(f)
			f.clock.Advance(1)
			f.addMember("fred@example.com", "Fred", "cus_fred", pro(entitlement.StagePastDue, true), []int64{11}, true)
			f.clock.Advance(1)
			f.addMember("gil@example.com", "Gil", "cus_gil", pro(entitlement.StageGraceExpired, false), []int64{11}, false)
			b := &browser{t: t, ctx: browsertest.New(t, vp.size), base: f.srv.URL, phone: vp.size == browsertest.Phone}
			b.signIn(RoleViewer)

			b.do(chromedp.Navigate(b.base+"/admin/people"), chromedp.WaitVisible(chromedp.CSS("#filters")))
			if got := b.text("#count"); !strings.Contains(got, "7 people") {
				t.Errorf("count before filtering: %q", got)
			}
			b.do(chromedp.SetValue(chromedp.CSS("#plan"), "pro"), chromedp.SetValue(chromedp.CSS("#stage"), "past_due"),
				chromedp.Click(chromedp.CSS("#search")), chromedp.WaitVisible(chromedp.CSS(`#people[data-stage="past_due"]`)))
			list := b.text("#people")
			for _, want := range []string{"bob@example.com", "fred@example.com", "Pro membership · past due"} {
				if !strings.Contains(list, want) {
					t.Errorf("pro past due lacks %q: %s", want, list)
				}
			}
			for _, other := range []string{"ada@example.com", "cy@example.com", "gil@example.com"} {
				if strings.Contains(list, other) {
					t.Errorf("pro past due lists %s", other)
				}
			}
			if got := b.text("#count"); !strings.Contains(got, "2 people match") {
				t.Errorf("count: %q", got)
			}
			if got := b.eval(`document.querySelector("#export").getAttribute("href") === "/admin/people.csv?plan=pro&stage=past_due" ? 1 : 0`); got != 1 {
				t.Error("the export link does not carry the filter")
			}
			b.shot("1-people-pro-past-due")

			// Lapsed members still in the group: what a founder looks for after a refund.
			b.do(chromedp.SetValue(chromedp.CSS("#stage"), "lapsed"), chromedp.SetValue(chromedp.CSS("#only"), "access_not_paid"),
				chromedp.Click(chromedp.CSS("#search")), chromedp.WaitVisible(chromedp.CSS(`#people[data-stage="lapsed"]`)))
			list = b.text("#people")
			if !strings.Contains(list, "cy@example.com") || !strings.Contains(list, "gil@example.com") || strings.Contains(list, "eve@example.com") {
				t.Errorf("lapsed with access: %s", list)
			}
			if !strings.Contains(list, "grace expired") || !strings.Contains(list, "sync pending") {
				t.Errorf("Gil's row does not say grace expired and sync pending: %s", list)
			}
			b.shot("2-people-lapsed-with-access")
		})
	}
}

// TestBrowserOverviewAfterARecoveredOutage shows the overview after a Circle outage that a retry
// recovered, through the real sync and alert rules: green, with the recovered history and the
// resolved alert, at a desktop's and a phone's width.
func TestBrowserOverviewAfterARecoveredOutage(t *testing.T) {
	for _, vp := range []struct {
		name string
		size browsertest.Viewport
	}{{"desktop", browsertest.Desktop}, {"phone", browsertest.Phone}} {
		t.Run(vp.name, func(t *testing.T) {
			w := newWorld(t, storetest.Dialects()[0])
			for _, p := range []struct{ email, name string }{{"dan@example.com", "Dan"}, {"fay@example.com", "Fay"}} {
				if !w.sync(w.buy(p.email, p.name), 1) {
					t.Fatalf("%s did not converge", p.email)
				}
			}
			eve := w.buy("eve@example.com", "Eve")
			w.circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503})
			for attempt := 1; attempt <= 4; attempt++ {
				w.sync(eve, attempt)
			}
			w.evaluate()
			b := &browser{t: t, ctx: browsertest.New(t, vp.size), base: w.srv.URL, phone: vp.size == browsertest.Phone}
			b.signIn(RoleViewer)
			if got := b.text("#health"); !strings.Contains(got, "still failing") {
				t.Errorf("health during the outage: %q", got)
			}
			b.shot("1-overview-during-outage")

			w.circle.Faults.Heal()
			if !w.sync(eve, 5) {
				t.Fatal("the retry did not converge")
			}
			w.now.Advance(time.Minute)
			w.evaluate()
			b.do(chromedp.Navigate(b.base+"/admin"), chromedp.WaitVisible(chromedp.CSS("#health")))
			if got := b.text("#health"); !strings.HasPrefix(got, "Healthy.") || !strings.Contains(got, "1 recovered by retry") {
				t.Errorf("health after the recovery: %q", got)
			}
			if got := b.eval(`document.querySelector("#failures").classList.contains("ok") && document.querySelector("#alerts-tile").classList.contains("ok") && !document.querySelector(".tile.bad") ? 1 : 0`); got != 1 {
				t.Error("a tile is still red, or the failures and alerts tiles did not turn green")
			}
			if got := b.text("#recovered"); !strings.Contains(got, "Recovered by retry") || !strings.Contains(got, "eve@example.com") {
				t.Errorf("recovered history: %q", got)
			}
			if got := b.text("#resolved-alerts"); !strings.Contains(got, "Resolved") || !strings.Contains(got, "Circle sync failures") {
				t.Errorf("resolved alerts: %q", got)
			}
			if got := b.text("#membership"); !strings.Contains(got, "Pro membership") || !strings.Contains(got, "3") {
				t.Errorf("members table: %q", got)
			}
			b.shot("2-overview-recovered")

			// Eve's story tells the recovered failure in words, with nothing left for a person.
			b.do(chromedp.Navigate(fmt.Sprintf("%s/admin/people/%d", b.base, eve)), chromedp.WaitVisible(chromedp.CSS("#story")))
			if got := b.text("#story"); !strings.Contains(got, "Circle was down") || !strings.Contains(got, "retried") || !strings.Contains(got, "Nothing needs you.") {
				t.Errorf("Eve's story after the recovered outage: %q", got)
			}
			b.shot("3-person-story-recovered")
		})
	}
}
