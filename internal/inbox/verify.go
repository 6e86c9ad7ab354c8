// Package inbox owns the front door for Stripe events: verifying a delivery's signature against every
// configured secret, reading the event envelope, and storing each event durably and idempotently with
// the jobs it triggers, in one transaction, batched across concurrent deliveries (group commit).
package inbox

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v85/webhook"
)

// Tolerance is how far a signature's timestamp may lie from the server clock, in the past (Stripe's
// default) and in the future.
const Tolerance = 5 * time.Minute

// MaxBody is the largest delivery accepted; Stripe's events are far smaller.
const MaxBody = 1 << 20

// BadRequest is a delivery refused for what it is: the sender gets 400 and Message, nothing is stored.
type BadRequest struct {
	Code    string // machine-readable: missing_signature, malformed_signature, bad_signature, too_old, too_new, bad_envelope, livemode_mismatch
	Message string // for a person
}

func (e *BadRequest) Error() string { return e.Message }

// Verifier checks Stripe-Signature headers against one or more endpoint secrets (several during a
// rotation) with the 5-minute tolerance either side of the server clock.
type Verifier struct {
	Secrets []string
	Now     func() time.Time
}

// CheckHeader is the check that needs no body: it returns nil when header is shaped like a Stripe
// signature (t=TIMESTAMP and at least one hex v1=), its timestamp lies within Tolerance of the clock,
// and a secret is configured; else a *BadRequest. A delivery it refuses need not be read at all.
func (v *Verifier) CheckHeader(header string) error {
	if strings.TrimSpace(header) == "" {
		return &BadRequest{"missing_signature", "missing Stripe-Signature header: only signed deliveries from Stripe are accepted"}
	}
	ts, err := signatureTime(header)
	if err != nil {
		return &BadRequest{"malformed_signature", "malformed Stripe-Signature header: " + err.Error()}
	}
	if len(v.Secrets) == 0 {
		return &BadRequest{"bad_signature", "no webhook secret is configured (set STRIPE_WEBHOOK_SECRET)"}
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	// Times are compared, not durations: a far-off t= saturates a Duration, whose negation overflows.
	switch t := now(); {
	case ts.Before(t.Add(-Tolerance)):
		return &BadRequest{"too_old", fmt.Sprintf("signature timestamp is %s old, more than the %s tolerance: a replayed or badly delayed delivery (check the server clock)", t.Sub(ts).Round(time.Second), Tolerance)}
	case ts.After(t.Add(Tolerance)):
		return &BadRequest{"too_new", fmt.Sprintf("signature timestamp is %s in the future, more than the %s tolerance: a forged delivery or a wrong clock (check the server clock)", ts.Sub(t).Round(time.Second), Tolerance)}
	}
	return nil
}

// Verify returns nil when header passes CheckHeader and signs payload with any secret, else a
// *BadRequest saying which check failed.
func (v *Verifier) Verify(payload []byte, header string) error {
	if err := v.CheckHeader(header); err != nil {
		return err
	}
	for _, secret := range v.Secrets {
		// Signature only (CheckHeader judged the timestamp): the event body is read by this package,
		// not by stripe-go's ConstructEvent, whose API-version check would refuse endpoints pinned to
		// another release train.
		err := webhook.ValidatePayloadIgnoringTolerance(payload, header, secret)
		if err == nil {
			return nil
		}
		if errors.Is(err, webhook.ErrInvalidHeader) || errors.Is(err, webhook.ErrNotSigned) {
			return &BadRequest{"malformed_signature", "malformed Stripe-Signature header: expected t=TIMESTAMP,v1=HEX"}
		}
	}
	return &BadRequest{"bad_signature", "no v1 signature matches any configured webhook secret: check STRIPE_WEBHOOK_SECRET against the endpoint's signing secret in Stripe"}
}

// signatureTime reads t= from a Stripe-Signature header and checks that it carries a v1= signature
// in hex (stripe-go skips v1= values that are not hex, so one of them must be).
func signatureTime(header string) (time.Time, error) {
	var t time.Time
	var sigs int
	for _, part := range strings.Split(header, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return time.Time{}, errors.New("expected t=TIMESTAMP,v1=HEX")
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(val, 10, 64)
			if err != nil || n <= 0 {
				return time.Time{}, errors.New("t= is not a Unix timestamp")
			}
			t = time.Unix(n, 0)
		case "v1":
			if _, err := hex.DecodeString(val); err == nil {
				sigs++
			}
		}
	}
	if t.IsZero() {
		return time.Time{}, errors.New("no t= timestamp")
	}
	if sigs == 0 {
		return time.Time{}, errors.New("no v1= signature in hex")
	}
	return t, nil
}

// Envelope is what membersync reads of an event: enough to store it and find whom it concerns.
type Envelope struct {
	ID         string
	Type       string
	Created    time.Time
	Livemode   bool
	APIVersion string
	// CustomerID is the customer data.object names ('' when none: disputes and refunds name a charge).
	CustomerID string
}

// ParseEnvelope reads a verified delivery's event envelope, refusing what is not a snapshot event.
func ParseEnvelope(payload []byte) (Envelope, error) {
	var raw struct {
		ID         string          `json:"id"`
		Object     string          `json:"object"`
		Type       string          `json:"type"`
		Created    int64           `json:"created"`
		Livemode   *bool           `json:"livemode"`
		APIVersion *string         `json:"api_version"`
		Data       json.RawMessage `json:"data"`
	}
	bad := func(msg string) (Envelope, error) {
		return Envelope{}, &BadRequest{"bad_envelope", "not a Stripe event: " + msg}
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return bad("the body is not a JSON object")
	}
	switch {
	case raw.Object == "v2.core.event":
		return bad("thin events are not supported; send snapshot events (a v1 webhook endpoint)")
	case raw.Object != "event":
		return bad(`"object" must be "event"`)
	case !strings.HasPrefix(raw.ID, "evt_") || len(raw.ID) > 255:
		return bad(`"id" must be an event id (evt_…)`)
	case raw.Type == "" || len(raw.Type) > 255:
		return bad(`"type" is missing`)
	case raw.Created <= 0:
		return bad(`"created" must be a Unix timestamp`)
	case raw.Livemode == nil:
		return bad(`"livemode" is missing`)
	}
	var data struct {
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(raw.Data, &data); err != nil || len(data.Object) == 0 || data.Object[0] != '{' {
		return bad(`"data.object" must be an object`)
	}
	env := Envelope{ID: raw.ID, Type: raw.Type, Created: time.Unix(raw.Created, 0).UTC(), Livemode: *raw.Livemode, CustomerID: customerOf(data.Object)}
	if raw.APIVersion != nil {
		env.APIVersion = *raw.APIVersion
	}
	return env, nil
}

// customerOf returns the Stripe customer an event's data.object concerns: its "customer" (an id or an
// expanded object), or its own id when the object is a customer.
func customerOf(obj json.RawMessage) string {
	var o struct {
		ID       string          `json:"id"`
		Object   string          `json:"object"`
		Customer json.RawMessage `json:"customer"`
	}
	if json.Unmarshal(obj, &o) != nil {
		return ""
	}
	if o.Object == "customer" && strings.HasPrefix(o.ID, "cus_") {
		return o.ID
	}
	var id string
	if json.Unmarshal(o.Customer, &id) == nil && strings.HasPrefix(id, "cus_") {
		return id
	}
	var exp struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(o.Customer, &exp) == nil && strings.HasPrefix(exp.ID, "cus_") {
		return exp.ID
	}
	return ""
}

// actionablePrefixes are the event families that can change someone's entitlements.
var actionablePrefixes = []string{
	"customer.subscription.", "invoice.", "checkout.session.", "charge.", "refund.", "payment_intent.",
	"entitlements.active_entitlement_summary.",
}

// Actionable reports whether membersync acts on an event type. Others are stored and acknowledged.
func Actionable(eventType string) bool {
	switch eventType {
	case "customer.updated", "customer.deleted", "customer.created":
		return true
	case "invoice.upcoming", "invoice.created", "invoice.finalized", "invoice.will_be_due":
		return false // nothing about access changes until a payment happens or fails
	}
	for _, p := range actionablePrefixes {
		if strings.HasPrefix(eventType, p) {
			return true
		}
	}
	return false
}
