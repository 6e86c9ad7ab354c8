package converge

import (
	"context"
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
