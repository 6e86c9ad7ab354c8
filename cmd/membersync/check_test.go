package main

import (
	"maps"
	"os"
	"regexp"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	w := newWorld(t, worldOptions{})
	out, _, err := runCmd(t, w.env(), "check", "--config", w.cfgFile())
	if err != nil {
		t.Fatalf("check against healthy fakes: %v\n%s", err, out)
	}
	for _, want := range []string{"stripe      ok", "circle      ok", "kit         ok", "secrets     ok",
		"egress      ok", "circle  127.0.0.1:", "(circle.base_url; loopback, plain http allowed)", "mail    nothing (not configured)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	bad := maps.Clone(w.env())
	bad["KIT_API_KEY"] = "kit_wrong"
	out, _, err = runCmd(t, bad, "check", "--config", w.cfgFile())
	if exitCode(err) != 1 || !strings.Contains(out, "kit         FAIL config (HTTP 401)") || !strings.Contains(out, "check KIT_API_KEY") {
		t.Errorf("wrong Kit key: exit %d\n%s", exitCode(err), out)
	}
	if strings.Contains(out, "kit_wrong") {
		t.Error("check printed the key")
	}

	cfg, err := os.ReadFile(w.cfgFile())
	if err != nil {
		t.Fatal(err)
	}
	// A provider that does not answer: check says why (the connection), not just "transient".
	down := regexp.MustCompile(`kit: \{base_url: "[^"]+"`).ReplaceAllString(string(cfg), `kit: {base_url: "http://127.0.0.1:1"`)
	downPath := t.TempDir() + "/down.yaml"
	os.WriteFile(downPath, []byte(down), 0o600)
	out, _, err = runCmd(t, w.env(), "check", "--config", downPath)
	if exitCode(err) != 1 || !strings.Contains(out, "kit         FAIL transient: cannot connect: ") {
		t.Errorf("Kit down: exit %d\n%s", exitCode(err), out)
	}
	missing := strings.Replace(string(cfg), "access_groups: [", "access_groups: [999999, ", 1)
	path := t.TempDir() + "/missing.yaml"
	os.WriteFile(path, []byte(missing), 0o600)
	out, _, err = runCmd(t, w.env(), "check", "--config", path)
	if exitCode(err) != 1 || !strings.Contains(out, "access group 999999") {
		t.Errorf("missing access group: exit %d\n%s", exitCode(err), out)
	}
}

func TestDoctorCommandUsage(t *testing.T) {
	_, errOut, err := runCmd(t, nil, "doctor")
	if exitCode(err) != 2 || !strings.Contains(errOut, "--domain is required") {
		t.Errorf("no domain: exit %d, %q", exitCode(err), errOut)
	}
	_, _, err = runCmd(t, nil, "doctor", "--domain", "example.com", "--json", "--markdown")
	if exitCode(err) != 2 {
		t.Errorf("--json with --markdown: exit %d, want 2", exitCode(err))
	}
}
