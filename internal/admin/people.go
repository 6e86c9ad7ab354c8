package admin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/store"
)

// The people list (its handlers, filters and export) is in peoplelist.go.

// personView is the person page: identity, plans (desired beside applied), review items, links
// into the providers' dashboards, and the journey.
type personView struct {
	ID              int64         `json:"id"`
	Email           string        `json:"email"`
	Name            string        `json:"name"`
	CustomerIDs     []string      `json:"customer_ids"`
	CircleMemberID  int64         `json:"circle_member_id"`
	KitSubscriberID int64         `json:"kit_subscriber_id"`
	State           string        `json:"state"`
	LastSync        time.Time     `json:"last_sync"`
	NextChange      time.Time     `json:"next_change"`
	Synced          bool          `json:"synced"` // a sync has computed the desired state
	Plans           []planRow     `json:"plans"`
	Other           []grantRow    `json:"other_grants"` // held grants no plan row shows
	Reviews         []reviewRow   `json:"review_items"`
	Links           []link        `json:"links"`
	Timeline        []timelineRow `json:"timeline"` // oldest first
	// Story is the journey in a few plain sentences (journey.Tell), shown above the raw timeline.
	Story journey.Story `json:"story"`
	// Comps are the person's comps, newest first (comps.go); CompPlans are the plans a comp may grant.
	Comps     []compRow `json:"comps"`
	CompPlans []option  `json:"-"`
	// Support are the person's support messages with their diagnoses, newest first (support.go).
	Support []supportRow `json:"support_messages"`
	// Erasure is the person's erasure (forget.go) while it runs or once done; nil otherwise.
	Erasure *erasureNote `json:"erasure,omitempty"`
}

// planRow is one plan's desired state and its grants.
type planRow struct {
	PlanID      string     `json:"plan_id"`
	Name        string     `json:"name"`
	Stage       string     `json:"stage"`
	Entitled    bool       `json:"entitled"`
	Reason      string     `json:"reason"`
	Explanation string     `json:"explanation"`
	Until       time.Time  `json:"until"`
	Grants      []grantRow `json:"grants"`
}

// grantRow is one managed group, tag or sequence: whether the plan wants it and whether the
// provider confirmed it.
type grantRow struct {
	Provider string `json:"provider"`
	Kind     string `json:"kind"`
	TargetID int64  `json:"target_id"`
	Label    string `json:"label"`
	Desired  bool   `json:"desired"`
	Applied  bool   `json:"applied"`
}

// Status says how the grant stands, in words.
func (g grantRow) Status() string {
	switch {
	case g.Desired && g.Applied:
		return "in place"
	case g.Desired:
		return "missing"
	case g.Applied && !g.Removable():
		return "enrolled"
	case g.Applied:
		return "to remove"
	}
	return "absent"
}

// Removable reports whether a sync takes the grant away when no plan wants it: sequences are only
// ever enrolled, so an enrollment stays (it is history, not access).
func (g grantRow) Removable() bool { return g.Kind != store.KindSequence }

// OK reports whether desired and applied agree (an enrollment nobody wants any more agrees too).
func (g grantRow) OK() bool { return g.Desired == g.Applied || g.Applied && !g.Removable() }

type link struct {
	Label string `json:"label"`
	URL   string `json:"url"`
}

type timelineRow struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	What    string    `json:"what"`
	Result  string    `json:"result"`
	Detail  string    `json:"detail"`
	EventID string    `json:"event_id,omitempty"`
}

func (h *Handler) loadPerson(ctx context.Context, personID int64) (personView, error) {
	j, err := journey.Load(ctx, h.st, personID)
	if err != nil {
		return personView{}, err
	}
	pr := j.Person
	v := personView{ID: pr.ID, Email: pr.Email, Name: pr.Name, CustomerIDs: pr.CustomerIDs, CircleMemberID: pr.CircleMemberID,
		KitSubscriberID: pr.KitSubscriberID, State: j.State(), LastSync: j.Sync.SyncedAt, NextChange: j.Sync.NextChange,
		Plans: []planRow{}, Other: []grantRow{}, Reviews: []reviewRow{}, Timeline: []timelineRow{}}
	if v.CustomerIDs == nil {
		v.CustomerIDs = []string{}
	}
	d, err := j.Desired()
	if err != nil {
		h.log.Warn("admin: unreadable desired state", "person_id", personID, "err", err)
	}
	v.Synced = d != nil
	v.Plans, v.Other = planRows(h.cfg.Plans, d, j.Applied, h.names)
	for _, it := range j.Reviews {
		v.Reviews = append(v.Reviews, rowOfReview(it, pr.Email, h.names))
	}
	for _, s := range j.Steps {
		v.Timeline = append(v.Timeline, timelineRow{At: s.At, Kind: s.Kind, What: s.What, Result: s.Result, Detail: s.Detail, EventID: s.EventID})
	}
	v.Links = h.links(pr)
	v.Story = j.Story(h.cfg.Plans, h.names, h.now())
	v.Comps, v.CompPlans = h.compsView(j.Comps)
	v.Support = h.personSupport(ctx, personID)
	if v.Erasure, err = h.erasureNote(ctx, personID); err != nil {
		return personView{}, err
	}
	return v, nil
}

// planRows lays each plan's desired state beside the grants Circle and Kit hold.
func planRows(plans []config.Plan, d *entitlement.Desired, applied []store.Applied, names catalog.Names) ([]planRow, []grantRow) {
	type key struct {
		provider, kind string
		id             int64
	}
	held := map[key]bool{}
	for _, a := range applied {
		held[key{a.Provider, a.Kind, a.TargetID}] = true
	}
	shown := map[key]bool{}
	rows := []planRow{}
	if d != nil {
		for _, ps := range d.Plans {
			var pc config.Plan
			for _, c := range plans {
				if c.ID == ps.PlanID {
					pc = c
				}
			}
			row := planRow{PlanID: ps.PlanID, Name: pc.Name, Stage: string(ps.Stage), Entitled: ps.Entitled, Reason: ps.Reason,
				Explanation: ps.Explanation, Until: ps.Until, Grants: []grantRow{}}
			add := func(g grantRow, always bool) {
				k := key{g.Provider, g.Kind, g.TargetID}
				g.Applied = held[k]
				if always || g.Desired || g.Applied {
					row.Grants = append(row.Grants, g)
					shown[k] = true
				}
			}
			for _, g := range pc.Circle.AccessGroups {
				add(grantRow{Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: g,
					Label: "Circle access group " + named(catalog.AccessGroupLabel(names, g)), Desired: slices.Contains(ps.AccessGroups, g)}, true)
			}
			stages := make([]string, 0, len(pc.Kit.Tags))
			for st := range pc.Kit.Tags {
				stages = append(stages, st)
			}
			sort.Strings(stages)
			for _, st := range stages {
				t := pc.Kit.Tags[st]
				add(grantRow{Provider: store.ProviderKit, Kind: store.KindTag, TargetID: t,
					Label: fmt.Sprintf("Kit tag %s (%s)", named(catalog.TagLabel(names, t)), st), Desired: slices.Contains(ps.Tags, t)}, false)
			}
			for _, sq := range []struct {
				id   int64
				kind string
			}{{pc.Kit.OnboardingSequence, entitlement.SequenceOnboarding}, {pc.Kit.RetentionSequence, entitlement.SequenceRetention}} {
				if sq.id == 0 {
					continue
				}
				want := slices.ContainsFunc(d.Sequences, func(e entitlement.Enrollment) bool { return e.PlanID == ps.PlanID && e.SequenceID == sq.id })
				add(grantRow{Provider: store.ProviderKit, Kind: store.KindSequence, TargetID: sq.id,
					Label: fmt.Sprintf("Kit %s sequence %s", sq.kind, named(catalog.SequenceLabel(names, sq.id))), Desired: want}, false)
			}
			if ps.Stage == entitlement.StageNone && len(slices.DeleteFunc(slices.Clone(row.Grants), func(g grantRow) bool { return !g.Applied })) == 0 {
				continue
			}
			rows = append(rows, row)
		}
	}
	other := []grantRow{}
	for _, a := range applied {
		k := key{a.Provider, a.Kind, a.TargetID}
		if shown[k] {
			continue
		}
		shown[k] = true
		other = append(other, grantRow{Provider: a.Provider, Kind: a.Kind, TargetID: a.TargetID, Applied: true,
			Label: fmt.Sprintf("%s %s %d", a.Provider, strings.ReplaceAll(a.Kind, "_", " "), a.TargetID)})
	}
	return rows, other
}

// named words a managed id for a grant row: its name and id ("“Pro members” (#11)") when the
// catalog knows it, the bare id otherwise.
func named(l catalog.Label) string {
	if !l.Known {
		return l.ID
	}
	return "“" + l.Name + "” (" + l.IDText() + ")"
}

// links points into the providers' dashboards.
func (h *Handler) links(p store.Person) []link {
	out := []link{}
	stripe := "https://dashboard.stripe.com/"
	if !h.cfg.Secrets.Livemode() {
		stripe += "test/"
	}
	for _, c := range p.CustomerIDs {
		out = append(out, link{Label: "Stripe customer " + c, URL: stripe + "customers/" + c})
	}
	if p.CircleMemberID != 0 && h.cfg.Circle.CommunityURL != "" {
		out = append(out, link{Label: fmt.Sprintf("Circle audience (member %d)", p.CircleMemberID),
			URL: strings.TrimRight(h.cfg.Circle.CommunityURL, "/") + "/audience/manage"})
	}
	if p.KitSubscriberID != 0 {
		out = append(out, link{Label: fmt.Sprintf("Kit subscriber %d", p.KitSubscriberID),
			URL: "https://app.kit.com/subscribers/" + strconv.FormatInt(p.KitSubscriberID, 10)})
	}
	return out
}

// NewestFirst returns the timeline newest first, for the page.
func (v personView) NewestFirst() []timelineRow {
	out := slices.Clone(v.Timeline)
	slices.Reverse(out)
	return out
}

// OpenReviews returns the person's open review items.
func (v personView) OpenReviews() []reviewRow {
	var out []reviewRow
	for _, r := range v.Reviews {
		if r.Status == "open" {
			out = append(out, r)
		}
	}
	return out
}

func (h *Handler) personPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	v, err := h.loadPerson(r.Context(), id)
	if err != nil {
		return err
	}
	title := v.Email
	if title == "" {
		title = fmt.Sprintf("Person %d", v.ID)
	}
	h.render(w, r, p, http.StatusOK, "person", view{Title: title, Nav: "people", Data: v})
	return nil
}

func (h *Handler) apiPerson(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	v, err := h.loadPerson(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (h *Handler) apiJourney(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	v, err := h.loadPerson(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"person_id": v.ID, "state": v.State, "story": v.Story, "timeline": v.Timeline})
	return nil
}

func (h *Handler) resyncForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	if err := h.doResync(r.Context(), p, id, truncate(strings.TrimSpace(r.PostFormValue("note")), maxNote)); err != nil {
		return err
	}
	http.Redirect(w, r, withFlash(fmt.Sprintf("/admin/people/%d", id), "resync"), http.StatusSeeOther)
	return nil
}

func (h *Handler) apiResync(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "person")
	if err != nil {
		return err
	}
	in, err := input(r)
	if err != nil {
		return err
	}
	if err := h.doResync(r.Context(), p, id, truncate(strings.TrimSpace(in["note"]), maxNote)); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "queued", "person_id": id})
	return nil
}
