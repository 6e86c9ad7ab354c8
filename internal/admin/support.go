package admin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/status"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/support"
	"github.com/membersync/membersync/internal/web/respond"
)

// The Support page: every support message membersync triaged (internal/support), newest first,
// each with its diagnosis and the one-click fix it suggests (retry the review item, resync, resend
// the invitation, mint a status link to send back); the weekly volume by category and the seed's
// acceptance check. GET /api/v1/support is the same as JSON. The person page lists that person's
// messages (personSupport).

// supportPage is how many messages a page lists.
const supportPage = 50

// statusLinkTTL is how long a status link minted on the Support page works.
const statusLinkTTL = 7 * 24 * time.Hour

// supportWeeks is how many ISO weeks the weekly chart shows.
const supportWeeks = 8

var (
	errNoSigningKey = respond.NewError(http.StatusServiceUnavailable, "no_signing_key",
		"Status links need MEMBERSYNC_SIGNING_KEY in the environment (the value serve uses).")
	errNoSupportPerson = respond.NewError(http.StatusConflict, "no_person",
		"This message matched no person: there is nobody to resync or send a link to. Ask for the receipt.")
	errBadCursor   = respond.NewError(http.StatusBadRequest, "bad_cursor", "before must be a message id, as the next link gives it.")
	errBadCategory = respond.NewError(http.StatusBadRequest, "bad_category", "category must be one of access, welcome_email, billing, refund, other.")
)

// supportRow is one triaged message as the page and the API show it.
type supportRow struct {
	ID         int64     `json:"id"`
	ReceivedAt time.Time `json:"received_at"`
	Source     string    `json:"source"`
	Category   string    `json:"category"`
	Rules      []string  `json:"rules"`
	PersonID   int64     `json:"person_id,omitempty"`
	Who        string    `json:"person,omitempty"` // the person's email, "" when none matched
	Summary    string    `json:"summary"`
	Action     string    `json:"action"`
	Lines      []string  `json:"lines"`
	Fix        string    `json:"fix,omitempty"`
	ReviewID   int64     `json:"review_id,omitempty"`
	OtherID    int64     `json:"other_person_id,omitempty"`
	NoteStatus string    `json:"note_status"`
	NoteError  string    `json:"note_error,omitempty"`
	// Subject is kept only with support.keep_bodies.
	Subject string `json:"subject,omitempty"`
}

// supportView is the Support page.
type supportView struct {
	Rows       []supportRow
	Category   string
	Categories []option
	Next       string // the next page's URL; "" on the last page
	Volume     *supportVolume
	// StatusLink is a link just minted for Person, shown once.
	StatusLink       string
	StatusLinkPerson int64
	StatusLinkUntil  time.Time
	CanLink          bool // a signing key is configured
	CanResync        bool
	KeepBodies       bool
}

// supportVolume is the weekly volume: the chart, the last 7 days by category and the acceptance
// check.
type supportVolume struct {
	Chart      supportChart       `json:"-"`
	Weeks      []support.Week     `json:"weeks"`
	ThisWeek   map[string]int     `json:"this_week"` // the last 7 days
	Acceptance support.Acceptance `json:"acceptance"`
	// Change is the change against the baseline in words ("−75%", "+20%"); TargetPercent the target
	// reduction as a whole percent, for the tile.
	Change        string `json:"-"`
	TargetPercent int    `json:"-"`
}

// supportChart is the weekly volume drawn as stacked SVG bars, one colour per category: no script,
// no inline style (the colours are SVG presentation attributes).
type supportChart struct {
	Bars   []supportBar
	Axis   []axisLabel
	Legend []supportLegend
	Empty  bool
}

type supportBar struct {
	Segments []bar
	Fill     []string // one per segment
	Label    string
}

type supportLegend struct {
	Category, Label, Fill string
	X                     float64
}

// categoryFills are the chart's colours, access-related in warm tones.
var categoryFills = map[string]string{
	support.CategoryAccess:       "#e0685f",
	support.CategoryWelcomeEmail: "#f0a04b",
	support.CategoryBilling:      "#5b8def",
	support.CategoryRefund:       "#8e6cd8",
	support.CategoryOther:        "#9aa5b1",
}

func categoryLabel(c string) string { return strings.ReplaceAll(c, "_", " ") }

// newSupportChart stacks each week's categories, the tallest week at full height.
func newSupportChart(weeks []support.Week) supportChart {
	var c supportChart
	maxV := 0
	for _, w := range weeks {
		maxV = max(maxV, w.Total())
	}
	c.Empty = maxV == 0
	slot := chartW / float64(max(len(weeks), 1))
	for i, w := range weeks {
		b := supportBar{}
		y := chartH
		var parts []string
		for _, cat := range support.Categories {
			n := w.Counts[cat]
			if n == 0 {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %d", categoryLabel(cat), n))
			h := float64(n) / float64(maxV) * (chartH - 2)
			y -= h
			b.Segments = append(b.Segments, bar{X: float64(i)*slot + 2, Y: y, W: slot - 4, H: h})
			b.Fill = append(b.Fill, categoryFills[cat])
		}
		suffix := ""
		if w.Partial {
			suffix = " (so far)"
		}
		b.Label = fmt.Sprintf("%s%s: %d message(s)", w.Label, suffix, w.Total())
		if len(parts) > 0 {
			b.Label += ": " + strings.Join(parts, ", ")
		}
		for k := range b.Segments {
			b.Segments[k].Label = b.Label
		}
		c.Bars = append(c.Bars, b)
		if i%2 == 0 || i == len(weeks)-1 {
			c.Axis = append(c.Axis, axisLabel{X: float64(i) * slot, Text: w.Label[5:]})
		}
	}
	x := 0.0
	for _, cat := range support.Categories {
		l := supportLegend{Category: cat, Label: categoryLabel(cat), Fill: categoryFills[cat], X: x}
		x += 14 + float64(len(l.Label))*4.2 // the swatch, then about 4.2 units a character at the ticks' 7 px
		c.Legend = append(c.Legend, l)
	}
	return c
}

// loadSupportVolume reads the weekly volume; nil when it cannot be read (the page shows the rest).
func (h *Handler) loadSupportVolume(ctx context.Context, now time.Time) *supportVolume {
	weeks, err := support.Weekly(ctx, h.st, now, supportWeeks)
	if err != nil {
		h.log.Warn("admin: support volume", "err", err)
		return nil
	}
	this, err := support.ThisWeek(ctx, h.st, now)
	if err != nil {
		h.log.Warn("admin: support volume", "err", err)
		return nil
	}
	acc, err := support.AcceptanceOf(ctx, h.st, h.cfg.Support.Baseline, now)
	if err != nil {
		h.log.Warn("admin: support acceptance", "err", err)
		return nil
	}
	v := &supportVolume{Chart: newSupportChart(weeks), Weeks: weeks, ThisWeek: this, Acceptance: acc, TargetPercent: int(math.Round(acc.Target * 100))}
	if pct := int(math.Round(acc.Reduction * 100)); pct >= 0 {
		v.Change = fmt.Sprintf("−%d%%", pct)
	} else {
		v.Change = fmt.Sprintf("+%d%%", -pct)
	}
	return v
}

// supportRows turns stored messages into rows, naming each person by email.
func (h *Handler) supportRows(ctx context.Context, ms []store.SupportMessage) ([]supportRow, error) {
	emails := map[int64]string{}
	rows := make([]supportRow, 0, len(ms))
	for _, m := range ms {
		d := support.DiagnosisOf(m)
		r := supportRow{ID: m.ID, ReceivedAt: m.ReceivedAt, Source: m.Source, Category: m.Category, Rules: m.Rules, PersonID: m.PersonID,
			Summary: d.Summary, Action: d.Action, Lines: d.Lines, Fix: d.Fix, ReviewID: d.ReviewID, OtherID: d.OtherPersonID,
			NoteStatus: m.NoteStatus, NoteError: m.NoteError, Subject: m.Subject}
		if r.Rules == nil {
			r.Rules = []string{}
		}
		if r.Lines == nil {
			r.Lines = []string{}
		}
		if m.PersonID != 0 {
			who, ok := emails[m.PersonID]
			if !ok {
				p, err := h.st.Person(ctx, m.PersonID)
				switch {
				case errors.Is(err, store.ErrNotFound):
					who = fmt.Sprintf("person %d (merged or erased)", m.PersonID)
				case err != nil:
					return nil, err
				case p.Email != "":
					who = p.Email
				default:
					who = fmt.Sprintf("person %d", m.PersonID)
				}
				emails[m.PersonID] = who
			}
			r.Who = who
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// loadSupport reads the page's messages from the query: category, before (a cursor).
func (h *Handler) loadSupport(ctx context.Context, q url.Values, path string) (supportView, error) {
	v := supportView{Category: q.Get("category"), CanLink: h.cfg.Secrets.SigningKey != "", CanResync: h.resync != nil,
		KeepBodies: h.cfg.Support.KeepBodies}
	if v.Category != "" && !slices.Contains(support.Categories, v.Category) {
		return v, errBadCategory
	}
	var before int64
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return v, errBadCursor
		}
		before = n
	}
	ms, err := h.st.SupportMessages(ctx, store.SupportFilter{Category: v.Category, Before: before, Limit: supportPage + 1})
	if err != nil {
		return v, err
	}
	if len(ms) > supportPage {
		ms = ms[:supportPage]
		nq := url.Values{}
		if v.Category != "" {
			nq.Set("category", v.Category)
		}
		nq.Set("before", strconv.FormatInt(ms[len(ms)-1].ID, 10))
		v.Next = path + "?" + nq.Encode()
	}
	if v.Rows, err = h.supportRows(ctx, ms); err != nil {
		return v, err
	}
	v.Categories = []option{{Value: "", Label: "every category", Selected: v.Category == ""}}
	for _, c := range support.Categories {
		v.Categories = append(v.Categories, option{Value: c, Label: categoryLabel(c), Selected: v.Category == c})
	}
	v.Volume = h.loadSupportVolume(ctx, h.now())
	return v, nil
}

func (h *Handler) supportPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadSupport(r.Context(), r.URL.Query(), "/admin/support")
	if err != nil {
		return err
	}
	h.render(w, r, p, http.StatusOK, "support", view{Title: "Support", Nav: "support", Data: v})
	return nil
}

// supportJSON is GET /api/v1/support.
type supportJSON struct {
	Messages []supportRow   `json:"messages"`
	Next     string         `json:"next,omitempty"`
	Volume   *supportVolume `json:"volume"`
}

func (h *Handler) apiSupport(w http.ResponseWriter, r *http.Request, p *principal) error {
	v, err := h.loadSupport(r.Context(), r.URL.Query(), "/api/v1/support")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, supportJSON{Messages: v.Rows, Next: v.Next, Volume: v.Volume})
	return nil
}

// supportPerson returns the person a message is filed under; errNoSupportPerson when none.
func (h *Handler) supportPerson(ctx context.Context, r *http.Request) (store.SupportMessage, error) {
	id, err := pathID(r, "msg")
	if err != nil {
		return store.SupportMessage{}, err
	}
	m, err := h.st.SupportMessage(ctx, id)
	if err != nil {
		return m, err
	}
	if m.PersonID == 0 {
		return m, errNoSupportPerson
	}
	return m, nil
}

// resendForm serves POST /admin/support/{msg}/resend: the invitation is resent by a sync with the
// reason resend_invitation (the status page's button does the same): membersync invites anyone
// Circle does not count as a member and grants what is missing.
func (h *Handler) resendForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	m, err := h.supportPerson(ctx, r)
	if err != nil {
		return err
	}
	if h.resync == nil {
		return errNoResync
	}
	if err := h.resync(ctx, m.PersonID, "resend_invitation"); err != nil {
		return err
	}
	note := fmt.Sprintf("support message %d", m.ID)
	if err := h.audit(ctx, p, store.AuditEntry{Action: "person.resend_invitation", Target: target("person", m.PersonID), PersonID: m.PersonID, Note: note}); err != nil {
		return err
	}
	if err := h.journal(ctx, p, m.PersonID, "resend_invitation", "", "queued", "", note); err != nil {
		return err
	}
	http.Redirect(w, r, withFlash(back(r, "/admin/support"), "resync"), http.StatusSeeOther)
	return nil
}

// statusLinkForm serves POST /admin/support/{msg}/status-link: a signed link to the person's status
// page, valid statusLinkTTL, shown once on the page for the operator to send to the sender (whose
// address the message came from). It is audited; the link itself is never stored or logged.
func (h *Handler) statusLinkForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	ctx := r.Context()
	m, err := h.supportPerson(ctx, r)
	if err != nil {
		return err
	}
	key := h.cfg.Secrets.SigningKey
	if key == "" {
		return errNoSigningKey
	}
	now := h.now()
	link := h.cfg.PublicURL + "/status/" + status.NewToken([]byte(key), m.PersonID, statusLinkTTL, now)
	if err := h.audit(ctx, p, store.AuditEntry{Action: "person.status_link", Target: target("person", m.PersonID), PersonID: m.PersonID,
		Note: fmt.Sprintf("support message %d; valid until %s", m.ID, now.Add(statusLinkTTL).UTC().Format(time.RFC3339))}); err != nil {
		return err
	}
	v, err := h.loadSupport(ctx, url.Values{}, "/admin/support")
	if err != nil {
		return err
	}
	v.StatusLink, v.StatusLinkPerson, v.StatusLinkUntil = link, m.PersonID, now.Add(statusLinkTTL)
	h.render(w, r, p, http.StatusOK, "support", view{Title: "Support", Nav: "support", Data: v,
		Flash: "Status link ready: copy it below and send it to the sender. It is not stored."})
	return nil
}

// personSupport returns the person's support messages for the person page, newest first; nil
// when they cannot be read (the page shows the rest).
func (h *Handler) personSupport(ctx context.Context, personID int64) []supportRow {
	ms, err := h.st.SupportMessages(ctx, store.SupportFilter{PersonID: personID, Limit: 20})
	if err == nil {
		var rows []supportRow
		if rows, err = h.supportRows(ctx, ms); err == nil {
			return rows
		}
	}
	h.log.Warn("admin: support messages of a person", "person_id", personID, "err", err)
	return nil
}
