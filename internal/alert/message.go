package alert

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Message statuses.
const (
	StatusFiring   = "firing"   // the first message of an alert
	StatusRepeat   = "repeat"   // the alert still holds; sent at most every repeat interval
	StatusResolved = "resolved" // the condition cleared
	StatusTest     = "test"     // membersync alerts test
)

// Message is one alert message as every notifier receives it: what is wrong, since when, how many
// people are affected, and the admin page that shows it.
type Message struct {
	// AlertID names the alert: its rule, or rule:subject (credentials:circle).
	AlertID string `json:"id"`
	Rule    string `json:"rule"`
	Status  string `json:"status"`
	Title   string `json:"title"`
	Detail  string `json:"detail"`
	// Since is when the condition began.
	Since time.Time `json:"since"`
	// ResolvedAt is set on resolved messages.
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// Affected is how many people are affected; -1 when it cannot be known.
	Affected int    `json:"affected"`
	Link     string `json:"link"`
	// Notice counts the messages of this firing: 1 for the first, 2 for the first repeat, …
	Notice int       `json:"notice"`
	SentAt time.Time `json:"sent_at"`
}

// Subject is the message's one line, as an email subject.
func (m Message) Subject() string {
	return oneLine("[membersync] " + m.label() + ": " + m.Title)
}

func (m Message) label() string {
	switch m.Status {
	case StatusRepeat:
		return "STILL FIRING"
	case StatusResolved:
		return "RESOLVED"
	case StatusTest:
		return "TEST"
	}
	return "FIRING"
}

func (m Message) affected() string {
	switch {
	case m.Affected < 0:
		return "unknown"
	case m.Affected == 1:
		return "1 person"
	}
	return fmt.Sprintf("%d people", m.Affected)
}

// sinceLine says since when, and for how long, relative to the message's sending time.
func (m Message) sinceLine() string {
	if m.Since.IsZero() {
		return ""
	}
	s := when(m.Since)
	if m.ResolvedAt != nil {
		return s + ", cleared " + when(*m.ResolvedAt) + " after " + human(m.ResolvedAt.Sub(m.Since))
	}
	return s + " (" + human(m.SentAt.Sub(m.Since)) + " ago)"
}

// Text renders the message as plain text (email bodies, logs of `alerts test`).
func (m Message) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n\n", m.label(), m.Title)
	if m.Detail != "" {
		b.WriteString(m.Detail + "\n\n")
	}
	if s := m.sinceLine(); s != "" {
		fmt.Fprintf(&b, "Since:           %s\n", s)
	}
	if m.Status != StatusResolved && m.Status != StatusTest {
		fmt.Fprintf(&b, "People affected: %s\n", m.affected())
	}
	if m.Notice > 1 {
		fmt.Fprintf(&b, "Notice:          %d (repeats while the problem lasts)\n", m.Notice)
	}
	if m.Link != "" {
		fmt.Fprintf(&b, "Open:            %s\n", m.Link)
	}
	b.WriteString("\n-- \nmembersync alert " + m.AlertID + "\n")
	return b.String()
}

// slackText renders the message in Slack's mrkdwn (also understood by Mattermost and Rocket.Chat).
func (m Message) slackText() string {
	icon := map[string]string{StatusFiring: ":rotating_light:", StatusRepeat: ":rotating_light:", StatusResolved: ":white_check_mark:", StatusTest: ":wave:"}[m.Status]
	var b strings.Builder
	fmt.Fprintf(&b, "%s *%s: %s*\n", icon, m.label(), slackEscape(m.Title))
	if m.Detail != "" {
		b.WriteString(slackEscape(m.Detail) + "\n")
	}
	var facts []string
	if s := m.sinceLine(); s != "" {
		facts = append(facts, "*Since* "+slackEscape(s))
	}
	if m.Status != StatusResolved && m.Status != StatusTest {
		facts = append(facts, "*People affected* "+m.affected())
	}
	if m.Notice > 1 {
		facts = append(facts, fmt.Sprintf("*Notice* %d", m.Notice))
	}
	if len(facts) > 0 {
		b.WriteString(strings.Join(facts, " · ") + "\n")
	}
	if m.Link != "" {
		fmt.Fprintf(&b, "<%s|Open in membersync>", strings.NewReplacer("|", "%7C", ">", "%3E", "<", "%3C").Replace(m.Link))
	}
	return strings.TrimRight(b.String(), "\n")
}

// slackEscape escapes the three characters Slack's mrkdwn reserves.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func when(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// human formats a duration to the minute: 42m, 3h12m, 2d4h.
func human(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(max(d, 0).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		h, m := int(d.Hours()), int(d.Minutes())%60
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh%dm", h, m)
	}
	days, h := int(d.Hours())/24, int(d.Hours())%24
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd%dh", days, h)
}

// seconds formats a latency: 850ms, 2.4s, 3m5s.
func seconds(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

var emailLike = regexp.MustCompile(`[^\s@<>"'(),;:]+@[^\s@<>"'(),;:]+\.[^\s@<>"'(),;:]+`)

// redact removes what looks like an email address from text read from the database (provider
// error messages may echo one): alerts leave the system, and raw emails never do.
func redact(s string) string {
	return emailLike.ReplaceAllString(s, "[email]")
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// clip shortens s to n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
