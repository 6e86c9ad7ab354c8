package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// TestIMAPCursor: a mailbox has no cursor before the first poll; a saved one reads back whole,
// including the largest UIDs, and a save replaces it.
func TestIMAPCursor(t *testing.T) {
	forEachDialect(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		if _, err := st.IMAPCursor(ctx, "INBOX"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("IMAPCursor before the first poll: %v, want ErrNotFound", err)
		}
		at := time.Date(2026, 12, 6, 10, 0, 0, 123000, time.UTC)
		want := store.IMAPCursor{Mailbox: "INBOX", UIDValidity: ^uint32(0), LastUID: 4000000000, LastAt: at,
			FloorAt: at.Add(-time.Hour), FloorBelowUID: ^uint32(0)}
		if err := st.SaveIMAPCursor(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := st.IMAPCursor(ctx, "INBOX")
		if err != nil || got != want {
			t.Fatalf("IMAPCursor = %+v, %v; want %+v", got, err, want)
		}
		want = store.IMAPCursor{Mailbox: "INBOX", UIDValidity: 7, LastUID: 3}
		if err := st.SaveIMAPCursor(ctx, want); err != nil {
			t.Fatal(err)
		}
		if got, err := st.IMAPCursor(ctx, "INBOX"); err != nil || got != want {
			t.Fatalf("IMAPCursor after a replace = %+v, %v; want %+v", got, err, want)
		}
		if _, err := st.IMAPCursor(ctx, "Support"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another mailbox: %v, want ErrNotFound", err)
		}
	})
}
