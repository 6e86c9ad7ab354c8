// Package lograte keeps a flood from writing a log line per request: a Limiter lets one line
// through per interval and counts the ones it held back, so that the line that goes out can say
// how many it stands for. A stranger who can make membersync refuse or fail a request can then
// spend at most one line per interval of the operator's disk.
package lograte

import (
	"sync"
	"time"
)

// Limiter lets one line through per Every. The zero value lets every line through. It is safe for
// concurrent use.
type Limiter struct {
	Every time.Duration

	mu   sync.Mutex
	next time.Time // when the next line may go; guarded by mu
	held int       // lines held back since the last one; guarded by mu
}

// Allow reports whether a line may be written at now, and how many were held back before it.
func (l *Limiter) Allow(now time.Time) (ok bool, held int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Before(l.next) {
		l.held++
		return false, 0
	}
	held, l.held, l.next = l.held, 0, now.Add(l.Every)
	return true, held
}
