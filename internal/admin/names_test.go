package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestSettingsShowNames: the settings page names the plan mapping's access group, tags, sequence
// and price from the cached catalog, with each id beside its name; an id the catalog does not know
// reads as Fallback words it; the settings API labels every id.
func TestSettingsShowNames(t *testing.T) {
	ctx := context.Background()
	var names *catalog.Cached
	f := newFixture(t, storetest.Dialects()[0], func(d *Deps) {
		st := d.Store
		at := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
		for _, l := range []struct {
			provider, kind string
			names          []store.CatalogName
		}{
			{"circle", "access_group", []store.CatalogName{{ID: "11", Name: "Pro members"}}},
			{"kit", "tag", []store.CatalogName{{ID: "21", Name: "pro-active"}, {ID: "22", Name: `<b>canceled</b>`}}},
			{"kit", "sequence", []store.CatalogName{{ID: "31", Name: "Welcome to Pro"}}},
			{"stripe", "price", []store.CatalogName{{ID: "price_pro", Name: "Pro", Detail: "€29/month"}}},
		} {
			if err := st.ReplaceCatalogNames(ctx, l.provider, l.kind, l.names, at); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if names, err = catalog.Load(ctx, st); err != nil {
			t.Fatal(err)
		}
		d.Names = names
		d.Config.Plans[0].Kit.RetentionSequence = 32 // not in the catalog
	})
	c := f.login(RoleViewer)
	_, page := c.get("/admin/settings")
	for _, want := range []string{
		`<span class="name" title="Circle access group 11">Pro members</span> <span class="muted small mono">#11</span>`,
		`active: <span class="name" title="Kit tag 21">pro-active</span> <span class="muted small mono">#21</span>`,
		`canceled: <span class="name" title="Kit tag 22">&lt;b&gt;canceled&lt;/b&gt;</span>`,
		`onboarding: <span class="name" title="Kit sequence 31">Welcome to Pro</span> <span class="muted small mono">#31</span>`,
		`retention: <span class="name" title="Kit sequence 32">sequence 32</span>`,
		`<span class="name" title="Stripe price price_pro">Pro (€29/month)</span> <span class="muted small mono">price_pro</span>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("settings page lacks %s", want)
		}
	}
	if strings.Contains(page, "<b>canceled</b>") {
		t.Error("a provider's name was not escaped")
	}
	// The person page's grants name them too (and escape them).
	_, page = c.get(fmt.Sprintf("/admin/people/%d", f.personID))
	for _, want := range []string{"Circle access group “Pro members” (#11)", "Kit tag “pro-active” (#21) (active)", "Kit onboarding sequence “Welcome to Pro” (#31)"} {
		if !strings.Contains(page, html.EscapeString(want)) && !strings.Contains(page, want) {
			t.Errorf("person page lacks %s", want)
		}
	}

	_, body := c.get("/api/v1/settings")
	var api struct {
		Plans []struct {
			AccessGroups []int64 `json:"access_groups"`
			Names        struct {
				AccessGroups []catalog.Label `json:"access_groups"`
				Prices       []catalog.Label `json:"prices"`
				Tags         []struct {
					Stage string `json:"stage"`
					catalog.Label
				} `json:"tags"`
				Retention *catalog.Label `json:"retention_sequence"`
			} `json:"names"`
		} `json:"plans"`
	}
	if err := json.Unmarshal([]byte(body), &api); err != nil || len(api.Plans) != 1 {
		t.Fatalf("settings API: %v\n%s", err, body)
	}
	p := api.Plans[0]
	if len(p.AccessGroups) != 1 || p.AccessGroups[0] != 11 {
		t.Errorf("access_groups changed shape: %v", p.AccessGroups)
	}
	if g := p.Names.AccessGroups; len(g) != 1 || g[0] != (catalog.Label{Kind: catalog.KindAccessGroup, ID: "11", Name: "Pro members", Known: true}) {
		t.Errorf("names.access_groups = %+v", g)
	}
	if pr := p.Names.Prices; len(pr) != 1 || pr[0].Name != "Pro (€29/month)" || !pr[0].Known {
		t.Errorf("names.prices = %+v", pr)
	}
	if tg := p.Names.Tags; len(tg) != 2 || tg[0].Stage != "active" || tg[0].Name != "pro-active" || tg[1].Stage != "canceled" {
		t.Errorf("names.tags = %+v", tg)
	}
	if r := p.Names.Retention; r == nil || r.Known || r.Name != "sequence 32" {
		t.Errorf("names.retention_sequence = %+v, want the fallback", r)
	}
}

// TestNameFuncs: the template functions other pages call name ids through the handler's names,
// and a handler built without Names writes every id as Fallback words it.
func TestNameFuncs(t *testing.T) {
	names, err := catalog.Load(context.Background(), fixedNames{{Provider: "circle", Kind: "access_group", ID: "11", Name: "Pro members"},
		{Provider: "kit", Kind: "sequence", ID: "7", Name: "Welcome"}})
	if err != nil {
		t.Fatal(err)
	}
	const src = `{{accessGroup 11}}|{{tag 5}}|{{sequence .Seq}}|{{price "price_x"}}|{{product "prod_x"}}|{{with nameOf "sequence" .Seq}}{{.Name}} {{.IDText}}{{end}}`
	for _, tt := range []struct {
		names catalog.Names
		want  string
	}{
		{names, `<span class="name" title="Circle access group 11">Pro members</span> <span class="muted small mono">#11</span>|` +
			`<span class="name" title="Kit tag 5">tag 5</span>|` +
			`<span class="name" title="Kit sequence 7">Welcome</span> <span class="muted small mono">#7</span>|` +
			`<span class="name" title="Stripe price price_x">price price_x</span>|` +
			`<span class="name" title="Stripe product prod_x">product prod_x</span>|Welcome #7`},
		{catalog.Or(nil), `<span class="name" title="Circle access group 11">access group 11</span>|` +
			`<span class="name" title="Kit tag 5">tag 5</span>|` +
			`<span class="name" title="Kit sequence 7">sequence 7</span>|` +
			`<span class="name" title="Stripe price price_x">price price_x</span>|` +
			`<span class="name" title="Stripe product prod_x">product prod_x</span>|sequence 7 #7`},
	} {
		tmpl, err := mustParsePages(time.Now, tt.names).byName["settings"].Clone()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tmpl.New("names").Parse(src); err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tmpl.ExecuteTemplate(&b, "names", map[string]int64{"Seq": 7}); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("got  %s\nwant %s", b.String(), tt.want)
		}
	}
}

// fixedNames is a catalog.Source of fixed rows.
type fixedNames []store.CatalogName

func (f fixedNames) CatalogNames(context.Context) ([]store.CatalogName, error) { return f, nil }
