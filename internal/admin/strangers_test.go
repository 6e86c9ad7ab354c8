package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestStrangerRemove: a stranger's review item shows Remove and Comp to support and above; Remove
// needs the CSRF token, calls RemoveStranger with the operator, resolves the item, and leaves an
// audit entry and a journal step; a stranger no sweep lists any more is a 409 and the item stays
// open; Remove on another kind of item is refused.
func TestStrangerRemove(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			var mu sync.Mutex
			var calls []string
			gone := map[int64]bool{}
			f := newFixture(t, dialect, func(d *Deps) {
				d.RemoveStranger = func(ctx context.Context, personID int64, by string) error {
					mu.Lock()
					defer mu.Unlock()
					if gone[personID] {
						return fmt.Errorf("reading the report: %w", drift.ErrNoStranger)
					}
					calls = append(calls, fmt.Sprintf("%d by %s", personID, by))
					return nil
				}
			})
			stranger := func(email string) (pid, itemID int64) {
				t.Helper()
				err := f.st.InTx(ctx, func(tx *store.Tx) error {
					var err error
					pid, _, err = tx.PersonForEmail(ctx, email)
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := f.st.OpenReview(ctx, store.ReviewItem{PersonID: pid, Kind: drift.ReviewStranger,
					Reason: email + " is in Circle access group 11 with no plan and no comp"}); err != nil {
					t.Fatal(err)
				}
				items, err := f.st.Reviews(ctx, "open", pid, 1)
				if err != nil || len(items) != 1 {
					t.Fatalf("the stranger's item: %v %v", items, err)
				}
				return pid, items[0].ID
			}
			evePID, eveItem := stranger("eve@example.com")
			malPID, malItem := stranger("mallory@example.com")
			gone[malPID] = true

			support := f.login(RoleSupport)
			_, page := support.get("/admin/review")
			remove := fmt.Sprintf(`action="/admin/review/%d/remove"`, eveItem)
			comp := fmt.Sprintf(`href="/admin/people/%d#comps"`, evePID)
			if !strings.Contains(page, remove) || !strings.Contains(page, comp) || !strings.Contains(page, "without a plan or a comp") {
				t.Fatalf("the review page lacks the stranger's Remove, Comp or title:\n%s", page)
			}
			if strings.Contains(page, fmt.Sprintf(`action="/admin/review/%d/retry"`, eveItem)) {
				t.Error("a stranger's item offers Retry, which does nothing for them")
			}
			if _, page := f.login(RoleViewer).get("/admin/review"); strings.Contains(page, remove) {
				t.Error("a viewer sees Remove")
			}

			path := fmt.Sprintf("/admin/review/%d/remove", eveItem)
			if resp, _ := support.postForm(path, url.Values{"csrf": {""}}); resp.StatusCode != http.StatusForbidden {
				t.Errorf("Remove without the CSRF token: %d, want 403", resp.StatusCode)
			}
			if resp, _ := f.login(RoleViewer).postForm(path, nil); resp.StatusCode != http.StatusForbidden {
				t.Errorf("Remove as a viewer: %d, want 403", resp.StatusCode)
			}
			if len(calls) != 0 {
				t.Fatalf("refused requests removed: %v", calls)
			}
			resp, _ := support.postForm(path, url.Values{"back": {"/admin/review"}})
			if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "m=removed") {
				t.Fatalf("Remove: %d %s", resp.StatusCode, resp.Header.Get("Location"))
			}
			if want := fmt.Sprintf("%d by %s", evePID, email(RoleSupport)); len(calls) != 1 || calls[0] != want {
				t.Errorf("RemoveStranger calls %v, want [%s]", calls, want)
			}
			it, err := f.st.Review(ctx, eveItem)
			if err != nil || it.Status != "resolved" || it.ResolvedBy != email(RoleSupport) {
				t.Errorf("eve's item after Remove: %+v %v", it, err)
			}
			if a := f.audit("review.remove_stranger"); len(a) != 1 || a[0].PersonID != evePID {
				t.Errorf("audit: %+v", a)
			}
			entries, err := f.st.Journal(ctx, evePID)
			if err != nil {
				t.Fatal(err)
			}
			var journaled bool
			for _, e := range entries {
				journaled = journaled || (e.Kind == "admin" && e.Action == "remove_stranger")
			}
			if !journaled {
				t.Errorf("no admin remove_stranger step in eve's journal: %+v", entries)
			}
			if resp, _ := support.postForm(path, nil); resp.StatusCode != http.StatusConflict {
				t.Errorf("Remove twice: %d, want 409", resp.StatusCode)
			}

			// Mallory left since the sweep: nothing to remove, the item stays open.
			api := f.withToken(RoleSupport, RoleSupport)
			resp, body := api.postJSON(fmt.Sprintf("/api/v1/review/%d/remove", malItem), map[string]string{})
			if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "no_stranger") {
				t.Errorf("API Remove of a stranger gone: %d %s", resp.StatusCode, body)
			}
			if it, _ := f.st.Review(ctx, malItem); it.Status != "open" {
				t.Errorf("mallory's item is %s, want open", it.Status)
			}
			// Another kind of item has no Remove.
			resp, body = api.postJSON(fmt.Sprintf("/api/v1/review/%d/remove", f.itemID), map[string]string{})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not_stranger") {
				t.Errorf("API Remove of a %q item: %d %s", "action_failed", resp.StatusCode, body)
			}
		})
	}
}
