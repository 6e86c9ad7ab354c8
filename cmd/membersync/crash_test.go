package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"

	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

const crashSecret = "whsec_crashtest0123"

// proc is a real membersync serve process (this test binary re-executed as main).
type proc struct {
	cmd  *exec.Cmd
	addr string
	logs *bytes.Buffer
}

func startServe(t *testing.T, cfgPath, addr string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", cfgPath)
	cmd.Env = append(os.Environ(), "MEMBERSYNC_RUN_MAIN=1",
		"STRIPE_SECRET_KEY=sk_test_crash", "STRIPE_WEBHOOK_SECRET="+crashSecret,
		"CIRCLE_API_TOKEN=x", "KIT_API_KEY=x", "MEMBERSYNC_SIGNING_KEY=crash-test-signing-key-0123456789abcdef")
	logs := &bytes.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, addr: addr, logs: logs}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("serve did not become ready; logs:\n%s", logs)
	return nil
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func crashEvent(i int) []byte {
	return []byte(fmt.Sprintf(`{"id":"evt_crash%05d","object":"event","api_version":"2026-03-25.dahlia","created":%d,"livemode":false,"type":"invoice.paid","data":{"object":{"id":"in_%d","object":"invoice","customer":"cus_crash%05d"}}}`,
		i, time.Now().Unix(), i, i))
}

func deliver(addr string, body []byte) (int, error) {
	sig := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: crashSecret, Timestamp: time.Now()}).Header
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/webhooks/stripe", bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestCrashLosesNoAcknowledgedEvent kills a real serve process with SIGKILL in the middle of a burst
// of signed deliveries, restarts it, redelivers everything (as Stripe retries), and checks that every
// event that got a 2xx was committed with its job, and that nothing was stored or enqueued twice.
func TestCrashLosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real processes")
	}
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			dir := t.TempDir()
			dbURL := storetest.URL(t, dialect)
			addr := freeAddr(t)
			cfg := dir + "/m.yaml"
			writeConfig(t, cfg, dbURL, addr)

			const total, killAfter = 600, 150
			p := startServe(t, cfg, addr)
			var acked sync.Map
			var nAcked atomic.Int64
			var next atomic.Int64
			var wg sync.WaitGroup
			killed := make(chan struct{})
			var once sync.Once
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := int(next.Add(1)) - 1
						if i >= total {
							return
						}
						status, err := deliver(addr, crashEvent(i))
						if err == nil && status == 200 {
							acked.Store(i, true)
							if nAcked.Add(1) == killAfter {
								once.Do(func() { p.cmd.Process.Signal(syscall.SIGKILL); close(killed) })
							}
						}
					}
				}()
			}
			wg.Wait()
			<-killed
			p.cmd.Wait()
			t.Logf("%d deliveries acknowledged before SIGKILL", nAcked.Load())

			// Restart and redeliver everything, as Stripe would retry what was not acknowledged.
			p = startServe(t, cfg, addr)
			for i := range total {
				status, err := deliver(addr, crashEvent(i))
				if err != nil || status != 200 {
					t.Fatalf("redelivery %d: %d %v", i, status, err)
				}
			}
			p.cmd.Process.Signal(syscall.SIGTERM)
			if err := p.cmd.Wait(); err != nil {
				t.Errorf("graceful stop: %v\n%s", err, p.logs)
			}

			st, err := store.Open(context.Background(), dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			ctx := context.Background()
			ids, err := st.EventIDs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) != total {
				t.Errorf("stored %d events, want %d (each once)", len(ids), total)
			}
			lost := 0
			acked.Range(func(k, _ any) bool {
				i := k.(int)
				ev, err := st.Event(ctx, fmt.Sprintf("evt_crash%05d", i))
				if err != nil {
					lost++
					return true
				}
				if ev.PersonID == 0 {
					t.Errorf("event %s has no person", ev.ID)
				}
				return true
			})
			if lost > 0 {
				t.Errorf("%d acknowledged events were lost", lost)
			}
			jobs, err := st.JobCount(ctx, converge.SyncArgs{}.Kind())
			if err != nil {
				t.Fatal(err)
			}
			people, _ := st.PeopleCount(ctx)
			if people != total || jobs != total {
				t.Errorf("%d people and %d sync jobs for %d customers: want exactly one of each per customer", people, jobs, total)
			}
		})
	}
}
