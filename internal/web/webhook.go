package web

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/membersync/membersync/internal/inbox"
	"github.com/membersync/membersync/internal/store"
)

// webhook is POST /webhooks/stripe: verify, read the envelope, store with its jobs in one commit,
// then 200. Nothing is acknowledged that is not committed; nothing unsigned is stored.
func (s *Server) webhook() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		log := s.Log.With("handler", "webhook")
		refuse := func(status int, code, msg string, attrs ...any) {
			writeError(w, status, code, msg)
			s.Metrics.Webhook(metricResult(code), "", s.now().Sub(start))
			if s.Refusals != nil {
				s.Refusals.Record(code)
			}
			log.Warn("webhook refused", append([]any{"result", code, "status", status, "latency_ms", ms(s.now().Sub(start))}, attrs...)...)
		}

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
		if err := s.Verifier.Verify(body, r.Header.Get("Stripe-Signature")); err != nil {
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
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the event could not be stored right now; Stripe will deliver it again")
			s.Metrics.Webhook("unavailable", "", s.now().Sub(start))
			if s.Refusals != nil {
				s.Refusals.Record("unavailable")
			}
			log.Error("webhook not stored", "result", "unavailable", "event_id", env.ID, "type", env.Type, "err", err, "latency_ms", ms(s.now().Sub(start)))
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": string(res)})
		s.Metrics.Webhook(string(res), env.Type, s.now().Sub(start))
		log.Info("webhook", "result", string(res), "event_id", env.ID, "type", env.Type, "latency_ms", ms(s.now().Sub(start)))
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// metricResult folds refusal codes into the metric's bounded result set.
func metricResult(code string) string {
	switch code {
	case "missing_signature", "malformed_signature", "bad_signature", "too_old":
		return "bad_signature"
	case "too_large":
		return "too_large"
	}
	return "bad_request"
}
