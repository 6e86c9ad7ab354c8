package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/store"
)

// argon2id parameters: OWASP's minimum (19 MiB, 2 passes, 1 lane). Hashes carry their parameters,
// so raising these later keeps old hashes verifiable.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// MinPasswordLength is the shortest password an operator may choose.
const MinPasswordLength = 12

// HashPassword returns the argon2id hash of a password in the PHC string format.
func HashPassword(password string) (string, error) {
	if len(password) < MinPasswordLength {
		return "", fmt.Errorf("password must have at least %d characters", MinPasswordLength)
	}
	return hashPasswordWith(password, argonTime, argonMemory), nil
}

// hashPasswordWith hashes with the given passes and memory (KiB); tests use cheap ones.
func hashPasswordWith(password string, passes, memory uint32) string {
	salt := randomBytes(argonSaltLen)
	key := argon2.IDKey([]byte(password), salt, passes, memory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, memory, passes, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether password matches a hash made by HashPassword.
func VerifyPassword(encoded, password string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<21 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

// passwordAlphabet leaves out look-alikes (0/o, 1/l/i).
const passwordAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// GeneratePassword returns a random password of 20 characters in groups of five (about 99 bits).
func GeneratePassword() string {
	var b strings.Builder
	for i, c := range randomBytes(20) {
		if i > 0 && i%5 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(passwordAlphabet[int(c)%len(passwordAlphabet)])
	}
	return b.String()
}

// tokenPrefix marks membersync API tokens (and lets secret scanners recognise them).
const tokenPrefix = "mst_"

// NewAPIToken returns a new random API token and the hash to store.
func NewAPIToken() (token, hash string) {
	token = tokenPrefix + base64.RawURLEncoding.EncodeToString(randomBytes(32))
	return token, HashToken(token)
}

// HashToken returns the stored form of a token or session id: its SHA-256, in hex. Both are 256
// random bits, so a fast hash is enough.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// TokenPrefix returns the first characters of a token, shown in lists to recognise it.
func TokenPrefix(token string) string {
	return token[:min(len(token), len(tokenPrefix)+6)]
}

// CreateAPIToken makes a token for a user, scoped to role (never above the user's), and returns the
// token, which is shown once and never stored.
func CreateAPIToken(ctx context.Context, st *store.Store, user store.AdminUser, name string, role Role) (string, store.APIToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", store.APIToken{}, invalid("a token needs a name (up to 100 characters) saying what uses it")
	}
	if role == "" {
		role = Role(user.Role)
	}
	role = lower(role, Role(user.Role))
	token, hash := NewAPIToken()
	t, err := st.CreateAPIToken(ctx, store.APIToken{UserID: user.ID, Name: name, Role: string(role), Prefix: TokenPrefix(token)}, hash)
	return token, t, err
}

// principal is who is asking: a signed-in browser or an API token, with the role in force.
type principal struct {
	User    store.AdminUser
	Role    Role
	Session *store.AdminSession // nil for a token
	Token   *store.APIToken     // nil for a session
}

// Actor names the principal in the audit log and the journal.
func (p *principal) Actor() string {
	if p == nil {
		return "anonymous"
	}
	if p.Token != nil {
		return p.User.Email + " (token " + p.Token.Name + ")"
	}
	return p.User.Email
}

func (h *Handler) cookieName() string {
	if h.secure {
		return "__Host-membersync_session" // the prefix requires Secure, Path=/ and no Domain
	}
	return "membersync_session"
}

const loginCookie = "membersync_login"

// touchEvery limits session writes: last_seen_at moves at most once a minute.
const touchEvery = time.Minute

// authenticate finds the principal of a request: an API token (JSON API only), else the session
// cookie. It returns nil for anonymous requests; expired sessions are deleted and their cookie
// cleared. Only database failures are errors.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, api bool) (*principal, error) {
	ctx := r.Context()
	now := h.now()
	if authz := r.Header.Get("Authorization"); api && authz != "" {
		token, ok := strings.CutPrefix(authz, "Bearer ")
		if !ok || !strings.HasPrefix(token, tokenPrefix) {
			return nil, nil
		}
		tok, user, err := h.st.APITokenByHash(ctx, HashToken(strings.TrimSpace(token)))
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if now.Sub(tok.LastUsedAt) >= touchEvery {
			if err := h.st.TouchAPIToken(ctx, tok.ID, now); err != nil {
				return nil, err
			}
		}
		return &principal{User: user, Role: lower(Role(tok.Role), Role(user.Role)), Token: &tok}, nil
	}
	c, err := r.Cookie(h.cookieName())
	if err != nil || c.Value == "" {
		return nil, nil
	}
	idHash := HashToken(c.Value)
	ss, user, err := h.st.AdminSession(ctx, idHash)
	if errors.Is(err, store.ErrNotFound) {
		h.clearCookie(w, h.cookieName(), "/")
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !now.Before(ss.ExpiresAt) || now.Sub(ss.LastSeenAt) >= h.idle {
		if err := h.st.DeleteAdminSession(ctx, idHash); err != nil {
			return nil, err
		}
		h.clearCookie(w, h.cookieName(), "/")
		return nil, nil
	}
	if now.Sub(ss.LastSeenAt) >= touchEvery {
		if err := h.st.TouchAdminSession(ctx, idHash, now); err != nil {
			return nil, err
		}
		ss.LastSeenAt = now
	}
	return &principal{User: user, Role: Role(user.Role), Session: &ss}, nil
}

// csrfOK checks a session's state-changing request for its CSRF token: the X-CSRF-Token header
// (the JSON API) or the csrf form field (the pages). API-token requests carry no cookie and are
// not checked.
func (h *Handler) csrfOK(r *http.Request, p *principal, api bool) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" && !api {
		got = r.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.Session.CSRFToken)) == 1
}

// setCookie sets an HttpOnly, SameSite=Lax cookie for maxAge (relative, so that the browser's
// clock does not matter).
func (h *Handler) setCookie(w http.ResponseWriter, name, value, path string, maxAge time.Duration) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: int(maxAge.Seconds()), HttpOnly: true,
		Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

func (h *Handler) clearCookie(w http.ResponseWriter, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true,
		Secure: h.secure, SameSite: http.SameSiteLaxMode})
}

// loginView is the sign-in form.
type loginView struct {
	Email     string
	Next      string
	LoginCSRF string
}

// flashes are the messages the pages show after a redirect, by code (never text from the URL).
var flashes = map[string]string{
	"expired":      "Your session ended. Sign in again.",
	"signed-out":   "You are signed out.",
	"resync":       "Sync queued. The timeline shows it when it runs.",
	"resolved":     "Review item resolved.",
	"retried":      "Review item resolved and a sync queued.",
	"replayed":     "Event replayed: a sync of its person is queued.",
	"disabled":     "User disabled; their sessions ended.",
	"enabled":      "User enabled.",
	"role":         "Role changed.",
	"revoked":      "Token revoked.",
	"note-needed":  "Resolving needs a note saying what was done.",
	"comped":       "Comp granted and a sync queued: the story shows the access when it is in place.",
	"comp-revoked": "Comp revoked and a sync queued.",
	"removed":      "Review item resolved and a sync queued to remove the stranger: the timeline shows it when it runs.",
}

func (h *Handler) loginPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusFound)
		return nil
	}
	return h.renderLogin(w, r, http.StatusOK, "", r.URL.Query().Get("next"), flashes[r.URL.Query().Get("m")])
}

func (h *Handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, email, next, msg string) error {
	lc := hex.EncodeToString(randomBytes(16))
	h.setCookie(w, loginCookie, lc, "/login", time.Hour)
	v := view{Title: "Sign in", Data: loginView{Email: email, Next: safeNext(next), LoginCSRF: lc}}
	if status == http.StatusOK {
		v.Flash = msg
	} else {
		v.Error = msg
	}
	h.render(w, r, nil, status, "login", v)
	return nil
}

// loginMaxBody bounds a sign-in form: an email, a password and two tokens.
const loginMaxBody = 16 << 10

// login checks the form against the login cookie (login CSRF), reserves the attempt with the
// throttles, waits for a password check slot, checks the password and starts a session. Every
// attempt that passes the throttles costs one argon2id check, whether the account exists, is
// disabled or not.
func (h *Handler) login(w http.ResponseWriter, r *http.Request, _ *principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, loginMaxBody)
	ctx := r.Context()
	now := h.now()
	email := identity.NormalizeEmail(r.PostFormValue("email"))
	password := r.PostFormValue("password")
	next := r.PostFormValue("next")
	c, err := r.Cookie(loginCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("login_csrf"))) != 1 || c.Value == "" {
		return h.renderLogin(w, r, http.StatusForbidden, email, next, "This form expired. Sign in again.")
	}
	addr := h.addr(r)
	accountKey, addrKey := "account:"+email, "addr:"+addr
	var by string
	var wait time.Duration
	reserved, err := h.st.ReserveLoginAttempt(ctx, []string{accountKey, addrKey}, now.Add(-ThrottleWindow), now, func(c []store.LoginCount) bool {
		by, wait = throttle(now, c[0], c[1])
		return by == ""
	})
	if err != nil {
		return err
	}
	if reserved == nil {
		if ok, held := h.throttleLog.Allow(now); ok {
			h.log.Warn("admin: sign-in throttled", "by", by, "addr", addr, "suppressed", held)
		}
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((wait+time.Second-1)/time.Second))))
		return h.renderLogin(w, r, http.StatusTooManyRequests, email, next,
			fmt.Sprintf("Too many failed sign-ins. Try again in %s.", roundUpWait(wait)))
	}
	user, err := h.st.AdminUserByEmail(ctx, email)
	hash := h.dummyHash
	switch {
	case err == nil:
		hash = user.PasswordHash
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if !h.acquireCheck(ctx) {
		// Not checked, so not counted.
		if err := h.st.ReleaseLoginAttempt(context.WithoutCancel(ctx), reserved); err != nil {
			return err
		}
		if ok, held := h.throttleLog.Allow(now); ok {
			h.log.Warn("admin: sign-in busy", "addr", addr, "suppressed", held)
		}
		w.Header().Set("Retry-After", strconv.Itoa(int(PasswordCheckWait/time.Second)))
		return h.renderLogin(w, r, http.StatusTooManyRequests, email, next, "Too many sign-ins at once. Try again in a moment.")
	}
	match := func() bool {
		defer func() { <-h.checks }()
		return h.verify(hash, password)
	}()
	// The disabled flag is read only after the check, so that it costs the same.
	if err != nil || !match || user.Disabled {
		h.log.Warn("admin: sign-in failed", "addr", addr)
		return h.renderLogin(w, r, http.StatusUnauthorized, email, next, "Email or password is not right.")
	}
	if err := h.st.ClearLoginFailures(ctx, accountKey); err != nil {
		return err
	}
	if err := h.st.ReleaseLoginAttempt(ctx, reserved); err != nil {
		return err
	}
	id := base64.RawURLEncoding.EncodeToString(randomBytes(32))
	ss := store.AdminSession{IDHash: HashToken(id), UserID: user.ID, CSRFToken: base64.RawURLEncoding.EncodeToString(randomBytes(32)),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(h.maxLife), UserAgent: truncate(r.UserAgent(), 200)}
	if err := h.st.CreateAdminSession(ctx, ss); err != nil {
		return err
	}
	if err := h.st.RecordAdminLogin(ctx, user.ID, now); err != nil {
		return err
	}
	if _, err := h.st.PruneAdminSessions(ctx, now, now.Add(-h.idle)); err != nil {
		return err
	}
	if _, err := h.st.AppendAudit(ctx, store.AuditEntry{At: now, Actor: user.Email, Action: "session.login", Target: "user:" + user.Email}); err != nil {
		return err
	}
	h.clearCookie(w, loginCookie, "/login")
	h.setCookie(w, h.cookieName(), id, "/", h.maxLife)
	http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
	return nil
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, p *principal) error {
	if p.Session != nil {
		if err := h.st.DeleteAdminSession(r.Context(), p.Session.IDHash); err != nil {
			return err
		}
		if err := h.audit(r.Context(), p, store.AuditEntry{Action: "session.logout", Target: "user:" + p.User.Email}); err != nil {
			return err
		}
	}
	h.clearCookie(w, h.cookieName(), "/")
	http.Redirect(w, r, "/login?m=signed-out", http.StatusSeeOther)
	return nil
}

// safeNext keeps redirects after sign-in on the admin pages (no open redirect).
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		return "/admin"
	}
	p := path.Clean(u.Path)
	if p != "/admin" && !strings.HasPrefix(p, "/admin/") {
		return "/admin"
	}
	u.Path, u.RawPath = p, ""
	return u.RequestURI()
}

// throttle decides a sign-in attempt from the attempts of its account and of its address in the
// window: by is "" to admit it, else "address" or "account", with how long until one may pass.
func throttle(now time.Time, account, addr store.LoginCount) (by string, wait time.Duration) {
	if addr.N >= AddressFailures {
		return "address", addr.Oldest.Add(ThrottleWindow).Sub(now)
	}
	if account.N >= AccountFailures {
		if wait := account.Latest.Add(accountDelay(account.N)).Sub(now); wait > 0 {
			return "account", wait
		}
	}
	return "", 0
}

// accountDelay is the pause an account with n attempts in the window needs since its latest one.
func accountDelay(n int) time.Duration {
	d := AccountDelay
	for i := AccountFailures; i < n && d < AccountMaxDelay; i++ {
		d *= 2
	}
	return min(d, AccountMaxDelay)
}

// acquireCheck takes a password check slot, waiting at most PasswordCheckWait or until the client
// leaves; the caller gives it back with <-h.checks.
func (h *Handler) acquireCheck(ctx context.Context) bool {
	select {
	case h.checks <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(PasswordCheckWait)
	defer t.Stop()
	select {
	case h.checks <- struct{}{}:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// roundUpWait says how long a wait is, in whole seconds under two minutes, else in minutes.
func roundUpWait(d time.Duration) string {
	if s := int((d + time.Second - 1) / time.Second); s < 120 {
		if s <= 1 {
			return "a second"
		}
		return fmt.Sprintf("%d seconds", s)
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
