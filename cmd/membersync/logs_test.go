package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// lockedBuffer is a log sink safe for serve's concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestLogsHoldNoSecretsOrEmails runs purchases, failures, a refund, an outage and forged deliveries,
// then scans every log line for each secret and each raw email used, and checks that the lines about
// events and people carry what a grep for one journey needs.
func TestLogsHoldNoSecretsOrEmails(t *testing.T) {
	logs := &lockedBuffer{}
	w := newWorld(t, worldOptions{logs: logs})
	emails := []string{"Lena.Secret@Example.com", "max+vip@example.org", "noor@example.net"}
	var subs []string
	for _, e := range emails {
		cus := w.stripe.CreateCustomer(e, "Person "+e)
		subs = append(subs, w.stripe.Subscribe(cus, w.proPrice, 0))
	}
	_, charge := w.stripe.Purchase(w.stripe.CreateCustomer(emails[2], "Noor"), w.coursePrice)
	w.deliver(stripetest.DeliveryOptions{Concurrency: 3})
	w.settle()
	w.circle.Faults.FailNext(2, providertest.Fault{Status: 502})
	w.stripe.Advance(31 * 24 * time.Hour)
	w.stripe.FailPayment(subs[0])
	w.stripe.Refund(charge, 19900)
	w.deliver(stripetest.DeliveryOptions{Duplicate: true})
	w.settle()
	w.stripe.Deliver(t.Context(), w.url+"/webhooks/stripe", []stripetest.EventJSON{w.stripe.Events()[0].JSON},
		stripetest.DeliveryOptions{Secret: "whsec_forged_secret"})

	out := logs.String()
	if out == "" {
		t.Fatal("no logs captured")
	}
	var secrets []string
	for k, v := range w.envs {
		if strings.HasSuffix(k, "KEY") || strings.HasSuffix(k, "SECRET") || strings.HasSuffix(k, "TOKEN") {
			secrets = append(secrets, v)
		}
	}
	lower := strings.ToLower(out)
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("a log line holds a secret (%s…)", s[:6])
		}
	}
	for _, e := range emails {
		if strings.Contains(lower, strings.ToLower(e)) {
			t.Errorf("a log line holds the raw email %s", e)
		}
	}
	lines, webhookLines, syncLines, callLines := 0, 0, 0, 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines++
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("a log line is not JSON: %q", sc.Text())
		}
		switch rec["msg"] {
		case "webhook":
			webhookLines++
			for _, k := range []string{"event_id", "type", "result", "latency_ms"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("webhook line without %s: %s", k, sc.Text())
				}
			}
		case "provider call":
			callLines++
			for _, k := range []string{"person_id", "action", "target", "result", "status", "attempt", "call_attempt"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("provider call line without %s: %s", k, sc.Text())
				}
			}
		case "sync", "sync incomplete":
			syncLines++
			for _, k := range []string{"person", "person_id", "action", "result", "attempt", "reason"} {
				if _, ok := rec[k]; !ok {
					t.Errorf("sync line without %s: %s", k, sc.Text())
				}
			}
			if p, _ := rec["person"].(string); !strings.HasPrefix(p, "p_") {
				t.Errorf("sync line's person is not a keyed hash: %v", rec["person"])
			}
		}
	}
	if webhookLines == 0 || syncLines == 0 || callLines == 0 {
		t.Errorf("scanned %d lines: %d webhook, %d sync and %d provider call lines, want some of each", lines, webhookLines, syncLines, callLines)
	}
	t.Logf("scanned %d log lines (%d webhook, %d sync, %d provider call) for %d secrets and %d emails", lines, webhookLines, syncLines, callLines, len(secrets), len(emails))
}
