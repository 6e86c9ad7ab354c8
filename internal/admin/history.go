package admin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/history"
	"github.com/membersync/membersync/internal/web/respond"
)

// This file is the deploy and config history in the admin (package history): the timeline under
// Settings → History, GET /api/v1/history, the start markers on the overview's charts and the
// overview's "what changed?" lines beside the problems a deploy typically causes.

// historyPageSize is how many starts the timeline shows by default; ?limit= asks for up to 1000.
const historyPageSize = 100

// historyRow is one row of the timeline: a start, or a run of consecutive restarts shown as one.
type historyRow struct {
	At   time.Time // the start (the latest of a run)
	From time.Time // the earliest of a run of restarts; zero for one start
	Kind string    // "change", "restart" or "first"
	// Count is how many starts the row stands for (a run of restarts).
	Count    int
	Version  string
	Instance string
	Deltas   []deltaRow
}

// deltaRow is one change, worded for the page.
type deltaRow struct {
	Key    string
	Text   string // what happened to it: "changed (fingerprint 1a2b3c4d → 5e6f7a8b)", "1001 → 1002"
	Secret bool
}

type historyView struct {
	Rows  []historyRow
	Total int // starts read
	Limit int
}

// historyJSON is GET /api/v1/history.
type historyJSON struct {
	Starts []history.Start `json:"starts"`
}

func historyLimit(r *http.Request) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return historyPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 1000 {
		return 0, respond.NewError(http.StatusBadRequest, "bad_limit", "limit must be a number from 1 to 1000.")
	}
	return n, nil
}

func (h *Handler) historyPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	limit, err := historyLimit(r)
	if err != nil {
		return err
	}
	starts, err := history.List(r.Context(), h.st, limit)
	if err != nil {
		return err
	}
	v := historyView{Rows: historyRows(starts), Total: len(starts), Limit: limit}
	h.render(w, r, p, http.StatusOK, "history", view{Title: "History", Nav: "settings", Data: v})
	return nil
}

func (h *Handler) apiHistory(w http.ResponseWriter, r *http.Request, p *principal) error {
	limit, err := historyLimit(r)
	if err != nil {
		return err
	}
	starts, err := history.List(r.Context(), h.st, limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, historyJSON{Starts: starts})
	return nil
}

// historyRows turns starts (newest first) into the timeline's rows, a run of consecutive restarts
// of one version folded into one row.
func historyRows(starts []history.Start) []historyRow {
	var out []historyRow
	for _, s := range starts {
		row := historyRow{At: s.At, Kind: "change", Count: 1, Version: s.Build.Label(), Instance: s.Instance}
		switch {
		case s.First:
			row.Kind = "first"
		case s.Restart():
			row.Kind = "restart"
			if n := len(out); n > 0 && out[n-1].Kind == "restart" && out[n-1].Version == row.Version {
				last := &out[n-1]
				last.Count++
				last.From = s.At
				if last.Instance != s.Instance {
					last.Instance = "several instances"
				}
				continue
			}
		}
		for _, d := range s.Deltas {
			row.Deltas = append(row.Deltas, deltaText(d))
		}
		out = append(out, row)
	}
	return out
}

// deltaText words one change for the timeline, with the fingerprints of a changed secret (which
// name it without revealing it) and the old and new values of a config key.
func deltaText(d history.Delta) deltaRow {
	r := deltaRow{Key: d.Key, Secret: d.Secret}
	switch {
	case d.Key == history.KeyVersion:
		r.Text = d.Old + " → " + d.New
	case d.Key == history.KeyConfigFile:
		r.Text = "edited, no effective change (digest " + d.Old + "… → " + d.New + "…)"
	case d.Secret && d.Kind == history.Added:
		r.Text = "set (fingerprint " + d.New + ")"
	case d.Secret && d.Kind == history.Removed:
		r.Text = "unset (was fingerprint " + d.Old + ")"
	case d.Secret:
		r.Text = "changed (fingerprint " + d.Old + " → " + d.New + ")"
	case d.Plan:
		r.Text = "plan " + d.Kind
	case d.Kind == history.Added:
		r.Text = "added: " + d.New
	case d.Kind == history.Removed:
		r.Text = "removed (was " + d.Old + ")"
	default:
		r.Text = orEmptyValue(d.Old) + " → " + orEmptyValue(d.New)
	}
	return r
}

func orEmptyValue(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

// marker is a start drawn on an overview chart: a vertical line at X with its summary as the title.
type marker struct {
	X     float64
	Label string
	// Change is false for a restart that changed nothing (drawn fainter).
	Change bool
}

// whatChangedNote is the overview's answer to "what changed?": one sentence per problem a deploy
// typically causes (refused webhooks, failing syncs, the alerts of those), naming the nearest
// preceding start that changed something.
type whatChangedNote struct {
	Lines []string `json:"lines"`
}

// explainedRules are the alerts whose onset the overview explains when their detail does not
// already (alerts fired before the evaluator knew the history).
var explainedRules = map[string]string{
	"webhook_failures": "Undelivered webhooks",
	"webhook_silence":  "The webhook silence",
	"circle_failures":  "Circle sync failures",
	"credentials":      "Rejected credentials",
}

// refusalWords name the refusal codes a change of config or secrets causes.
var refusalWords = []struct{ code, what string }{
	{"bad_signature", "Bad signatures"},
	{"livemode_mismatch", "Deliveries of the other Stripe mode"},
	{"too_old", "Too-old signatures"},
}

// addHistory puts the starts of the charts' window on the overview's charts as markers and
// explains, from the same history, the problems the overview shows: refused webhook deliveries,
// syncs still failing and the firing alerts of explainedRules. hours are the charts' hours.
func (h *Handler) addHistory(ctx context.Context, now time.Time, v *overviewView, hours []time.Time) {
	if len(hours) > 0 {
		from, to := hours[0], hours[len(hours)-1].Add(time.Hour)
		if starts, err := history.Between(ctx, h.st, from, to, false, 100); err == nil && len(starts) > 0 {
			slot := chartW / float64(len(hours))
			var ms []marker
			for _, s := range starts {
				x := s.At.Sub(from).Hours() * slot
				ms = append(ms, marker{X: min(max(x, 0.5), chartW-0.5), Label: s.Line(), Change: !s.Restart()})
			}
			for i := range v.Charts {
				v.Charts[i].Markers = ms
			}
		}
	}
	var lines []string
	explain := func(what string, onset time.Time) {
		c, ok := history.Explain(ctx, h.st, onset)
		if !ok || c.Start.Restart() || c.Start.First {
			return // the overview names changes only
		}
		if line := c.Sentence(what) + "."; !slices.Contains(lines, line) {
			lines = append(lines, line)
		}
	}
	if v.Refusals != nil {
		if _, first, err := h.st.WebhookRefusalCounts(ctx, now.Add(-refusalWindow)); err == nil {
			for _, rw := range refusalWords {
				if at, ok := first[rw.code]; ok {
					explain(rw.what, at)
				}
			}
		}
	}
	if rec := v.Recovery; rec != nil && rec.FailingPeople > 0 {
		var onset time.Time
		for _, f := range rec.Failing {
			if onset.IsZero() || f.FirstFailed.Before(onset) {
				onset = f.FirstFailed
			}
		}
		explain("Failing syncs", onset)
	}
	for _, a := range v.Alerts {
		if what, ok := explainedRules[a.Rule]; ok && !strings.Contains(a.Detail, "What changed:") {
			explain(fmt.Sprintf("%s (%s)", what, a.Title), a.Since)
		}
	}
	if len(lines) > 0 {
		v.WhatChanged = &whatChangedNote{Lines: lines}
	}
}
