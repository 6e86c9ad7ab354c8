package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/web/respond"
)

const (
	// readyTimeout bounds one readiness check.
	readyTimeout = 2 * time.Second
	// readyCache is how long one readiness check answers /readyz. The check writes to the database
	// and /readyz is public: polled flat out, it costs one write a second, not one a request.
	readyCache = time.Second
	// notReadyLogEvery is the least time between two readiness log lines; failed checks in between
	// are counted and the count is logged with the next line.
	notReadyLogEvery = 10 * time.Second
)

// readiness is what /readyz remembers between requests. All fields are guarded by mu.
type readiness struct {
	mu      sync.Mutex
	running chan struct{} // closed when the check under way ends; nil when none is
	checked time.Time     // when the last check ended
	err     error         // the last check's result

	lastErr error     // the last failed check's error
	lastAt  time.Time // and when it ended

	loggedAt   time.Time // when the last readiness line was logged
	loggedDown bool      // whether that line said "not ready"
	unlogged   int       // failed checks since that line
}

// Readiness is the check behind /readyz and what it remembers: the last failure, for the operator
// (anonymous callers only learn a status word). Build it before the Server that serves it, so that
// the admin can be given LastNotReady at construction. Its fields are set once.
type Readiness struct {
	// Check reports whether the instance can do its work (database, migrations, queue, a write).
	Check func(ctx context.Context) error
	Log   *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	state readiness
}

func (rd *Readiness) now() time.Time {
	if rd.Now != nil {
		return rd.Now()
	}
	return time.Now()
}

// LastNotReady returns the error of the last failed readiness check and when it was seen; nil and
// the zero time when no check has failed since the server started. A later successful check does
// not clear it.
func (rd *Readiness) LastNotReady() (error, time.Time) {
	rd.state.mu.Lock()
	defer rd.state.mu.Unlock()
	return rd.state.lastErr, rd.state.lastAt
}

// readyz is GET /readyz: 200 {"status":"ready"} or 503 {"status":"unavailable"}, and nothing else.
// Why it is not ready goes to the log and LastNotReady: the error can name the database's user, host
// and name.
func (s *Server) readyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.Ready.check(r.Context()); err != nil {
			respond.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
		respond.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// check runs Check, at most one at a time and at most once per readyCache: concurrent callers
// share the check under way, later ones its result while it is fresh.
func (rd *Readiness) check(ctx context.Context) error {
	if rd == nil || rd.Check == nil {
		return nil
	}
	rs := &rd.state
	rs.mu.Lock()
	if ch := rs.running; ch != nil {
		rs.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return rs.err
	}
	if !rs.checked.IsZero() && rd.now().Sub(rs.checked) < readyCache {
		defer rs.mu.Unlock()
		return rs.err
	}
	ch := make(chan struct{})
	rs.running = ch
	rs.mu.Unlock()

	err := errors.New("the readiness check panicked")
	defer func() { // also when Ready panics, so that no caller waits forever
		rs.mu.Lock()
		rs.running = nil
		rs.record(rd.Log, rd.now(), err)
		rs.mu.Unlock()
		close(ch)
	}()
	// The check is shared: one caller hanging up must not fail it for the others.
	checkCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), readyTimeout)
	defer cancel()
	err = rd.Check(checkCtx)
	return err
}

// record keeps a check's result and logs at most one line per notReadyLogEvery, except that the
// first success after a logged failure is logged at once ("ready again").
func (rs *readiness) record(log *slog.Logger, now time.Time, err error) {
	rs.checked, rs.err = now, err
	due := rs.loggedAt.IsZero() || now.Sub(rs.loggedAt) >= notReadyLogEvery
	if err != nil {
		rs.lastErr, rs.lastAt = err, now
		rs.unlogged++
		if due {
			log.Warn("not ready", "err", err, "failed_checks", rs.unlogged, "log_interval", notReadyLogEvery.String())
			rs.loggedAt, rs.loggedDown, rs.unlogged = now, true, 0
		}
		return
	}
	if rs.loggedDown || (rs.unlogged > 0 && due) {
		log.Info("ready again", "failed_checks_not_logged", rs.unlogged, "last_err", rs.lastErr)
		rs.loggedAt, rs.loggedDown, rs.unlogged = now, false, 0
	}
}
