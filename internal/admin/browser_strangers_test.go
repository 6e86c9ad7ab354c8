package admin

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/membersync/membersync/internal/browsertest"
	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/store"
)

// TestBrowserStrangerRemove drives a stranger's review item at a desktop's and a phone's width:
// the card says what happened and what to do in words, offers Remove and Comp, and Remove resolves
// it (the stub stands in for drift.RemoveStranger, which the cmd/membersync end-to-end test runs
// for real) and lands in the audit log. It saves a screenshot of each step.
func TestBrowserStrangerRemove(t *testing.T) {
	for _, vp := range []struct {
		name string
		size browsertest.Viewport
	}{{"desktop", browsertest.Desktop}, {"phone", browsertest.Phone}} {
		t.Run(vp.name, func(t *testing.T) {
			ctx := context.Background()
			var removed []int64
			f := newFixture(t, store.SQLite, func(d *Deps) {
				d.RemoveStranger = func(ctx context.Context, personID int64, by string) error {
					removed = append(removed, personID)
					return nil
				}
			})
			var pid int64
			if err := f.st.InTx(ctx, func(tx *store.Tx) error {
				var err error
				pid, _, err = tx.PersonForEmail(ctx, "stray@example.com")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.st.OpenReview(ctx, store.ReviewItem{PersonID: pid, Kind: drift.ReviewStranger,
				Reason: "stray@example.com is in Circle access group 11 with no plan and no comp (someone added them by hand, or membersync never granted it)."}); err != nil {
				t.Fatal(err)
			}
			items, err := f.st.Reviews(ctx, "open", pid, 1)
			if err != nil || len(items) != 1 {
				t.Fatal(items, err)
			}
			card := fmt.Sprintf("#review-%d", items[0].ID)

			b := &browser{t: t, ctx: browsertest.New(t, vp.size), base: f.srv.URL, phone: vp.size == browsertest.Phone}
			b.do(chromedp.Navigate(b.base+"/login"), chromedp.WaitVisible(chromedp.CSS("#email")),
				chromedp.SendKeys(chromedp.CSS("#email"), email(RoleSupport)),
				chromedp.SendKeys(chromedp.CSS("#password"), passwords[RoleSupport]),
				chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#health")))

			b.do(chromedp.Navigate(b.base+"/admin/review"), chromedp.WaitVisible(chromedp.CSS(card)))
			got := b.text(card)
			for _, want := range []string{"without a plan or a comp", "Press Remove", "stray@example.com", "Remove", "Comp"} {
				if !strings.Contains(got, want) {
					t.Errorf("the stranger's card lacks %q: %s", want, got)
				}
			}
			if b.count(card+` a.comp[href="/admin/people/`+fmt.Sprint(pid)+`#comps"]`) != 1 || b.count(card+" button.retry") != 0 {
				t.Error("the card's Comp does not link to the person's comps, or it offers Retry")
			}
			b.shot("stranger-1-review")

			b.do(chromedp.Click(chromedp.CSS(card+" button.remove")), chromedp.WaitVisible(chromedp.CSS("#flash")))
			if got := b.text("#flash"); !strings.Contains(got, "remove the stranger") {
				t.Errorf("flash after Remove: %q", got)
			}
			if b.count(card) != 0 || len(removed) != 1 || removed[0] != pid {
				t.Errorf("after Remove: card still shown (%d) or removals %v, want [%d]", b.count(card), removed, pid)
			}
			b.shot("stranger-2-removed")

			b.do(chromedp.Navigate(b.base+"/admin/audit"), chromedp.WaitVisible(chromedp.CSS("#audit")))
			if got := b.text("#audit"); !strings.Contains(got, "review.remove_stranger") {
				t.Errorf("audit log lacks the removal: %s", got)
			}
			b.shot("stranger-3-audit")
		})
	}
}
