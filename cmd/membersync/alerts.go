package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/membersync/membersync/internal/alert"
	"github.com/membersync/membersync/internal/config"
)

const alertsUsage = `Usage: membersync alerts <test|list> [flags]

  test   send a test message through every configured notifier and print each result
  list   print the alerts firing now (and, with --history N, the last N messages sent)

Run "membersync alerts test -h" or "membersync alerts list -h" for flags.
`

func cmdAlerts(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, alertsUsage)
		return errUsage
	}
	switch args[0] {
	case "test":
		return cmdAlertsTest(ctx, e, args[1:])
	case "list":
		return cmdAlertsList(ctx, e, args[1:])
	case "-h", "-help", "--help", "help":
		fmt.Fprint(e.stdout, alertsUsage)
		return flag.ErrHelp
	}
	fmt.Fprintf(e.stderr, "membersync alerts: unknown subcommand %q\n\n%s", args[0], alertsUsage)
	return errUsage
}

func cmdAlertsTest(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "alerts test [flags]",
		"Send a test message through every notifier the config enables (alerts.slack, alerts.webhook,\nalerts.email) and print each result. Exits 1 when any notifier failed.",
		"  MEMBERSYNC_SLACK_WEBHOOK_URL=https://hooks.slack.com/services/… membersync alerts test --config /etc/membersync.yaml")
	cfgPath := configFlag(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if probs := cfg.Alerts.RequireSecrets(cfg.Secrets.Alerts); len(probs) > 0 {
		return probs
	}
	notifiers := alert.NewNotifiers(cfg.Alerts, cfg.Secrets.Alerts, cfg.EgressPolicies()[config.EgressAlerts])
	if len(notifiers) == 0 {
		return fmt.Errorf("no notifier is configured: set alerts.slack.enabled (with %s), alerts.webhook.url (with %s) or alerts.email.host in the config",
			config.EnvSlackWebhookURL, config.EnvAlertWebhookSecret)
	}
	results := alert.Deliver(ctx, notifiers, alert.TestMessage(cfg.PublicURL, time.Now()), cfg.Alerts.Timeout.D())
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	failed := 0
	for _, r := range results {
		status := "ok"
		if r.Err != nil {
			status = "FAILED: " + r.Err.Error()
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Notifier, notifierTarget(cfg.Alerts, r.Notifier), status)
	}
	tw.Flush()
	if failed > 0 {
		return &exitError{code: 1, err: fmt.Errorf("%d of %d notifiers failed", failed, len(results))}
	}
	return nil
}

// notifierTarget says where a notifier sends, without its secrets.
func notifierTarget(a config.AlertsConfig, name string) string {
	switch name {
	case "slack":
		return "the Slack webhook in " + config.EnvSlackWebhookURL
	case "webhook":
		return a.Webhook.URL
	case "email":
		return a.Email.SMTPAddr() + " to " + strings.Join(a.Email.To, ", ")
	}
	return ""
}

func cmdAlertsList(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "alerts list [flags]",
		"Print the alerts firing now: what is wrong, since when, how many people are affected, and the\nadmin page that shows it. Reads the database; works while serve runs.",
		"  membersync alerts list\n  membersync alerts list --history 20")
	cfgPath := configFlag(fs)
	history := fs.Int("history", 0, "also print the last `N` alert messages sent and each notifier's result")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, st, err := openStore(ctx, e, *cfgPath, false)
	if err != nil {
		return err
	}
	defer st.Close()
	applied, known, err := st.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("reading the schema version (run membersync migrate): %w", err)
	}
	if applied < known {
		return fmt.Errorf("the database schema is at version %d and this binary needs %d: run membersync migrate (serve also migrates at start)", applied, known)
	}
	firing, err := st.AlertStates(ctx, true)
	if err != nil {
		return err
	}
	now := time.Now()
	switch len(firing) {
	case 0:
		fmt.Fprintln(e.stdout, "no alerts firing")
	case 1:
		fmt.Fprintln(e.stdout, "1 alert firing:")
	default:
		fmt.Fprintf(e.stdout, "%d alerts firing:\n", len(firing))
	}
	for _, a := range firing {
		affected := fmt.Sprintf("%d affected", a.Affected)
		if a.Affected < 0 {
			affected = "affected unknown"
		}
		notified := fmt.Sprintf("notified %d×", a.Sent)
		if a.LastSent.IsZero() {
			notified = "not delivered yet"
		}
		fmt.Fprintf(e.stdout, "\n%s  since %s (%s)  %s  %s\n  %s\n", a.ID, a.Since.UTC().Format("2006-01-02 15:04 UTC"),
			ago(now.Sub(a.Since)), affected, notified, a.Title)
		if a.Detail != "" {
			fmt.Fprintf(e.stdout, "  %s\n", a.Detail)
		}
		if a.Link != "" {
			fmt.Fprintf(e.stdout, "  %s\n", a.Link)
		}
	}
	if *history <= 0 {
		return nil
	}
	sent, err := st.AlertNotifications(ctx, *history)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "\nlast %d message(s):\n", len(sent))
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	for _, n := range sent {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n.At.UTC().Format("2006-01-02 15:04:05"), n.Status, n.AlertID, n.Title, n.Results)
	}
	return tw.Flush()
}

// ago formats a duration to the minute: 42m, 3h12m.
func ago(d time.Duration) string {
	d = d.Round(time.Minute)
	if d < time.Minute {
		return "under a minute"
	}
	return strings.TrimSuffix(d.String(), "0s")
}
