package sources

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/config"
)

// TestIMAPCheck: the check logs in and counts the mailbox's messages without reading or marking
// any, and a wrong password fails naming the variable, never the password.
func TestIMAPCheck(t *testing.T) {
	srv := startIMAP(t, nil)
	now := time.Now()
	srv.deliver(t, "ana@example.com", "Help", "I paid but I can't log in", now.Add(-time.Hour))
	srv.deliver(t, "bo@example.com", "Refund", "Please refund me", now.Add(-time.Minute))
	rec := &recorder{}
	p := srv.poller(openStore(t), rec, now)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := p.Check(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Check = %d, %v; want 2 messages", n, err)
	}
	if rec.calls() != 0 {
		t.Errorf("the check ingested %d messages", rec.calls())
	}
	assertUnseen(t, srv)

	p.Password = "wrong password"
	if _, err := p.Check(ctx); err == nil || !strings.Contains(err.Error(), config.EnvIMAPPassword) || strings.Contains(err.Error(), "wrong password") {
		t.Errorf("Check with a wrong password: %v; want an error naming %s without the password", err, config.EnvIMAPPassword)
	}
}
