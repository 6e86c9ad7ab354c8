package doctor

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// sampleReport has one finding of each status, out of severity order.
func sampleReport() Report {
	return Report{Domain: "good.test", Started: testNow, Findings: []Finding{
		{Group: GroupDNS, Check: "apex resolves", Status: StatusPass, Message: "good.test resolves", Detail: []string{"A 127.0.0.1"}},
		{Group: GroupTLS, Check: "HSTS (good.test)", Status: StatusWarn, Message: "HSTS max-age is 86400 s, under one year", Fix: "Send max-age=31536000."},
		{Group: GroupEmail, Check: "DKIM cka", Status: StatusUnknown, Message: "selector cka not found"},
		{Group: GroupWebhook, Check: "unsigned POST refused", Status: StatusFail, Message: "an unsigned event was accepted with 200 | forged",
			Fix: "Verify the Stripe-Signature header.", Detail: []string{"POST https://good.test/webhooks/stripe → HTTP 200 in 3ms"}},
	}}
}

func TestWriteTextGroupsBySeverity(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleReport().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"membersync doctor: good.test (2030-06-01T12:00:00Z)",
		"4 checks: 1 fail, 1 warn, 1 unknown, 1 pass",
		"[FAIL] Webhook endpoint: unsigned POST refused — an unsigned event was accepted with 200",
		"      fix: Verify the Stripe-Signature header.",
		"      · POST https://good.test/webhooks/stripe → HTTP 200 in 3ms",
		"[PASS] DNS: apex resolves — good.test resolves",
		"Not ready: 1 check(s) fail.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	order := []string{"FAIL — fix before launch", "WARN — should fix", "UNKNOWN — could not check", "\nPASS\n"}
	last := -1
	for _, h := range order {
		i := strings.Index(out, h)
		if i <= last {
			t.Errorf("section %q is out of order (at %d, previous at %d):\n%s", h, i, last, out)
		}
		last = i
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleReport().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Domain   string         `json:"domain"`
		Started  string         `json:"started"`
		Summary  map[string]int `json:"summary"`
		ExitCode int            `json:"exit_code"`
		Findings []Finding      `json:"findings"`
	}
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatalf("invalid JSON: %v\n%s", err, buf.String())
	}
	if got.Domain != "good.test" || got.Started != "2030-06-01T12:00:00Z" || got.ExitCode != 1 {
		t.Errorf("header: %+v", got)
	}
	if got.Summary["fail"] != 1 || got.Summary["pass"] != 1 || got.Summary["warn"] != 1 || got.Summary["unknown"] != 1 {
		t.Errorf("summary: %v", got.Summary)
	}
	if len(got.Findings) != 4 || got.Findings[3].Status != StatusFail || got.Findings[3].Fix == "" {
		t.Errorf("findings: %+v", got.Findings)
	}
	if !strings.Contains(buf.String(), `"group": "Webhook endpoint"`) {
		t.Errorf("JSON should use lowercase keys:\n%s", buf.String())
	}
	var empty bytes.Buffer
	Report{Domain: "x.test"}.WriteJSON(&empty)
	if !strings.Contains(empty.String(), `"findings": []`) {
		t.Errorf("an empty report should have an empty findings array:\n%s", empty.String())
	}
}

func TestWriteMarkdownChecklist(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := sampleReport().WriteMarkdown(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"# Launch-readiness checklist: good.test",
		"Result: **1 to fix**, 1 to review, 1 not checked, 1 passed.",
		"## Fix before launch (1)",
		`- [ ] **Webhook endpoint — unsigned POST refused**: an unsigned event was accepted with 200 \| forged`,
		"  - Fix: Verify the Stripe-Signature header.",
		"  - `POST https://good.test/webhooks/stripe → HTTP 200 in 3ms`",
		"## Should fix (1)",
		"## Could not be checked (1)",
		"## Passed (1)",
		"- [x] **DNS — apex resolves**: good.test resolves",
		"## What was checked",
		"| DNS | 1 | 0 | 0 | 0 | 1 |",
		"| Webhook endpoint | 1 | 1 | 0 | 0 | 0 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if strings.Index(out, "## Fix before launch") > strings.Index(out, "## Passed") {
		t.Error("fixes must come before passes")
	}
}

func TestRenderFullRun(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "bad.test")
	badZone(t, f.dns)
	r := run(t, f.start().options("bad.test", f.pki))
	var text, md bytes.Buffer
	r.WriteText(&text)
	r.WriteMarkdown(&md)
	for _, want := range []string{"[FAIL] DNS: no CNAME at apex", "[FAIL] Email authentication: SPF record", "[WARN] DNS: CAA"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if !strings.Contains(md.String(), "- [ ] **DNS — no CNAME at apex**") {
		t.Errorf("markdown lacks the apex CNAME item:\n%s", md.String())
	}
}

func TestMDEscape(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"a | b":                `a \| b`,
		"retry < refresh":      "retry &lt; refresh",
		"add `x <y>` then <z>": "add `x <y>` then &lt;z&gt;",
		"two\nlines":           "two lines",
	} {
		if got := mdEscape(in); got != want {
			t.Errorf("mdEscape(%q) = %q, want %q", in, got, want)
		}
	}
}
