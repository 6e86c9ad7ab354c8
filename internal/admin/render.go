package admin

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/web/respond"
)

//go:embed templates static
var assets embed.FS

// view is what every page template gets.
type view struct {
	Title string
	Nav   string // the active navigation item
	Me    *principal
	Flash string // a confirmation
	Error string // what went wrong, safe to show
	Data  any
}

// Can reports whether the signed-in operator has at least the role (templates hide what they may
// not do; the routes refuse it regardless).
func (v view) Can(role string) bool { return v.Me != nil && v.Me.Role.Allows(Role(role)) }

// CSRF is the token the page's forms send back.
func (v view) CSRF() string {
	if v.Me == nil || v.Me.Session == nil {
		return ""
	}
	return v.Me.Session.CSRFToken
}

// reviewCard is what the shared review item template gets.
type reviewCard struct {
	Item       reviewRow
	CSRF       string
	Can        bool // may retry and resolve
	ShowPerson bool
	Back       string // the page to return to after an action
}

// pages holds one parsed template set per page, each with the shared layout.
type pages struct {
	byName map[string]*template.Template
}

func mustParsePages(now func() time.Time, names catalog.Names) *pages {
	funcs := template.FuncMap{
		// Provider ids by name (names.go): {{accessGroup 11}}, {{tag 1001}}, {{sequence 7}},
		// {{price "price_…"}}, {{product "prod_…"}}; {{nameOf "tag" .ID}} is the catalog.Label.
		"accessGroup": func(id int64) template.HTML { return nameHTML(catalog.AccessGroupLabel(names, id)) },
		"tag":         func(id int64) template.HTML { return nameHTML(catalog.TagLabel(names, id)) },
		"sequence":    func(id int64) template.HTML { return nameHTML(catalog.SequenceLabel(names, id)) },
		"price":       func(id string) template.HTML { return nameHTML(catalog.PriceLabel(names, id)) },
		"product":     func(id string) template.HTML { return nameHTML(catalog.ProductLabel(names, id)) },
		"nameOf": func(kind string, id any) catalog.Label {
			return catalog.LabelOf(names, catalog.Kind(kind), fmt.Sprint(id))
		},
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04:05")
		},
		"iso":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"ago":  func(t time.Time) string { return ago(now(), t) },
		"dur":  func(d time.Duration) string { return roundDuration(d) },
		"join": strings.Join,
		"stateClass": func(state string) string {
			switch {
			case state == "in sync":
				return "ok"
			case strings.HasPrefix(state, "retrying"):
				return "bad"
			}
			return "pending"
		},
		"reviewCard": func(it reviewRow, csrf string, can, showPerson bool, back string) reviewCard {
			return reviewCard{Item: it, CSRF: csrf, Can: can, ShowPerson: showPerson, Back: back}
		},
		"seq": func(n int) []int {
			s := make([]int, n)
			for i := range s {
				s[i] = i
			}
			return s
		},
	}
	layout, err := fs.ReadFile(assets, "templates/layout.html")
	if err != nil {
		panic(err)
	}
	entries, err := fs.ReadDir(assets, "templates")
	if err != nil {
		panic(err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".html")
		if name == "layout" {
			continue
		}
		body, err := fs.ReadFile(assets, "templates/"+e.Name())
		if err != nil {
			panic(err)
		}
		t := template.Must(template.New("layout").Funcs(funcs).Parse(string(layout)))
		template.Must(t.New(name).Parse(string(body)))
		p.byName[name] = t
	}
	return p
}

// render writes a page. A template error is logged and answered with a plain 500: the page was not
// started, since it renders into a buffer first.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, p *principal, status int, name string, v view) {
	v.Me = p
	if v.Flash == "" && r.Method == http.MethodGet {
		v.Flash = flashes[r.URL.Query().Get("m")]
	}
	t, ok := h.pages.byName[name]
	if !ok {
		h.log.Error("admin: no such template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", v); err != nil {
		h.log.Error("admin: rendering", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeJSON answers the API: JSON indented for people reading it.
func writeJSON(w http.ResponseWriter, status int, v any) { respond.IndentedJSON(w, status, v) }

// staticHandler serves the embedded CSS and JavaScript under /static/admin/.
func staticHandler() http.Handler {
	sub, err := fs.Sub(assets, "static")
	if err != nil {
		panic(err)
	}
	files := http.StripPrefix("/static/admin/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=300")
		files.ServeHTTP(w, r)
	})
}

// ago says how long before now t was, in the largest sensible unit.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + roundDuration(-d)
	}
	if d < 5*time.Second {
		return "just now"
	}
	return roundDuration(d) + " ago"
}

func roundDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// chart is a small bar chart drawn as SVG on the server: no script, no inline style.
type chart struct {
	Title   string
	Summary string // the figure beside the title
	Empty   bool
	Bars    []bar
	Axis    []axisLabel
	Markers []marker // serve starts in the window (history.go)
}

type bar struct {
	X, Y, W, H float64
	Label      string // the tooltip
}

type axisLabel struct {
	X    float64
	Text string
}

// Chart geometry, in SVG user units (the SVG scales to its container).
const (
	chartW = 240.0
	chartH = 60.0
)

// newChart draws one bar per value; labels are the tooltips, hours the x-axis times.
func newChart(title, summary string, values []float64, labels []string, hours []time.Time) chart {
	c := chart{Title: title, Summary: summary}
	maxV := 0.0
	for _, v := range values {
		maxV = max(maxV, v)
	}
	c.Empty = maxV == 0
	slot := chartW / float64(max(len(values), 1))
	for i, v := range values {
		h := 0.0
		if maxV > 0 {
			h = v / maxV * (chartH - 2)
		}
		if v > 0 && h < 1 {
			h = 1
		}
		c.Bars = append(c.Bars, bar{X: float64(i)*slot + 1, Y: chartH - h, W: slot - 2, H: h, Label: labels[i]})
	}
	for i, t := range hours {
		if i%6 == 0 {
			c.Axis = append(c.Axis, axisLabel{X: float64(i) * slot, Text: t.UTC().Format("15:04")})
		}
	}
	return c
}
