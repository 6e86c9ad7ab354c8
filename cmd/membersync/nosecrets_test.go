package main

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/membersync/membersync/internal/config"
)

// countingProxy forwards every request to target, one of the fakes, and counts them.
func countingProxy(t *testing.T, target string) (string, *atomic.Int64) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// TestCommandsWithoutSecrets: check, reconcile, backfill and serve with keys missing say which
// variables to set and never call a provider with an empty key; the fakes, reached through
// counting proxies, see no request from them.
func TestCommandsWithoutSecrets(t *testing.T) {
	w := newWorld(t, worldOptions{})
	cfg, err := os.ReadFile(w.cfgFile())
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]*atomic.Int64{}
	yaml := string(cfg)
	for _, name := range []string{"stripe", "circle", "kit"} {
		re := regexp.MustCompile(name + `: \{base_url: "([^"]+)"`)
		m := re.FindStringSubmatch(yaml)
		if m == nil {
			t.Fatalf("no %s.base_url in the world's config:\n%s", name, yaml)
		}
		proxy, n := countingProxy(t, m[1])
		counts[name] = n
		yaml = re.ReplaceAllString(yaml, name+`: {base_url: "`+proxy+`"`)
	}
	path := t.TempDir() + "/proxied.yaml"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	calls := func() map[string]int64 {
		out := map[string]int64{}
		for k, n := range counts {
			out[k] = n.Swap(0)
		}
		return out
	}

	// With every secret, check reaches each fake through its proxy: the counters count.
	out, _, err := runCmd(t, w.env(), "check", "--config", path)
	if err != nil {
		t.Fatalf("check with every secret: %v\n%s", err, out)
	}
	for name, n := range calls() {
		if n == 0 {
			t.Errorf("check with every secret made no %s call: the proxy does not count", name)
		}
	}

	// No environment at all: check lists every missing variable and calls nothing.
	out, _, err = runCmd(t, map[string]string{}, "check", "--config", path)
	if exitCode(err) != 1 {
		t.Errorf("check without secrets: exit %d, want 1\n%s", exitCode(err), out)
	}
	for _, want := range []string{
		"secrets     FAIL",
		config.EnvStripeSecretKey + ": not set", config.EnvStripeWebhookSecret + ": not set",
		config.EnvCircleAPIToken + ": not set", config.EnvKitAPIKey + ": not set", config.EnvSigningKey + ": not set",
		"stripe      FAIL not called: " + config.EnvStripeSecretKey + " is not set",
		"circle      FAIL not called: " + config.EnvCircleAPIToken + " is not set",
		"kit         FAIL not called: " + config.EnvKitAPIKey + " is not set",
		"names       SKIP not refreshed: " + config.EnvStripeSecretKey + ", " + config.EnvCircleAPIToken + ", " + config.EnvKitAPIKey + " not set",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check without secrets: output lacks %q:\n%s", want, out)
		}
	}
	for name, n := range calls() {
		if n != 0 {
			t.Errorf("check without secrets made %d %s call(s)", n, name)
		}
	}

	// One key missing: the other providers are still checked, that one is not called.
	noCircle := maps.Clone(w.env())
	delete(noCircle, config.EnvCircleAPIToken)
	out, _, err = runCmd(t, noCircle, "check", "--config", path)
	if exitCode(err) != 1 || !strings.Contains(out, "circle      FAIL not called") || !strings.Contains(out, "kit         ok") {
		t.Errorf("check without the Circle token: exit %d\n%s", exitCode(err), out)
	}
	if got := calls(); got["circle"] != 0 || got["stripe"] == 0 || got["kit"] == 0 {
		t.Errorf("check without the Circle token: calls %v, want none to Circle and some to the others", got)
	}

	// The commands that call providers refuse before any call, naming what to set.
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"reconcile"}, []string{config.EnvStripeSecretKey, config.EnvCircleAPIToken, config.EnvKitAPIKey + " (or " + config.EnvKitOAuthToken + ")"}},
		{[]string{"reconcile", "--from-stripe"}, []string{config.EnvStripeSecretKey}},
		{[]string{"backfill", "--since", "24h", "--dry-run"}, []string{config.EnvStripeSecretKey}},
		{[]string{"backfill", "--check"}, []string{config.EnvStripeSecretKey}},
		{[]string{"serve"}, []string{config.EnvStripeSecretKey, config.EnvStripeWebhookSecret, config.EnvCircleAPIToken, config.EnvKitAPIKey, config.EnvSigningKey}},
	} {
		args := append(tt.args, "--config", path)
		_, _, err := runCmd(t, map[string]string{}, args...)
		if err == nil || exitCode(err) != 1 {
			t.Errorf("%s without secrets: exit %d (%v), want 1", strings.Join(tt.args, " "), exitCode(err), err)
			continue
		}
		for _, v := range tt.want {
			if !strings.Contains(err.Error(), v) {
				t.Errorf("%s without secrets: %q does not name %s", strings.Join(tt.args, " "), err, v)
			}
		}
		for name, n := range calls() {
			if n != 0 {
				t.Errorf("%s without secrets made %d %s call(s)", strings.Join(tt.args, " "), n, name)
			}
		}
	}
}
