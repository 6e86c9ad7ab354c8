package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// userRow is one operator on the users page (never the password hash).
type userRow struct {
	ID          int64
	Email       string
	Role        string
	Disabled    bool
	CreatedAt   time.Time
	LastLoginAt time.Time
	Tokens      []store.APIToken
	Self        bool
}

// secretShown is a password or token displayed once, right after it was made.
type secretShown struct {
	What  string // "Password for ops@example.com", "Token ci for ops@example.com"
	Value string
}

type usersView struct {
	Users  []userRow
	Roles  []Role
	Secret *secretShown
}

// userState is what the audit log keeps of a user.
type userState struct {
	Email    string `json:"email"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
}

func stateOfUser(u store.AdminUser) userState {
	return userState{Email: u.Email, Role: u.Role, Disabled: u.Disabled}
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, p *principal, status int, secret *secretShown) error {
	ctx := r.Context()
	users, err := h.st.AdminUsers(ctx)
	if err != nil {
		return err
	}
	tokens, err := h.st.APITokens(ctx, 0)
	if err != nil {
		return err
	}
	v := usersView{Roles: Roles, Secret: secret}
	for _, u := range users {
		row := userRow{ID: u.ID, Email: u.Email, Role: u.Role, Disabled: u.Disabled, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt, Self: u.ID == p.User.ID}
		for _, t := range tokens {
			if t.UserID == u.ID {
				row.Tokens = append(row.Tokens, t)
			}
		}
		v.Users = append(v.Users, row)
	}
	h.render(w, r, p, status, "users", view{Title: "Users", Nav: "users", Data: v})
	return nil
}

func (h *Handler) usersPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	return h.renderUsers(w, r, p, http.StatusOK, nil)
}

// AddUser creates an operator with a generated password (when password is empty) and records it in
// the audit log; it returns the password, to be shown once.
func AddUser(ctx context.Context, st *store.Store, actor, email string, role Role, password string) (store.AdminUser, string, error) {
	email = identity.NormalizeEmail(email)
	if !strings.Contains(email, "@") || len(email) > 254 {
		return store.AdminUser{}, "", invalid("an operator is identified by an email address")
	}
	if role.rank() == 0 {
		return store.AdminUser{}, "", invalid("role must be admin, support or viewer")
	}
	if password == "" {
		password = GeneratePassword()
	}
	hash, err := HashPassword(password)
	if err != nil {
		return store.AdminUser{}, "", invalid(err.Error())
	}
	u, err := st.CreateAdminUser(ctx, email, string(role), hash)
	if errors.Is(err, store.ErrConflict) {
		return store.AdminUser{}, "", invalid("a user with this email exists already")
	}
	if err != nil {
		return store.AdminUser{}, "", err
	}
	if _, err := st.AppendAudit(ctx, store.AuditEntry{Actor: actor, Action: "user.add", Target: "user:" + email, After: toJSON(stateOfUser(u))}); err != nil {
		return u, "", err
	}
	return u, password, nil
}

// ResetPassword gives an operator a new password (generated when password is empty), ends their
// sessions, clears their sign-in throttle and records it in the audit log.
func ResetPassword(ctx context.Context, st *store.Store, actor string, u store.AdminUser, password string) (string, error) {
	if password == "" {
		password = GeneratePassword()
	}
	hash, err := HashPassword(password)
	if err != nil {
		return "", invalid(err.Error())
	}
	if err := st.SetAdminPassword(ctx, u.ID, hash); err != nil {
		return "", err
	}
	if err := st.ClearLoginFailures(ctx, "account:"+u.Email); err != nil {
		return "", err
	}
	_, err = st.AppendAudit(ctx, store.AuditEntry{Actor: actor, Action: "user.reset_password", Target: "user:" + u.Email})
	return password, err
}

// SetDisabled disables or enables an operator and records it in the audit log.
func SetDisabled(ctx context.Context, st *store.Store, actor string, u store.AdminUser, disabled bool) error {
	if err := st.SetAdminUserDisabled(ctx, u.ID, disabled); err != nil {
		return err
	}
	after := u
	after.Disabled = disabled
	action := "user.enable"
	if disabled {
		action = "user.disable"
	}
	_, err := st.AppendAudit(ctx, store.AuditEntry{Actor: actor, Action: action, Target: "user:" + u.Email,
		Before: toJSON(stateOfUser(u)), After: toJSON(stateOfUser(after))})
	return err
}

// IssueToken creates an API token for an operator and records it in the audit log; the token is
// returned to be shown once.
func IssueToken(ctx context.Context, st *store.Store, actor string, u store.AdminUser, name string, role Role) (string, store.APIToken, error) {
	token, t, err := CreateAPIToken(ctx, st, u, name, role)
	if err != nil {
		return "", t, err
	}
	_, err = st.AppendAudit(ctx, store.AuditEntry{Actor: actor, Action: "token.create", Target: "user:" + u.Email,
		After: toJSON(map[string]any{"token_id": t.ID, "name": t.Name, "role": t.Role, "prefix": t.Prefix})})
	return token, t, err
}

func (h *Handler) formUser(r *http.Request) (store.AdminUser, error) {
	id, err := pathID(r, "user")
	if err != nil {
		return store.AdminUser{}, err
	}
	return h.st.AdminUser(r.Context(), id)
}

// invalid is a request the operator can fix; its message is safe to show.
func invalid(msg string) error { return respond.NewError(http.StatusBadRequest, "invalid", msg) }

func (h *Handler) addUserForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	role, err := ParseRole(r.PostFormValue("role"))
	if err != nil {
		return invalid(err.Error())
	}
	u, pw, err := AddUser(r.Context(), h.st, p.Actor(), r.PostFormValue("email"), role, "")
	if err != nil {
		return err
	}
	return h.renderUsers(w, r, p, http.StatusOK, &secretShown{What: "Password for " + u.Email, Value: pw})
}

func (h *Handler) setDisabledForm(w http.ResponseWriter, r *http.Request, p *principal, disabled bool) error {
	u, err := h.formUser(r)
	if err != nil {
		return err
	}
	if u.ID == p.User.ID {
		return respond.NewError(http.StatusBadRequest, "self", "You cannot disable or enable yourself; ask another admin.")
	}
	if err := SetDisabled(r.Context(), h.st, p.Actor(), u, disabled); err != nil {
		return err
	}
	code := "enabled"
	if disabled {
		code = "disabled"
	}
	http.Redirect(w, r, withFlash("/admin/users", code), http.StatusSeeOther)
	return nil
}

func (h *Handler) disableUserForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	return h.setDisabledForm(w, r, p, true)
}

func (h *Handler) enableUserForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	return h.setDisabledForm(w, r, p, false)
}

func (h *Handler) roleForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := h.formUser(r)
	if err != nil {
		return err
	}
	role, err := ParseRole(r.PostFormValue("role"))
	if err != nil {
		return invalid(err.Error())
	}
	if u.ID == p.User.ID {
		return respond.NewError(http.StatusBadRequest, "self", "You cannot change your own role; ask another admin.")
	}
	if err := h.st.SetAdminUserRole(r.Context(), u.ID, string(role)); err != nil {
		return err
	}
	after := u
	after.Role = string(role)
	if err := h.audit(r.Context(), p, store.AuditEntry{Action: "user.role", Target: "user:" + u.Email,
		Before: toJSON(stateOfUser(u)), After: toJSON(stateOfUser(after))}); err != nil {
		return err
	}
	http.Redirect(w, r, withFlash("/admin/users", "role"), http.StatusSeeOther)
	return nil
}

func (h *Handler) resetPasswordForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := h.formUser(r)
	if err != nil {
		return err
	}
	pw, err := ResetPassword(r.Context(), h.st, p.Actor(), u, "")
	if err != nil {
		return err
	}
	return h.renderUsers(w, r, p, http.StatusOK, &secretShown{What: "New password for " + u.Email, Value: pw})
}

func (h *Handler) createTokenForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, err := h.formUser(r)
	if err != nil {
		return err
	}
	role, err := ParseRole(r.PostFormValue("role"))
	if err != nil {
		return invalid(err.Error())
	}
	token, t, err := IssueToken(r.Context(), h.st, p.Actor(), u, r.PostFormValue("name"), role)
	if err != nil {
		return err
	}
	return h.renderUsers(w, r, p, http.StatusOK, &secretShown{What: "Token " + t.Name + " (" + t.Role + ") for " + u.Email, Value: token})
}

func (h *Handler) revokeTokenForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	id, err := pathID(r, "token")
	if err != nil {
		return err
	}
	t, err := h.st.RevokeAPIToken(r.Context(), id, h.now())
	if err != nil {
		return err
	}
	if err := h.audit(r.Context(), p, store.AuditEntry{Action: "token.revoke", Target: target("token", t.ID),
		Before: toJSON(map[string]any{"name": t.Name, "role": t.Role, "prefix": t.Prefix})}); err != nil {
		return err
	}
	http.Redirect(w, r, withFlash("/admin/users", "revoked"), http.StatusSeeOther)
	return nil
}
