package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/support"
	"github.com/membersync/membersync/internal/support/sources"
	"github.com/membersync/membersync/internal/web"
)

// The support sources in serve (internal/support/sources): the IMAP poll and the note posting as
// River jobs on the leader, and the three webhook endpoints, each only when configured.

// sourcesTriage builds the triage the support sources feed.
func (a *app) sourcesTriage() *support.Triage {
	cfg := a.cfg
	rules, err := support.NewRules(cfg.Support.Rules.ByCategory(), cfg.Support.Rules.ReplaceDefaults)
	if err != nil { // config validation refuses bad phrases; keep the defaults rather than stop
		a.log.Warn("support rules not loaded; the default rules classify", "err", err)
		rules, _ = support.NewRules(nil, false)
	}
	t := &support.Triage{Store: a.store, Rules: rules, KeepBodies: cfg.Support.KeepBodies, Plans: cfg.Plans, Names: a.names,
		HashKey: a.logHashKey(), Log: a.log.With("component", "support")}
	if a.metrics != nil {
		t.Metrics = a.metrics
	}
	return t
}

// logHashKey is the sync engine's key for hashed emails in logs.
func (a *app) logHashKey() []byte {
	k := sha256.Sum256([]byte("membersync-log-hash:" + a.cfg.Secrets.SigningKey))
	return k[:]
}

// notePosters returns the help desks membersync can post notes to, by source.
func (a *app) notePosters() map[string]sources.Poster {
	s, sec := a.cfg.Support, a.cfg.Secrets.Support
	out := map[string]sources.Poster{}
	if s.HelpScout.Enabled && sec.HelpScoutAppID != "" {
		out[sources.SourceHelpScout] = &sources.HelpScout{BaseURL: s.HelpScout.BaseURL, AppID: sec.HelpScoutAppID, AppSecret: sec.HelpScoutAppSecret,
			HTTP: a.egress[config.EgressHelpScout].Client(sources.DefaultTimeout)}
	}
	if s.Zendesk.Enabled && sec.ZendeskAPIToken != "" {
		out[sources.SourceZendesk] = &sources.Zendesk{BaseURL: s.Zendesk.ZendeskBaseURL(), Email: s.Zendesk.Email, Token: sec.ZendeskAPIToken,
			HTTP: a.egress[config.EgressZendesk].Client(sources.DefaultTimeout)}
	}
	return out
}

// scheduleSupport adds the mailbox poll (every support.imap.interval) and the note job (after each
// help desk message, and every minute) with their workers to serve's queue.
func (a *app) scheduleSupport(opts *queue.Options) {
	s := a.cfg.Support
	imap, desks := s.IMAP.Enabled(), s.HelpScout.Enabled || s.Zendesk.Enabled
	if !imap && !desks {
		return
	}
	triage := a.sourcesTriage()
	register := opts.Workers
	opts.Workers = func(q *queue.Queue, w *river.Workers) {
		if register != nil {
			register(q, w)
		}
		log := a.log.With("component", "support")
		if imap {
			dial := a.egress[config.EgressIMAP]
			river.AddWorker(w, &sources.PollWorker{Log: log, Poller: &sources.Poller{Config: s.IMAP, Password: a.cfg.Secrets.Support.IMAPPassword,
				Cursors: a.store, Ingester: triage, Dial: dial.DialContext, Log: log, HashKey: a.logHashKey()}})
		}
		if desks {
			river.AddWorker(w, &sources.NoteWorker{Notes: triage, Posters: a.notePosters(), Log: log})
		}
	}
	if imap {
		opts.PeriodicJobs = append(opts.PeriodicJobs, sources.PollJob(s.IMAP.Interval.D()))
	}
	if desks {
		opts.PeriodicJobs = append(opts.PeriodicJobs, sources.NoteJob())
	}
}

// supportMounts returns the support webhooks' endpoints for serve's mux, or nothing when none is
// configured. A help desk message wakes the note job at once; clientAddr names a delivery's client
// for its rate limit (serve's clientip resolver).
func (a *app) supportMounts(log *slog.Logger, clientAddr func(*http.Request) string) []web.Mounter {
	s, sec := a.cfg.Support, a.cfg.Secrets.Support
	h := &sources.Handler{Ingester: a.sourcesTriage(), Log: log.With("component", "support"), HashKey: a.logHashKey(), ClientAddr: clientAddr,
		OnTicket: func(ctx context.Context) {
			if err := a.queue.Insert(ctx, sources.NoteArgs{}, nil); err != nil {
				log.Warn("support note job not queued; the next minute's runs it", "err", err)
			}
		}}
	if s.HelpScout.Enabled {
		h.HelpScoutSecret = sec.HelpScoutWebhookSecret
	}
	if s.Zendesk.Enabled {
		h.ZendeskSecret = sec.ZendeskWebhookSecret
	}
	if s.Webhook.Enabled {
		h.WebhookSecret = sec.WebhookSecret
	}
	if h.HelpScoutSecret == "" && h.ZendeskSecret == "" && h.WebhookSecret == "" {
		return nil
	}
	return []web.Mounter{h}
}

// supportChecks tries each configured support source's credentials once (check, and the admin's
// "Check connections"): the mailbox login, Help Scout's token, Zendesk's API user. A source that is
// not configured adds no line; one whose secret is not set is not called.
func (a *app) supportChecks(ctx context.Context) []connCheck {
	s, sec := a.cfg.Support, a.cfg.Secrets.Support
	var out []connCheck
	if s.IMAP.Enabled() {
		c := connCheck{Name: "Mailbox"}
		if sec.IMAPPassword == "" {
			c.Message, c.Fix = "not called: "+config.EnvIMAPPassword+" is not set", "set "+config.EnvIMAPPassword+" in the environment"
		} else {
			p := &sources.Poller{Config: s.IMAP, Password: sec.IMAPPassword, Dial: a.egress[config.EgressIMAP].DialContext}
			if n, err := p.Check(ctx); err != nil {
				c.Message, c.Fix = err.Error(), "check support.imap.host, security, username and "+config.EnvIMAPPassword
			} else {
				c.OK, c.Message = true, fmt.Sprintf("logged in to %s; %q holds %d messages (read-only)", s.IMAP.Host, s.IMAP.Mailbox, n)
			}
		}
		out = append(out, c)
	}
	for source, poster := range a.notePosters() {
		var c connCheck
		var err error
		switch p := poster.(type) {
		case *sources.HelpScout:
			c.Name = "Help Scout"
			if err = p.Check(ctx); err == nil {
				c.Message = "the app's credentials get an access token: notes can be posted"
			}
		case *sources.Zendesk:
			c.Name = "Zendesk"
			var role string
			if role, err = p.Check(ctx); err == nil {
				c.Message = "the API token acts as " + p.Email + " (" + role + "): notes can be posted"
			}
		default:
			continue
		}
		if err != nil {
			c.Message, c.Fix = err.Error(), "notes are not posted to "+source+" until this works; the diagnosis still shows in the admin"
		} else {
			c.OK = true
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y connCheck) int { return strings.Compare(x.Name, y.Name) })
	return out
}
