package journey

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/store"
)

// openedReviewKinds reads internal/ for every review kind the code opens: the Kind of each
// store.ReviewItem literal (a string, or a constant of its package), and the entitlement review
// kinds (the Review* constants of internal/entitlement, which the engine opens as they come).
func openedReviewKinds(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	consts := map[string]map[string]string{} // dir → constant → string value
	var files []*ast.File
	dirs := map[*ast.File]string{}
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		dir := filepath.Dir(path)
		files, dirs[f] = append(files, f), dir
		if consts[dir] == nil {
			consts[dir] = map[string]string{}
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[dir][name.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for name, v := range consts[filepath.Join("..", "entitlement")] {
		if strings.HasPrefix(name, "Review") {
			kinds[v] = true
		}
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			cl, ok := n.(*ast.CompositeLit)
			if !ok || !isReviewItem(cl.Type) {
				return true
			}
			for _, el := range cl.Elts {
				kv, ok := el.(*ast.KeyValueExpr)
				if !ok || kv.Key.(*ast.Ident).Name != "Kind" {
					continue
				}
				switch v := kv.Value.(type) {
				case *ast.BasicLit:
					s, _ := strconv.Unquote(v.Value)
					kinds[s] = true
				case *ast.Ident:
					s, ok := consts[dirs[f]][v.Name]
					if !ok {
						t.Errorf("%s: review kind %s is not a string constant of its package", fset.Position(v.Pos()), v.Name)
					}
					kinds[s] = true
				}
			}
			return true
		})
	}
	var out []string
	for k := range kinds {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func isReviewItem(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.SelectorExpr:
		return x.Sel.Name == "ReviewItem"
	case *ast.Ident:
		return x.Name == "ReviewItem"
	}
	return false
}

// TestEveryReviewKindHasWords fails when the code opens a review kind that Review does not word:
// each needs a title and a suggested action, not its code.
func TestEveryReviewKindHasWords(t *testing.T) {
	kinds := openedReviewKinds(t)
	for _, want := range []string{"credentials", "action_failed", "sync_failing", "retries_exhausted", "email_conflict",
		"circle_member_limit", "unmapped_price", "conflicting_data", "unknown_status", "drift_sweep", "doctor_failure"} {
		if !slices.Contains(kinds, want) {
			t.Errorf("the scan of internal/ missed review kind %q (found %v)", want, kinds)
		}
	}
	for _, k := range kinds {
		if _, ok := reviewWords[k]; !ok {
			t.Errorf("review kind %q (opened in internal/) has no words in reviewWords", k)
		}
	}
	for k, w := range reviewWords {
		title, action := Review(k)
		if title != w.title || action != w.action || title == "" || !strings.HasSuffix(action, ".") || strings.Contains(title, "_") {
			t.Errorf("Review(%q) = %q, %q", k, title, action)
		}
	}
	// A provider's limit other than Circle's (engine.go: prov + "_limit").
	if title, _ := Review("kit_limit"); title != "Kit reached a limit of its plan" {
		t.Errorf("Review(kit_limit) title %q", title)
	}
	if title, action := Review("brand_new_kind"); title != "Brand new kind" || !strings.Contains(action, "Retry") {
		t.Errorf("an unknown kind: %q, %q", title, action)
	}
}

type names struct{}

func (names) AccessGroup(id int64) string { return "Pro members" }
func (names) Tag(id int64) string         { return "pro-active" }
func (names) Sequence(id int64) string    { return "Onboarding" }
func (names) Price(id string) string      { return "Pro (€29/month)" }

func TestReviewOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		it                    store.ReviewItem
		wantTitle, wantAction string // wantAction: a part of the action
	}{
		{store.ReviewItem{Kind: "credentials", ActionKey: "circle"}, "Circle refused membersync's credentials", "Fix CIRCLE_API_TOKEN"},
		{store.ReviewItem{Kind: "credentials", ActionKey: "kit"}, "Kit refused membersync's credentials", "Fix KIT_API_KEY"},
		{store.ReviewItem{Kind: "credentials", ActionKey: "stripe", Reason: "membersync's outbound allowlist refused the connection to api.stripe.com"},
			"membersync's outbound allowlist blocked Stripe", "restart membersync"},
		{store.ReviewItem{Kind: "action_failed", ActionKey: "circle:add_access_group:11"}, "Circle refused to add them to Pro members", "press Retry"},
		{store.ReviewItem{Kind: "action_failed", ActionKey: "circle:remove_access_group:11"}, "Circle refused to remove them from Pro members", "press Retry"},
		{store.ReviewItem{Kind: "action_failed", ActionKey: "kit:tag:21"}, "Kit refused to tag them pro-active", "press Retry"},
		{store.ReviewItem{Kind: "action_failed", ActionKey: "kit:untag:21"}, "Kit refused to remove pro-active", "press Retry"},
		{store.ReviewItem{Kind: "action_failed", ActionKey: "kit:add_to_sequence:31"}, "Kit refused to enroll them in Onboarding", "press Retry"},
		{store.ReviewItem{Kind: "action_failed", ActionKey: "kit:upsert_subscriber"}, "Kit refused to create their subscriber", "press Retry"},
		{store.ReviewItem{Kind: "action_failed", ActionKey: "stripe"}, "A Stripe request can never succeed as sent", "Check the customer in Stripe"},
		{store.ReviewItem{Kind: "action_failed", ActionKey: "forget_unmanaged"}, "A change can never succeed as sent", "press Retry"},
		{store.ReviewItem{Kind: "doctor_failure", ActionKey: "example.com"}, "The launch audit found new failures", "membersync doctor --domain example.com"},
		{store.ReviewItem{Kind: "unmapped_price", ActionKey: "sub_1"}, "A payment for a price no plan maps", "Add the price"},
	} {
		title, action := ReviewOf(tc.it, names{})
		if title != tc.wantTitle || !strings.Contains(action, tc.wantAction) {
			t.Errorf("ReviewOf(%s %s) = %q, %q; want %q, …%q…", tc.it.Kind, tc.it.ActionKey, title, action, tc.wantTitle, tc.wantAction)
		}
	}
	// Without names: kinds and ids.
	for key, want := range map[string]string{"kit:tag:21": "Kit refused to tag them Kit tag 21", "circle:add_access_group:11": "Circle refused to add them to access group 11",
		"kit:add_to_sequence:31": "Kit refused to enroll them in Kit sequence 31"} {
		if title, _ := ReviewOf(store.ReviewItem{Kind: "action_failed", ActionKey: key}, nil); title != want {
			t.Errorf("ReviewOf(%s) without names = %q, want %q", key, title, want)
		}
	}
}
