package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// Finding 7: readiness includes a write. WriteProbe commits one row on a writable database, and
// fails (as unavailable) on a database that refuses writes or is closed, where a ping may succeed.
func TestWriteProbeFailsWhenDatabaseRefusesWrites(t *testing.T) {
	ctx := context.Background()
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) {
			url := storetest.URL(t, d)
			st := openStore(t, url)
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}

			t.Run("writable", func(t *testing.T) {
				for _, at := range []time.Time{time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 12, 0, 5, 0, time.UTC)} {
					st.Now = func() time.Time { return at }
					if err := st.WriteProbe(ctx); err != nil {
						t.Fatalf("WriteProbe on a writable database: %v", err)
					}
					rows, last := probeRows(t, st)
					if rows != 1 || last != at.UnixMicro() {
						t.Errorf("after a probe at %v: %d rows, last at %d; want 1 row at %d", at, rows, last, at.UnixMicro())
					}
				}
			})

			t.Run("read-only", func(t *testing.T) {
				ro := openReadOnly(t, d, url)
				if err := ro.Ping(ctx); err != nil {
					t.Fatalf("the read-only database must still answer a ping: %v", err)
				}
				err := ro.WriteProbe(ctx)
				if err == nil || !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("WriteProbe on a read-only database = %v, want an error wrapping ErrUnavailable", err)
				}
			})

			t.Run("closed", func(t *testing.T) {
				closed := openStore(t, url)
				closed.Close()
				if err := closed.WriteProbe(ctx); err == nil || !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("WriteProbe on a closed store = %v, want an error wrapping ErrUnavailable", err)
				}
			})
		})
	}
}

func openStore(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// openReadOnly opens the database at url again, refusing writes: SQLite with query_only on its one
// connection, PostgreSQL with read-only sessions (as on a hot standby).
func openReadOnly(t *testing.T, dialect, url string) *store.Store {
	t.Helper()
	if dialect == store.Postgres {
		return openStore(t, url+"&default_transaction_read_only=on")
	}
	st := openStore(t, url)
	if _, err := st.SQLDB().ExecContext(context.Background(), "PRAGMA query_only = ON"); err != nil {
		t.Fatal(err)
	}
	return st
}

// probeRows returns how many health_probe rows there are and the newest at.
func probeRows(t *testing.T, st *store.Store) (rows int, last int64) {
	t.Helper()
	const q = "SELECT COUNT(*), COALESCE(MAX(at), 0) FROM health_probe"
	var err error
	if st.Pool() != nil {
		err = st.Pool().QueryRow(context.Background(), q).Scan(&rows, &last)
	} else {
		err = st.SQLDB().QueryRowContext(context.Background(), q).Scan(&rows, &last)
	}
	if err != nil {
		t.Fatal(err)
	}
	return rows, last
}
