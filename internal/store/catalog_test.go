package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestCatalogNames: replacing one provider's kind replaces exactly its rows (renamed, added and
// vanished ids), keeps the other kinds, survives a reopen, takes the last of a duplicated id,
// writes lists longer than one INSERT, and refuses a row without an id without touching the cache.
func TestCatalogNames(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			url := storetest.URL(t, d)
			st := openStore(t, url)
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if got, err := st.CatalogNames(ctx); err != nil || len(got) != 0 {
				t.Fatalf("a new database: %v, %v; want no names", got, err)
			}
			must := func(provider, kind string, at time.Time, names ...store.CatalogName) {
				t.Helper()
				if err := st.ReplaceCatalogNames(ctx, provider, kind, names, at); err != nil {
					t.Fatal(err)
				}
			}
			must("circle", "access_group", t0, store.CatalogName{ID: "11", Name: "Pro members"}, store.CatalogName{ID: "12", Name: "Course", Detail: "archived"})
			must("kit", "tag", t0, store.CatalogName{ID: "1001", Name: "pro-active"})
			must("kit", "sequence", t0, store.CatalogName{ID: "7", Name: "Welcome"})
			must("stripe", "price", t0, store.CatalogName{ID: "price_1", Name: "Pro", Detail: "€29/month"})

			t1 := t0.Add(24 * time.Hour)
			must("circle", "access_group", t1, store.CatalogName{ID: "11", Name: "Pro community"}, store.CatalogName{ID: "13", Name: "Alumni"},
				store.CatalogName{ID: "13", Name: "Alumni 2026"})
			got := catalogRows(t, openStore(t, url))
			want := []string{
				"circle access_group 11 Pro community  " + t1.Format(time.RFC3339),
				"circle access_group 13 Alumni 2026  " + t1.Format(time.RFC3339),
				"kit sequence 7 Welcome  " + t0.Format(time.RFC3339),
				"kit tag 1001 pro-active  " + t0.Format(time.RFC3339),
				"stripe price price_1 Pro €29/month " + t0.Format(time.RFC3339),
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("names:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}

			// An empty list is a real answer: the kind has no objects any more.
			t2 := t1.Add(time.Hour)
			must("kit", "sequence", t2)
			if got := catalogRows(t, st); len(got) != 4 || strings.Contains(strings.Join(got, "\n"), "Welcome") {
				t.Errorf("after an empty sequence list: %v", got)
			}

			refreshed, err := st.CatalogRefreshes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range map[string]time.Time{"circle:access_group": t1, "kit:tag": t0, "kit:sequence": t2, "stripe:price": t0} {
				if !refreshed[k].Equal(want) {
					t.Errorf("%s refreshed at %v, want %v", k, refreshed[k], want)
				}
			}
			if len(refreshed) != 4 {
				t.Errorf("refresh times %v, want four kinds", refreshed)
			}

			// A refused list changes nothing.
			if err := st.ReplaceCatalogNames(ctx, "kit", "tag", []store.CatalogName{{ID: "1002", Name: "b"}, {Name: "no id"}}, t1); err == nil {
				t.Error("a name without an id: want an error")
			}
			if err := st.ReplaceCatalogNames(ctx, "", "tag", nil, t1); err == nil {
				t.Error("no provider: want an error")
			}
			if got := catalogRows(t, st); !strings.Contains(strings.Join(got, "\n"), "kit tag 1001 pro-active") {
				t.Errorf("a refused replace touched the cache: %v", got)
			}

			// More rows than one INSERT holds.
			var many []store.CatalogName
			for i := range 250 {
				many = append(many, store.CatalogName{ID: fmt.Sprint(5000 + i), Name: fmt.Sprintf("tag %d", i)})
			}
			must("kit", "tag", t1, many...)
			all, err := st.CatalogNames(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tags := 0
			for _, n := range all {
				if n.Kind == "tag" {
					tags++
				}
			}
			if tags != 250 || len(all) != 253 {
				t.Errorf("after 250 tags: %d tags of %d names, want 250 of 253", tags, len(all))
			}
		})
	}
}

func catalogRows(t *testing.T, st *store.Store) []string {
	t.Helper()
	all, err := st.CatalogNames(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range all {
		out = append(out, fmt.Sprintf("%s %s %s %s %s %s", n.Provider, n.Kind, n.ID, n.Name, n.Detail, n.FetchedAt.Format(time.RFC3339)))
	}
	return out
}
