package admin

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// This file holds the people list (GET /admin/people, /api/v1/people) with its filters by plan,
// stage, access state and the two special filters, and its CSV export (/admin/people.csv,
// /api/v1/people.csv). The filtering runs in the store (store.FilterPeople), a page at a time.

// peoplePageSize is how many people one page of the list shows.
const peoplePageSize = 50

// maxQuery bounds the search text.
const maxQuery = 200

// personRow is one person in the list.
type personRow struct {
	ID          int64     `json:"id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	CustomerIDs []string  `json:"customer_ids"`
	State       string    `json:"state"`  // the access state in words: in sync, sync pending, failing, in review
	Access      string    `json:"access"` // the access state's code: in_sync, pending, failing, in_review
	Stage       string    `json:"stage"`  // the person's stage across their plans (entitlement.PersonStage); "" before the first sync
	Plans       []planTag `json:"plans"`
	SyncedAt    time.Time `json:"synced_at"`
	OpenReviews int       `json:"open_review_items"`
}

// planTag is one plan a person bought, with its stage.
type planTag struct {
	PlanID   string `json:"plan_id"`
	Name     string `json:"name"`
	Stage    string `json:"stage"`
	Entitled bool   `json:"entitled"`
}

// Class is the pill's colour class.
func (p planTag) Class() string { return stageClass(p.Stage) }

// StageText is the stage in words.
func (p planTag) StageText() string { return stageText(p.Stage) }

// StageText is the person's stage in words.
func (r personRow) StageText() string {
	if r.Stage == "" {
		return "not synced yet"
	}
	return stageText(r.Stage)
}

// StageClass is the colour class of the person's stage.
func (r personRow) StageClass() string { return stageClass(r.Stage) }

// StateClass is the colour class of the access state.
func (r personRow) StateClass() string {
	switch r.Access {
	case store.AccessInSync:
		return "ok"
	case store.AccessFailing:
		return "bad"
	case store.AccessInReview:
		return "warn"
	}
	return "pending"
}

// stageText says a stage in words: "past due", "grace expired", "no plan".
func stageText(stage string) string {
	switch stage {
	case "":
		return "not synced yet"
	case string(entitlement.StageNone):
		return "no plan"
	case store.StageEntitled:
		return "has access (any stage)"
	case store.StageLapsed:
		return "lapsed (no access now)"
	}
	return strings.ReplaceAll(stage, "_", " ")
}

// stageClass colours a stage: green while it grants access as bought, amber while access is at
// risk, red when a payment was taken back or never came, grey when it simply ended.
func stageClass(stage string) string {
	switch entitlement.Stage(stage) {
	case entitlement.StageActive, entitlement.StageTrialing, entitlement.StageComp:
		return "ok"
	case entitlement.StageCanceling, entitlement.StagePastDue:
		return "warn"
	case entitlement.StageGraceExpired, entitlement.StageUnpaid, entitlement.StageDisputed, entitlement.StageRefunded:
		return "bad"
	}
	return "off"
}

// accessText says an access state in words.
var accessText = map[string]string{
	store.AccessInSync:   "in sync",
	store.AccessPending:  "sync pending",
	store.AccessFailing:  "failing",
	store.AccessInReview: "in review",
}

// onlyText says the special filters in words.
var onlyText = map[string]string{
	store.OnlyPaidNoAccess:  "Paid but no access",
	store.OnlyAccessNotPaid: "Access but not paid",
}

// planName is the config's name of a plan, its id when it has none or is no longer configured.
func (h *Handler) planName(id string) string {
	for _, p := range h.cfg.Plans {
		if p.ID == id && p.Name != "" {
			return p.Name
		}
	}
	return id
}

func (h *Handler) rowOfListing(l store.PersonListing) personRow {
	row := personRow{ID: l.ID, Email: l.Email, Name: l.Name, CustomerIDs: l.CustomerIDs, Access: l.Access, State: accessText[l.Access],
		SyncedAt: l.SyncedAt, OpenReviews: l.OpenReviews, Plans: []planTag{}}
	if row.CustomerIDs == nil {
		row.CustomerIDs = []string{}
	}
	states := make([]entitlement.PlanState, 0, len(l.Plans))
	for _, p := range h.inConfigOrder(l.Plans) {
		row.Plans = append(row.Plans, planTag{PlanID: p.PlanID, Name: h.planName(p.PlanID), Stage: p.Stage, Entitled: p.Entitled})
		states = append(states, entitlement.PlanState{PlanID: p.PlanID, Stage: entitlement.Stage(p.Stage), Entitled: p.Entitled})
	}
	if !l.SyncedAt.IsZero() {
		row.Stage = string(entitlement.PersonStage(states))
	}
	return row
}

// inConfigOrder orders plans as the config lists them, plans no longer configured last.
func (h *Handler) inConfigOrder(plans []store.PlanStanding) []store.PlanStanding {
	rank := func(id string) int {
		for i, p := range h.cfg.Plans {
			if p.ID == id {
				return i
			}
		}
		return len(h.cfg.Plans)
	}
	out := slices.Clone(plans)
	slices.SortStableFunc(out, func(a, b store.PlanStanding) int { return rank(a.PlanID) - rank(b.PlanID) })
	return out
}

// option is one choice of a filter's menu.
type option struct {
	Value, Label string
	Selected     bool
}

// peopleView is the people list with its filters.
type peopleView struct {
	Query, Plan, Stage, Access, Only string
	// Filtered is set when a filter other than the search is on.
	Filtered bool
	Total    int
	People   []personRow
	NextURL  string
	// ExportURL downloads the filtered list as CSV.
	ExportURL                  string
	PlanOptions, StageOptions  []option
	AccessOptions, OnlyOptions []option
}

func badFilter(msg string) error {
	return respond.NewError(http.StatusBadRequest, "bad_filter", msg)
}

// peopleFilter reads the list's filters from the query string, refusing values it does not know.
// A plan is a configured one, or one removed from the config that people still hold.
func (h *Handler) peopleFilter(ctx context.Context, q url.Values) (store.PeopleFilter, error) {
	f := store.PeopleFilter{Query: truncate(strings.TrimSpace(q.Get("q")), maxQuery), Plan: q.Get("plan"), Stage: q.Get("stage"),
		Access: q.Get("access"), Only: q.Get("only"), Limit: peoplePageSize}
	if f.Plan != "" && !slices.ContainsFunc(h.cfg.Plans, func(p config.Plan) bool { return p.ID == f.Plan }) {
		held, err := h.st.IndexedPlans(ctx)
		if err != nil {
			return f, err
		}
		if !slices.Contains(held, f.Plan) {
			ids := make([]string, len(h.cfg.Plans))
			for i, p := range h.cfg.Plans {
				ids[i] = p.ID
			}
			return f, badFilter(fmt.Sprintf("plan must be one of the configured plans (%s).", strings.Join(ids, ", ")))
		}
	}
	if f.Stage != "" && f.Stage != store.StageEntitled && f.Stage != store.StageLapsed && !slices.Contains(entitlement.Stages(), entitlement.Stage(f.Stage)) {
		return f, badFilter("stage must be one of " + strings.Join(stageValues(), ", ") + ".")
	}
	if f.Access != "" && accessText[f.Access] == "" {
		return f, badFilter("access must be one of " + strings.Join(store.AccessStates(), ", ") + ".")
	}
	if f.Only != "" && onlyText[f.Only] == "" {
		return f, badFilter("only must be " + store.OnlyPaidNoAccess + " or " + store.OnlyAccessNotPaid + ".")
	}
	after, err := store.ParsePeopleCursor(q.Get("after"))
	if err != nil {
		return f, respond.NewError(http.StatusBadRequest, "bad_cursor", "The page link is malformed; start again from the first page.")
	}
	f.After = after
	return f, nil
}

// stageValues are the values the stage filter takes.
func stageValues() []string {
	out := []string{store.StageEntitled, store.StageLapsed}
	for _, s := range entitlement.Stages() {
		out = append(out, string(s))
	}
	return out
}

// filterQuery is the query string of the filter (search included, cursor not).
func filterQuery(f store.PeopleFilter) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"q": f.Query, "plan": f.Plan, "stage": f.Stage, "access": f.Access, "only": f.Only} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// loadPeople reads one page of the filtered list.
func (h *Handler) loadPeople(ctx context.Context, q url.Values) (peopleView, error) {
	f, err := h.peopleFilter(ctx, q)
	if err != nil {
		return peopleView{}, err
	}
	found, total, err := h.st.FilterPeople(ctx, f)
	if err != nil {
		return peopleView{}, err
	}
	v := peopleView{Query: f.Query, Plan: f.Plan, Stage: f.Stage, Access: f.Access, Only: f.Only, Total: total, People: []personRow{},
		Filtered: f.Plan != "" || f.Stage != "" || f.Access != "" || f.Only != ""}
	for _, l := range found {
		v.People = append(v.People, h.rowOfListing(l))
	}
	fq := filterQuery(f)
	v.ExportURL = "/admin/people.csv"
	if len(fq) > 0 {
		v.ExportURL += "?" + fq.Encode()
	}
	if len(found) == f.Limit {
		fq.Set("after", found[len(found)-1].Cursor().String())
		v.NextURL = "/admin/people?" + fq.Encode()
	}
	for _, p := range h.cfg.Plans {
		v.PlanOptions = append(v.PlanOptions, option{Value: p.ID, Label: h.planName(p.ID), Selected: p.ID == f.Plan})
	}
	if f.Plan != "" && !slices.ContainsFunc(v.PlanOptions, func(o option) bool { return o.Selected }) {
		v.PlanOptions = append(v.PlanOptions, option{Value: f.Plan, Label: f.Plan + " (no longer configured)", Selected: true})
	}
	for _, s := range stageValues() {
		v.StageOptions = append(v.StageOptions, option{Value: s, Label: stageText(s), Selected: s == f.Stage})
	}
	for _, a := range store.AccessStates() {
		v.AccessOptions = append(v.AccessOptions, option{Value: a, Label: accessText[a], Selected: a == f.Access})
	}
	for _, o := range []string{store.OnlyPaidNoAccess, store.OnlyAccessNotPaid} {
		v.OnlyOptions = append(v.OnlyOptions, option{Value: o, Label: onlyText[o], Selected: o == f.Only})
	}
	return v, nil
}

func (h *Handler) peoplePage(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadPeople(r.Context(), r.URL.Query())
	if err != nil {
		return err
	}
	h.render(w, r, p, http.StatusOK, "people", view{Title: "People", Nav: "people", Data: v})
	return nil
}

func (h *Handler) apiPeople(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadPeople(r.Context(), r.URL.Query())
	if err != nil {
		return err
	}
	next := ""
	if v.NextURL != "" {
		next = "/api/v1/people?" + strings.TrimPrefix(v.NextURL, "/admin/people?")
	}
	writeJSON(w, http.StatusOK, map[string]any{"query": v.Query, "plan": v.Plan, "stage": v.Stage, "access": v.Access, "only": v.Only,
		"total": v.Total, "people": v.People, "next": next})
	return nil
}

// csvHeader is the export's first line.
var csvHeader = []string{"id", "email", "name", "stripe_customer_ids", "stage", "plans", "access", "open_review_items", "last_sync"}

// exportPeople writes the filtered list, every page of it, as CSV. The export is recorded in the
// audit log (who, the filter, how many people) before the first byte is sent: no audit, no export.
func (h *Handler) exportPeople(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	f, err := h.peopleFilter(ctx, r.URL.Query())
	if err != nil {
		return err
	}
	f.After, f.Limit = store.PeopleCursor{}, 1
	_, total, err := h.st.FilterPeople(ctx, f)
	if err != nil {
		return err
	}
	desc := filterQuery(f).Encode()
	if desc == "" {
		desc = "everyone"
	}
	if err := h.audit(ctx, p, store.AuditEntry{Action: "people.export", Target: "people",
		Note: fmt.Sprintf("CSV of %d people (%s)", total, desc)}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="membersync-people-%s.csv"`, h.now().UTC().Format("2006-01-02")))
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return nil // the client left
	}
	err = h.st.EachPerson(ctx, f, func(l store.PersonListing) error {
		row := h.rowOfListing(l)
		plans := make([]string, len(row.Plans))
		for i, pt := range row.Plans {
			plans[i] = pt.Name + ": " + pt.StageText()
		}
		last := ""
		if !row.SyncedAt.IsZero() {
			last = row.SyncedAt.UTC().Format(time.RFC3339)
		}
		return cw.Write([]string{strconv.FormatInt(row.ID, 10), cell(row.Email), cell(row.Name), strings.Join(row.CustomerIDs, " "),
			row.StageText(), cell(strings.Join(plans, "; ")), row.State, strconv.Itoa(row.OpenReviews), last})
	})
	cw.Flush()
	if err != nil && !errors.Is(err, ctx.Err()) {
		// The header is sent: the log gets the error, the truncated file ends here.
		h.log.Error("admin: people export stopped", "err", err)
	}
	return nil
}

// cell defuses a value a spreadsheet would run as a formula (a name typed at checkout is
// anyone's text): a leading =, +, -, @, tab or carriage return gets a quote before it.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
