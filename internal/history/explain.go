package history

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// ExplainWindow is how far before a problem's onset Explain looks for a start.
const ExplainWindow = 24 * time.Hour

// explainGrace lets a start up to this long after the onset explain it: what Stripe sent while the
// old process stopped and the new one started fails from the new one's first minutes, yet began a
// moment before it.
const explainGrace = 2 * time.Minute

// Change is the answer to "what changed?" for a problem that began at Onset: the start that
// preceded it.
type Change struct {
	Start Start
	Onset time.Time
}

// Explain returns the nearest start at or before onset (or within two minutes after it) within
// ExplainWindow that changed something (version, config or secrets); when none did, the nearest
// start of any kind (then the answer is that nothing changed). ok is false when no start was
// recorded in the window, or the history cannot be read.
func Explain(ctx context.Context, st *store.Store, onset time.Time) (Change, bool) {
	if onset.IsZero() {
		return Change{}, false
	}
	from, to := onset.Add(-ExplainWindow), onset.Add(explainGrace)
	// The nearest change first: however many restarts came after it (a crash loop), it is the answer.
	starts, err := Between(ctx, st, from, to, true, 1)
	if err == nil && len(starts) == 0 {
		starts, err = Between(ctx, st, from, to, false, 1)
	}
	if err != nil || len(starts) == 0 {
		return Change{}, false
	}
	return Nearest(starts, onset)
}

// Nearest is Explain over starts already read (newest first).
func Nearest(starts []Start, onset time.Time) (Change, bool) {
	var nearest *Start
	for i := range starts {
		s := starts[i]
		if s.At.After(onset.Add(explainGrace)) || s.At.Before(onset.Add(-ExplainWindow)) {
			continue
		}
		if len(s.Deltas) > 0 {
			return Change{Start: s, Onset: onset}, true
		}
		if nearest == nil {
			nearest = &starts[i]
		}
	}
	if nearest == nil {
		return Change{}, false
	}
	return Change{Start: *nearest, Onset: onset}, true
}

// maxNamed is how many changes a sentence names before "and N more".
const maxNamed = 3

// Sentence says what changed before the problem that what names began: "Bad signatures began 2 min
// after the start at 14:02 UTC, which changed STRIPE_WEBHOOK_SECRET".
func (c Change) Sentence(what string) string {
	s := c.Start
	at := s.At.UTC().Format("15:04 UTC")
	if s.At.UTC().Format("2006-01-02") != c.Onset.UTC().Format("2006-01-02") {
		at = s.At.UTC().Format("2006-01-02 15:04 UTC")
	}
	lag := c.Onset.Sub(s.At)
	rel := span(lag) + " after"
	if lag < 0 {
		rel = span(-lag) + " before"
	}
	kind := "the start"
	switch {
	case s.First:
		kind = "the first recorded start"
	case s.Restart():
		kind = "a restart"
	}
	out := fmt.Sprintf("%s began %s %s at %s", what, rel, kind, at)
	switch {
	case s.First:
		return out + " (" + s.Build.Label() + "; no earlier start to compare with)"
	case s.Restart():
		return out + ", which changed nothing in the version, config or secrets"
	}
	names := s.changedNames()
	more := len(names) - maxNamed
	if more > 0 {
		names = append(names[:maxNamed], fmt.Sprintf("%d more", more))
	}
	list := names[0]
	if len(names) > 1 {
		list = strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
	return out + ", which changed " + list
}

// span words a duration for a sentence: "40 s", "2 min", "3 h 5 min".
func span(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d%time.Hour < time.Minute:
		return fmt.Sprintf("%d h", int(d.Hours()))
	}
	return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
}
