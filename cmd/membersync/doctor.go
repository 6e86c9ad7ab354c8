package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/doctor"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func cmdDoctor(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "doctor --domain DOMAIN [flags]",
		`Audit the production setup before launch and every day after: DNS and DNSSEC, redirects, TLS,
security headers, SPF/DKIM/DMARC, the webhook endpoint, secrets and config, edge caching. Each check
says pass, warn, fail or unknown with the fix. Exit status: 0 nothing fails, 1 something fails,
2 doctor itself could not run.`,
		`  membersync doctor --domain example.com --www --dkim-selector s1 --webhook-url https://example.com/webhooks/stripe
  membersync doctor --domain example.com --markdown > handover.md
  membersync doctor --domain example.com --json --repo ../portal   # also scan a repository for committed keys`)
	domain := fs.String("domain", "", "the portal's domain (required)")
	www := fs.Bool("www", false, "also audit www.DOMAIN")
	var selectors listFlag
	fs.Var(&selectors, "dkim-selector", "DKIM selector to check (repeatable or comma-separated)")
	webhookURL := fs.String("webhook-url", "", "public URL of the Stripe webhook endpoint (default PUBLIC_URL/webhooks/stripe from the config)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	asMarkdown := fs.Bool("markdown", false, "print the report as a Markdown handover checklist")
	repo := fs.String("repo", "", "scan this directory (and its git history) for committed secrets")
	cfgPath := fs.String("config", "", "membersync config to validate (default $MEMBERSYNC_CONFIG or ./membersync.yaml, when present)")
	resolver := fs.String("resolver", "", "DNS server host:port (default from /etc/resolv.conf)")
	timeout := fs.Duration("timeout", 10*time.Second, "timeout of each network operation")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *domain == "" {
		fmt.Fprintln(e.stderr, "doctor: --domain is required")
		fs.Usage()
		return errUsage
	}
	if *asJSON && *asMarkdown {
		return &exitError{2, errors.New("doctor: choose one of --json and --markdown")}
	}
	opts := doctor.Options{
		Domain: *domain, WWW: *www, DKIMSelectors: selectors, WebhookURL: *webhookURL, RepoDir: *repo,
		Getenv: e.getenv, Resolver: *resolver, Timeout: *timeout,
	}
	path := config.Path(*cfgPath, e.getenv)
	cfg, cfgErr := config.Load(path, e.getenv)
	if cfgErr == nil {
		opts.PublicURL = cfg.PublicURL
		if opts.WebhookURL == "" {
			opts.WebhookURL = cfg.PublicURL + "/webhooks/stripe"
		}
	}
	opts.ConfigCheck = func() []doctor.Finding { return configFindings(path, cfg, cfgErr, *cfgPath != "") }
	report, err := doctor.Run(ctx, opts)
	if err != nil {
		return &exitError{2, fmt.Errorf("doctor could not run: %w", err)}
	}
	switch {
	case *asJSON:
		err = report.WriteJSON(e.stdout)
	case *asMarkdown:
		err = report.WriteMarkdown(e.stdout)
	default:
		err = report.WriteText(e.stdout)
	}
	if err != nil {
		return &exitError{2, err}
	}
	if code := report.ExitCode(); code != 0 {
		return &exitError{code, errors.New("doctor found problems to fix before launch (see above)")}
	}
	return nil
}

// configFindings turns the config validation into doctor findings.
func configFindings(path string, cfg *config.Config, err error, explicit bool) []doctor.Finding {
	const group = "Secrets and config"
	if err != nil {
		var probs config.Problems
		if errors.As(err, &probs) {
			return []doctor.Finding{{Group: group, Check: "config file", Status: doctor.StatusFail,
				Message: fmt.Sprintf("%s has %d problem(s)", path, len(probs)), Fix: "fix each problem listed", Detail: probs}}
		}
		status := doctor.StatusUnknown
		if explicit {
			status = doctor.StatusFail
		}
		return []doctor.Finding{{Group: group, Check: "config file", Status: status, Message: err.Error(),
			Fix: "pass --config FILE to validate membersync's configuration too"}}
	}
	out := []doctor.Finding{{Group: group, Check: "config file", Status: doctor.StatusPass, Message: path + " is valid"}}
	if probs := cfg.RequireSecrets(); len(probs) > 0 {
		out = append(out, doctor.Finding{Group: group, Check: "secrets in the environment", Status: doctor.StatusFail,
			Message: fmt.Sprintf("%d secret(s) missing or malformed", len(probs)), Fix: "set them in the service's environment", Detail: probs})
	} else {
		out = append(out, doctor.Finding{Group: group, Check: "secrets in the environment", Status: doctor.StatusPass, Message: "every secret serve needs is set"})
	}
	return out
}
