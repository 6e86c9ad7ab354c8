package converge_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestTrigger checks that a trigger marks the person dirty and inserts their sync together: one
// job while a sync is waiting, however many triggers; nothing at all when the transaction rolls back.
func TestTrigger(t *testing.T) {
	t.Parallel()
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := storetest.Open(t, dialect)
			q, err := queue.New(st, queue.Options{})
			if err != nil {
				t.Fatal(err)
			}
			r := converge.Resyncer{Store: st, Queue: q}
			jobs := func() int {
				t.Helper()
				n, err := st.JobCount(ctx, converge.SyncArgs{}.Kind())
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			// A customer no webhook named becomes a person with a waiting sync.
			if err := r.Customer(ctx, "cus_new", "resync"); err != nil {
				t.Fatal(err)
			}
			pid, err := st.PersonIDByCustomer(ctx, "cus_new")
			if err != nil {
				t.Fatal(err)
			}
			before, err := st.Person(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			if got := jobs(); got != 1 || !before.Queued {
				t.Fatalf("after the first trigger: %d job(s), queued %v; want 1, true", got, before.Queued)
			}
			// Triggers while that sync waits move the generation (the sync re-reads) but add no job.
			for _, trigger := range []func() error{
				func() error { return r.Person(ctx, pid, "resync") },
				func() error { return r.Customer(ctx, "cus_new", "welcome") },
			} {
				if err := trigger(); err != nil {
					t.Fatal(err)
				}
			}
			after, err := st.Person(ctx, pid)
			if err != nil {
				t.Fatal(err)
			}
			if got := jobs(); got != 1 || after.Generation != before.Generation+2 {
				t.Errorf("after two more triggers: %d job(s), generation %d → %d; want 1 job, generation +2", got, before.Generation, after.Generation)
			}
			// A rolled-back transaction leaves neither a person nor a job.
			errRollback := errors.New("rollback")
			err = st.InTx(ctx, func(tx *store.Tx) error {
				if err := converge.TriggerCustomer(ctx, tx, q, "cus_rolled_back", "resync"); err != nil {
					return err
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatalf("InTx = %v, want the rollback", err)
			}
			if _, err := st.PersonIDByCustomer(ctx, "cus_rolled_back"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("person after a rollback: %v, want none", err)
			}
			if got := jobs(); got != 1 {
				t.Errorf("after a rolled-back trigger: %d job(s), want 1", got)
			}
		})
	}
}

// jobArgs are the job argument types only trigger.go may build.
var jobArgs = map[string]bool{"SyncArgs": true, "ResolveArgs": true}

// TestOnlyTriggerBuildsSyncJobs parses every non-test Go file of the module and fails when a
// composite literal of SyncArgs or ResolveArgs appears outside internal/converge/trigger.go: a sync
// is triggered through Trigger and its variants, which keep the dirty mark and the job together.
// Tests may build them (a zero SyncArgs names the job kind; a test may run a worker on a job).
func TestOnlyTriggerBuildsSyncJobs(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	allowed := filepath.Join(root, "internal", "converge", "trigger.go")
	fset := token.NewFileSet()
	inTrigger := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			name := argsType(lit.Type)
			if name == "" {
				return true
			}
			if path == allowed {
				inTrigger++
				return true
			}
			t.Errorf("%s: builds %s{…}: trigger a sync through converge.Trigger (or Batch, Resyncer) instead", fset.Position(lit.Pos()), name)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if inTrigger == 0 {
		t.Errorf("found no SyncArgs literal in %s: the check is looking in the wrong place", allowed)
	}
}

// argsType returns the name of the job argument type expr names (directly, through a pointer, or
// as the element of a slice, array or map literal), or "".
func argsType(expr ast.Expr) string {
	switch e := expr.(type) {
	case *ast.Ident:
		if jobArgs[e.Name] {
			return e.Name
		}
	case *ast.SelectorExpr:
		if jobArgs[e.Sel.Name] {
			return e.Sel.Name
		}
	case *ast.StarExpr:
		return argsType(e.X)
	case *ast.ArrayType:
		return argsType(e.Elt)
	case *ast.MapType:
		return argsType(e.Value)
	}
	return ""
}
