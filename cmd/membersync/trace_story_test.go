package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/store"
)

// TestTracePrintsTheStoryFirst: trace opens with the journey in plain sentences, then the detail.
func TestTracePrintsTheStoryFirst(t *testing.T) {
	dir := t.TempDir()
	cfg, dbURL := dir+"/m.yaml", "sqlite:"+dir+"/m.db"
	writeConfig(t, cfg, dbURL, "127.0.0.1:0")
	if _, _, err := runCmd(t, nil, "migrate", "--config", cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	paid := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	st.Now = func() time.Time { return paid }
	var pid int64
	if err := st.InTx(ctx, func(tx *store.Tx) error {
		res, err := tx.IngestEvent(ctx, store.Event{ID: "evt_1", Type: "invoice.paid", CustomerID: "cus_1", Actionable: true, Created: paid, Payload: []byte(`{}`)})
		pid = res.PersonID
		return err
	}); err != nil {
		t.Fatal(err)
	}
	begun, err := st.StartSync(ctx, pid)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := json.Marshal(entitlement.Desired{Plans: []entitlement.PlanState{{PlanID: "pro", Entitled: true, Stage: entitlement.StageActive, AccessGroups: []int64{1}}},
		AccessGroups: []int64{1}, ManagedAccessGroups: []int64{1}})
	for _, step := range []func() error{
		func() error { return st.SetIdentity(ctx, pid, "ada@example.com", "Ada") },
		func() error {
			return st.AppendJournal(ctx, store.JournalEntry{PersonID: pid, At: paid.Add(400 * time.Millisecond), Kind: "call",
				Action: "circle:add_access_group", Target: "access_group:1", Result: "ok", Status: 201})
		},
		func() error {
			return st.AppendJournal(ctx, store.JournalEntry{PersonID: pid, At: paid.Add(500 * time.Millisecond), Kind: "sync",
				Action: "sync", Target: "event", Result: "converged", Duration: 450 * time.Millisecond})
		},
		func() error {
			return st.RecordApplied(ctx, store.Applied{PersonID: pid, Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: 1, Email: "ada@example.com"})
		},
		func() error { return st.SaveSyncResult(ctx, pid, string(d), time.Time{}, "") },
		func() error { return st.FinishSync(ctx, pid, begun.Generation) },
		st.Close,
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}

	out, errOut, err := runCmd(t, nil, "trace", "--config", cfg, "ada@example.com")
	if err != nil {
		t.Fatalf("trace: %v %s", err, errOut)
	}
	when := paid.Format("2 Jan 15:04")
	if paid.Year() != time.Now().UTC().Year() {
		when = paid.Format("2 Jan 2006 15:04")
	}
	want := "Story (times in UTC):\n  Paid pro on " + when +
		" → Circle access granted (access group 1) 0.4 s later.\n  Nothing needs you.\n\nPerson "
	if !strings.HasPrefix(out, want) {
		t.Errorf("trace:\n%s\nwant it to start with\n%s", out, want)
	}
	if !strings.Contains(out, "Timeline:") {
		t.Errorf("trace lost the detail:\n%s", out)
	}
}
