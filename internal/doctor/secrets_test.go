package doctor

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// randomToken returns n random alphanumerics, so that no real-looking key sits in the source.
func randomToken(t *testing.T, n int) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	// Make sure both digits and letters appear whatever the draw.
	b[0], b[1] = 'Q', '7'
	return string(b)
}

// fakeKey assembles a key of the given kind ("sk", "live") at run time.
func fakeKey(t *testing.T, kind, mode string) string {
	return kind + "_" + mode + "_" + randomToken(t, 32)
}

// envOf returns a getenv reading from m.
func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestEnvKeysAgainstPublicURL(t *testing.T) {
	t.Parallel()
	live := fakeKey(t, "sk", "live")
	rlive := fakeKey(t, "rk", "live")
	test := fakeKey(t, "sk", "test")
	whsec := "whsec_" + randomToken(t, 32)
	full := func(sk string) map[string]string {
		return map[string]string{"STRIPE_SECRET_KEY": sk, "STRIPE_WEBHOOK_SECRET": whsec, "CIRCLE_API_TOKEN": "c", "KIT_API_KEY": "k"}
	}
	for _, tc := range []struct {
		name   string
		env    map[string]string
		public string
		check  string
		want   Status
	}{
		{"test key with production https URL", full(test), "https://members.good.test", "Stripe key mode", StatusWarn},
		{"test key on localhost", full(test), "http://localhost:8080", "Stripe key mode", StatusPass},
		{"live key with http URL", full(live), "http://members.good.test", "Stripe key mode", StatusFail},
		{"live key with https URL", full(rlive), "https://members.good.test", "Stripe key mode", StatusPass},
		{"unrestricted live key", full(live), "https://members.good.test", "Stripe key scope", StatusWarn},
		{"publishable key", full("pk_live_" + randomToken(t, 24)), "https://members.good.test", "Stripe key mode", StatusFail},
		{"garbage key", full("hunter2"), "https://members.good.test", "Stripe key mode", StatusFail},
		{"webhook secret set", full(rlive), "https://members.good.test", "Stripe webhook secret", StatusPass},
		{"webhook secret missing", map[string]string{"STRIPE_SECRET_KEY": rlive}, "https://members.good.test", "Stripe webhook secret", StatusFail},
		{"webhook secret malformed", map[string]string{"STRIPE_SECRET_KEY": rlive, "STRIPE_WEBHOOK_SECRET": whsec + ",nope"}, "https://m.good.test", "Stripe webhook secret", StatusFail},
		{"rotation", map[string]string{"STRIPE_SECRET_KEY": rlive, "STRIPE_WEBHOOK_SECRET": whsec + ", " + whsec}, "https://m.good.test", "Stripe webhook secret", StatusPass},
		{"providers missing", map[string]string{"STRIPE_SECRET_KEY": rlive}, "https://m.good.test", "provider credentials", StatusFail},
		{"providers set", full(rlive), "https://m.good.test", "provider credentials", StatusPass},
		{"nothing set", map[string]string{}, "https://m.good.test", "environment", StatusUnknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &auditor{opts: Options{PublicURL: tc.public}, getenv: envOf(tc.env)}
			fs := a.checkEnv()
			r := Report{Findings: fs}
			got := wantStatus(t, r, GroupSecrets, tc.check, tc.want)
			var buf bytes.Buffer
			r.WriteText(&buf)
			for _, secret := range []string{live, rlive, test, whsec} {
				if strings.Contains(buf.String(), secret[6:]) {
					t.Errorf("the report leaks a secret: %s", got.Message)
				}
			}
		})
	}
}

func TestConfigCheckFindingsAreIncluded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	o := f.start().options("cfg.test", f.pki)
	o.ConfigCheck = func() []Finding {
		return []Finding{{Check: "plans", Status: StatusFail, Message: "plan pro maps no price"}, {Group: "Config", Check: "listen", Message: "x"}}
	}
	r := run(t, o)
	wantStatus(t, r, GroupSecrets, "plans", StatusFail)
	wantStatus(t, r, "Config", "listen", StatusUnknown)
	if r.ExitCode() != 1 {
		t.Error("a failing config finding must fail the report")
	}
}

func TestScanLine(t *testing.T) {
	t.Parallel()
	rules := secretRules()
	live := fakeKey(t, "sk", "live")
	for _, tc := range []struct {
		name string
		line string
		want []string // rule IDs
	}{
		{"stripe live in env file", "STRIPE_SECRET_KEY=" + live, []string{"stripe-live-key"}},
		{"stripe restricted test in code", `key := "` + fakeKey(t, "rk", "test") + `"`, []string{"stripe-test-key"}},
		{"webhook secret", "secret: whsec_" + randomToken(t, 32), []string{"stripe-webhook-secret"}},
		{"kit v4 key", "KIT_API_KEY=kit_" + strings.ToLower(randomToken(t, 32)), []string{"kit-api-key"}},
		{"kit v3 secret by name", `convertkit_api_secret: "` + randomToken(t, 40) + `"`, []string{"kit-credential"}},
		{"circle token by name", `CIRCLE_API_TOKEN='` + randomToken(t, 24) + `'`, []string{"circle-token"}},
		{"circle token in JSON", `"circleAdminToken": "` + randomToken(t, 24) + `"`, []string{"circle-token"}},
		{"placeholder", "STRIPE_SECRET_KEY=sk_live_yourSecretKeyGoesHere1234567", nil},
		{"low entropy", "sk_live_" + strings.Repeat("ab", 16), nil},
		{"too short", "sk_live_abc123", nil},
		{"prefix in prose", "keys start with sk_live_ or rk_live_", nil},
		{"env reference", "CIRCLE_API_TOKEN=${CIRCLE_API_TOKEN}", nil},
		{"go getenv", `token := os.Getenv("CIRCLE_API_TOKEN")`, nil},
		{"identifier with kit_ prefix", "func kit_ApplySubscriberTagsToCustomer()", nil},
		{"toolkit is not kit", `toolkit_api_key = "` + randomToken(t, 30) + `"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, h := range scanLine(rules, tc.line) {
				got = append(got, h.Rule.ID)
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("scanLine(%q) = %v, want %v", tc.line, got, tc.want)
			}
		})
	}
}

func TestMasking(t *testing.T) {
	t.Parallel()
	live := fakeKey(t, "sk", "live")
	h := secretHit{Rule: secretRules()[0], Secret: live, Path: "a.env", Line: 3}
	if got, want := h.masked(), live[:10]+"…"; got != want {
		t.Errorf("masked = %q, want %q", got, want)
	}
	if strings.Contains(h.line(), live[10:]) {
		t.Errorf("line %q leaks the secret", h.line())
	}
	if got := maskKey(live); got != "sk_live_…" {
		t.Errorf("maskKey = %q", got)
	}
}

func TestEntropy(t *testing.T) {
	t.Parallel()
	if got := entropy("aaaa"); got != 0 {
		t.Errorf("entropy(aaaa) = %v, want 0", got)
	}
	if got := entropy("abcd"); got != 2 {
		t.Errorf("entropy(abcd) = %v, want 2", got)
	}
}

// gitRun runs git in dir with a hermetic configuration.
func gitRun(t *testing.T, dir string, args ...string) {
	t.Helper()
	all := append([]string{"-C", dir, "-c", "user.name=Doctor Test", "-c", "user.email=doctor@example.test",
		"-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"}, args...)
	cmd := exec.Command("git", all...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL="+os.DevNull, "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestRepoHistoryFindsDeletedKey(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	live := fakeKey(t, "sk", "live")
	whsec := "whsec_" + randomToken(t, 32)
	ignored := fakeKey(t, "rk", "live")

	gitRun(t, dir, "init", "-q")
	writeFile(t, dir, "README.md", "# shop\nSet STRIPE_SECRET_KEY=sk_live_yourkeyhere in the environment.\n")
	writeFile(t, dir, ".gitignore", ".env\n")
	writeFile(t, dir, "config/prod.env", "# production\nSTRIPE_SECRET_KEY="+live+"\n")
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "add production config")
	gitRun(t, dir, "rm", "-q", "config/prod.env")
	gitRun(t, dir, "commit", "-q", "-m", "remove secrets")
	// A key on another branch only: --all must find it.
	gitRun(t, dir, "checkout", "-q", "-b", "feature")
	writeFile(t, dir, "hooks.yaml", "stripe:\n  endpoint: /webhooks/stripe\n  secret: "+whsec+"\n")
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "webhook config")
	gitRun(t, dir, "checkout", "-q", "main")
	// An ignored .env in the working tree is not a leak.
	writeFile(t, dir, ".env", "STRIPE_SECRET_KEY="+ignored+"\n")

	f := newFixture(t)
	o := f.start().options("repo.test", f.pki)
	o.RepoDir = dir
	r := run(t, o)

	wantStatus(t, r, GroupSecrets, "secrets in working tree", StatusPass)
	hist := wantStatus(t, r, GroupSecrets, "secrets in git history", StatusFail)
	joined := strings.Join(hist.Detail, "\n")
	for _, want := range []string{"config/prod.env:2 " + live[:10] + "… (Stripe live secret/restricted key)", "hooks.yaml:3 whsec_"} {
		if !strings.Contains(joined, want) {
			t.Errorf("history detail lacks %q:\n%s", want, joined)
		}
	}
	if len(hist.Detail) != 2 {
		t.Errorf("want 2 history hits (the placeholder and the ignored file are not leaks), got:\n%s", joined)
	}
	var text, js bytes.Buffer
	r.WriteText(&text)
	r.WriteJSON(&js)
	for _, s := range []string{live, whsec, ignored} {
		if strings.Contains(text.String(), s[10:]) || strings.Contains(js.String(), s[10:]) {
			t.Errorf("a rendered report leaks a secret")
		}
	}
}

func TestRepoWorkingTreeWithoutGit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "deploy/app.yaml", "kit_api_key: kit_"+strings.ToLower(randomToken(t, 32))+"\ncircle_token: "+randomToken(t, 28)+"\n")
	writeFile(t, dir, "test/fixtures.go", `var k = "`+fakeKey(t, "sk", "test")+`"`+"\n")
	writeFile(t, dir, "node_modules/x/index.js", "var k = '"+fakeKey(t, "sk", "live")+"'\n")
	writeFile(t, dir, "logo.png", "\x89PNG\x00\x00"+fakeKey(t, "sk", "live"))

	f := newFixture(t)
	o := f.start().options("repo.test", f.pki)
	o.RepoDir = dir
	r := run(t, o)
	tree := wantStatus(t, r, GroupSecrets, "secrets in working tree", StatusFail)
	joined := strings.Join(tree.Detail, "\n")
	for _, want := range []string{"deploy/app.yaml:1 kit_", "deploy/app.yaml:2", "(Circle API token)", "test/fixtures.go:1 sk_test_"} {
		if !strings.Contains(joined, want) {
			t.Errorf("working tree detail lacks %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "node_modules") || strings.Contains(joined, "logo.png") {
		t.Errorf("node_modules and binaries must be skipped:\n%s", joined)
	}
	wantStatus(t, r, GroupSecrets, "secrets in git history", StatusUnknown)
}

func TestRepoOnlyTestKeysWarn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, dir, "seed.sh", "export STRIPE_SECRET_KEY="+fakeKey(t, "sk", "test")+"\n")
	f := newFixture(t)
	o := f.start().options("repo.test", f.pki)
	o.RepoDir = dir
	r := run(t, o)
	wantStatus(t, r, GroupSecrets, "secrets in working tree", StatusWarn)
}

func TestHunkStart(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]int{"@@ -0,0 +1,3 @@": 1, "@@ -10 +12 @@ func x()": 12, "@@ bogus": 0} {
		if got := hunkStart(h); got != want {
			t.Errorf("hunkStart(%q) = %d, want %d", h, got, want)
		}
	}
}
