package sources

import (
	"context"
	"sync"
	"testing"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
	"github.com/membersync/membersync/internal/support"
)

// openStore opens a migrated SQLite store in the test's temporary folder.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, storetest.URL(t, store.SQLite))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

// newTriage returns the real triage on st with the default rules.
func newTriage(t *testing.T, st *store.Store) *support.Triage {
	t.Helper()
	rules, err := support.NewRules(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return &support.Triage{Store: st, Rules: rules, HashKey: []byte("test-key")}
}

// recorder is an Ingester that passes messages to next (the real triage, or nothing) and keeps
// what it was given and what came back.
type recorder struct {
	next Ingester
	err  error // returned instead of calling next when set

	mu       sync.Mutex
	messages []support.Message
	outcomes []support.Outcome
}

func (r *recorder) Ingest(ctx context.Context, m support.Message) (support.Outcome, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages = append(r.messages, m)
	if r.err != nil {
		return support.Outcome{}, r.err
	}
	var out support.Outcome
	if r.next != nil {
		var err error
		if out, err = r.next.Ingest(ctx, m); err != nil {
			return out, err
		}
	}
	r.outcomes = append(r.outcomes, out)
	return out, nil
}

// new returns the outcomes that were not duplicates.
func (r *recorder) fresh() []support.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []support.Outcome
	for _, o := range r.outcomes {
		if !o.Duplicate {
			out = append(out, o)
		}
	}
	return out
}

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.messages)
}
