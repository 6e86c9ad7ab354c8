package main

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemoConverges runs the demo for a bounded time at high speed and checks that every scenario's
// journey converged as the scenario intends (each scenario checks the fakes' end state itself).
func TestDemoConverges(t *testing.T) {
	if testing.Short() {
		t.Skip("plays every scenario end to end")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out, errb strings.Builder
	err := run(ctx, []string{"demo", "--speed", "50", "--exit", "--listen", "127.0.0.1:0", "--data", t.TempDir()},
		func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	if err != nil {
		t.Fatalf("demo: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	for _, want := range []string{"All 9 scenario(s) converged as intended.", "/welcome?session_id=cs_", "/status/", "Fake Stripe"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if n := strings.Count(out.String(), "✓ converged as intended"); n != 9 {
		t.Errorf("%d scenarios converged, want 9", n)
	}
}

func TestDemoUnknownScenario(t *testing.T) {
	_, errOut, err := runCmd(t, nil, "demo", "--scenario", "nope", "--exit")
	if exitCode(err) != 2 || !strings.Contains(errOut, "kit-rate-limit") {
		t.Errorf("exit %d, stderr %q: want usage listing the scenarios", exitCode(err), errOut)
	}
}
