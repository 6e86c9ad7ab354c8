package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/provider"
)

func cmdCatalog(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "catalog [flags]",
		`Print every Circle access group, Kit tag, Kit sequence and Stripe price (with its product's name
and amount) with its id and name, to write the config's plans from. "managed by" names the plans
of the config that use each one, and ids the config names that no provider listed are printed
last. The lists are also cached for the admin pages, trace and alerts (as check and serve do).
Exit status 1 when a provider could not be listed (the others are printed).`,
		"  membersync catalog --config /etc/membersync.yaml\n  membersync catalog --json | jq '.tags'")
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	a, err := newApp(ctx, cfg, newLogger(e.stderr, cfg.LogFormat), appOptions{})
	if err != nil {
		return err
	}
	defer a.close()
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	rep := newCatalogReport(cfg, a.refresher(a.names).Refresh(rctx))
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := rep.writeTable(e); err != nil {
		return err
	}
	if len(rep.Errors) > 0 {
		return &exitError{1, errors.New("some providers could not be listed (see above)")}
	}
	return nil
}

// catalogRow is one listed object.
type catalogRow struct {
	// ID is a number for Circle and Kit, a string for Stripe: as the config writes it.
	ID     any    `json:"id"`
	Name   string `json:"name"`
	Detail string `json:"detail,omitempty"`
	// Product is a price's product id.
	Product string `json:"product,omitempty"`
	// ManagedBy names the plans using it: "pro", "pro (active, trialing)", "pro (onboarding)",
	// "pro (by product)". Empty when the config leaves it alone.
	ManagedBy []string `json:"managed_by"`
}

// catalogReport is what the command prints.
type catalogReport struct {
	AccessGroups []catalogRow `json:"access_groups"`
	Tags         []catalogRow `json:"tags"`
	Sequences    []catalogRow `json:"sequences"`
	Prices       []catalogRow `json:"prices"`
	// Unlisted are ids the config names that their provider did not list ("plan pro: access group
	// 999"), for the lists that were read.
	Unlisted []string `json:"unlisted"`
	// Errors says which lists could not be read, and why.
	Errors []catalogError `json:"errors"`
}

type catalogError struct {
	List  string `json:"list"`
	Error string `json:"error"`
}

// newCatalogReport turns a refresh into the report, marking what cfg's plans manage.
func newCatalogReport(cfg *config.Config, res catalog.Result) catalogReport {
	rep := catalogReport{AccessGroups: []catalogRow{}, Tags: []catalogRow{}, Sequences: []catalogRow{}, Prices: []catalogRow{},
		Unlisted: []string{}, Errors: []catalogError{}}
	managed := managedBy(cfg)
	listed := map[catalog.Kind]map[string]bool{}
	for _, l := range res.Lists {
		if l.Kind == catalog.KindProduct {
			continue // shown as the prices' names
		}
		if l.Err != nil {
			_, msg := provider.Explain(l.Err)
			rep.Errors = append(rep.Errors, catalogError{List: l.Kind.Provider() + " " + l.Kind.Noun() + "s", Error: msg})
			continue
		}
		listed[l.Kind] = map[string]bool{}
		for _, en := range l.Entries {
			listed[l.Kind][en.ID] = true
			row := catalogRow{ID: en.ID, Name: en.Name, Detail: en.Detail, Product: en.Product,
				ManagedBy: slices.Clone(managed[l.Kind][en.ID])}
			if n, err := strconv.ParseInt(en.ID, 10, 64); err == nil && l.Kind != catalog.KindPrice {
				row.ID = n
			}
			if l.Kind == catalog.KindPrice && en.Product != "" {
				row.ManagedBy = append(row.ManagedBy, managed[catalog.KindProduct][en.Product]...)
			}
			if row.ManagedBy == nil {
				row.ManagedBy = []string{}
			}
			switch l.Kind {
			case catalog.KindAccessGroup:
				rep.AccessGroups = append(rep.AccessGroups, row)
			case catalog.KindTag:
				rep.Tags = append(rep.Tags, row)
			case catalog.KindSequence:
				rep.Sequences = append(rep.Sequences, row)
			case catalog.KindPrice:
				rep.Prices = append(rep.Prices, row)
			}
		}
	}
	for _, u := range configIDs(cfg) {
		if ids, ok := listed[u.kind]; ok && !ids[u.id] {
			rep.Unlisted = append(rep.Unlisted, fmt.Sprintf("plan %s: %s %s", u.plan, u.kind.Noun(), u.id))
		}
	}
	sort.Strings(rep.Unlisted)
	rep.Unlisted = slices.Compact(rep.Unlisted)
	return rep
}

// configID is one id a plan names.
type configID struct {
	plan string
	kind catalog.Kind
	id   string
	role string // "active" for a tag, "onboarding" for a sequence, "by product" for a product
}

// configIDs lists every id the plans name. A Stripe product is checked against the prices'
// products (Stripe lists no products here), so it is not listed as unlisted on its own.
func configIDs(cfg *config.Config) []configID {
	var out []configID
	for _, p := range cfg.Plans {
		for _, id := range p.Stripe.Prices {
			out = append(out, configID{p.ID, catalog.KindPrice, id, ""})
		}
		for _, id := range p.Stripe.Products {
			out = append(out, configID{p.ID, catalog.KindProduct, id, "by product"})
		}
		for _, g := range p.Circle.AccessGroups {
			out = append(out, configID{p.ID, catalog.KindAccessGroup, strconv.FormatInt(g, 10), ""})
		}
		stages := make([]string, 0, len(p.Kit.Tags))
		for stage := range p.Kit.Tags {
			stages = append(stages, stage)
		}
		sort.Strings(stages)
		for _, stage := range stages {
			out = append(out, configID{p.ID, catalog.KindTag, strconv.FormatInt(p.Kit.Tags[stage], 10), stage})
		}
		if p.Kit.OnboardingSequence != 0 {
			out = append(out, configID{p.ID, catalog.KindSequence, strconv.FormatInt(p.Kit.OnboardingSequence, 10), "onboarding"})
		}
		if p.Kit.RetentionSequence != 0 {
			out = append(out, configID{p.ID, catalog.KindSequence, strconv.FormatInt(p.Kit.RetentionSequence, 10), "retention"})
		}
	}
	return out
}

// managedBy maps each kind's ids to the plans using them: "pro" or "pro (active, trialing)".
func managedBy(cfg *config.Config) map[catalog.Kind]map[string][]string {
	roles := map[catalog.Kind]map[string]map[string][]string{} // kind → id → plan → roles
	var order []string                                         // plans in config order
	for _, c := range configIDs(cfg) {
		if roles[c.kind] == nil {
			roles[c.kind] = map[string]map[string][]string{}
		}
		if roles[c.kind][c.id] == nil {
			roles[c.kind][c.id] = map[string][]string{}
		}
		rs := roles[c.kind][c.id][c.plan]
		if c.role != "" && !slices.Contains(rs, c.role) {
			rs = append(rs, c.role)
		}
		roles[c.kind][c.id][c.plan] = rs
		if !slices.Contains(order, c.plan) {
			order = append(order, c.plan)
		}
	}
	out := map[catalog.Kind]map[string][]string{}
	for kind, byID := range roles {
		out[kind] = map[string][]string{}
		for id, byPlan := range byID {
			for _, plan := range order {
				rs, ok := byPlan[plan]
				if !ok {
					continue
				}
				s := plan
				if len(rs) > 0 {
					s += " (" + strings.Join(rs, ", ") + ")"
				}
				out[kind][id] = append(out[kind][id], s)
			}
		}
	}
	return out
}

// writeTable prints the report as one aligned table, then what is unlisted and what failed.
func (rep catalogReport) writeTable(e env) error {
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tID\tNAME\tDETAIL\tMANAGED BY")
	for _, sec := range []struct {
		kind string
		rows []catalogRow
	}{
		{"circle access group", rep.AccessGroups}, {"kit tag", rep.Tags}, {"kit sequence", rep.Sequences}, {"stripe price", rep.Prices},
	} {
		for _, r := range sec.rows {
			managed := strings.Join(r.ManagedBy, "; ")
			if managed == "" {
				managed = "-"
			}
			fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\n", sec.kind, r.ID, oneLine(r.Name), r.Detail, managed)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rep.Unlisted) > 0 {
		fmt.Fprintln(e.stdout, "\nThe config names ids that no provider listed (fix the plans):")
		for _, u := range rep.Unlisted {
			fmt.Fprintln(e.stdout, "  "+u)
		}
	}
	if len(rep.Errors) > 0 {
		fmt.Fprintln(e.stdout, "\nNot listed (their cached names stay):")
		for _, er := range rep.Errors {
			fmt.Fprintf(e.stdout, "  %s: %s\n", er.List, er.Error)
		}
	}
	return nil
}

// oneLine keeps a provider's name from breaking the table.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
