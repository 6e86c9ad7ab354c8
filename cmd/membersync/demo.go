package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/demo"
	"github.com/membersync/membersync/internal/mail"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/status"
)

func cmdDemo(ctx context.Context, e env, args []string) error {
	var names strings.Builder
	for _, s := range demo.Scenarios() {
		fmt.Fprintf(&names, "\n  %-26s %s", s.Name, s.Title)
	}
	fs := newFlags(e, "demo [flags]",
		`Run membersync against built-in fake Stripe, Circle and Kit servers on loopback — no accounts, no
network — and act out customer journeys over real signed webhooks: a new subscriber, a duplicate
delivery, a payment failure that recovers and one that does not, a refund, a cancellation, two
Stripe customers with one email, a Circle outage and Kit rate limiting. It prints the admin URL and
login, a status link for each scenario's customer and a Checkout welcome URL, and keeps running until
Ctrl-C. There is no SMTP server: "Email me my link" on a status page prints the email here instead.

The demo is a sandbox for the whole CLI: it writes its config (membersync.yaml) and its fake secrets
(demo.env) into its data folder and prints one line to load them in your shell, after which trace,
resync, status-link, reconcile, backfill, alerts and users work against the running demo. Without
--data the folder is temporary and removed at exit; with --data it is kept, and a later run there
reuses the signing key and metrics token saved in its demo.env.

Scenarios:`+names.String(),
		`  go run ./cmd/membersync demo
  membersync demo --speed 4                 # four times faster
  membersync demo --scenario refund         # play one journey
  membersync demo --no-scenarios --data ./demo-data --listen 127.0.0.1:9000`)
	dataDir := fs.String("data", "", "data folder for the SQLite database, the generated config and demo.env, kept at exit (default: a temporary folder removed at exit)")
	listen := fs.String("listen", "127.0.0.1:8080", "address of membersync's HTTP server")
	speed := fs.Float64("speed", 1, "how much faster than real time the scenarios play")
	noScenarios := fs.Bool("no-scenarios", false, "start the same world empty")
	only := fs.String("scenario", "", "play only this scenario (see Scenarios above)")
	exit := fs.Bool("exit", false, "stop once the scenarios have played (for scripts and CI); exit 1 if one did not converge")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	scenarios := demo.Scenarios()
	if *only != "" {
		s, ok := demo.Find(*only)
		if !ok {
			fmt.Fprintf(e.stderr, "demo: no scenario %q; the scenarios are:\n", *only)
			for _, s := range demo.Scenarios() {
				fmt.Fprintf(e.stderr, "  %-26s %s\n", s.Name, s.Title)
			}
			return errUsage
		}
		scenarios = []demo.Scenario{s}
	}
	if *noScenarios {
		scenarios = nil
	}
	if *speed <= 0 {
		return errors.New("demo: --speed must be positive")
	}
	keep := *dataDir != ""
	if !keep {
		d, err := os.MkdirTemp("", "membersync-demo-")
		if err != nil {
			return err
		}
		// Runs last, once serve stopped and the database and log are closed.
		defer os.RemoveAll(d)
		*dataDir = d
	} else if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return err
	}
	// Bind first so that a busy port is a clear error before anything starts.
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("demo: cannot listen on %s (is something else running there? pass --listen): %w", *listen, err)
	}
	addr := ln.Addr().String()
	ln.Close()

	w := demo.NewWorld(demo.Options{})
	defer w.Close()
	publicURL := "http://" + addr
	dbPath := filepath.Join(*dataDir, "membersync.db")
	yaml := w.ConfigYAML(addr, publicURL, "sqlite:"+dbPath)
	// The generated secrets are saved in demo.env; a later run with the same --data reuses them.
	envPath := filepath.Join(*dataDir, demoEnvFile)
	saved, err := readEnvFile(envPath)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	signingKey := saved[config.EnvSigningKey]
	if len(signingKey) < 32 {
		signingKey = randomHex(16)
	}
	envs := w.Env("", signingKey)
	envs[config.EnvMetricsToken] = cmp.Or(saved[config.EnvMetricsToken], randomHex(12))
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return envs[k] })
	if err != nil {
		return fmt.Errorf("demo config: %w", err)
	}
	cfg.LogFormat = "json"
	cfgPath := filepath.Join(*dataDir, "membersync.yaml")
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		return err
	}
	if err := writeEnvFile(envPath, envs); err != nil {
		return err
	}
	logPath := filepath.Join(*dataDir, "membersync.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := newLogger(logFile, "json")

	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() {
		served <- serve(serveCtx, cfg, log, serveOptions{ready: ready, mailer: &consoleMailer{out: e.stdout}, app: appOptions{
			now: w.Now, retryBase: 200 * time.Millisecond, rateLimitSnooze: 2 * time.Second,
		}})
	}()
	select {
	case <-ready:
	case err := <-served:
		return fmt.Errorf("demo: membersync did not start: %w (log: %s)", err, logPath)
	}
	st, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	q, err := queue.New(st, queue.Options{})
	if err != nil {
		return err
	}
	resync := converge.Resyncer{Store: st, Queue: q}

	out := e.stdout
	fmt.Fprintf(out, "membersync demo — every provider is a fake on loopback; nothing leaves this machine.\n\n")
	fmt.Fprintf(out, "  Fake Stripe  %s\n  Fake Circle  %s\n  Fake Kit     %s\n", w.Stripe.URL, w.Circle.URL, w.Kit.URL)
	fmt.Fprintf(out, "  membersync   %s   (webhooks: %s/webhooks/stripe)\n", publicURL, publicURL)
	if login, err := demoAdmin(ctx, st); err == nil && login != "" {
		fmt.Fprintf(out, "  Admin UI     %s/admin   %s\n", publicURL, login)
	}
	fmt.Fprintf(out, "  Metrics      curl -H 'Authorization: Bearer %s' %s/metrics\n", envs[config.EnvMetricsToken], publicURL)
	if keep {
		fmt.Fprintf(out, "  Data         %s (config, demo.env, SQLite database, log; kept)\n", *dataDir)
	} else {
		fmt.Fprintf(out, "  Data         %s (config, demo.env, SQLite database, log; removed at exit, keep it with --data DIR)\n", *dataDir)
	}
	fmt.Fprintf(out, "  Use the CLI  in another shell, while the demo runs:\n")
	fmt.Fprintf(out, "               %s\n", demoUseLine(*dataDir))
	who := "EMAIL"
	if len(scenarios) > 0 && len(scenarios[0].People) > 0 {
		who = scenarios[0].People[0]
	}
	fmt.Fprintf(out, "               go run ./cmd/membersync trace %s   (or status-link --all, reconcile, backfill --since 1h --dry-run, users list)\n", who)

	player := &demo.Player{
		World: w, WebhookURL: publicURL + "/webhooks/stripe", Speed: *speed, Out: out,
		Settle: func(ctx context.Context) error { return waitSettled(ctx, st, 2*time.Minute) },
		Resync: func(ctx context.Context, customerID string) error {
			return resync.Customer(ctx, customerID, "timer")
		},
		Welcome: func(sessionID, email string) {
			fmt.Fprintf(out, "  Welcome page %s/welcome?session_id=%s\n", publicURL, sessionID)
		},
		Done: func(s demo.Scenario) {
			for _, email := range s.People {
				if pid, err := st.PersonIDByEmail(ctx, email); err == nil {
					fmt.Fprintf(out, "  Status page  %s/status/%s   (%s)\n", publicURL, status.NewToken([]byte(signingKey), pid, 30*24*time.Hour, time.Now()), email)
				}
			}
		},
	}
	playErr := error(nil)
	if len(scenarios) > 0 {
		playErr = player.Play(ctx, scenarios)
		if playErr == nil {
			fmt.Fprintf(out, "\nAll %d scenario(s) converged as intended.\n", len(scenarios))
		} else if ctx.Err() == nil {
			fmt.Fprintf(out, "\n%v\n", playErr)
		}
	}
	if *exit || ctx.Err() != nil {
		stopServe()
		if err := <-served; err != nil {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		return playErr
	}
	fmt.Fprintf(out, "\nmembersync keeps running; open the pages above. Ctrl-C to stop.\n")
	<-ctx.Done()
	stopServe()
	return <-served
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// consoleMailer stands in for the SMTP server in the demo: "Email me my link" on a status page
// prints the email to the console, where the person running the demo can follow the link.
type consoleMailer struct {
	mu  sync.Mutex
	out io.Writer
}

// Send prints the message.
func (c *consoleMailer) Send(_ context.Context, m mail.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := fmt.Fprintf(c.out, "  ✉ email to %s — %s\n%s\n", strings.Join(m.To, ", "), m.Subject, indent(m.Text, "    "))
	return err
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+prefix)
}
