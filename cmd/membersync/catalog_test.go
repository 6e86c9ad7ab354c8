package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/queue"
)

// TestCatalogNames: serve caches the providers' names before it serves and shows them in the
// settings API; `catalog` prints every access group, tag, sequence and price with the plans that
// manage them (as a table and as JSON); `check` refreshes the names; `trace` names what it shows;
// serve runs the hourly refresh job.
func TestCatalogNames(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ctx := context.Background()

	t.Run("serve refreshes at start", func(t *testing.T) {
		names, err := catalog.Load(ctx, w.store)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct{ got, want string }{
			{names.AccessGroup(w.proGroup), "Pro members"},
			{names.Tag(w.tagPastDue), "pro-past-due"},
			{names.Sequence(w.seqRetention), "Sorry to see you go"},
			{names.Price(w.proPrice), "Pro membership ($29/month)"},
			{names.Price(w.coursePrice), "Lifetime course ($199)"},
		} {
			if tt.got != tt.want {
				t.Errorf("cached when serve is ready: %q, want %q", tt.got, tt.want)
			}
		}
	})

	t.Run("the settings API names the plans' ids", func(t *testing.T) {
		if _, _, err := runCmd(t, w.env(), "users", "add", "viewer@example.com", "--role", "viewer", "--config", w.cfgFile()); err != nil {
			t.Fatal(err)
		}
		out, _, err := runCmd(t, w.env(), "users", "token", "create", "viewer@example.com", "--name", "names", "--config", w.cfgFile())
		tok := regexp.MustCompile(`mst_[A-Za-z0-9_-]+`).FindString(out)
		if err != nil || tok == "" {
			t.Fatal(err, out)
		}
		req, _ := http.NewRequest("GET", w.url+"/api/v1/settings", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, want := range []string{`"name": "Pro members"`, `"name": "Welcome to Pro"`, `"name": "Pro membership ($29/month)"`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("settings API lacks %s:\n%.2000s", want, body)
			}
		}
	})

	t.Run("catalog prints every id with its name", func(t *testing.T) {
		w.circle.AddAccessGroup("Alumni") // not managed
		out, _, err := runCmd(t, w.env(), "catalog", "--config", w.cfgFile())
		if err != nil {
			t.Fatalf("catalog: %v\n%s", err, out)
		}
		lines := strings.Split(out, "\n")
		if !regexp.MustCompile(`^KIND\s+ID\s+NAME\s+DETAIL\s+MANAGED BY$`).MatchString(lines[0]) {
			t.Errorf("header %q", lines[0])
		}
		for _, re := range []string{
			fmt.Sprintf(`(?m)^circle access group\s+%d\s+Pro members\s+pro$`, w.proGroup),
			`(?m)^circle access group\s+\d+\s+Alumni\s+-$`,
			fmt.Sprintf(`(?m)^kit tag\s+%d\s+pro-active\s+pro \(active, trialing\)$`, w.tagActive),
			fmt.Sprintf(`(?m)^kit tag\s+%d\s+pro-canceled\s+pro \(canceled, canceling, grace_expired\)$`, w.tagCanceled),
			fmt.Sprintf(`(?m)^kit tag\s+%d\s+course-buyer\s+course \(active\)$`, w.tagCourse),
			fmt.Sprintf(`(?m)^kit sequence\s+%d\s+Welcome to Pro\s+pro \(onboarding\)$`, w.seqOnboarding),
			fmt.Sprintf(`(?m)^stripe price\s+%s\s+Pro membership\s+\$29/month\s+pro$`, w.proPrice),
			fmt.Sprintf(`(?m)^stripe price\s+%s\s+Lifetime course\s+\$199\s+course$`, w.coursePrice),
		} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("output lacks a line matching %s:\n%s", re, out)
			}
		}
		// The columns line up.
		col := strings.Index(lines[0], "NAME")
		for _, l := range lines[1:] {
			if l != "" && (len(l) < col || l[col-1] != ' ' || l[col] == ' ') {
				t.Errorf("line %q does not start its name at column %d", l, col)
			}
		}
		if strings.Contains(out, "no provider listed") {
			t.Errorf("every configured id exists, yet some are reported unlisted:\n%s", out)
		}

		out, _, err = runCmd(t, w.env(), "catalog", "--json", "--config", w.cfgFile())
		if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			AccessGroups []struct {
				ID        int64    `json:"id"`
				Name      string   `json:"name"`
				ManagedBy []string `json:"managed_by"`
			} `json:"access_groups"`
			Prices []struct {
				ID, Name, Detail, Product string
				ManagedBy                 []string `json:"managed_by"`
			} `json:"prices"`
			Sequences []struct {
				ID   int64  `json:"id"`
				Name string `json:"name"`
			} `json:"sequences"`
			Unlisted []string `json:"unlisted"`
			Errors   []any    `json:"errors"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if len(rep.AccessGroups) != 3 || rep.AccessGroups[0].ID != w.proGroup || rep.AccessGroups[0].Name != "Pro members" ||
			!slices.Equal(rep.AccessGroups[0].ManagedBy, []string{"pro"}) || len(rep.AccessGroups[2].ManagedBy) != 0 {
			t.Errorf("access_groups %+v", rep.AccessGroups)
		}
		if len(rep.Prices) != 2 || len(rep.Sequences) != 2 || len(rep.Unlisted) != 0 || len(rep.Errors) != 0 {
			t.Errorf("prices %+v, sequences %+v, unlisted %v, errors %v", rep.Prices, rep.Sequences, rep.Unlisted, rep.Errors)
		}
		for _, p := range rep.Prices {
			if p.ID == w.proPrice && (p.Detail != "$29/month" || p.Product == "" || !slices.Equal(p.ManagedBy, []string{"pro"})) {
				t.Errorf("the Pro price: %+v", p)
			}
		}
	})

	t.Run("catalog reports ids the config names but no provider lists, and lists that fail", func(t *testing.T) {
		cfg, err := os.ReadFile(w.cfgFile())
		if err != nil {
			t.Fatal(err)
		}
		missing := strings.Replace(string(cfg), "access_groups: [", "access_groups: [999999, ", 1)
		path := t.TempDir() + "/missing.yaml"
		os.WriteFile(path, []byte(missing), 0o600)
		bad := maps.Clone(w.env())
		bad["KIT_API_KEY"] = "kit_wrong"
		out, _, err := runCmd(t, bad, "catalog", "--config", path)
		if exitCode(err) != 1 {
			t.Errorf("a refused Kit key: exit %d, want 1\n%s", exitCode(err), out)
		}
		for _, want := range []string{"plan pro: access group 999999", "kit tags: config (HTTP 401)", "kit sequences: config (HTTP 401)", "Pro members", "Lifetime course"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		if strings.Contains(out, "kit_wrong") {
			t.Error("catalog printed the key")
		}
		// Kit's cached names stayed.
		names, err := catalog.Load(ctx, w.store)
		if err != nil || names.Tag(w.tagActive) != "pro-active" {
			t.Errorf("after a failed Kit list: %q, %v; want the cached name", names.Tag(w.tagActive), err)
		}
	})

	t.Run("check refreshes the names", func(t *testing.T) {
		if err := w.circle.RenameAccessGroup(w.courseGroup, "Course alumni"); err != nil {
			t.Fatal(err)
		}
		out, _, err := runCmd(t, w.env(), "check", "--config", w.cfgFile())
		if err != nil {
			t.Fatalf("check: %v\n%s", err, out)
		}
		if !strings.Contains(out, "names       ok   cached the names of 3 access groups, 4 tags, 2 sequences, 2 prices, 2 products") {
			t.Errorf("check output lacks the names line:\n%s", out)
		}
		names, _ := catalog.Load(ctx, w.store)
		if got := names.AccessGroup(w.courseGroup); got != "Course alumni" {
			t.Errorf("after check: %q", got)
		}
	})

	t.Run("trace names what it shows", func(t *testing.T) {
		cus := w.stripe.CreateCustomer("ada@example.com", "Ada")
		w.stripe.Subscribe(cus, w.proPrice, 0)
		w.deliver(stripetest.DeliveryOptions{})
		w.settle()
		out, _, err := runCmd(t, w.env(), "trace", "--config", w.cfgFile(), "ada@example.com")
		if err != nil {
			t.Fatalf("trace: %v\n%s", err, out)
		}
		for _, want := range []string{
			fmt.Sprintf(`circle access_group "Pro members" (#%d)`, w.proGroup),
			fmt.Sprintf(`kit tag "pro-active" (#%d)`, w.tagActive),
			fmt.Sprintf(`access_group "Pro members" (#%d)`, w.proGroup),
		} {
			if !strings.Contains(out, want) {
				t.Errorf("trace lacks %s:\n%s", want, out)
			}
		}
	})

	t.Run("serve runs the refresh job", func(t *testing.T) {
		q, err := queue.New(w.store, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := q.Insert(ctx, catalog.RefreshArgs{}, &river.InsertOpts{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			var state string
			err := w.store.SQLDB().QueryRowContext(ctx, "SELECT state FROM river_job WHERE kind = 'catalog_refresh' ORDER BY id DESC LIMIT 1").Scan(&state)
			if err == nil && state == "completed" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the catalog_refresh job did not complete (state %q, %v):\n%s", state, err, w.store.DebugJobs(ctx))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
