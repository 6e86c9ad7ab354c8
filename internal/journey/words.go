package journey

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file holds how the story words times, durations and lists.

// moment formats an instant for a sentence: "3 Dec 14:02", with the year when it is not the
// current one. Times are UTC.
func (t *teller) moment(at time.Time) string {
	return t.day(at) + " " + t.clock(at)
}

// precise formats an instant to the second: "3 Dec 14:02:07".
func (t *teller) precise(at time.Time) string {
	return t.day(at) + " " + at.UTC().Format("15:04:05")
}

func (t *teller) day(at time.Time) string {
	at = at.UTC()
	if at.Year() != t.f.Now.UTC().Year() {
		return at.Format("2 Jan 2006")
	}
	return at.Format("2 Jan")
}

func (t *teller) clock(at time.Time) string { return at.UTC().Format("15:04") }

// clockAfter formats at as a time of day, with its date when it falls on another day than prev.
func (t *teller) clockAfter(at, prev time.Time) string {
	a, p := at.UTC(), prev.UTC()
	if a.YearDay() != p.YearDay() || a.Year() != p.Year() {
		return t.moment(at)
	}
	return t.clock(at)
}

// span words the time between two steps: "0.4 s", "12 s", "3 min", "2 h 5 min", "3 days".
func span(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d days", int(d.Hours()/24))
}

func providerName(provider string) string {
	switch provider {
	case "circle":
		return "Circle"
	case "kit":
		return "Kit"
	case "stripe":
		return "Stripe"
	case "":
		return "A provider"
	}
	return upperFirst(provider)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// lowerFirst lowers the first letter unless the first word is a name (Circle, Kit, Stripe…).
func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	first, _, _ := strings.Cut(s, " ")
	switch first {
	case "Circle", "Circle's", "Kit", "Kit's", "Stripe", "Stripe's", "CIRCLE_API_TOKEN", "KIT_API_KEY", "STRIPE_SECRET_KEY":
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func ensureStop(s string) string {
	if strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// andList joins words as a sentence does: "a", "a and b", "a, b and c".
func andList(words []string) string {
	switch len(words) {
	case 0:
		return ""
	case 1:
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
