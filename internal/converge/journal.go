package converge

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/store"
)

// journal records one sync's steps for the person's journey.
type journal struct {
	e        *Engine
	ctx      context.Context
	personID int64
	attempt  int
	calls    atomic.Int64 // calls may be reported from concurrent reads

	mu  sync.Mutex
	log *slog.Logger // the sync's logger, carrying the person hash once known (guarded by mu)
}

func (j *journal) setLog(l *slog.Logger) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.log = l
}

// call records one provider HTTP call (every attempt).
func (j *journal) call(c provider.Call) {
	j.calls.Add(1)
	result := "ok"
	detail := ""
	if c.Err != nil {
		result = provider.KindOf(c.Err).String()
		detail = safeError(c.Err)
	}
	j.addAt(c.Started, "call", c.Provider+":"+c.Operation, c.Target, result, c.Status, c.Duration, detail, c.Attempt)
	j.mu.Lock()
	log := j.log
	j.mu.Unlock()
	if log != nil {
		// One line per call, so that a person's journey can be followed with grep on their hash.
		log.Info("provider call", "action", c.Provider+":"+c.Operation, "target", c.Target, "result", result,
			"status", c.Status, "call_attempt", c.Attempt, "duration_ms", c.Duration.Milliseconds())
	}
}

func (j *journal) add(kind, action, target, result string, status int, d time.Duration, detail string) {
	j.addAt(time.Time{}, kind, action, target, result, status, d, detail, j.attempt)
}

func (j *journal) addAt(at time.Time, kind, action, target, result string, status int, d time.Duration, detail string, attempt int) {
	err := j.e.Store.AppendJournal(context.WithoutCancel(j.ctx), store.JournalEntry{
		PersonID: j.personID, At: at, Kind: kind, Action: action, Target: target, Result: result,
		Status: status, Attempt: attempt, Duration: d, Detail: detail,
	})
	if err != nil {
		j.e.Log.Error("writing journal", "err", err, "person_id", j.personID)
	}
}
