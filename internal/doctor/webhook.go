package doctor

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// probeEvent is the unsigned body posted to the webhook endpoint: shaped like a Stripe event so that a
// handler that skips verification would try to process it, but of a type no handler acts on.
const probeEvent = `{"id":"evt_doctor_unsigned_probe","object":"event","type":"doctor.unsigned_probe","data":{"object":{}}}`

// checkWebhook posts an unsigned event to the webhook URL: it must be refused.
func (a *auditor) checkWebhook(ctx context.Context) []Finding {
	const check = "unsigned POST refused"
	if a.opts.WebhookURL == "" {
		return []Finding{finding(GroupWebhook, check, StatusUnknown, "no webhook URL given: the endpoint was not probed",
			"Pass the public webhook URL (e.g. https://"+a.domain+"/webhooks/stripe).")}
	}
	var out []Finding
	u, err := url.Parse(a.opts.WebhookURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return []Finding{finding(GroupWebhook, "webhook URL", StatusFail, fmt.Sprintf("%q is not an http(s) URL", a.opts.WebhookURL),
			"Give the full https:// URL of the endpoint configured in Stripe.")}
	}
	if u.Scheme != "https" && !isLocalHost(u.Hostname()) {
		out = append(out, finding(GroupWebhook, "webhook URL", StatusFail, "the webhook URL is plain HTTP: Stripe live mode requires HTTPS and the payload travels in clear",
			"Serve the endpoint over HTTPS and update it in the Stripe dashboard."))
	} else {
		out = append(out, finding(GroupWebhook, "webhook URL", StatusPass, "the webhook URL uses "+u.Scheme, ""))
	}
	p, err := a.fetch(ctx, http.MethodPost, a.opts.WebhookURL, "application/json", probeEvent)
	if err != nil {
		return append(out, finding(GroupWebhook, check, StatusFail, "the webhook endpoint cannot be reached: "+err.Error(),
			"Make the endpoint reachable from the internet (Stripe cannot deliver otherwise)."))
	}
	took := p.Duration.Round(time.Millisecond)
	if took == 0 {
		took = p.Duration.Round(time.Microsecond)
	}
	detail := []string{fmt.Sprintf("POST %s without Stripe-Signature → HTTP %d in %s", a.opts.WebhookURL, p.Status, took)}
	switch {
	case p.Status == http.StatusBadRequest || p.Status == http.StatusUnauthorized:
		out = append(out, finding(GroupWebhook, check, StatusPass, fmt.Sprintf("an unsigned event is refused with %d (answered in %s)", p.Status, took), "", detail...))
	case p.Status >= 200 && p.Status < 300:
		out = append(out, finding(GroupWebhook, check, StatusFail, fmt.Sprintf("an unsigned event was accepted with %d: anyone can forge payments", p.Status),
			"Verify the Stripe-Signature header with STRIPE_WEBHOOK_SECRET before storing anything, and answer 400 when it fails.", detail...))
	case p.Status >= 500:
		out = append(out, finding(GroupWebhook, check, StatusFail, fmt.Sprintf("an unsigned event crashed the endpoint with %d", p.Status),
			"Answer 400 on a missing or bad signature instead of failing.", detail...))
	default:
		out = append(out, finding(GroupWebhook, check, StatusWarn, fmt.Sprintf("an unsigned event got %d, not 400/401: is this the webhook endpoint?", p.Status),
			"Check the URL against the Stripe dashboard; the endpoint should answer 400 on a bad signature.", detail...))
	}
	return out
}

// isLocalHost reports whether host is a loopback or development name that needs no HTTPS.
func isLocalHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") || strings.HasSuffix(h, ".local") || strings.HasSuffix(h, ".internal") {
		return true
	}
	if ip := net.ParseIP(h); ip != nil {
		return ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified()
	}
	return false
}
