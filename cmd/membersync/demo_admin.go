package main

import (
	"context"
	"fmt"

	"github.com/membersync/membersync/internal/admin"
	"github.com/membersync/membersync/internal/store"
)

// demoAdminEmail is the demo's operator account.
const demoAdminEmail = "founder@example.com"

// demoAdmin creates the demo's admin account with a fresh password and returns how to log in.
func demoAdmin(ctx context.Context, st *store.Store) (string, error) {
	password := admin.GeneratePassword()
	if _, _, err := admin.AddUser(ctx, st, "demo", demoAdminEmail, admin.RoleAdmin, password); err != nil {
		return "", err
	}
	return fmt.Sprintf("login %s / %s", demoAdminEmail, password), nil
}
