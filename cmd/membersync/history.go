package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/history"
	"github.com/membersync/membersync/internal/store"
)

// recordStart records this serve start in the deploy history (package history): the version, the
// config file's digest, the effective config, the secrets' fingerprints and what changed since the
// start before. The history explains failures; it never keeps serve from starting, so a failure to
// record is logged and serve goes on.
func recordStart(ctx context.Context, a *app, cfg *config.Config, opts serveOptions, log *slog.Logger) {
	now := time.Now
	if opts.app.now != nil {
		now = opts.app.now
	}
	snap := history.Take(cfg, opts.configPath, history.ReadBuild(version), history.Instance(), now())
	s, err := history.Record(ctx, a.store, snap)
	if err != nil {
		log.Warn("deploy history: this start was not recorded", "err", err)
		return
	}
	// Keys only: a changed value may be an address (support.email, alerts.email.to).
	changed := "nothing (a restart)"
	switch {
	case s.First:
		changed = "first recorded start"
	case len(s.Deltas) > 0:
		keys := make([]string, len(s.Deltas))
		for i, d := range s.Deltas {
			keys[i] = d.Key
		}
		changed = strings.Join(keys, ", ")
	}
	log.Info("deploy history: start recorded", "version", s.Build.Label(), "changed", changed)
}

// whatChanged answers the alert rules' "what changed?" (alert.Evaluator.WhatChanged) from the
// deploy history in st: a sentence naming the nearest preceding start that changed something, or ""
// when no start is recorded in the day before since.
func whatChanged(st *store.Store) func(ctx context.Context, what string, since time.Time) string {
	return func(ctx context.Context, what string, since time.Time) string {
		c, ok := history.Explain(ctx, st, since)
		if !ok {
			return ""
		}
		return c.Sentence(what)
	}
}

func cmdHistory(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "history [flags]",
		"Print the deploy and config history, newest first: each serve start with its version and what it\nchanged against the start before (secrets by name only, config keys with their old and new values,\nplans added and removed). Reads the database; works while serve runs.",
		"  membersync history\n  membersync history --limit 5 --json")
	cfgPath := configFlag(fs)
	limit := fs.Int("limit", 20, "print at most `N` starts (at most 1000)")
	asJSON := fs.Bool("json", false, "print JSON: one array of starts, each with its changes")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *limit <= 0 {
		fmt.Fprintln(e.stderr, "--limit must be 1 or more")
		return errUsage
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
	starts, err := history.List(ctx, st, *limit)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(starts)
	}
	if len(starts) == 0 {
		fmt.Fprintln(e.stdout, "no serve start recorded yet (serve records one each time it starts)")
		return nil
	}
	// A run of restarts of one version prints as one line: the latest, with how many and since when.
	for i := 0; i < len(starts); {
		s, n := starts[i], 1
		for s.Restart() && i+n < len(starts) && starts[i+n].Restart() && starts[i+n].Build.Label() == s.Build.Label() {
			n++
		}
		line := s.Line()
		if n > 1 {
			line += fmt.Sprintf(" (%d restarts since %s)", n, starts[i+n-1].At.UTC().Format("2006-01-02 15:04"))
		}
		fmt.Fprintln(e.stdout, line)
		i += n
	}
	return nil
}
