package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// storyNames is a catalog of the founder's names for the fixture's ids.
type storyNames struct{}

func (storyNames) AccessGroup(id int64) string {
	if id == 11 {
		return "Pro members"
	}
	return fmt.Sprintf("access group %d", id)
}

func (storyNames) Tag(id int64) string {
	if id == 21 {
		return "pro-active"
	}
	return fmt.Sprintf("tag %d", id)
}

func (storyNames) Sequence(id int64) string { return fmt.Sprintf("sequence %d", id) }
func (storyNames) Price(id string) string   { return "price " + id }

var tags = regexp.MustCompile(`<[^>]*>`)

// pageText is a page's text, tags removed and entities decoded, spaces collapsed.
func pageText(body string) string {
	return strings.Join(strings.Fields(html.UnescapeString(tags.ReplaceAllString(body, " "))), " ")
}

// TestPersonPageTellsTheStory: the person page opens with the story, names and all, and folds the
// raw timeline underneath; the API gives the same story.
func TestPersonPageTellsTheStory(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect, func(d *Deps) { d.Names = storyNames{} })
			c := f.login(RoleViewer)
			resp, body := c.get(fmt.Sprintf("/admin/people/%d", f.personID))
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("person page: %d", resp.StatusCode)
			}
			story, raw := strings.Index(body, `id="story"`), strings.Index(body, `<details id="raw">`)
			if story < 0 || raw < 0 || story > strings.Index(body, `class="facts"`) || raw > strings.Index(body, `id="timeline"`) {
				t.Fatalf("want the story on top and the timeline folded in <details id=\"raw\"> (story at %d, raw at %d):\n%s", story, raw, body)
			}
			text := pageText(body[story : strings.Index(body[story:], "</section>")+story])
			for _, want := range []string{
				"Stripe updated the subscription on 1 Mar 12:00 → Circle access granted (Pro members) 0.7 s later",
				fmt.Sprintf("Kit tagging failing since 1 Mar 12:00 (refused, HTTP 502): review item #%d — check it in Kit", f.itemID),
				"This needs you.",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("story lacks %q:\n%s", want, text)
				}
			}
			if !strings.Contains(body, fmt.Sprintf(`<a href="#review-%d">See the item</a>`, f.itemID)) {
				t.Error("the story does not link to the review item it names")
			}

			var api struct {
				Story struct {
					Lines []struct {
						Text     string `json:"text"`
						Tone     string `json:"tone"`
						ReviewID int64  `json:"review_id"`
					} `json:"lines"`
					NeedsYou bool `json:"needs_you"`
					Settled  bool `json:"settled"`
				} `json:"story"`
			}
			for _, path := range []string{fmt.Sprintf("/api/v1/people/%d", f.personID), fmt.Sprintf("/api/v1/people/%d/journey", f.personID)} {
				_, b := c.get(path)
				if err := json.Unmarshal([]byte(b), &api); err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				s := api.Story
				if !s.NeedsYou || s.Settled || len(s.Lines) != 2 || s.Lines[0].ReviewID != f.itemID || s.Lines[0].Tone != "bad" {
					t.Errorf("%s: story %+v", path, s)
				}
			}
		})
	}
}

// TestPersonStoryAfterTheFix: once the item is resolved and a sync converges, the story says
// nothing needs you.
func TestPersonStoryAfterTheFix(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0], func(d *Deps) { d.Names = storyNames{} })
	ctx := context.Background()
	c := f.login(RoleSupport)
	if resp, body := c.postJSON(fmt.Sprintf("/api/v1/review/%d/resolve", f.itemID), map[string]string{"note": "tagged by hand"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("resolve: %d %s", resp.StatusCode, body)
	}
	f.clock.Advance(time.Minute)
	for _, e := range []store.JournalEntry{
		{At: f.clock.Now().Add(100 * time.Millisecond), Kind: "call", Action: "kit:tag_subscriber", Target: "tag:21", Result: "ok", Status: 201},
		{At: f.clock.Now().Add(200 * time.Millisecond), Kind: "sync", Action: "sync", Target: "retry", Result: "converged", Duration: 150 * time.Millisecond},
	} {
		e.PersonID = f.personID
		if err := f.st.AppendJournal(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.RecordApplied(ctx, store.Applied{PersonID: f.personID, Provider: store.ProviderKit, Kind: store.KindTag, TargetID: 21, Email: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.RecordApplied(ctx, store.Applied{PersonID: f.personID, Provider: store.ProviderKit, Kind: store.KindSequence, TargetID: 31, Email: "ada@example.com"}); err != nil {
		t.Fatal(err)
	}
	st, err := f.st.StartSync(ctx, f.personID)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.FinishSync(ctx, f.personID, st.Generation); err != nil {
		t.Fatal(err)
	}
	_, body := c.get(fmt.Sprintf("/admin/people/%d", f.personID))
	text := pageText(body[strings.Index(body, `id="story"`):strings.Index(body, `class="facts"`)])
	for _, want := range []string{
		// The fixture's failed tag, recovered by the later sync.
		"→ Kit refused to tag them pro-active at 12:00; membersync retried: tagged pro-active at 12:01 (1 min later).",
		"Nothing needs you.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("story lacks %q:\n%s", want, text)
		}
	}
}

// TestEventPageSaysWhatItCaused: the event page opens with what the event caused and folds the
// syncs' raw calls underneath; the API carries both.
func TestEventPageSaysWhatItCaused(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			f := newFixture(t, dialect, func(d *Deps) { d.Names = storyNames{} })
			ctx := context.Background()
			c := f.login(RoleViewer)
			_, body := c.get("/admin/events/" + f.eventID)
			caused, raw := strings.Index(body, `id="caused"`), strings.Index(body, `<details id="caused-raw">`)
			if caused < 0 || raw < 0 || caused > strings.Index(body, `id="payload"`) {
				t.Fatalf("want what it caused above the payload, the raw calls folded:\n%s", body)
			}
			text := pageText(body[caused:raw])
			for _, want := range []string{
				"The sync that covered it ran at 1 Mar 12:00:00 (0.7 s after it arrived, for 1.4 s): Circle access granted (Pro members), then Kit refused to tag them pro-active; the sync failed (kit answered 502) and retries.",
				"membersync is still retrying.",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("caused lacks %q:\n%s", want, text)
				}
			}
			if rawText := pageText(body[raw:]); !strings.Contains(rawText, "circle:add_access_group 11") || !strings.Contains(rawText, "kit:tag_subscriber 21") {
				t.Errorf("raw calls: %s", rawText)
			}

			var api struct {
				Caused      []struct{ Text string } `json:"caused"`
				CausedSteps []struct {
					Kind string `json:"kind"`
					What string `json:"what"`
				} `json:"caused_steps"`
			}
			_, b := c.get("/api/v1/events/" + f.eventID)
			if err := json.Unmarshal([]byte(b), &api); err != nil {
				t.Fatal(err)
			}
			if len(api.Caused) != 2 || len(api.CausedSteps) != 3 || api.CausedSteps[2].Kind != "sync" {
				t.Errorf("API: %+v", api)
			}

			// An event type membersync ignores says so.
			if err := f.st.InTx(ctx, func(tx *store.Tx) error {
				_, err := tx.IngestEvent(ctx, store.Event{ID: "evt_up", Type: "invoice.upcoming", CustomerID: "cus_ada", Created: f.clock.Now(), Payload: []byte(`{}`)})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			_, body = c.get("/admin/events/evt_up")
			if !strings.Contains(pageText(body), "membersync does not act on invoice.upcoming events") || strings.Contains(body, "caused-raw") {
				t.Errorf("ignored event page:\n%s", body)
			}
		})
	}
}

// TestReviewPageShowsTitlesAndActions: each item reads as a title and what to do, its code below.
func TestReviewPageShowsTitlesAndActions(t *testing.T) {
	f := newFixture(t, storetest.Dialects()[0], func(d *Deps) { d.Names = storyNames{} })
	ctx := context.Background()
	if _, err := f.st.OpenReview(ctx, store.ReviewItem{PersonID: f.personID, Kind: "credentials", ActionKey: "circle", Reason: "circle rejected membersync's credentials"}); err != nil {
		t.Fatal(err)
	}
	c := f.login(RoleViewer)
	_, body := c.get("/admin/review")
	text := pageText(body)
	for _, want := range []string{
		fmt.Sprintf("#%d Kit refused to tag them pro-active", f.itemID),
		"What to do: Check it in Kit (does it still exist? is the email valid?) and in the plan mapping, then press Retry.",
		"Circle refused membersync's credentials",
		"What to do: Fix CIRCLE_API_TOKEN in the environment",
		"action_failed · kit:tag:21", // the code, below
	} {
		if !strings.Contains(text, want) {
			t.Errorf("review page lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(body, "<strong>#1 action_failed</strong>") {
		t.Error("the item is still titled by its code")
	}
	var api struct {
		Items []struct {
			Kind   string `json:"kind"`
			Title  string `json:"title"`
			Action string `json:"suggested_action"`
		} `json:"items"`
	}
	_, b := c.get("/api/v1/review")
	if err := json.Unmarshal([]byte(b), &api); err != nil {
		t.Fatal(err)
	}
	if len(api.Items) != 2 {
		t.Fatalf("items: %+v", api.Items)
	}
	for _, it := range api.Items {
		if it.Title == "" || it.Action == "" || strings.Contains(it.Title, "_") {
			t.Errorf("item %s: title %q, action %q", it.Kind, it.Title, it.Action)
		}
	}
	// The resolved tab shows no suggestion: nothing is left to do.
	c2 := f.login(RoleSupport)
	if resp, b := c2.postJSON(fmt.Sprintf("/api/v1/review/%d/resolve", f.itemID), map[string]string{"note": "done"}); resp.StatusCode != http.StatusOK {
		t.Fatalf("resolve: %d %s", resp.StatusCode, b)
	}
	_, body = c.get("/admin/review?status=resolved")
	if !strings.Contains(pageText(body), "Kit refused to tag them pro-active") || strings.Contains(body, "What to do:") {
		t.Errorf("resolved tab:\n%s", pageText(body))
	}
}
