package admin

import (
	"html/template"

	"github.com/membersync/membersync/internal/catalog"
)

// nameHTML writes a provider id as pages show it (the rule is in internal/catalog/label.go): the
// founder's name, then the id in small muted type, with the provider, kind and id on hover:
// `<span title="Circle access group 11">Pro members</span> <span class="muted small mono">#11</span>`.
// An id without a cached name is Fallback's wording ("access group 11"), with the same hover.
func nameHTML(l catalog.Label) template.HTML {
	title := template.HTMLEscapeString(l.Title())
	name := template.HTMLEscapeString(l.Name)
	if !l.Known {
		return template.HTML(`<span class="name" title="` + title + `">` + name + `</span>`)
	}
	return template.HTML(`<span class="name" title="` + title + `">` + name + `</span> <span class="muted small mono">` +
		template.HTMLEscapeString(l.IDText()) + `</span>`)
}
