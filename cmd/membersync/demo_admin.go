package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/membersync/membersync/internal/admin"
	"github.com/membersync/membersync/internal/store"
)

// demoAdminEmail is the demo's operator account.
const demoAdminEmail = "founder@example.com"

// demoAdmin creates the demo's admin account with a fresh password and returns how to log in. In a
// data folder kept from an earlier run (--data) the account exists already: it gets a new password.
func demoAdmin(ctx context.Context, st *store.Store) (string, error) {
	password := admin.GeneratePassword()
	if u, err := st.AdminUserByEmail(ctx, demoAdminEmail); err == nil {
		if _, err := admin.ResetPassword(ctx, st, "demo", u, password); err != nil {
			return "", err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return "", err
	} else if _, _, err := admin.AddUser(ctx, st, "demo", demoAdminEmail, admin.RoleAdmin, password); err != nil {
		return "", err
	}
	return fmt.Sprintf("login %s / %s", demoAdminEmail, password), nil
}
