package web

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// DefaultBodyBudget is Server.BodyBudget when it is not set: sixteen 1 MiB bodies, or hundreds of
// Stripe's real ones, in flight at once.
const DefaultBodyBudget = 16 << 20

// retryAfter is what a delivery refused for lack of budget is told; Stripe retries on its own schedule.
const retryAfter = "10"

// byteBudget bounds the bytes reserved at once; the zero value reserves nothing.
type byteBudget struct {
	limit int64
	used  atomic.Int64
}

// tryReserve reserves n bytes when they fit under the limit, without waiting.
func (b *byteBudget) tryReserve(n int64) bool {
	for {
		used := b.used.Load()
		if used+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (b *byteBudget) release(n int64) { b.used.Add(-n) }

// webhook is POST /webhooks/stripe: check the signature header, reserve the body's bytes in the
// budget, read and verify, read the envelope, store with its jobs in one commit, then 200. Nothing is
// acknowledged that is not committed; nothing unsigned is stored; no body is read before its header
// passed and its bytes were reserved, so strangers cannot make the server hold memory.
func (s *Server) webhook() http.Handler {
	limit := s.BodyBudget
	if limit == 0 {
		limit = DefaultBodyBudget
	}
	budget := &byteBudget{limit: max(limit, inbox.MaxBody)} // a body of unknown length reserves MaxBody
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		log := s.Log.With("handler", "webhook")
		refuse := func(status int, code, msg string, attrs ...any) {
			respond.NewError(status, code, msg).Write(w)
			s.Metrics.Webhook(metricResult(code), "", s.now().Sub(start))
			if s.Refusals != nil {
				s.Refusals.Record(code)
			}
			// A stranger can send refusals as fast as the network allows: the metric counts each, the
			// log keeps one line per refusalLogEvery saying how many it stands for.
			if ok, held := s.refusalLog.Allow(s.now()); ok {
				log.Warn("webhook refused", append([]any{"result", code, "status", status, "latency_ms", ms(s.now().Sub(start)), "refusals_not_logged", held}, attrs...)...)
			}
		}
		// refuseUnread answers before the body is read, and closes the connection: on a connection
		// kept alive net/http would read up to 256 KiB of the body before sending the answer (what it
		// discards after answering, before closing, is not held).
		refuseUnread := func(status int, code, msg string) {
			w.Header().Set("Connection", "close")
			refuse(status, code, msg)
		}

		header := r.Header.Get("Stripe-Signature")
		if err := s.Verifier.CheckHeader(header); err != nil {
			var br *inbox.BadRequest
			errors.As(err, &br)
			refuseUnread(http.StatusBadRequest, br.Code, br.Message)
			return
		}
		if r.ContentLength > inbox.MaxBody {
			refuseUnread(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than 1 MiB; Stripe events are far smaller")
			return
		}
		reserved := r.ContentLength
		if reserved < 0 { // length unknown (chunked): it may grow to the limit
			reserved = inbox.MaxBody
		}
		if !budget.tryReserve(reserved) {
			w.Header().Set("Retry-After", retryAfter)
			refuseUnread(http.StatusServiceUnavailable, "busy", "too many deliveries are being received at once; Stripe will deliver it again")
			return
		}
		defer func() { budget.release(reserved) }()

		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, inbox.MaxBody))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				refuse(http.StatusRequestEntityTooLarge, "too_large", "the body is larger than 1 MiB; Stripe events are far smaller")
				return
			}
			refuse(http.StatusBadRequest, "unreadable_body", "the request body could not be read")
			return
		}
		// Hold only what was read from here on.
		budget.release(reserved - int64(len(body)))
		reserved = int64(len(body))
		if err := s.Verifier.Verify(body, header); err != nil {
			var br *inbox.BadRequest
			errors.As(err, &br)
			refuse(http.StatusBadRequest, br.Code, br.Message)
			return
		}
		env, err := inbox.ParseEnvelope(body)
		if err != nil {
			var br *inbox.BadRequest
			errors.As(err, &br)
			refuse(http.StatusBadRequest, br.Code, br.Message)
			return
		}
		if env.Livemode != s.Livemode {
			mode := map[bool]string{true: "live", false: "test"}
			log.Error("webhook from the wrong Stripe mode: the endpoint and STRIPE_SECRET_KEY disagree; fix the configuration",
				"event_id", env.ID, "type", env.Type, "event_mode", mode[env.Livemode], "key_mode", mode[s.Livemode])
			refuse(http.StatusBadRequest, "livemode_mismatch",
				"a "+mode[env.Livemode]+"-mode event reached an instance configured with a "+mode[s.Livemode]+"-mode key", "event_id", env.ID)
			return
		}
		res, err := s.Inbox.Accept(r.Context(), store.Event{
			ID: env.ID, Type: env.Type, CustomerID: env.CustomerID, APIVersion: env.APIVersion,
			Created: env.Created, Livemode: env.Livemode, Source: "webhook",
			Actionable: inbox.Actionable(env.Type), Payload: body,
		})
		if err != nil {
			respond.NewError(http.StatusServiceUnavailable, "unavailable", "the event could not be stored right now; Stripe will deliver it again").Write(w)
			s.Metrics.Webhook("unavailable", "", s.now().Sub(start))
			if s.Refusals != nil {
				s.Refusals.Record("unavailable")
			}
			log.Error("webhook not stored", "result", "unavailable", "event_id", env.ID, "type", env.Type, "err", err, "latency_ms", ms(s.now().Sub(start)))
			return
		}
		respond.JSON(w, http.StatusOK, map[string]string{"status": string(res)})
		s.Metrics.Webhook(string(res), env.Type, s.now().Sub(start))
		log.Info("webhook", "result", string(res), "event_id", env.ID, "type", env.Type, "latency_ms", ms(s.now().Sub(start)))
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// metricResult folds refusal codes into the metric's bounded result set.
func metricResult(code string) string {
	switch code {
	case "missing_signature", "malformed_signature", "bad_signature", "too_old", "too_new":
		return "bad_signature"
	case "too_large":
		return "too_large"
	case "busy":
		return "busy"
	}
	return "bad_request"
}
