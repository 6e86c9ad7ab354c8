package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// errUsage means the usage was already printed.
var errUsage = errors.New("usage")

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// env is what every command gets from the outside world.
type env struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{"demo", "run everything against built-in fake Stripe, Circle and Kit, with scenarios", cmdDemo},
		{"serve", "run the webhook endpoint, the sync workers and the admin UI", cmdServe},
		{"init", "write a config (plans mapped by name) and an env file template from your Stripe, Circle and Kit accounts", cmdInit},
		{"check", "validate the config and reach each provider once", cmdCheck},
		{"catalog", "print every Circle access group, Kit tag and sequence, and Stripe price with ids and names", cmdCatalog},
		{"users", "manage admin accounts and API tokens (add, list, disable, reset-password, token)", cmdUsers},
		{"migrate", "apply database migrations and exit", cmdMigrate},
		{"backup", "write a consistent copy of the SQLite database while serve runs (--to FILE)", cmdBackup},
		{"restore", "replace the SQLite database with a checked backup (FILE; stop serve first)", cmdRestore},
		{"trace", "print one person's journey (EMAIL or cus_…)", cmdTrace},
		{"resync", "enqueue a full sync of one person (EMAIL or cus_…)", cmdResync},
		{"forget", "erase one person (EMAIL or cus_…, --reason): remove their access, then every copy of their email", cmdForget},
		{"status-link", "print a signed customer status-page link (EMAIL or cus_…)", cmdStatusLink},
		{"reconcile", "find (and --repair) drift between billing and Circle/Kit; --from-stripe adopts unknown payers", cmdReconcile},
		{"backfill", "recover missed webhooks from Stripe's Events API (--since 72h; --check)", cmdBackfill},
		{"alerts", "send a test alert through every notifier (test), or list the alerts firing (list)", cmdAlerts},
		{"history", "print the deploy and config history: each serve start, its version and what it changed", cmdHistory},
		{"doctor", "audit the production setup (DNS, TLS, headers, email, webhook, secrets)", cmdDoctor},
		{"version", "print the version", cmdVersion},
	}
}

const usageHead = `membersync keeps Circle access and Kit email tags in step with Stripe billing.

Usage:
  membersync <command> [flags]

Commands:
`

const usageTail = `
Run "membersync <command> -h" for a command's flags and examples.
Secrets come only from the environment: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET,
CIRCLE_API_TOKEN, KIT_API_KEY, MEMBERSYNC_SIGNING_KEY (32+ characters), MEMBERSYNC_METRICS_TOKEN,
MEMBERSYNC_DATABASE_URL (replaces database_url; the only place for a database password), and for
alerts MEMBERSYNC_SLACK_WEBHOOK_URL, MEMBERSYNC_ALERT_WEBHOOK_SECRET, MEMBERSYNC_SMTP_PASSWORD; for the
support sources MEMBERSYNC_IMAP_PASSWORD, HELPSCOUT_WEBHOOK_SECRET, HELPSCOUT_APP_ID,
HELPSCOUT_APP_SECRET, ZENDESK_WEBHOOK_SECRET, ZENDESK_API_TOKEN, MEMBERSYNC_SUPPORT_WEBHOOK_SECRET.
`

func usage(w io.Writer) {
	fmt.Fprint(w, usageHead)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, usageTail)
}

// run is the whole program; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	e := env{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		usage(stderr)
		return errUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			err := c.run(ctx, e, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
	}
	fmt.Fprintf(stderr, "membersync: unknown command %q\n\n", name)
	usage(stderr)
	return errUsage
}

// newFlags makes a command's flag set with its usage text and examples.
func newFlags(e env, name, synopsis, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: membersync %s\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
		if examples != "" {
			fmt.Fprintf(fs.Output(), "\nExamples:\n%s\n", strings.TrimRight(examples, "\n"))
		}
	}
	return fs
}

// parseFlags parses and refuses stray arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		fs.Usage()
		return errUsage
	}
	return nil
}

// parseInterleaved parses flags given before, between or after the positional arguments ("users
// add EMAIL --role admin", "status-link ada@example.com --ttl 720h") and checks how many
// positionals there are.
func parseInterleaved(fs *flag.FlagSet, args []string, minPos, maxPos int) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) < minPos || len(pos) > maxPos {
		fs.Usage()
		return nil, errUsage
	}
	return pos, nil
}

// configFlag adds the --config flag of the commands that read the config.
func configFlag(fs *flag.FlagSet) *string {
	return fs.String("config", "", "config file (default $MEMBERSYNC_CONFIG or ./membersync.yaml)")
}

func loadConfig(e env, flagValue string) (*config.Config, error) {
	return config.Load(config.Path(flagValue, e.getenv), e.getenv)
}

// openStore loads the config (--config, else $MEMBERSYNC_CONFIG, else ./membersync.yaml) and opens
// its database; migrate also applies pending migrations. The caller closes the store.
func openStore(ctx context.Context, e env, cfgPath string, migrate bool) (*config.Config, *store.Store, error) {
	cfg, err := loadConfig(e, cfgPath)
	if err != nil {
		return nil, nil, err
	}
	st, err := openDB(ctx, cfg, migrate)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}

// openDB is openStore for a config already loaded (and checked, or built by the demo).
func openDB(ctx context.Context, cfg *config.Config, migrate bool) (*store.Store, error) {
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, redactedError{err}
	}
	if migrate {
		if _, err := st.Migrate(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	return st, nil
}

// redactedError words an error through config.RedactURL: a driver's error may quote the database
// URL, and with it the password of MEMBERSYNC_DATABASE_URL.
type redactedError struct{ err error }

func (e redactedError) Error() string { return config.RedactURL(e.err.Error()) }
func (e redactedError) Unwrap() error { return e.err }

func newLogger(w io.Writer, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func cmdVersion(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "version", "Print the version of this binary.", "  membersync version")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "membersync", version)
	return nil
}
