package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/demo"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

const initSigningKey = "test-signing-key-0123456789abcdef"

// runInit runs membersync init with stdin and the fakes' base URLs.
func runInit(t *testing.T, dw *demo.World, env map[string]string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"init", "--stripe-url", dw.Stripe.URL, "--circle-url", dw.Circle.URL, "--kit-url", dw.Kit.URL,
		"--listen", "127.0.0.1:0", "--public-url", "http://localhost:0", "--support-email", "help@example.test"}, args...)
	err := run(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

// TestInitEndToEnd: init reads the demo's fake accounts, maps each product to the access group,
// tags and sequences whose names match, writes a config that passes check, and serve on that
// config converges a subscription and a one-time purchase.
func TestInitEndToEnd(t *testing.T) {
	dw := demo.NewWorld(demo.Options{})
	t.Cleanup(dw.Close)
	dw.Circle.AddAccessGroup("Alumni") // matches no product
	dw.Kit.CreateTag("newsletter")     // matches no product
	env := dw.Env("", initSigningKey)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "membersync.yaml")
	dbURL := storetest.URL(t, store.SQLite)

	out, errOut, err := runInit(t, dw, env, "", "--yes", "--config", cfgPath, "--database-url", dbURL)
	if err != nil {
		t.Fatalf("init: %v\n%s\n%s", err, out, errOut)
	}
	for _, want := range []string{"read 2 Stripe prices, 3 Circle access groups, 5 Kit tags, 2 Kit sequences",
		"stripe      ok", "circle      ok", "kit         ok", "secrets     ok",
		"Next steps:", "http://localhost:0/webhooks/stripe", "customer.subscription.paused", "charge.dispute.closed",
		"membersync users add you@example.com --role admin --config " + cfgPath, "membersync serve --config " + cfgPath} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	yaml, _ := os.ReadFile(cfgPath)
	t.Logf("init --yes printed:\n%s\nand wrote:\n%s", out, yaml)
	for _, want := range []string{"# Pro members", "# pro-past-due", "# Welcome to Pro: enrolled once", "# Lifetime course ($199)", "access_duration: lifetime"} {
		if !strings.Contains(string(yaml), want) {
			t.Errorf("the config lacks the comment %q:\n%s", want, yaml)
		}
	}
	cfg, err := config.Load(cfgPath, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Plans) != 2 {
		t.Fatalf("plans %+v, want 2", cfg.Plans)
	}
	byID := map[string]config.Plan{}
	for _, p := range cfg.Plans {
		byID[p.ID] = p
	}
	pro, course := byID["pro-membership"], byID["lifetime-course"]
	if !slices.Equal(pro.Stripe.Prices, []string{dw.ProPrice}) || !slices.Equal(pro.Circle.AccessGroups, []int64{dw.ProGroup}) ||
		!maps.Equal(pro.Kit.Tags, map[string]int64{"active": dw.TagActive, "trialing": dw.TagActive, "past_due": dw.TagPastDue,
			"canceling": dw.TagCanceled, "canceled": dw.TagCanceled, "grace_expired": dw.TagCanceled}) ||
		pro.Kit.OnboardingSequence != dw.SeqOnboarding || pro.Kit.RetentionSequence != dw.SeqRetention || pro.GracePeriod.D() != 72*time.Hour {
		t.Errorf("the Pro plan: %+v", pro)
	}
	if !slices.Equal(course.Stripe.Prices, []string{dw.CoursePrice}) || !slices.Equal(course.Circle.AccessGroups, []int64{dw.CourseGroup}) ||
		!maps.Equal(course.Kit.Tags, map[string]int64{"active": dw.TagCourse}) || course.Kit.OnboardingSequence != 0 || course.Kit.RetentionSequence != 0 {
		t.Errorf("the course plan: %+v", course)
	}
	envFile, err := os.ReadFile(filepath.Join(dir, "membersync.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"STRIPE_SECRET_KEY=\n", "STRIPE_WEBHOOK_SECRET=\n", "CIRCLE_API_TOKEN=\n", "KIT_API_KEY=\n", "MEMBERSYNC_SIGNING_KEY=\n"} {
		if !strings.Contains(string(envFile), name) {
			t.Errorf("the env file lacks %q:\n%s", name, envFile)
		}
	}
	for k, v := range env {
		if v != "" && (strings.Contains(string(envFile), v) || strings.Contains(string(yaml), v) || strings.Contains(out, v)) {
			t.Errorf("init wrote or printed the value of %s", k)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, "membersync.env")); fi.Mode().Perm() != 0o600 {
		t.Errorf("env file mode %v, want 0600", fi.Mode().Perm())
	}

	// serve on the written config converges a subscription and a purchase.
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- serve(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), serveOptions{
			app:   appOptions{now: dw.Stripe.Now, retryBase: 20 * time.Millisecond, rateLimitSnooze: 200 * time.Millisecond},
			ready: ready})
	}()
	var url string
	select {
	case addr := <-ready:
		url = "http://" + addr
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q, err := queue.New(st, queue.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var played bytes.Buffer
	player := &demo.Player{World: dw, WebhookURL: url + "/webhooks/stripe", Speed: 100, Out: &played,
		Settle: func(ctx context.Context) error { return waitSettled(ctx, st, 30*time.Second) },
		Resync: func(ctx context.Context, customerID string) error {
			return converge.Resyncer{Store: st, Queue: q}.Customer(ctx, customerID, "resync")
		}}
	var scenarios []demo.Scenario
	for _, name := range []string{"new-subscriber", "payment-recovers", "payment-expires", "refund", "cancel-at-period-end", "two-customers-one-email"} {
		s, ok := demo.Find(name)
		if !ok {
			t.Fatalf("no demo scenario %s", name)
		}
		scenarios = append(scenarios, s)
	}
	if err := player.Play(ctx, scenarios); err != nil {
		t.Fatalf("on the config init wrote: %v\n%s", err, played.String())
	}
}

// TestInitRefusals: init never overwrites without --force, says which credentials are missing
// before calling anyone, refuses --yes with no active Stripe price, and checks --plan's ids.
func TestInitRefusals(t *testing.T) {
	dw := demo.NewWorld(demo.Options{})
	t.Cleanup(dw.Close)
	env := dw.Env("", initSigningKey)
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "membersync.yaml")
	dbURL := storetest.URL(t, store.SQLite)

	if err := os.WriteFile(cfgPath, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	calls := dw.Stripe.Faults.TotalCalls()
	_, _, err := runInit(t, dw, env, "", "--yes", "--config", cfgPath, "--database-url", dbURL)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), cfgPath+" exists; pass --force") {
		t.Errorf("existing config: exit %d, %v", exitCode(err), err)
	}
	if b, _ := os.ReadFile(cfgPath); string(b) != "# mine\n" {
		t.Errorf("the config was overwritten: %q", b)
	}
	if dw.Stripe.Faults.TotalCalls() != calls {
		t.Error("init called Stripe before refusing")
	}
	out, _, err := runInit(t, dw, env, "", "--yes", "--force", "--config", cfgPath, "--database-url", dbURL)
	if err != nil {
		t.Fatalf("--force: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(cfgPath); !strings.Contains(string(b), "plans:") {
		t.Errorf("--force did not write the config:\n%s", b)
	}
	// The env file alone also stops it.
	other := filepath.Join(dir, "other.yaml")
	if _, _, err = runInit(t, dw, env, "", "--yes", "--config", other); err == nil || !strings.Contains(err.Error(), "membersync.env exists") {
		t.Errorf("existing env file: %v", err)
	}

	noKeys := maps.Clone(env)
	delete(noKeys, config.EnvCircleAPIToken)
	delete(noKeys, config.EnvKitAPIKey)
	_, _, err = runInit(t, dw, noKeys, "", "--yes", "--config", filepath.Join(t.TempDir(), "m.yaml"))
	if err == nil || !strings.Contains(err.Error(), "CIRCLE_API_TOKEN, KIT_API_KEY (or KIT_OAUTH_TOKEN)") {
		t.Errorf("missing credentials: %v", err)
	}
	if dw.Stripe.Faults.TotalCalls() == calls {
		t.Error("the --force run made no Stripe call") // the counter works
	}

	// Before the webhook exists, check fails on its secret: the files stay, the next steps are printed.
	noHook := maps.Clone(env)
	delete(noHook, config.EnvStripeWebhookSecret)
	hookDir := t.TempDir()
	out, _, err = runInit(t, dw, noHook, "", "--yes", "--config", filepath.Join(hookDir, "m.yaml"), "--database-url", storetest.URL(t, store.SQLite))
	if exitCode(err) != 1 || !strings.Contains(err.Error(), "m.yaml is written, but check found problems") ||
		!regexp.MustCompile(`STRIPE_WEBHOOK_SECRET[^\n]*not set`).MatchString(out) || !strings.Contains(out, "Next steps:") {
		t.Errorf("no webhook secret yet: exit %d, %v\n%s", exitCode(err), err, out)
	}
	if _, serr := os.Stat(filepath.Join(hookDir, "membersync.env")); serr != nil {
		t.Errorf("the env file: %v", serr)
	}

	_, errOut, err := runInit(t, dw, env, "", "--config", filepath.Join(t.TempDir(), "m.yaml"))
	if exitCode(err) != 2 || !strings.Contains(errOut, "pass --yes") {
		t.Errorf("no terminal, no --yes: exit %d, %q", exitCode(err), errOut)
	}

	for _, tt := range []struct{ spec, want string }{
		{"id=pro:price=price_nope:group=1", "Stripe lists no price price_nope"},
		{"id=pro:price=" + dw.ProPrice + ":group=999999", "Circle lists no access group 999999"},
		{"id=pro:price=" + dw.ProPrice + ":group=" + initID(dw.ProGroup) + ":tag=424242", "Kit lists no tag 424242"},
		{"id=pro:price=" + dw.ProPrice + ":group=" + initID(dw.ProGroup) + ":onboarding=7", "Kit lists no sequence 7"},
		{"id=pro:price=" + dw.ProPrice + ":group=" + initID(dw.ProGroup) + ":pastdue=1", `unknown key "pastdue"`},
		{"id=pro:price=" + dw.ProPrice, "name at least one group=ID"},
		{"id=pro:group=" + initID(dw.ProGroup), "name at least one price=price_… or product=prod_…"},
		{"id=pro:price=" + dw.ProPrice + ":group=" + initID(dw.ProGroup) + "\x00id=pro:price=" + dw.CoursePrice + ":group=" + initID(dw.CourseGroup), `two --plan name the plan id "pro"`},
	} {
		args := []string{"--config", filepath.Join(t.TempDir(), "m.yaml")}
		for _, spec := range strings.Split(tt.spec, "\x00") {
			args = append(args, "--plan", spec)
		}
		_, _, err := runInit(t, dw, env, "", args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("--plan %s: %v, want %q", tt.spec, err, tt.want)
		}
	}

	dw.Stripe.ArchivePrice(dw.ProPrice)
	dw.Stripe.ArchivePrice(dw.CoursePrice)
	path := filepath.Join(t.TempDir(), "m.yaml")
	_, _, err = runInit(t, dw, env, "", "--yes", "--config", path)
	if err == nil || !strings.Contains(err.Error(), "Stripe lists no active prices") {
		t.Errorf("no prices: %v", err)
	}
	if _, serr := os.Stat(path); serr == nil {
		t.Error("a config was written with no plans")
	}
}

// TestInitPlanFlagAndInteractive: --plan sets a plan exactly; --interactive reads the answers from
// stdin, by number or name, with the proposal as the default and a wrong answer asked again.
func TestInitPlanFlagAndInteractive(t *testing.T) {
	dw := demo.NewWorld(demo.Options{})
	t.Cleanup(dw.Close)
	env := dw.Env("", initSigningKey)
	getenv := func(k string) string { return env[k] }

	path := filepath.Join(t.TempDir(), "membersync.yaml")
	spec := "id=gold:name=Gold:price=" + dw.ProPrice + ":group=" + initID(dw.CourseGroup) + ":tag=" + initID(dw.TagCourse) +
		":canceled=" + initID(dw.TagCanceled) + ":onboarding=" + initID(dw.SeqOnboarding)
	if out, _, err := runInit(t, dw, env, "", "--plan", spec, "--config", path, "--database-url", storetest.URL(t, store.SQLite)); err != nil {
		t.Fatalf("--plan: %v\n%s", err, out)
	}
	cfg, err := config.Load(path, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Plans; len(p) != 1 || p[0].ID != "gold" || p[0].Name != "Gold" || !slices.Equal(p[0].Stripe.Prices, []string{dw.ProPrice}) ||
		!slices.Equal(p[0].Circle.AccessGroups, []int64{dw.CourseGroup}) ||
		!maps.Equal(p[0].Kit.Tags, map[string]int64{"active": dw.TagCourse, "canceled": dw.TagCanceled}) || p[0].Kit.OnboardingSequence != dw.SeqOnboarding {
		t.Errorf("--plan wrote %+v", p)
	}

	// Interactive: the products come in Stripe's order, so the answers are keyed by the product asked.
	path = filepath.Join(t.TempDir(), "membersync.yaml")
	answersFor := map[string]string{
		// make it, id, groups (9 is out of the list: asked again; then by name), active tag by number,
		// past_due none, canceled default, onboarding default, retention none.
		"Pro membership": "\npro\n9\nPro members\n1\n-\n\n\n-\n",
		// declined
		"Lifetime course": "n\n",
	}
	prices, err := readInitCatalog(context.Background(), initEnv(env), initOptions{stripeURL: dw.Stripe.URL, circleURL: dw.Circle.URL, kitURL: dw.Kit.URL})
	if err != nil {
		t.Fatal(err)
	}
	var stdin strings.Builder
	for _, pr := range productsOf(prices.prices) {
		stdin.WriteString(answersFor[pr.name])
	}
	out, _, err := runInit(t, dw, env, stdin.String(), "--interactive", "--config", path, "--database-url", storetest.URL(t, store.SQLite))
	if err != nil {
		t.Fatalf("interactive: %v\n%s", err, out)
	}
	for _, want := range []string{" 1) Pro members (#", "9 is not in the list (1-2)", "Kit tag while active [pro-active]: ", "Stripe product \"Lifetime course\""} {
		if !strings.Contains(out, want) {
			t.Errorf("the questions lack %q:\n%s", want, out)
		}
	}
	cfg, err = config.Load(path, getenv)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Plans; len(p) != 1 || p[0].ID != "pro" || !slices.Equal(p[0].Circle.AccessGroups, []int64{dw.ProGroup}) ||
		!maps.Equal(p[0].Kit.Tags, map[string]int64{"active": dw.TagActive, "trialing": dw.TagActive, "canceled": dw.TagCanceled, "canceling": dw.TagCanceled, "grace_expired": dw.TagCanceled}) ||
		p[0].Kit.OnboardingSequence != dw.SeqOnboarding || p[0].Kit.RetentionSequence != 0 {
		t.Errorf("interactive wrote %+v", p)
	}

	// Answers that end early write nothing.
	path = filepath.Join(t.TempDir(), "membersync.yaml")
	if _, _, err := runInit(t, dw, env, "\n", "--interactive", "--config", path); err == nil || !strings.Contains(err.Error(), "answers ended") {
		t.Errorf("short answers: %v", err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("short answers wrote a config")
	}
}

func TestInitProposalMatching(t *testing.T) {
	for _, tt := range []struct {
		product string
		names   []string
		want    int
	}{
		{"Pro membership", []string{"Course", "Pro members"}, 1},
		{"Lifetime course", []string{"Pro members", "Course"}, 1},
		{"Lifetime course", []string{"Pro members", "Alumni"}, -1},
		{"The Founders Club", []string{"Club founders", "Founders"}, 0},
		{"Pro", []string{"Product updates", "pro"}, 1}, // "pro" begins "product" but is shorter than 4 letters
	} {
		if got := best(nameTokens(tt.product), tt.names, nil); got != tt.want {
			t.Errorf("best(%q, %q) = %d, want %d", tt.product, tt.names, got, tt.want)
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"Pro membership", "pro-membership"}, {"  Café & Co. ", "caf-co"}, {"!!!", "plan"},
	} {
		if got := slug(tt.in); got != tt.want {
			t.Errorf("slug(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func initEnv(m map[string]string) env {
	return env{getenv: func(k string) string { return m[k] }, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard}
}

func initID(n int64) string { return strconv.FormatInt(n, 10) }
