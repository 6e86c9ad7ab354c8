package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

func TestAdminUsersSessionsTokens(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		u, err := st.CreateAdminUser(ctx, "ops@example.com", "support", "hash1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateAdminUser(ctx, "ops@example.com", "viewer", "hash2"); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate email: got %v, want ErrConflict", err)
		}
		now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
		ss := store.AdminSession{IDHash: "h1", UserID: u.ID, CSRFToken: "c1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour), UserAgent: "ua"}
		if err := st.CreateAdminSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
		got, gu, err := st.AdminSession(ctx, "h1")
		if err != nil || got.CSRFToken != "c1" || !got.ExpiresAt.Equal(ss.ExpiresAt) || gu.Email != "ops@example.com" || gu.Role != "support" {
			t.Fatalf("session: got %+v %+v %v", got, gu, err)
		}
		if err := st.TouchAdminSession(ctx, "h1", now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := st.AdminSession(ctx, "h1"); !got.LastSeenAt.Equal(now.Add(time.Minute)) {
			t.Errorf("last seen: got %v", got.LastSeenAt)
		}

		tok, err := st.CreateAPIToken(ctx, store.APIToken{UserID: u.ID, Name: "ci", Role: "viewer", Prefix: "mst_abc"}, "th1")
		if err != nil {
			t.Fatal(err)
		}
		if gt, gu, err := st.APITokenByHash(ctx, "th1"); err != nil || gt.ID != tok.ID || gt.Role != "viewer" || gu.ID != u.ID {
			t.Errorf("token by hash: %+v %+v %v", gt, gu, err)
		}

		// Disabling ends sessions and stops tokens; enabling brings tokens back, not sessions.
		if err := st.SetAdminUserDisabled(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.AdminSession(ctx, "h1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session of a disabled user: got %v, want ErrNotFound", err)
		}
		if _, _, err := st.APITokenByHash(ctx, "th1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("token of a disabled user: got %v, want ErrNotFound", err)
		}
		if err := st.SetAdminUserDisabled(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if n, _ := st.AdminSessionCount(ctx, u.ID); n != 0 {
			t.Errorf("sessions after disable: got %d, want 0", n)
		}
		if _, _, err := st.APITokenByHash(ctx, "th1"); err != nil {
			t.Errorf("token after enable: %v", err)
		}
		if _, err := st.RevokeAPIToken(ctx, tok.ID, now); err != nil {
			t.Fatal(err)
		}
		if _, err := st.RevokeAPIToken(ctx, tok.ID, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second revoke: got %v, want ErrNotFound", err)
		}
		if _, _, err := st.APITokenByHash(ctx, "th1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("revoked token: got %v, want ErrNotFound", err)
		}

		// A password reset ends sessions too.
		if err := st.CreateAdminSession(ctx, ss); err != nil {
			t.Fatal(err)
		}
		if err := st.SetAdminPassword(ctx, u.ID, "hash3"); err != nil {
			t.Fatal(err)
		}
		if n, _ := st.AdminSessionCount(ctx, u.ID); n != 0 {
			t.Errorf("sessions after a password reset: got %d, want 0", n)
		}
		if got, _ := st.AdminUser(ctx, u.ID); got.PasswordHash != "hash3" {
			t.Errorf("hash: got %q", got.PasswordHash)
		}

		// Pruning removes sessions past their absolute expiry or idle too long.
		for i, s := range []store.AdminSession{
			{IDHash: "fresh", LastSeenAt: now, ExpiresAt: now.Add(time.Hour)},
			{IDHash: "old", LastSeenAt: now, ExpiresAt: now.Add(-time.Second)},
			{IDHash: "idle", LastSeenAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(time.Hour)},
		} {
			s.UserID, s.CSRFToken, s.CreatedAt = u.ID, fmt.Sprint(i), now
			if err := st.CreateAdminSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.PruneAdminSessions(ctx, now, now.Add(-time.Hour)); err != nil || n != 2 {
			t.Errorf("prune: got %d, %v; want 2", n, err)
		}
	})
}
