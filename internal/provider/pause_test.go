package provider

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/budget"
)

// pausedDuringSleep is a budget that grants a slot a moment ahead and reports, when asked after
// the sleep, that another caller's 429 paused it meanwhile.
type pausedDuringSleep struct{ pause time.Duration }

func (b *pausedDuringSleep) Take(context.Context, time.Duration) (time.Duration, error) {
	return 10 * time.Millisecond, nil
}
func (b *pausedDuringSleep) Pause(context.Context, time.Duration) error { return nil }
func (b *pausedDuringSleep) Paused(context.Context) (time.Duration, error) {
	return b.pause, nil
}

// A request that reserved a slot and slept must not be sent when a 429 paused the budget during its
// sleep: it would spend quota on an answer bound to be 429 (the launch-day run saw 984 Stripe calls
// start during a pause).
func TestPauseDuringTheSleepStopsTheRequest(t *testing.T) {
	var sent atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent.Add(1)
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	h := &HTTP{Provider: "kit", BaseURL: srv.URL, Budget: &pausedDuringSleep{pause: 42 * time.Second}, MaxWait: time.Second}
	_, err := h.Do(context.Background(), Request{Operation: "tag_subscriber", Method: "POST", Path: "/v4/tags/1/subscribers"})
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != RateLimited || !pe.Throttled || pe.RetryAfter != 42*time.Second || pe.Message != "paused after a 429" {
		t.Fatalf("err = %#v, want a throttled rate limit asking for the pause's 42 s", err)
	}
	if n := sent.Load(); n != 0 {
		t.Fatalf("%d request(s) sent during the pause", n)
	}
	// Without the pause the same slot is used.
	h.Budget = &pausedDuringSleep{}
	if _, err := h.Do(context.Background(), Request{Operation: "tag_subscriber", Method: "POST", Path: "/v4/tags/1/subscribers"}); err != nil {
		t.Fatal(err)
	}
	if n := sent.Load(); n != 1 {
		t.Fatalf("%d request(s) sent, want 1", n)
	}
}

// The context's WithMaxWait shortens the client's MaxWait, never lengthens it.
func TestMaxWaitFrom(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		ctx       time.Duration // 0: none
		def, want time.Duration
	}{
		{0, 10 * time.Second, 10 * time.Second},
		{250 * time.Millisecond, 10 * time.Second, 250 * time.Millisecond},
		{time.Minute, 10 * time.Second, 10 * time.Second},
		{250 * time.Millisecond, 0, 250 * time.Millisecond},
	} {
		c := ctx
		if tc.ctx > 0 {
			c = WithMaxWait(ctx, tc.ctx)
		}
		if got := MaxWaitFrom(c, tc.def); got != tc.want {
			t.Errorf("MaxWaitFrom(ctx %v, %v) = %v, want %v", tc.ctx, tc.def, got, tc.want)
		}
	}
}

var _ budget.Budget = (*pausedDuringSleep)(nil)
