package admin

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store/storetest"
)

// TestSettingsNeverShowADatabasePassword: whatever form the DSN of MEMBERSYNC_DATABASE_URL takes,
// the settings page and the settings API show the URL with its password masked, and the password
// only by its fingerprint.
func TestSettingsNeverShowADatabasePassword(t *testing.T) {
	const pw = "s3cretpw"
	for _, tt := range []struct{ dsn, shown string }{
		{"postgres://u:" + pw + "@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://h/db?password=" + pw, "postgres://h/db?password=xxxxx"},
		{"postgres://h/db?sslmode=require&PassWord=" + pw, "postgres://h/db?sslmode=require&amp;PassWord=xxxxx"},
		{"postgresql://u:" + pw + "@h/db?sslpassword=" + pw + "&application_name=membersync", "postgresql://u:xxxxx@h/db?sslpassword=xxxxx&amp;application_name=membersync"},
	} {
		t.Run(tt.dsn, func(t *testing.T) {
			vars := map[string]string{config.EnvDatabaseURL: tt.dsn, config.EnvSigningKey: "settings-test-signing-key-0123456789"}
			cfg, err := config.Parse([]byte("plans:\n  - id: pro\n    stripe: {prices: [price_pro]}\n    circle: {access_groups: [11]}\n"),
				func(k string) string { return vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			f := newFixture(t, storetest.Dialects()[0], func(d *Deps) { d.Config = cfg })
			c := f.login(RoleViewer)
			_, page := c.get("/admin/settings")
			_, api := c.get("/api/v1/settings")
			for name, body := range map[string]string{"page": page, "api": api} {
				if strings.Contains(body, pw) {
					t.Errorf("the settings %s shows the database password", name)
				}
				if !strings.Contains(body, config.EnvDatabaseURL) || !regexp.MustCompile(`set, fingerprint [0-9a-f]{8}`).MatchString(body) {
					t.Errorf("the settings %s does not name the database password by its fingerprint", name)
				}
			}
			if !strings.Contains(page, tt.shown) {
				t.Errorf("the settings page does not show the masked URL %s", tt.shown)
			}
		})
	}
}

func TestShowValueMasksEveryString(t *testing.T) {
	type inner struct {
		Hooks []string          `yaml:"hooks"`
		Extra map[string]string `yaml:"extra"`
	}
	type cfg struct {
		URL   string `yaml:"url"`
		Inner inner  `yaml:"inner"`
	}
	var rows []settingRow
	walkConfig(reflect.ValueOf(cfg{URL: "https://h/x?token=s3cretpw", Inner: inner{Hooks: []string{"https://u:s3cretpw@h/"},
		Extra: map[string]string{"k": "postgres://h/db?password=s3cretpw"}}}), "", &rows)
	if len(rows) != 3 {
		t.Fatalf("rows %v, want 3", rows)
	}
	for _, r := range rows {
		if strings.Contains(r.Value, "s3cretpw") || !strings.Contains(r.Value, "xxxxx") {
			t.Errorf("%s = %q, want the credential masked", r.Key, r.Value)
		}
	}
}
