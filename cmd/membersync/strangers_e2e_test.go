package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// strangerWorld is a world with a paying member (ada) and a stranger (stray) added to the managed
// Pro access group by hand in Circle, behind membersync's back.
func strangerWorld(t *testing.T, dialect, yaml string) (*world, string, string) {
	t.Helper()
	w := newWorld(t, worldOptions{dialect: dialect, yaml: yaml})
	const ada, stray = "ada@example.com", "stray@example.com"
	w.stripe.Subscribe(w.stripe.CreateCustomer(ada, "Ada"), w.proPrice, 0)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()
	if !slices.Contains(w.access(ada), w.proGroup) {
		t.Fatal("no access after payment")
	}
	w.circle.CreateMemberDirect(stray, "Stray")
	if err := w.circle.AddToGroupDirect(w.proGroup, stray); err != nil {
		t.Fatal(err)
	}
	return w, ada, stray
}

func strangerItems(t *testing.T, w *world) []store.ReviewItem {
	t.Helper()
	items, err := w.store.Reviews(context.Background(), "open", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.ReviewItem
	for _, it := range items {
		if it.Kind == drift.ReviewStranger {
			out = append(out, it)
		}
	}
	return out
}

// TestE2EStrangerReported: with the default reconcile.unknown_members (report), reconcile --repair
// only reports the stranger, as one review item; its Remove (the admin API, as the button) then
// removes them through the journaled sync, and the paying member keeps access throughout.
func TestE2EStrangerReported(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) { testE2EStrangerReported(t, dialect) })
	}
}

func testE2EStrangerReported(t *testing.T, dialect string) {
	w, ada, stray := strangerWorld(t, dialect, "")

	out, err := runDirect(t, w, cmdReconcile, "--repair")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"unknown_member", stray, "1 unknown", "1 strangers have a review item"} {
		if !strings.Contains(out, want) {
			t.Errorf("reconcile --repair output lacks %q:\n%s", want, out)
		}
	}
	w.settle()
	if !slices.Contains(w.access(stray), w.proGroup) || !slices.Contains(w.access(ada), w.proGroup) {
		t.Fatalf("report mode changed Circle: stray %v, ada %v", w.access(stray), w.access(ada))
	}
	// A second sweep bumps the same item.
	if _, err := runDirect(t, w, cmdReconcile, "--repair"); err != nil {
		t.Fatal(err)
	}
	items := strangerItems(t, w)
	if len(items) != 1 || items[0].Occurrences != 2 || !strings.Contains(items[0].Reason, stray) {
		t.Fatalf("stranger items %+v, want one, seen twice, naming %s", items, stray)
	}
	item := items[0]

	// The operator presses Remove.
	if _, _, err := runCmd(t, w.env(), "users", "add", "ops@example.com", "--role", "support", "--config", w.cfgFile()); err != nil {
		t.Fatal(err)
	}
	tokOut, _, err := runCmd(t, w.env(), "users", "token", "create", "ops@example.com", "--name", "e2e", "--config", w.cfgFile())
	tok := regexp.MustCompile(`mst_[A-Za-z0-9_-]+`).FindString(tokOut)
	if err != nil || tok == "" {
		t.Fatal(err, tokOut)
	}
	call := func(method, path string) (int, string) {
		req, _ := http.NewRequest(method, w.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := call("GET", "/api/v1/review")
	var list struct {
		Items []struct {
			ID     int64
			Kind   string
			Title  string
			Action string `json:"suggested_action"`
		}
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || code != 200 {
		t.Fatalf("review list: %d %s", code, body)
	}
	var titled bool
	for _, it := range list.Items {
		titled = titled || (it.ID == item.ID && strings.Contains(it.Title, "without a plan") && strings.Contains(it.Action, "Remove"))
	}
	if !titled {
		t.Errorf("the stranger's item has no title or suggested action in words: %s", body)
	}
	if code, body := call("POST", fmt.Sprintf("/api/v1/review/%d/remove", item.ID)); code != 200 {
		t.Fatalf("Remove: %d %s", code, body)
	}
	w.settle()
	if slices.Contains(w.access(stray), w.proGroup) {
		t.Error("Remove did not take the stranger out of the Pro group")
	}
	if !slices.Contains(w.access(ada), w.proGroup) {
		t.Error("removing the stranger touched the paying member")
	}
	if items := strangerItems(t, w); len(items) != 0 {
		t.Errorf("open stranger items after Remove: %+v", items)
	}
	journalHasCall(t, w, item.PersonID, "circle:remove_access_group")

	out, err = runDirect(t, w, cmdReconcile)
	if err != nil || !strings.Contains(out, "0 drifted, 0 unknown") {
		t.Errorf("after Remove: %v\n%s", err, out)
	}
	w.noDuplicates()
}

// TestE2EStrangerRemoved: with reconcile.unknown_members: remove, a dry run still changes nothing,
// and reconcile --repair removes the stranger through the journaled sync.
func TestE2EStrangerRemoved(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) { testE2EStrangerRemoved(t, dialect) })
	}
}

func testE2EStrangerRemoved(t *testing.T, dialect string) {
	w, ada, stray := strangerWorld(t, dialect, "reconcile:\n  unknown_members: remove\n")

	out, err := runDirect(t, w, cmdReconcile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, stray) || !strings.Contains(out, "1 unknown") {
		t.Errorf("dry run output:\n%s", out)
	}
	w.settle()
	if !slices.Contains(w.access(stray), w.proGroup) || len(strangerItems(t, w)) != 0 {
		t.Fatal("a dry run removed the stranger or opened an item")
	}

	out, err = runDirect(t, w, cmdReconcile, "--repair")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Queued the removal of 1 strangers") {
		t.Errorf("reconcile --repair output:\n%s", out)
	}
	w.settle()
	if slices.Contains(w.access(stray), w.proGroup) {
		t.Fatal("reconcile --repair did not remove the stranger")
	}
	if !slices.Contains(w.access(ada), w.proGroup) {
		t.Error("removing the stranger touched the paying member")
	}
	if items := strangerItems(t, w); len(items) != 0 {
		t.Errorf("remove mode opened stranger items: %+v", items)
	}
	pid, err := w.store.PersonIDByEmail(context.Background(), stray)
	if err != nil {
		t.Fatal(err)
	}
	journalHasCall(t, w, pid, "circle:remove_access_group")

	out, err = runDirect(t, w, cmdReconcile, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep drift.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Differences) != 0 || rep.Unknown != 0 {
		t.Errorf("after the removal: %v %+v", err, rep.Differences)
	}
	w.noDuplicates()
}

// journalHasCall fails unless the person's journal holds a successful provider call of action.
func journalHasCall(t *testing.T, w *world, pid int64, action string) {
	t.Helper()
	entries, err := w.store.Journal(context.Background(), pid)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Kind == "call" && e.Action == action && e.Result == "ok" {
			return
		}
	}
	t.Errorf("person %d's journal has no successful %s: %+v", pid, action, entries)
}
