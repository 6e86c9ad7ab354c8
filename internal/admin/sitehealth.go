package admin

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/uptime"
)

// This file holds the overview's site-health section: each uptime target (config uptime:) with
// its state, its uptime over 24 h, 7 days and 30 days, its latency and TLS days left and a chart
// of its last 24 hours, beside the latest scheduled launch audit (doctor). The section renders
// from its own template (templates/sitehealth.html), which the overview includes as HTML.

// siteHealthView is the section, for the page and the JSON overview (site_health).
type siteHealthView struct {
	Targets []siteTarget `json:"targets"`
	// Doctor is the latest scheduled launch audit; null before the first or when none is scheduled.
	Doctor *siteDoctor `json:"doctor"`
	// DoctorScheduled says whether doctor.domain is configured.
	DoctorScheduled bool `json:"doctor_scheduled"`

	html template.HTML
}

// siteTarget is one uptime target's line.
type siteTarget struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// State is "up", "down" (alerting), "flapping" (alerting), "failing" (failed, not yet
	// alerting) or "pending" (not probed yet).
	State string `json:"state"`
	// Since is when the alert began, null unless down or flapping.
	Since       *time.Time `json:"since"`
	LastChecked *time.Time `json:"last_checked"`
	LastStatus  int        `json:"last_status"`
	LastReason  string     `json:"last_reason"`
	LatencyMS   int64      `json:"latency_ms"`
	TLSDaysLeft *int       `json:"tls_days_left"`
	TLSWarn     bool       `json:"tls_warn"`
	// Uptime holds the percentages over 24h, 7d and 30d (null without probes), with their counts.
	Uptime []siteWindow `json:"uptime"`
	Hours  []siteHour   `json:"hours"`

	// What the page shows.
	Pill, PillClass, Checked, Latency, TLS string      `json:"-"`
	Bars                                   []siteBar   `json:"-"`
	Axis                                   []axisLabel `json:"-"`
}

// siteWindow is the uptime over one window.
type siteWindow struct {
	Window  string   `json:"window"` // 24h, 7d, 30d
	Percent *float64 `json:"percent"`
	OK      int      `json:"ok"`
	Total   int      `json:"total"`
	Text    string   `json:"-"`
}

// siteHour is one hour of the chart.
type siteHour struct {
	Start        time.Time `json:"start"`
	OK           int       `json:"ok"`
	Total        int       `json:"total"`
	LatencyP50MS int64     `json:"latency_p50_ms"`
	LatencyMaxMS int64     `json:"latency_max_ms"`
}

// siteBar is one bar of a target's chart: full height when probed, coloured by the hour's uptime.
type siteBar struct {
	X, Y, W, H float64
	Fill       string
	Label      string
}

// siteDoctor is the latest launch audit.
type siteDoctor struct {
	Domain  string    `json:"domain"`
	At      time.Time `json:"at"`
	Fails   int       `json:"fails"`
	Warns   int       `json:"warns"`
	Failing []string  `json:"failing"`
	Ago     string    `json:"-"`
}

// Site-health chart geometry (viewBox units) and colours.
const (
	siteChartW, siteChartH = 240.0, 36.0
	fillUp                 = "#3aa374"
	fillPartial            = "#e0a53b"
	fillDown               = "#e0685f"
	fillNone               = "#d5d9e0"
)

var windowNames = []string{"24h", "7d", "30d"}

// loadSiteHealth reads the section at now: the configured targets in the config's order, and
// doctor's latest report. A target whose figures cannot be read shows its state without them.
func (h *Handler) loadSiteHealth(ctx context.Context, now time.Time, doctor *store.DoctorReport) *siteHealthView {
	v := &siteHealthView{Targets: []siteTarget{}}
	states, err := h.st.UptimeStates(ctx)
	if err != nil {
		h.log.Warn("site health: reading the uptime state", "err", err)
	}
	byName := map[string]store.UptimeState{}
	for _, s := range states {
		byName[s.Target] = s
	}
	type named struct{ name, url string }
	var targets []named
	if h.cfg != nil {
		for _, t := range h.cfg.Uptime.Targets {
			targets = append(targets, named{t.Name, t.URL})
		}
		v.DoctorScheduled = h.cfg.Doctor.Domain != ""
	} else {
		for _, s := range states {
			targets = append(targets, named{s.Target, s.URL})
		}
	}
	for _, t := range targets {
		st, probed := byName[t.name]
		row := siteTarget{Name: t.name, URL: t.url}
		if !probed || st.LastAt.IsZero() {
			row.State, row.Pill, row.PillClass, row.Checked = "pending", "not probed yet", "pending", "the first probe runs within a minute"
		} else {
			fillTarget(&row, st, now)
		}
		sum, err := uptime.Summarize(ctx, h.st, t.name, now)
		if err != nil {
			h.log.Warn("site health: reading the uptime figures", "target", t.name, "err", err)
		}
		fillFigures(&row, sum)
		v.Targets = append(v.Targets, row)
	}
	if doctor != nil {
		v.Doctor = &siteDoctor{Domain: doctor.Domain, At: doctor.At.UTC(), Fails: doctor.Fails, Warns: doctor.Warns,
			Failing: doctor.Failing, Ago: ago(now, doctor.At)}
		if v.Doctor.Failing == nil {
			v.Doctor.Failing = []string{}
		}
		if len(v.Doctor.Failing) > 5 {
			v.Doctor.Failing = v.Doctor.Failing[:5]
		}
	}
	v.html = renderSiteHealth(v)
	return v
}

// fillTarget words a probed target's state.
func fillTarget(row *siteTarget, st store.UptimeState, now time.Time) {
	last := st.LastAt.UTC()
	row.LastChecked, row.LastStatus, row.LastReason = &last, st.Status, st.Reason
	row.LatencyMS = st.Latency.Milliseconds()
	row.Checked = "checked " + ago(now, st.LastAt)
	row.Latency = fmt.Sprintf("%d ms", row.LatencyMS)
	if st.TLSDays >= 0 {
		d := st.TLSDays
		row.TLSDaysLeft = &d
		row.TLSWarn = st.TLSDaysWarn >= 0 && d < st.TLSDaysWarn
		row.TLS = fmt.Sprintf("TLS %d days left", d)
	}
	switch {
	case st.Alerting && st.AlertKind == uptime.KindFlapping:
		row.State, row.PillClass = "flapping", "bad"
		row.Pill = "flapping since " + st.AlertSince.UTC().Format("Jan 2 15:04")
	case st.Alerting:
		row.State, row.PillClass = "down", "bad"
		row.Pill = "down since " + st.AlertSince.UTC().Format("Jan 2 15:04")
	case !st.OK:
		row.State, row.PillClass = "failing", "warn"
		row.Pill = fmt.Sprintf("failed %d× in a row", st.FailStreak)
	default:
		row.State, row.PillClass, row.Pill = "up", "ok", "up"
	}
	if st.Alerting {
		s := st.AlertSince.UTC()
		row.Since = &s
		if row.LastReason == "" {
			row.LastReason = st.AlertReason
		}
	}
}

// fillFigures adds the uptime percentages and the chart.
func fillFigures(row *siteTarget, sum uptime.Summary) {
	for i, name := range windowNames {
		w := siteWindow{Window: name, Text: "–"}
		if i < len(sum.Uptime) {
			c := sum.Uptime[i]
			w.OK, w.Total = c.OK, c.Total
			if c.Total > 0 {
				p := c.Percent()
				w.Percent = &p
				w.Text = percentText(p)
			}
		}
		row.Uptime = append(row.Uptime, w)
	}
	slot := siteChartW / float64(max(len(sum.Hours), 1))
	for i, hr := range sum.Hours {
		row.Hours = append(row.Hours, siteHour{Start: hr.Hour.UTC(), OK: hr.OK, Total: hr.Total,
			LatencyP50MS: hr.LatencyP50.Milliseconds(), LatencyMaxMS: hr.LatencyMax.Milliseconds()})
		at := hr.Hour.UTC().Format("15:04")
		b := siteBar{X: float64(i)*slot + 1, W: slot - 2, H: siteChartH, Fill: fillUp}
		switch {
		case hr.Total == 0:
			b.H, b.Fill, b.Label = 4, fillNone, at+": not probed"
		default:
			p := 100 * float64(hr.OK) / float64(hr.Total)
			switch {
			case hr.OK == hr.Total:
			case p >= 50:
				b.Fill = fillPartial
			default:
				b.Fill = fillDown
			}
			b.Label = fmt.Sprintf("%s: %d of %d probes up (%s), latency p50 %d ms, max %d ms", at, hr.OK, hr.Total, percentText(p),
				hr.LatencyP50.Milliseconds(), hr.LatencyMax.Milliseconds())
		}
		b.Y = siteChartH - b.H
		row.Bars = append(row.Bars, b)
		if i%6 == 0 {
			row.Axis = append(row.Axis, axisLabel{X: float64(i) * slot, Text: at})
		}
	}
}

// percentText shows a percentage with two decimals, trailing zeros dropped: "99.93 %", "100 %".
func percentText(p float64) string {
	s := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", p), "0"), ".")
	if s == "100" && p < 100 {
		s = "99.99"
	}
	return s + " %"
}

// concerns are the overview's lines about the section: targets down or flapping, certificates
// close to expiry.
func (v *siteHealthView) concerns() []string {
	if v == nil {
		return nil
	}
	var out []string
	for _, t := range v.Targets {
		switch t.State {
		case "down", "flapping":
			c := t.Name + " is " + t.Pill
			if t.LastReason != "" {
				c += ": " + t.LastReason
			}
			out = append(out, c)
		}
		if t.TLSWarn && t.TLSDaysLeft != nil {
			out = append(out, fmt.Sprintf("the TLS certificate of %s expires in %d days", t.Name, *t.TLSDaysLeft))
		}
	}
	return out
}

// HTML is the section, rendered from templates/sitehealth.html.
func (v *siteHealthView) HTML() template.HTML {
	if v == nil {
		return ""
	}
	return v.html
}

var (
	siteHealthOnce sync.Once
	siteHealthTmpl *template.Template
)

// renderSiteHealth executes the section's template; a failure is a line saying so, not a broken
// overview.
func renderSiteHealth(v *siteHealthView) template.HTML {
	siteHealthOnce.Do(func() {
		b, err := fs.ReadFile(assets, "templates/sitehealth.html")
		if err != nil {
			panic(err)
		}
		siteHealthTmpl = template.Must(template.New("sitehealth").Parse(string(b)))
	})
	var buf bytes.Buffer
	if err := siteHealthTmpl.ExecuteTemplate(&buf, "sitehealth", v); err != nil {
		return template.HTML(`<p class="errtext" id="site-health">The site-health section could not be shown: ` + template.HTMLEscapeString(err.Error()) + `</p>`)
	}
	return template.HTML(buf.String())
}
