package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestBackupConfig: scheduled backups are off until backup.dir is set, default to daily with 7
// kept, and refuse a too short interval, keeping none, PostgreSQL, and the database's own folder.
func TestBackupConfig(t *testing.T) {
	t.Parallel()
	const plans = `
plans:
  - id: pro
    stripe: {prices: [price_1]}
    circle: {access_groups: [1]}
`
	tests := []struct {
		name    string
		yaml    string
		env     map[string]string
		problem string // a substring of the one problem wanted; empty means valid
		check   func(t *testing.T, c *Config)
	}{
		{name: "off by default", yaml: plans, check: func(t *testing.T, c *Config) {
			if c.Backup.Enabled() || c.Backup.Interval.D() != 24*time.Hour || c.Backup.Keep != 7 {
				t.Errorf("backup %+v, want off, 24h, keep 7", c.Backup)
			}
		}},
		{name: "on", yaml: plans + "database_url: sqlite:/var/lib/membersync/membersync.db\nbackup: {dir: /var/backups/membersync, interval: 6h, keep: 28}",
			check: func(t *testing.T, c *Config) {
				if !c.Backup.Enabled() || c.Backup.Interval.D() != 6*time.Hour || c.Backup.Keep != 28 {
					t.Errorf("backup %+v", c.Backup)
				}
			}},
		{name: "too often", yaml: plans + "backup: {dir: backups, interval: 5m}", problem: "backup.interval: 5m0s is too often"},
		{name: "keeps none", yaml: plans + "backup: {dir: backups, keep: -1}", problem: "backup.keep: -1 must be 1 or more"},
		{name: "postgres", yaml: plans + "backup: {dir: backups}", env: map[string]string{EnvDatabaseURL: "postgres://m:pw@db.internal/m"},
			problem: "on PostgreSQL use pg_dump"},
		{name: "the database's folder", yaml: plans + "database_url: sqlite:/var/lib/membersync/membersync.db\nbackup: {dir: /var/lib/membersync/}",
			problem: "is the database's own folder"},
		{name: "settings ignored while off", yaml: plans + "backup: {interval: 1m}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Parse([]byte(tt.yaml+"\n"), env(tt.env))
			switch {
			case tt.problem == "" && err != nil:
				t.Fatalf("got %v, want a valid config", err)
			case tt.problem != "" && err == nil:
				t.Fatalf("got no error, want %q", tt.problem)
			case tt.problem != "" && !strings.Contains(err.Error(), tt.problem):
				t.Fatalf("error %q\ndoes not contain %q", err, tt.problem)
			}
			if tt.check != nil && err == nil {
				tt.check(t, c)
			}
		})
	}
}

// TestBackupExample: the example config's backup section, uncommented, is valid as documented.
func TestBackupExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../membersync.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "# backup:\n")
	if i < 0 {
		t.Fatal("the example config has no backup section")
	}
	var section []string
	for _, line := range strings.Split(text[i:], "\n") {
		if !strings.HasPrefix(line, "# ") {
			break
		}
		section = append(section, strings.TrimPrefix(line, "# "))
	}
	c, err := Parse([]byte(text+"\n"+strings.Join(section, "\n")+"\n"), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Backup.Dir != "/var/lib/membersync/backups" || c.Backup.Interval.D() != 24*time.Hour || c.Backup.Keep != 7 {
		t.Errorf("example backup section reads as %+v", c.Backup)
	}
}
