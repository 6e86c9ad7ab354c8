package doctor

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// sorted returns the findings ordered by severity (fail, warn, unknown, pass), keeping group order
// within a severity.
func (r Report) sorted() []Finding {
	fs := slices.Clone(r.Findings)
	slices.SortStableFunc(fs, func(x, y Finding) int { return x.Status.rank() - y.Status.rank() })
	return fs
}

// summary returns "N fail, N warn, N unknown, N pass".
func (r Report) summary() string {
	c := r.Counts()
	return fmt.Sprintf("%d fail, %d warn, %d unknown, %d pass", c[StatusFail], c[StatusWarn], c[StatusUnknown], c[StatusPass])
}

// heading names each severity section of the text report.
var heading = map[Status]string{
	StatusFail:    "FAIL — fix before launch",
	StatusWarn:    "WARN — should fix",
	StatusUnknown: "UNKNOWN — could not check",
	StatusPass:    "PASS",
}

// WriteText writes a terminal report grouped by severity: fail, warn, unknown, then pass. Each
// finding shows its group, check, explanation, fix and detail lines.
func (r Report) WriteText(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "membersync doctor: %s (%s)\n", r.Domain, r.Started.UTC().Format(time.RFC3339))
	fmt.Fprintf(bw, "%d checks: %s\n", len(r.Findings), r.summary())
	var cur Status
	for i, f := range r.sorted() {
		if i == 0 || f.Status != cur {
			cur = f.Status
			fmt.Fprintf(bw, "\n%s\n", heading[cur])
		}
		fmt.Fprintf(bw, "  [%s] %s: %s — %s\n", strings.ToUpper(string(f.Status)), f.Group, f.Check, f.Message)
		if f.Fix != "" && f.Status != StatusPass {
			fmt.Fprintf(bw, "      fix: %s\n", f.Fix)
		}
		for _, d := range f.Detail {
			fmt.Fprintf(bw, "      · %s\n", d)
		}
	}
	if r.ExitCode() != 0 {
		fmt.Fprintf(bw, "\nNot ready: %d check(s) fail.\n", r.Counts()[StatusFail])
	} else {
		fmt.Fprintln(bw, "\nNo check fails.")
	}
	return bw.Flush()
}

// jsonReport is the JSON shape: the report plus a summary and the exit code.
type jsonReport struct {
	Domain   string         `json:"domain"`
	Started  time.Time      `json:"started"`
	Summary  map[Status]int `json:"summary"`
	ExitCode int            `json:"exit_code"`
	Findings []Finding      `json:"findings"`
}

// WriteJSON writes the report as one indented JSON object with a summary of counts by status.
func (r Report) WriteJSON(w io.Writer) error {
	fs := r.Findings
	if fs == nil {
		fs = []Finding{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(jsonReport{Domain: r.Domain, Started: r.Started.UTC(), Summary: r.Counts(), ExitCode: r.ExitCode(), Findings: fs})
}

// mdEscape makes text safe inside a Markdown list item or table cell: pipes and angle brackets are
// escaped outside `code spans`, which Markdown shows literally.
func mdEscape(s string) string {
	parts := strings.Split(strings.ReplaceAll(s, "\n", " "), "`")
	r := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;")
	for i := 0; i < len(parts); i += 2 {
		parts[i] = r.Replace(parts[i])
	}
	return strings.Join(parts, "`")
}

// WriteMarkdown writes a handover checklist: what to fix (unchecked boxes), what could not be checked,
// what passed (checked boxes), and a table of what was checked per group.
func (r Report) WriteMarkdown(w io.Writer) error {
	bw := bufio.NewWriter(w)
	c := r.Counts()
	fmt.Fprintf(bw, "# Launch-readiness checklist: %s\n\n", r.Domain)
	fmt.Fprintf(bw, "Audited %s by `membersync doctor`. Result: **%d to fix**, %d to review, %d not checked, %d passed.\n",
		r.Started.UTC().Format("2006-01-02 15:04 MST"), c[StatusFail], c[StatusWarn], c[StatusUnknown], c[StatusPass])
	sections := []struct {
		status Status
		title  string
	}{
		{StatusFail, "Fix before launch"},
		{StatusWarn, "Should fix"},
		{StatusUnknown, "Could not be checked"},
		{StatusPass, "Passed"},
	}
	for _, s := range sections {
		var items []Finding
		for _, f := range r.Findings {
			if f.Status == s.status {
				items = append(items, f)
			}
		}
		if len(items) == 0 {
			continue
		}
		fmt.Fprintf(bw, "\n## %s (%d)\n\n", s.title, len(items))
		for _, f := range items {
			box := "[ ]"
			if f.Status == StatusPass {
				box = "[x]"
			}
			fmt.Fprintf(bw, "- %s **%s — %s**: %s\n", box, mdEscape(f.Group), mdEscape(f.Check), mdEscape(f.Message))
			if f.Fix != "" && f.Status != StatusPass {
				fmt.Fprintf(bw, "  - Fix: %s\n", mdEscape(f.Fix))
			}
			if f.Status != StatusPass {
				for _, d := range f.Detail {
					fmt.Fprintf(bw, "  - `%s`\n", strings.ReplaceAll(d, "`", "'"))
				}
			}
		}
	}
	fmt.Fprintf(bw, "\n## What was checked\n\n| Group | Checks | Fail | Warn | Unknown | Pass |\n|---|---|---|---|---|---|\n")
	for _, g := range groupsOf(r.Findings) {
		n := map[Status]int{}
		total := 0
		for _, f := range r.Findings {
			if f.Group == g {
				n[f.Status]++
				total++
			}
		}
		fmt.Fprintf(bw, "| %s | %d | %d | %d | %d | %d |\n", mdEscape(g), total, n[StatusFail], n[StatusWarn], n[StatusUnknown], n[StatusPass])
	}
	return bw.Flush()
}

// groupsOf returns the groups present, known groups in report order, then any others in order of
// appearance (config findings may bring their own).
func groupsOf(fs []Finding) []string {
	var out []string
	for _, g := range Groups() {
		if slices.ContainsFunc(fs, func(f Finding) bool { return f.Group == g }) {
			out = append(out, g)
		}
	}
	for _, f := range fs {
		if !slices.Contains(out, f.Group) {
			out = append(out, f.Group)
		}
	}
	return out
}
