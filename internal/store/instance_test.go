package store_test

import (
	"context"
	"testing"

	"github.com/membersync/membersync/internal/store/storetest"
)

// TestRecordStripeMode: the first mode recorded is the database's for good; a later call with the
// other mode gets the first one back, and so does another connection to the same database.
func TestRecordStripeMode(t *testing.T) {
	ctx := context.Background()
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			url := storetest.URL(t, d)
			st := openStore(t, url)
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if mode, ok, err := st.StripeMode(ctx); err != nil || ok || mode != "" {
				t.Fatalf("a new database: StripeMode = %q, %v, %v; want none recorded", mode, ok, err)
			}
			if got, err := st.RecordStripeMode(ctx, "live"); err != nil || got != "live" {
				t.Fatalf("first record: %q, %v; want live", got, err)
			}
			if got, err := st.RecordStripeMode(ctx, "test"); err != nil || got != "live" {
				t.Errorf("recording test over live: %q, %v; want live kept", got, err)
			}
			again := openStore(t, url)
			if mode, ok, err := again.StripeMode(ctx); err != nil || !ok || mode != "live" {
				t.Errorf("another connection: StripeMode = %q, %v, %v; want live", mode, ok, err)
			}
			if _, err := st.RecordStripeMode(ctx, ""); err == nil {
				t.Error("recording an empty mode: want an error")
			}
		})
	}
}
