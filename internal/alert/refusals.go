package alert

import (
	"context"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// refusalKeep bounds how long counts wait in memory for the database.
const refusalKeep = 24 * time.Hour

// Refusals counts refused webhook deliveries per minute and refusal code, and adds the counts to the
// store in batches, where the admin overview reads them (on any instance). They never alert: anyone
// can post a wrong signature, so the webhook-failures rule reads Stripe's record instead. Record never
// blocks and never touches the database, so a flood of bad signatures costs one write per flush,
// and refusals counted while the database is down (503s) are written once it is back. Counts wait
// at most a day.
type Refusals struct {
	Store *store.Store
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu      sync.Mutex
	pending map[refusalKey]int // guarded by mu
}

type refusalKey struct {
	minute time.Time
	code   string
}

var codeShape = regexp.MustCompile(`^[a-z_]{1,32}$`)

func (r *Refusals) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Record counts one refused delivery with its code (bad_signature, too_old, livemode_mismatch,
// unavailable, …; anything else shaped oddly counts as "other").
func (r *Refusals) Record(code string) {
	if !codeShape.MatchString(code) {
		code = "other"
	}
	k := refusalKey{r.now().UTC().Truncate(time.Minute), code}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[refusalKey]int{}
	}
	r.pending[k]++
}

// Flush writes the counts made so far. On failure they are kept for the next flush.
func (r *Refusals) Flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.pending = nil
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	counts := make([]store.WebhookRefusals, 0, len(batch))
	for k, n := range batch {
		counts = append(counts, store.WebhookRefusals{Minute: k.minute, Code: k.code, Count: n})
	}
	err := r.Store.AddWebhookRefusals(ctx, counts)
	if err == nil {
		return nil
	}
	oldest := r.now().Add(-refusalKeep)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		r.pending = map[refusalKey]int{}
	}
	for k, n := range batch {
		if k.minute.After(oldest) {
			r.pending[k] += n
		}
	}
	return err
}

// Run flushes every interval until ctx ends, then once more.
func (r *Refusals) Run(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				log.Warn("webhook refusal counts not written at shutdown", "err", err)
			}
			return
		case <-t.C:
			if err := r.Flush(ctx); err != nil {
				log.Warn("webhook refusal counts not written; kept for the next try", "err", err)
			}
		}
	}
}
