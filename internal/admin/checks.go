package admin

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Probe calls one provider once (a cheap read, such as listing tags) for "Check connections".
type Probe struct {
	Name string
	Call func(ctx context.Context) error
}

// Probes returns a CheckConnections that runs the probes at once, each bounded by 10 seconds, and
// reports each result in the probes' order. The provider clients' errors name the operation and
// status, never a credential.
func Probes(now func() time.Time, probes ...Probe) func(ctx context.Context) []ConnectionCheck {
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context) []ConnectionCheck {
		out := make([]ConnectionCheck, len(probes))
		var wg sync.WaitGroup
		for i, p := range probes {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				start := now()
				err := p.Call(ctx)
				took := roundDuration(now().Sub(start))
				if err != nil {
					out[i] = ConnectionCheck{Name: p.Name, Message: truncate(fmt.Sprintf("%v (after %s)", err, took), 300)}
					return
				}
				out[i] = ConnectionCheck{Name: p.Name, OK: true, Message: "answered in " + took}
			})
		}
		wg.Wait()
		return out
	}
}
