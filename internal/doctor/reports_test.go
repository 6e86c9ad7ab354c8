package doctor

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportsOfGoodAndBadSetups audits a complete, correct setup and a broken one end to end and
// renders both as the terminal report and the Markdown handover checklist. With
// MEMBERSYNC_DOCTOR_REPORTS=DIR the four reports are written there to be read.
func TestReportsOfGoodAndBadSetups(t *testing.T) {
	t.Parallel()
	good := goodFixture(t)
	goodReport := run(t, goodOptions(good.start(), good.pki))

	bad := newFixture(t, "bad.test", "www.bad.test")
	badZone(t, bad.dns)
	bad.routes["http://bad.test/"] = respond(200, "<html>plain http</html>")
	bad.routes["https://bad.test/"] = respond(200, "<html>members</html>", "Content-Security-Policy", "default-src * 'unsafe-inline'")
	bad.routes["https://bad.test/admin"] = respond(200, "<html>admin</html>", "Set-Cookie", "session=abc; Path=/", "Cache-Control", "public, max-age=600")
	bad.routes["https://bad.test/webhooks/stripe"] = respond(200, `{"received":true}`)
	bad.routes["https://www.bad.test/"] = redirectTo(302, "http://bad.test/")
	bad.certs["www.bad.test"] = bad.pki.inter.leaf(t, testNow.AddDate(0, 0, 5), "www.bad.test")
	w := bad.start()
	o := w.options("bad.test", bad.pki)
	o.WWW = true
	o.DKIMSelectors = []string{"cka"}
	o.WebhookURL = "https://bad.test/webhooks/stripe"
	badReport := run(t, o)

	if goodReport.ExitCode() != 0 || badReport.ExitCode() != 1 {
		t.Fatalf("exit codes: good %d, bad %d; want 0 and 1", goodReport.ExitCode(), badReport.ExitCode())
	}
	for _, want := range []string{"Webhook endpoint", "unsigned event was accepted", "2 SPF records"} {
		var text bytes.Buffer
		badReport.WriteText(&text)
		if !strings.Contains(text.String(), want) {
			t.Errorf("bad report lacks %q", want)
		}
	}
	dir := os.Getenv("MEMBERSYNC_DOCTOR_REPORTS")
	if dir == "" {
		return
	}
	for name, r := range map[string]Report{"good": goodReport, "bad": badReport} {
		var text, md bytes.Buffer
		r.WriteText(&text)
		r.WriteMarkdown(&md)
		os.WriteFile(filepath.Join(dir, name+".txt"), text.Bytes(), 0o644)
		os.WriteFile(filepath.Join(dir, name+".md"), md.Bytes(), 0o644)
	}
}
