package config

import (
	"net/url"
	"regexp"
	"strings"
)

// EnvDatabaseURL names the environment variable that overrides database_url. It is the only place a
// database password may be written: a database_url in the YAML that carries one is refused.
const EnvDatabaseURL = "MEMBERSYNC_DATABASE_URL"

// Mask replaces every credential RedactURL hides; it matches what url.URL.Redacted writes.
const Mask = "xxxxx"

// credentialWords mark a query, fragment or keyword parameter whose value RedactURL hides: any
// name containing one (case-insensitive), such as password, sslpassword, access_token, api_key,
// X-Amz-Signature. Masking a harmless value (sslkey, a file path) costs nothing; showing a secret does.
var credentialWords = []string{"password", "passwd", "pass", "pwd", "token", "key", "secret", "auth", "signature", "sig", "credential"}

// credentialParam matches name=value pairs whose name holds a credential word, for text that is not
// a well-formed URL (a DSN in libpq's keyword form, a URL url.Parse refuses). A value runs to the
// next separator, or is a quoted string as libpq writes one (a backslash or a doubled quote escapes
// a quote).
var credentialParam = regexp.MustCompile(`(?i)([A-Za-z0-9_.%-]*(?:` + strings.Join(credentialWords, "|") +
	`)[A-Za-z0-9_.%-]*\s*=\s*)('(?:[^'\\]|\\.|'')*'?|[^&;#\s]*)`)

// RedactURL returns s, a URL, a DSN or any other configuration string, with every credential-looking
// part replaced by Mask: the password of the user info (the user name is kept), and the value of
// every query, fragment or keyword parameter whose name contains password, passwd, pass, pwd, token,
// key, secret, auth, signature, sig or credential. Anything else is left as it is, so a value
// without credentials reads the same. It is what the settings page, the API and the logs show of
// any URL; it never fails.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		return credentialParam.ReplaceAllString(maskUserInfo(s), "${1}"+Mask)
	}
	changed := false
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User, changed = url.UserPassword(u.User.Username(), Mask), true
		}
	}
	if q := maskParams(u.RawQuery); q != u.RawQuery {
		u.RawQuery, changed = q, true
	}
	// The fragment as written: decoding it could turn an escaped '&' inside a value into a separator.
	_, frag, hasFrag := strings.Cut(s, "#")
	if hasFrag {
		if f := maskParams(frag); f != frag {
			frag, changed = f, true
		}
	}
	if changed { // rebuilt only then, so that a value without credentials reads exactly as written
		u.Fragment, u.RawFragment = "", ""
		s = u.String()
		if hasFrag {
			s += "#" + frag
		}
	}
	return credentialParam.ReplaceAllString(s, "${1}"+Mask)
}

// maskParams masks the credential values of a query string (pairs separated by & or ;), keeping
// every other pair exactly as written.
func maskParams(q string) string {
	if q == "" {
		return q
	}
	var b strings.Builder
	start := 0
	for i := 0; i <= len(q); i++ {
		if i < len(q) && q[i] != '&' && q[i] != ';' {
			continue
		}
		pair := q[start:i]
		if name, _, ok := strings.Cut(pair, "="); ok && isCredentialName(name) {
			pair = name + "=" + Mask
		}
		b.WriteString(pair)
		if i < len(q) {
			b.WriteByte(q[i])
		}
		start = i + 1
	}
	return b.String()
}

// isCredentialName reports whether a parameter name (raw or percent-encoded) holds a credential word.
func isCredentialName(name string) bool {
	if n, err := url.QueryUnescape(name); err == nil {
		name = n
	}
	name = strings.ToLower(name)
	for _, w := range credentialWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// maskUserInfo masks the password of every scheme://user:password@ in s, for text url.Parse refused
// (the password may then hold '/', '?' or '#'): everything from the user name's colon up to the last
// '@' before a space.
func maskUserInfo(s string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		end := strings.IndexAny(s, " \t\r\n")
		if end < 0 {
			end = len(s)
		}
		at := strings.LastIndex(s[:end], "@")
		if at < 0 {
			continue
		}
		colon := strings.Index(s[:at], ":")
		if colon < 0 {
			continue
		}
		b.WriteString(s[:colon+1] + Mask)
		s = s[at:]
	}
}

// dsnCredentials names what credential a database URL carries ("a password in the user info",
// "the parameter sslpassword"), or returns "" when it carries none. A user name alone is no
// credential. Parameters that name a file (sslkey, passfile) are not credentials.
func dsnCredentials(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return "a password in the user info"
		}
	} else if err != nil && strings.Contains(dsn, "://") && strings.Contains(dsn, "@") {
		return "user info that may hold a password"
	}
	_, query, _ := strings.Cut(dsn, "?")
	for _, sep := range []string{"&", ";"} {
		query = strings.ReplaceAll(query, sep, "\x00")
	}
	for _, pair := range strings.Split(query, "\x00") {
		name, _, ok := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if ok && isDSNSecretParam(strings.ToLower(strings.TrimSpace(name))) {
			return "the parameter " + name
		}
	}
	return ""
}

// isDSNSecretParam reports whether a database URL parameter holds a secret value (as opposed to a
// path such as sslkey or passfile, or a setting such as require_auth).
func isDSNSecretParam(name string) bool {
	for _, w := range []string{"password", "passwd", "secret", "token", "credential"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	switch name {
	case "pass", "pwd", "key", "apikey", "api_key", "access_key", "signature", "sig", "auth":
		return true
	}
	return false
}
