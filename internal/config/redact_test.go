package config

import (
	"net/url"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:s3cretpw@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?password=s3cretpw", "postgres://h/db?password=xxxxx"},
		{"postgres://h/db?sslmode=require&PassWord=s3cretpw", "postgres://h/db?sslmode=require&PassWord=xxxxx"},
		{"postgres://h/db?sslpassword=s3cretpw&sslmode=verify-full", "postgres://h/db?sslpassword=xxxxx&sslmode=verify-full"},
		{"postgres://h/db?pass%77ord=s3cretpw", "postgres://h/db?pass%77ord=xxxxx"},
		{"postgres://u:pw@h/db?password=s3cretpw&search_path=t_1", "postgres://u:xxxxx@h/db?password=xxxxx&search_path=t_1"},
		{"https://hooks.example.com/x?token=s3cretpw#access_token=s3cretpw", "https://hooks.example.com/x?token=xxxxx#access_token=xxxxx"},
		{"https://bucket.example.com/f?X-Amz-Signature=abc123&X-Amz-Credential=AKIA1", "https://bucket.example.com/f?X-Amz-Signature=xxxxx&X-Amz-Credential=xxxxx"},
		{"https://api.example.com/v1?api_key=s3cretpw;secret=s3cretpw", "https://api.example.com/v1?api_key=xxxxx;secret=xxxxx"},
		{"https://ops:s3cretpw@alerts.example.com/hook", "https://ops:xxxxx@alerts.example.com/hook"},
		// Not URLs url.Parse takes: libpq's keyword form, a password holding '/', a control character.
		{"host=h user=u password=s3cretpw dbname=db", "host=h user=u password=xxxxx dbname=db"},
		{"host=h password='s3cret pw' dbname=db", "host=h password=xxxxx dbname=db"},
		{"postgres://u:s3cret/pw@h:5432/db", "postgres://u:xxxxx@h:5432/db"},
		{"postgres://u:s3cretpw@h/db?x=\x01", "postgres://u:xxxxx@h/db?x=\x01"},
		// Nothing to hide: exactly as written.
		{"sqlite:membersync.db", "sqlite:membersync.db"},
		{"sqlite:///var/lib/my dir/membersync.db", "sqlite:///var/lib/my dir/membersync.db"},
		{"https://api.stripe.com", "https://api.stripe.com"},
		{"https://host:8080/users/@me?q=1", "https://host:8080/users/@me?q=1"},
		{"postgresql://u@h/db?sslmode=disable&search_path=t_1", "postgresql://u@h/db?sslmode=disable&search_path=t_1"},
		{"127.0.0.1:8080", "127.0.0.1:8080"},
		{"", ""},
		{"plain words", "plain words"},
	}
	for _, tt := range tests {
		if got := RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzRedactURL: whatever surrounds it, a password in the user info or in a password parameter
// never reaches the output; the output does not even depend on it.
func FuzzRedactURL(f *testing.F) {
	f.Add("u", "s3cretpw", "sslmode=require")
	f.Add("", "p@ss/w:rd?#", "")
	f.Add("admin", "'quoted pw'", "a=1&b=2#frag")
	f.Add("x", "pass=abc", "q=\x01@x:y")
	f.Add("x", "s3cret pw", "z=1 host=h password=p")
	f.Add("0", "&", "# ") // the password in the fragment: decoding it would split it at the '&'
	f.Fuzz(func(t *testing.T, user, pw, extra string) {
		if pw == "" {
			return
		}
		forms := map[string]func(pw string) string{
			"user info": func(pw string) string {
				return "postgres://" + url.UserPassword(user, pw).String() + "@db.example.com:5432/db?" + extra
			},
			"query": func(pw string) string {
				return "postgres://" + url.User(user).String() + "@db.example.com/db?" + extra + "&password=" + url.QueryEscape(pw)
			},
			"query first": func(pw string) string {
				return "postgresql://db.example.com/db?PASSWORD=" + url.QueryEscape(pw) + "&" + extra
			},
		}
		for name, form := range forms {
			in := form(pw)
			got := RedactURL(in)
			other := RedactURL(form("zzzzzzzzzz"))
			if got != other {
				t.Fatalf("%s: the output depends on the password:\n%q → %q\nwith another password → %q", name, in, got, other)
			}
			escaped := url.QueryEscape(pw)
			if len(pw) >= 6 && strings.Contains(got, pw) && !strings.Contains(other, pw) || len(escaped) >= 6 && strings.Contains(got, escaped) && !strings.Contains(other, escaped) {
				t.Fatalf("%s: RedactURL(%q) = %q shows the password", name, in, got)
			}
		}
	})
}

func TestDatabaseURLCredentialsStayOutOfTheFile(t *testing.T) {
	const base = "plans:\n  - id: pro\n    stripe: {prices: [price_1]}\n    circle: {access_groups: [1]}\n"
	refused := []string{
		"postgres://u:s3cretpw@h/db",
		"postgres://u:@h/db",
		"postgres://h/db?password=s3cretpw",
		"postgres://h/db?sslmode=require&PassWord=s3cretpw",
		"postgres://h/db?sslpassword=s3cretpw",
		"postgresql://h/db?token=s3cretpw",
		"postgresql://h/db?key=s3cretpw",
		"postgresql://h/db?secret=s3cretpw",
		"postgres://u:s3cret/pw@h/db",
	}
	for _, dsn := range refused {
		_, err := Parse([]byte(base+"database_url: \""+dsn+"\"\n"), env(map[string]string{EnvDatabaseURL: "postgres://u@h/db"}))
		if err == nil {
			t.Errorf("%s in the file: accepted", dsn)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "database_url: carries") || !strings.Contains(msg, EnvDatabaseURL) {
			t.Errorf("%s in the file: %v, want database_url named and %s", dsn, err, EnvDatabaseURL)
		}
		if strings.Contains(msg, "s3cret") {
			t.Errorf("%s in the file: the error shows the password: %v", dsn, err)
		}
	}
	for _, dsn := range []string{"postgres://membersync@db.internal/membersync?sslmode=verify-full&sslkey=/etc/ssl/k.pem&passfile=/etc/pgpass",
		"sqlite:/var/lib/membersync/membersync.db", "postgres://h/db?require_auth=scram-sha-256"} {
		if _, err := Parse([]byte(base+"database_url: \""+dsn+"\"\n"), env(nil)); err != nil {
			t.Errorf("%s in the file: %v, want it accepted", dsn, err)
		}
	}
}

func TestDatabaseURLFromTheEnvironment(t *testing.T) {
	const base = "database_url: \"postgres://u@from-file/db\"\nplans:\n  - id: pro\n    stripe: {prices: [price_1]}\n    circle: {access_groups: [1]}\n"
	c, err := Parse([]byte(base), env(map[string]string{EnvDatabaseURL: " postgres://u:s3cretpw@from-env/db "}))
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != "postgres://u:s3cretpw@from-env/db" {
		t.Errorf("DatabaseURL = %q, want the environment's", RedactURL(c.DatabaseURL))
	}
	c, err = Parse([]byte(base), env(nil))
	if err != nil || c.DatabaseURL != "postgres://u@from-file/db" {
		t.Errorf("without %s: %v, %q; want the file's", EnvDatabaseURL, err, c.DatabaseURL)
	}
	// The effective URL is still validated, under the variable's name, without showing the password.
	_, err = Parse([]byte(base), env(map[string]string{EnvDatabaseURL: "mysql://u:s3cretpw@h/db"}))
	if err == nil || !strings.Contains(err.Error(), EnvDatabaseURL+": ") || strings.Contains(err.Error(), "s3cretpw") {
		t.Errorf("a bad %s: %v, want it named without its password", EnvDatabaseURL, err)
	}
}
