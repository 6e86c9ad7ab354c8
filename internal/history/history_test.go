package history_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/history"
	"github.com/membersync/membersync/internal/store/storetest"
)

const baseYAML = `listen: ":8080"
public_url: "https://members.example.com"
database_url: "sqlite:membersync.db"
plans:
  - id: pro
    name: Pro
    stripe: {prices: [price_pro]}
    circle: {access_groups: [11]}
    kit: {tags: {active: 1001}}
`

var baseEnv = map[string]string{
	config.EnvStripeSecretKey:     "sk_test_abcdefgh12345678",
	config.EnvStripeWebhookSecret: "whsec_oldoldoldold1234",
	config.EnvCircleAPIToken:      "circle-token",
	config.EnvKitAPIKey:           "kit-key",
	config.EnvSigningKey:          "test-signing-key-0123456789abcdef0123",
}

// snap loads yaml with env (baseEnv changed by the overrides; "" unsets) as a start would.
func snap(t *testing.T, yaml string, overrides map[string]string, build history.Build) history.Snapshot {
	t.Helper()
	env := map[string]string{}
	for k, v := range baseEnv {
		env[k] = v
	}
	for k, v := range overrides {
		env[k] = v
	}
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "membersync.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return history.Take(cfg, path, build, "host/1", time.Date(2026, 12, 6, 14, 2, 0, 0, time.UTC))
}

var v1 = history.Build{Version: "v1.2.3", Revision: "abc1234def5678"}

func TestDiff(t *testing.T) {
	vip := baseYAML + `  - id: vip
    stripe: {prices: [price_vip]}
    circle: {access_groups: [12]}
`
	for _, tc := range []struct {
		name      string
		yaml      string
		env       map[string]string
		build     history.Build
		want      []string // Delta.String of each, in order
		secretLog []string // values that must appear nowhere
	}{
		{name: "unchanged: a restart", yaml: baseYAML, build: v1, want: nil},
		{name: "plan added", yaml: vip, build: v1, want: []string{"plans[vip] added"}},
		{name: "plan removed", yaml: strings.Replace(baseYAML, "id: pro", "id: gold", 1), build: v1,
			want: []string{"plans[gold] added", "plans[pro] removed"}},
		{name: "URL changed", yaml: strings.Replace(baseYAML, "https://members.example.com", "https://club.example.com", 1), build: v1,
			want: []string{"public_url https://members.example.com → https://club.example.com"}},
		{name: "tag changed", yaml: strings.Replace(baseYAML, "active: 1001", "active: 1002", 1), build: v1,
			want: []string{"plans[pro].kit.tags.active 1001 → 1002"}},
		{name: "tag added", yaml: strings.Replace(baseYAML, "{active: 1001}", "{active: 1001, canceled: 1003}", 1), build: v1,
			want: []string{"plans[pro].kit.tags.canceled added: 1003"}},
		{name: "secret rotated", yaml: baseYAML, env: map[string]string{config.EnvStripeWebhookSecret: "whsec_newnewnewnew5678"}, build: v1,
			want: []string{"STRIPE_WEBHOOK_SECRET changed"}, secretLog: []string{"whsec_newnewnewnew5678", "whsec_oldoldoldold1234"}},
		{name: "secret set and unset", yaml: baseYAML, env: map[string]string{config.EnvMetricsToken: "metrics-token-1", config.EnvKitAPIKey: ""}, build: v1,
			want: []string{"KIT_API_KEY unset", "MEMBERSYNC_METRICS_TOKEN set"}},
		{name: "signing key changed: other prints not compared", yaml: baseYAML,
			env: map[string]string{config.EnvSigningKey: "another-signing-key-0123456789abcdef"}, build: v1,
			want: []string{"MEMBERSYNC_SIGNING_KEY changed"}},
		{name: "new version", yaml: baseYAML, build: history.Build{Version: "v1.2.4", Revision: "def5678abc"},
			want: []string{"version v1.2.3 (abc1234) → v1.2.4 (def5678)"}},
		{name: "comment only", yaml: "# edited\n" + baseYAML, build: v1, want: []string{"config file edited, no effective change"}},
		{name: "database password from the environment never shown", yaml: baseYAML,
			env: map[string]string{config.EnvDatabaseURL: "postgres://ms:hunter2secret@db.example.com/ms"}, build: v1,
			want:      []string{"MEMBERSYNC_DATABASE_URL set", "database_url sqlite:membersync.db → postgres://ms:xxxxx@db.example.com/ms"},
			secretLog: []string{"hunter2secret"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prev := snap(t, baseYAML, nil, v1)
			cur := snap(t, tc.yaml, tc.env, tc.build)
			deltas := history.Diff(prev, cur)
			var got []string
			for _, d := range deltas {
				got = append(got, d.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Diff:\n got %q\nwant %q", got, tc.want)
			}
			s := history.Start{At: cur.At, Build: cur.Build, Deltas: deltas}
			line := s.Line()
			if len(tc.want) == 0 && line != "2026-12-06 14:02 restart v1.2.3 (abc1234), nothing changed" {
				t.Errorf("restart line: %q", line)
			}
			for _, secret := range tc.secretLog {
				for k, v := range cur.Config {
					if strings.Contains(v, secret) {
						t.Errorf("config key %s shows a secret: %q", k, v)
					}
				}
				for _, d := range deltas {
					if strings.Contains(d.Old+d.New+d.String(), secret) {
						t.Errorf("delta %+v shows a secret", d)
					}
				}
			}
		})
	}
}

func TestFlattenKeys(t *testing.T) {
	c := snap(t, baseYAML, nil, v1).Config
	for k, want := range map[string]string{
		"public_url":                          "https://members.example.com",
		"plans[pro].circle.access_groups":     "[11]",
		"plans[pro].kit.tags.active":          "1001",
		"plans[pro].stripe.prices":            "[price_pro]",
		"plans[pro].grace_period":             "3d",
		"alerts.circle_failures.max":          "3",
		"alerts.webhook_failures.disabled":    "false",
		"plans[pro].revoke_on_partial_refund": "false",
	} {
		if got, ok := c[k]; !ok || got != want {
			t.Errorf("Flatten[%q] = %q (present %v), want %q", k, got, ok, want)
		}
	}
	for k := range c {
		if strings.HasPrefix(strings.ToLower(k), "secrets") {
			t.Errorf("Flatten has a secrets key %q", k)
		}
	}
}

func TestRecordAndExplain(t *testing.T) {
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			st := storetest.Open(t, d)
			ctx := context.Background()
			t0 := time.Date(2026, 12, 6, 9, 0, 0, 0, time.UTC)
			if _, ok := history.Explain(ctx, st, t0); ok {
				t.Error("Explain with no start recorded: ok")
			}
			record := func(at time.Time, s history.Snapshot) history.Start {
				t.Helper()
				s.At = at
				got, err := history.Record(ctx, st, s)
				if err != nil {
					t.Fatal(err)
				}
				return got
			}
			base := snap(t, baseYAML, nil, v1)
			first := record(t0, base)
			if !first.First || first.Summary() != "first recorded start v1.2.3 (abc1234)" {
				t.Errorf("first start: %+v %q", first, first.Summary())
			}
			rotated := snap(t, baseYAML, map[string]string{config.EnvStripeWebhookSecret: "whsec_newnewnewnew5678"}, v1)
			change := record(t0.Add(5*time.Hour+2*time.Minute), rotated) // 14:02
			restart := record(t0.Add(6*time.Hour), rotated)              // 15:00, nothing changed
			if !restart.Restart() || change.Restart() || len(change.Deltas) != 1 || change.Deltas[0].Key != config.EnvStripeWebhookSecret {
				t.Fatalf("change %+v, restart %+v", change, restart)
			}
			list, err := history.List(ctx, st, 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 3 || list[0].ID != restart.ID || list[2].ID != first.ID {
				t.Fatalf("List: %+v", list)
			}
			if got, want := list[1].Line(), "2026-12-06 14:02 start v1.2.3 (abc1234): STRIPE_WEBHOOK_SECRET changed"; got != want {
				t.Errorf("Line: %q, want %q", got, want)
			}

			for _, tc := range []struct {
				name  string
				onset time.Time
				want  string // "" for none
			}{
				{"2 min after the change", t0.Add(5*time.Hour + 4*time.Minute),
					"Bad signatures began 2 min after the start at 14:02 UTC, which changed STRIPE_WEBHOOK_SECRET"},
				{"after a restart: the change before it", t0.Add(6*time.Hour + 30*time.Minute),
					"Bad signatures began 1 h 28 min after the start at 14:02 UTC, which changed STRIPE_WEBHOOK_SECRET"},
				{"just before the start", t0.Add(5*time.Hour + 1*time.Minute),
					"Bad signatures began 1 min before the start at 14:02 UTC, which changed STRIPE_WEBHOOK_SECRET"},
				{"before the change: the first start", t0.Add(3 * time.Hour),
					"Bad signatures began 3 h after the first recorded start at 09:00 UTC (v1.2.3 (abc1234); no earlier start to compare with)"},
				{"before anything", t0.Add(-time.Hour), ""},
				{"more than a day later", t0.Add(6*time.Hour + 25*time.Hour), ""},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c, ok := history.Explain(ctx, st, tc.onset)
					got := ""
					if ok {
						got = c.Sentence("Bad signatures")
					}
					if got != tc.want {
						t.Errorf("Explain(%v):\n got %q\nwant %q", tc.onset, got, tc.want)
					}
				})
			}
		})
	}
}

func TestNearestRestartOnly(t *testing.T) {
	at := time.Date(2026, 12, 6, 14, 2, 0, 0, time.UTC)
	starts := []history.Start{{ID: 2, At: at, Build: v1}, {ID: 1, At: at.Add(-time.Hour), Build: v1, First: true}}
	// The newest is a restart; the first start is older: the restart is the nearest, with nothing changed.
	starts[1].First = false
	c, ok := history.Nearest(starts, at.Add(3*time.Minute))
	if !ok || c.Start.ID != 2 {
		t.Fatalf("Nearest: %+v %v", c, ok)
	}
	if got, want := c.Sentence("Circle sync failures"), "Circle sync failures began 3 min after a restart at 14:02 UTC, which changed nothing in the version, config or secrets"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
