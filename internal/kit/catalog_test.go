package kit

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// TestSequencesAllPages: Sequences follows Kit's cursor through every page of 1000, in order,
// with each sequence's name and hold flag (an inactive sequence in the fake is held).
func TestSequencesAllPages(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	ids := make([]int64, 0, 1203)
	for i := range 1203 {
		ids = append(ids, e.fake.CreateSequence(fmt.Sprintf("sequence %d", i), i != 7))
	}
	got, err := e.kit.Sequences(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("got %d sequences, want %d", len(got), len(ids))
	}
	for i, q := range got {
		if q.ID != ids[i] || q.Name != fmt.Sprintf("sequence %d", i) || q.Hold != (i == 7) || q.CreatedAt.IsZero() {
			t.Fatalf("sequence %d = %+v, want id %d named %q (hold %t) with its creation time", i, q, ids[i], fmt.Sprintf("sequence %d", i), i == 7)
		}
	}
	if n := e.fake.Faults.Calls("GET /v4/sequences"); n != 2 {
		t.Errorf("calls = %d, want 2 (pages of 1000)", n)
	}
	calls := e.rec.all()
	if len(calls) != 2 || calls[0].Operation != "list_sequences" || calls[0].Target != "sequences" {
		t.Errorf("observed calls %+v, want two list_sequences calls", calls)
	}
}

// TestSequencesRenamedAndEmpty: an account without sequences lists none in one call; a renamed
// sequence comes back under its new name.
func TestSequencesRenamedAndEmpty(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	got, err := e.kit.Sequences(context.Background())
	if err != nil || len(got) != 0 {
		t.Fatalf("empty account: %v, %v; want none", got, err)
	}
	id := e.fake.CreateSequence("Welcome", true)
	if !e.fake.RenameSequence(id, "Welcome to Pro") {
		t.Fatal("rename failed")
	}
	got, err = e.kit.Sequences(context.Background())
	if err != nil || len(got) != 1 || got[0].Name != "Welcome to Pro" {
		t.Fatalf("after the rename: %v, %v", got, err)
	}
	tag := e.fake.CreateTag("pro")
	e.fake.RenameTag(tag, "pro-active")
	tags, err := e.kit.Tags(context.Background())
	if err != nil || len(tags) != 1 || tags[0].Name != "pro-active" || tags[0].ID != tag {
		t.Fatalf("renamed tag: %v, %v", tags, err)
	}
}

// TestSequencesErrors: a refused key is a Config error, a server error Transient after the
// client's retries, and a body that is not Kit's list shape Permanent.
func TestSequencesErrors(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{APIKey: "wrong"})
	_, err := e.kit.Sequences(context.Background())
	wantKind(t, err, provider.Config, http.StatusUnauthorized)

	e = setup(t, kittest.Options{}, Config{MaxRetries: -1})
	e.fake.Faults.FailNext(1, providertest.Fault{Status: http.StatusBadGateway})
	_, err = e.kit.Sequences(context.Background())
	wantKind(t, err, provider.Transient, http.StatusBadGateway)

	e.fake.Faults.FailNext(1, providertest.Fault{Status: http.StatusOK, Body: `{"sequences": "no"}`})
	_, err = e.kit.Sequences(context.Background())
	wantKind(t, err, provider.Permanent, http.StatusOK)
}
