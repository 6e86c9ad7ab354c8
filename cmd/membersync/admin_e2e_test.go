package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/identity"
)

func TestE2EAdminResyncRunsTheEngine(t *testing.T) {
	w := newWorld(t, worldOptions{})
	cus := w.stripe.CreateCustomer("ada@example.com", "Ada")
	w.stripe.Subscribe(cus, w.proPrice, 0)
	w.deliver(stripetest.DeliveryOptions{})
	w.settle()

	if _, _, err := runCmd(t, w.env(), "users", "add", "ops@example.com", "--role", "support", "--config", w.cfgFile()); err != nil {
		t.Fatal(err)
	}
	out, _, err := runCmd(t, w.env(), "users", "token", "create", "ops@example.com", "--name", "e2e", "--config", w.cfgFile())
	tok := regexp.MustCompile(`mst_[A-Za-z0-9_-]+`).FindString(out)
	if err != nil || tok == "" {
		t.Fatal(err, out)
	}
	pid, err := w.store.PersonIDByEmail(context.Background(), identity.NormalizeEmail("ada@example.com"))
	if err != nil {
		t.Fatal(err)
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
	if code, body := call("POST", fmt.Sprintf("/api/v1/people/%d/resync", pid)); code != 202 {
		t.Fatalf("resync: %d %s", code, body)
	}
	w.settle()
	code, body := call("GET", fmt.Sprintf("/api/v1/people/%d/journey", pid))
	var j struct {
		Timeline []struct{ Kind, What, Result string }
	}
	json.Unmarshal([]byte(body), &j)
	var found bool
	for _, s := range j.Timeline {
		if s.Kind == "sync" && strings.Contains(s.What, "resync") && strings.HasPrefix(s.Result, "converged") {
			found = true
		}
	}
	if code != 200 || !found {
		t.Errorf("no converged resync in the journey: %d %s", code, body)
	}
	code, body = call("GET", fmt.Sprintf("/api/v1/people/%d", pid))
	if code != 200 || !strings.Contains(body, `"entitled": true`) || !strings.Contains(body, `"applied": true`) {
		t.Errorf("person: %d %s", code, body)
	}
	code, body = call("POST", "/api/v1/settings/check")
	t.Logf("checks: %s", body)
	if code != 200 || strings.Count(body, `"ok": true`) != 3 {
		t.Errorf("checks: %d %s", code, body)
	}
	code, body = call("GET", "/api/v1/overview")
	if code != 200 || !strings.Contains(body, `"people": 1`) {
		t.Errorf("overview: %d %.600s", code, body)
	}
}
