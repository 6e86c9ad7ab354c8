package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// goodPlan is a valid plan list; each mistake below is one edit of a file around it.
const goodPlan = `plans:
  - id: pro
    stripe: {prices: [price_1]}
    circle:
      access_groups: [1]
    kit:
      tags: {active: 5}
`

// mistakes are the config mistakes a founder makes, each with the line and key path the report
// must name and what it must say.
var mistakes = []struct {
	name string
	yaml string // the whole file
	line int
	path string
	says string
}{
	{"misspelt key", strings.Replace(goodPlan, "access_groups", "acess_groups", 1), 5,
		"plans[0].circle.acess_groups", "unknown key (did you mean access_groups?)"},
	{"misspelt top-level key", goodPlan + "lisen: \":8080\"\n", 8, "lisen", "unknown key (did you mean listen?)"},
	{"key far from any", goodPlan + "support:\n  phone: 555\n", 9, "support.phone", "unknown key; the keys here are email, url"},
	{"wrong type", strings.Replace(goodPlan, "[1]", "[abc]", 1), 5,
		"plans[0].circle.access_groups[0]", `"abc" is not a whole number`},
	{"list where a value belongs", goodPlan + "listen: [a, b]\n", 8, "listen", "want text, got a list"},
	{"value where a mapping belongs", goodPlan + "circle: fast\n", 8, "circle", `want a mapping of keys (base_url, community_url, skip_invitation, requests_per_minute, …), got "fast"`},
	{"unknown plan stage", strings.Replace(goodPlan, "active: 5", "activ: 5", 1), 7,
		"plans[0].kit.tags.activ", "unknown lifecycle stage (did you mean active?); use one of trialing, active"},
	{"missing id", strings.Replace(goodPlan, "  - id: pro\n    stripe", "  - stripe", 1), 2,
		"plans[0].id", `"" must be 1-40 lowercase letters`},
	{"bad URL", goodPlan + "support:\n  url: ftp//help\n", 9, "support.url", `"ftp//help" is not an http(s) URL`},
	{"bad duration", goodPlan + "reconcile:\n  interval: daily\n", 9, "reconcile.interval", `"daily" is not a duration`},
	{"secret in YAML", goodPlan + "kit:\n  api_key: abc123\n", 9, "kit.api_key", "secrets do not belong in the config file; remove it and set KIT_API_KEY"},
	{"Stripe secret under a known key", goodPlan + "support:\n  email: sk_live_abcdefghijkl\n", 9, "support.email", "holds what looks like a Stripe secret"},
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "membersync.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestConfigMistakes: each mistake is reported once, as `file:line: key.path: what`, and the good
// file it was made in has no other problem.
func TestConfigMistakes(t *testing.T) {
	if _, err := Parse([]byte(goodPlan), env(nil)); err != nil {
		t.Fatalf("the file without mistakes: %v", err)
	}
	for _, m := range mistakes {
		t.Run(m.name, func(t *testing.T) {
			path := writeConfig(t, m.yaml)
			_, err := Load(path, env(nil))
			var probs Problems
			if !errors.As(err, &probs) {
				t.Fatalf("got %v, want Problems", err)
			}
			want := path + ":" + strconv.Itoa(m.line) + ": " + m.path + ": " + m.says
			if len(probs) != 1 || !strings.HasPrefix(probs[0], want) {
				t.Errorf("got %d problem(s):\n  %s\nwant one starting %q", len(probs), strings.Join(probs, "\n  "), want)
			}
		})
	}
}

// TestConfigMistakesAllAtOnce: a file with every mistake reports every one in one run, in the
// order of the file, and none twice.
func TestConfigMistakesAllAtOnce(t *testing.T) {
	body := `listen: [a, b]
lisen: ":8080"
plans:
  - stripe: {prices: [price_1]}
    circle:
      acess_groups: [1]
    kit:
      tags: {activ: 5, canceled: abc}
    grace_period: soon
support:
  url: ftp//help
kit:
  api_key: abc123
`
	path := writeConfig(t, body)
	_, err := Load(path, env(nil))
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("got %v, want Problems", err)
	}
	want := []string{
		path + ":1: listen: want text, got a list",
		path + ":2: lisen: unknown key (did you mean listen?)",
		path + ":4: plans[0].id: \"\" must be",
		path + ":6: plans[0].circle.acess_groups: unknown key (did you mean access_groups?)",
		path + ":8: plans[0].kit.tags.canceled: \"abc\" is not a whole number",
		path + ":8: plans[0].kit.tags.activ: unknown lifecycle stage (did you mean active?)",
		path + ":9: plans[0].grace_period: \"soon\" is not a duration",
		path + ":11: support.url: \"ftp//help\" is not an http(s) URL",
		path + ":13: kit.api_key: secrets do not belong in the config file",
	}
	if len(probs) != len(want) {
		t.Errorf("got %d problems, want %d:\n  %s", len(probs), len(want), strings.Join(probs, "\n  "))
	}
	for i, w := range want {
		if i >= len(probs) || !strings.HasPrefix(probs[i], w) {
			t.Errorf("problem %d: want one starting %q; got:\n  %s", i, w, strings.Join(probs, "\n  "))
		}
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "config: 9 problems:\n  - "+path+":1: ") {
		t.Errorf("Error() = %q", msg)
	}
}

// TestConfigProblemsWithoutLine: a key the file lacks is named with the file; the environment's
// database URL with neither file nor line; invalid YAML with its line.
func TestConfigProblemsWithoutLine(t *testing.T) {
	path := writeConfig(t, "listen: \":8080\"\n")
	_, err := Load(path, env(map[string]string{EnvDatabaseURL: "mysql://x"}))
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 2 {
		t.Fatalf("got %v, want two problems", err)
	}
	if !strings.HasPrefix(probs[0], EnvDatabaseURL+": ") || !strings.HasPrefix(probs[1], path+": plans: at least one plan") {
		t.Errorf("got %q", probs)
	}
	path = writeConfig(t, "plans:\n  - id: [\n")
	if _, err := Load(path, env(nil)); err == nil || !strings.Contains(err.Error(), path+":2: the file is not valid YAML: ") {
		t.Errorf("invalid YAML: got %v", err)
	}
}

func TestEditDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"acess_groups", "access_groups", 1}, {"lisen", "listen", 1}, {"abc", "", 3}, {"kitten", "sitting", 3}} {
		if got := editDistance(tt.a, tt.b); got != tt.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// FuzzParse: no input makes Parse panic or hang, and a failure is always a non-empty Problems.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodPlan))
	for _, m := range mistakes {
		f.Add([]byte(m.yaml))
	}
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("plans: &p\n  - *p\n"))
	f.Add([]byte("---\n- 1\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Parse(b, env(nil))
		if err == nil {
			if c == nil || len(c.Plans) == 0 {
				t.Fatalf("no error but config %+v", c)
			}
			return
		}
		var probs Problems
		if !errors.As(err, &probs) || len(probs) == 0 {
			t.Fatalf("error %v is not Problems", err)
		}
		for _, p := range probs {
			if p == "" {
				t.Fatal("empty problem")
			}
		}
	})
}
