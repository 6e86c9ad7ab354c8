package catalog

import (
	"regexp"
	"strconv"
	"strings"
)

// How names and ids are shown together (one rule for every page, text and API answer):
//
//   - A page shows the name first and the id second: Label.Name, then Label.IDText ("#11",
//     "price_1Abc") in a smaller, muted type, with the full kind and id on hover (the admin's
//     accessGroup, tag, sequence, price and product template functions write exactly that).
//   - Plain text (trace, alerts, the CLI) writes Label.String: "Pro members (#11)" for Circle's and
//     Kit's numeric ids, "Pro (€29/month) · price_1Abc" for Stripe's ids.
//   - Text that already names ids in its own words ("access group 11", "kit:tag:21", "price_1Abc")
//     goes through Annotate, which puts the name beside each id it knows.
//   - An id without a cached name is shown as Fallback words it ("access group 11"), never with an
//     empty name; Label.Known tells the two apart.

// Label is one provider id with the name the founder gave it.
type Label struct {
	Kind Kind   `json:"kind"`
	ID   string `json:"id"`
	// Name is the founder's name ("Pro members", "Pro (€29/month)"), or Fallback's wording when it
	// is not known ("access group 11").
	Name  string `json:"name"`
	Known bool   `json:"known"`
}

// IDText is the id as shown beside a name: "#11", or a Stripe id as it is.
func (l Label) IDText() string {
	if l.Kind.numeric() {
		return "#" + l.ID
	}
	return l.ID
}

// Title is the hover text of a name: "Circle access group 11".
func (l Label) Title() string {
	return providerTitle(l.Kind.Provider()) + " " + l.Kind.Noun() + " " + l.ID
}

// String is the label as plain text: "Pro members (#11)", "Pro (€29/month) · price_1Abc", or, for
// an unknown id, Fallback's wording ("access group 11").
func (l Label) String() string {
	switch {
	case !l.Known:
		return l.Name
	case l.Kind.numeric():
		return l.Name + " (" + l.IDText() + ")"
	}
	return l.Name + " · " + l.ID
}

func providerTitle(p string) string {
	switch p {
	case "circle":
		return "Circle"
	case "kit":
		return "Kit"
	}
	return "Stripe"
}

// label builds a Label from what n says and what Fallback would say: n knows the id when its
// answer differs from Fallback's.
func label(kind Kind, id, name, fallback string) Label {
	return Label{Kind: kind, ID: id, Name: name, Known: name != "" && name != fallback}
}

// AccessGroupLabel labels Circle access group id through n (nil: Fallback).
func AccessGroupLabel(n Names, id int64) Label {
	return label(KindAccessGroup, strconv.FormatInt(id, 10), Or(n).AccessGroup(id), Fallback{}.AccessGroup(id))
}

// TagLabel labels Kit tag id through n (nil: Fallback).
func TagLabel(n Names, id int64) Label {
	return label(KindTag, strconv.FormatInt(id, 10), Or(n).Tag(id), Fallback{}.Tag(id))
}

// SequenceLabel labels Kit sequence id through n (nil: Fallback).
func SequenceLabel(n Names, id int64) Label {
	return label(KindSequence, strconv.FormatInt(id, 10), Or(n).Sequence(id), Fallback{}.Sequence(id))
}

// PriceLabel labels Stripe price id through n (nil: Fallback).
func PriceLabel(n Names, id string) Label {
	return label(KindPrice, id, Or(n).Price(id), Fallback{}.Price(id))
}

// ProductLabel labels Stripe product id through n, when n names products (Cached does); otherwise
// the label is Fallback's.
func ProductLabel(n Names, id string) Label {
	return label(KindProduct, id, Product(n, id), Fallback{}.Product(id))
}

// Product names Stripe product id through n when n names products (Cached does), else as Fallback
// words it.
func Product(n Names, id string) string {
	if p, ok := n.(interface{ Product(id string) string }); ok {
		return p.Product(id)
	}
	return Fallback{}.Product(id)
}

// LabelOf labels kind's id through n; an id of a numeric kind that is not a number labels as
// unknown.
func LabelOf(n Names, kind Kind, id string) Label {
	if kind.numeric() {
		v, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return Label{Kind: kind, ID: id, Name: kind.Noun() + " " + id}
		}
		switch kind {
		case KindAccessGroup:
			return AccessGroupLabel(n, v)
		case KindTag:
			return TagLabel(n, v)
		}
		return SequenceLabel(n, v)
	}
	if kind == KindProduct {
		return ProductLabel(n, id)
	}
	return PriceLabel(n, id)
}

var (
	// numericMention finds "access group 11", "access_group:11", "kit:tag:21", "kit:untag:21",
	// "tag 1001", "add_to_sequence:7": a kind word not inside a longer word (an underscore or a
	// colon before it is fine), a space or colon, and the id.
	numericMention = regexp.MustCompile(`(?i)(^|[^a-z0-9])(access[ _]group|untag|tag|sequence)([ :])(\d+)\b`)
	// stripeMention finds a Stripe price or product id that is not already in parentheses.
	stripeMention = regexp.MustCompile(`(^|[^A-Za-z0-9_(])((?:price|prod)_[A-Za-z0-9]+)`)
)

// Annotate puts the name n knows beside each id that s mentions in membersync's own words:
// "access group 11" becomes `access group "Pro members" (#11)`, "kit:tag:21" becomes
// `kit:tag "pro-active" (#21)`, "price_1Abc" becomes `"Pro (€29/month)" (price_1Abc)`. Ids n does
// not know are left as they are, and annotating twice changes nothing more. Alerts, trace and
// review reasons use it; they were written before names existed, or without access to them.
func Annotate(n Names, s string) string {
	if n == nil || s == "" {
		return s
	}
	s = replaceSubmatches(numericMention, s, func(m []string) (string, bool) {
		word, id := m[2], m[4]
		kind := KindTag
		switch w := strings.ToLower(word); {
		case strings.HasPrefix(w, "access"):
			kind = KindAccessGroup
		case w == "sequence":
			kind = KindSequence
		}
		l := LabelOf(n, kind, id)
		if !l.Known {
			return "", false
		}
		return m[1] + word + ` "` + l.Name + `" (#` + id + ")", true
	})
	return replaceSubmatches(stripeMention, s, func(m []string) (string, bool) {
		kind := KindPrice
		if strings.HasPrefix(m[2], "prod_") {
			kind = KindProduct
		}
		l := LabelOf(n, kind, m[2])
		if !l.Known {
			return "", false
		}
		return m[1] + `"` + l.Name + `" (` + m[2] + ")", true
	})
}

// replaceSubmatches replaces each match of re in s by what repl returns for its submatches, or
// keeps it when repl says false.
func replaceSubmatches(re *regexp.Regexp, s string, repl func(m []string) (string, bool)) string {
	idx := re.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, loc := range idx {
		m := make([]string, len(loc)/2)
		for i := range m {
			if loc[2*i] >= 0 {
				m[i] = s[loc[2*i]:loc[2*i+1]]
			}
		}
		r, ok := repl(m)
		if !ok {
			continue
		}
		b.WriteString(s[last:loc[0]])
		b.WriteString(r)
		last = loc[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
