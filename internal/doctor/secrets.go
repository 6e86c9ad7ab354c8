package doctor

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

// checkSecrets gathers the config validation findings, audits the environment's keys against the
// public URL, and scans the repository (working tree and history) for committed secrets.
func (a *auditor) checkSecrets(ctx context.Context) []Finding {
	var out []Finding
	if a.opts.ConfigCheck != nil {
		for _, f := range a.opts.ConfigCheck() {
			if f.Group == "" {
				f.Group = GroupSecrets
			}
			if f.Status == "" {
				f.Status = StatusUnknown
			}
			out = append(out, f)
		}
	}
	out = append(out, a.checkEnv()...)
	out = append(out, a.checkRepo(ctx)...)
	return out
}

// maskKey shows only the type prefix of a Stripe key, never any of its secret part.
func maskKey(v string) string {
	for _, p := range []string{"sk_live_", "rk_live_", "sk_test_", "rk_test_", "pk_live_", "pk_test_", "whsec_"} {
		if strings.HasPrefix(v, p) {
			return p + "…"
		}
	}
	return "…"
}

// checkEnv audits the secrets membersync reads from the environment (DESIGN: secrets from the
// environment only) against the public URL they serve.
func (a *auditor) checkEnv() []Finding {
	sk := strings.TrimSpace(a.getenv("STRIPE_SECRET_KEY"))
	wh := strings.TrimSpace(a.getenv("STRIPE_WEBHOOK_SECRET"))
	circle := strings.TrimSpace(a.getenv("CIRCLE_API_TOKEN"))
	kit := strings.TrimSpace(a.getenv("KIT_API_KEY"))
	if sk == "" && wh == "" && circle == "" && kit == "" {
		return []Finding{finding(GroupSecrets, "environment", StatusUnknown, "none of membersync's secrets is set in this environment: keys were not checked",
			"Run doctor where the service runs (or in its environment) to check the keys.")}
	}
	var out []Finding
	public := a.opts.PublicURL
	if public == "" {
		public = a.opts.WebhookURL
	}
	pu, _ := url.Parse(public)
	https := pu != nil && pu.Scheme == "https"
	production := https && !isLocalHost(pu.Hostname())

	const kcheck = "Stripe key mode"
	switch {
	case sk == "":
		out = append(out, finding(GroupSecrets, kcheck, StatusFail, "STRIPE_SECRET_KEY is not set: billing cannot be read",
			"Set STRIPE_SECRET_KEY to a restricted (rk_live_…) or secret (sk_live_…) key."))
	case strings.HasPrefix(sk, "pk_"):
		out = append(out, finding(GroupSecrets, kcheck, StatusFail, "STRIPE_SECRET_KEY holds a publishable key ("+maskKey(sk)+")",
			"Use a secret or restricted key from the Stripe dashboard (Developers → API keys)."))
	case strings.HasPrefix(sk, "sk_live_") || strings.HasPrefix(sk, "rk_live_"):
		switch {
		case public == "":
			out = append(out, finding(GroupSecrets, kcheck, StatusWarn, "a live Stripe key ("+maskKey(sk)+") is set but no public URL is known to compare it with",
				"Set public_url in the config."))
		case !https:
			out = append(out, finding(GroupSecrets, kcheck, StatusFail, "a live Stripe key ("+maskKey(sk)+") is used with the non-HTTPS public URL "+public,
				"Serve membersync over HTTPS (and set public_url to the https:// URL) before taking live payments."))
		default:
			out = append(out, finding(GroupSecrets, kcheck, StatusPass, "a live Stripe key ("+maskKey(sk)+") with the HTTPS public URL "+public, ""))
		}
		if strings.HasPrefix(sk, "sk_live_") {
			out = append(out, finding(GroupSecrets, "Stripe key scope", StatusWarn, "STRIPE_SECRET_KEY is an unrestricted secret key",
				"Prefer a restricted key (rk_live_…) with read access to customers, subscriptions, checkout sessions, charges, disputes and events."))
		}
	case strings.HasPrefix(sk, "sk_test_") || strings.HasPrefix(sk, "rk_test_"):
		if production {
			out = append(out, finding(GroupSecrets, kcheck, StatusWarn, "a test-mode Stripe key ("+maskKey(sk)+") is used with the production URL "+public+": real payments will not arrive",
				"Switch STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET to the live-mode values before launch."))
		} else {
			out = append(out, finding(GroupSecrets, kcheck, StatusPass, "a test-mode Stripe key ("+maskKey(sk)+") on a non-production URL", ""))
		}
	default:
		out = append(out, finding(GroupSecrets, kcheck, StatusFail, "STRIPE_SECRET_KEY does not look like a Stripe secret key",
			"Copy the key again from the Stripe dashboard; it starts with sk_ or rk_."))
	}

	const wcheck = "Stripe webhook secret"
	var bad int
	parts := strings.Split(wh, ",")
	for _, p := range parts {
		if p = strings.TrimSpace(p); !strings.HasPrefix(p, "whsec_") || len(p) < len("whsec_")+16 {
			bad++
		}
	}
	switch {
	case wh == "":
		out = append(out, finding(GroupSecrets, wcheck, StatusFail, "STRIPE_WEBHOOK_SECRET is not set: webhooks cannot be verified",
			"Set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret (whsec_…) from the Stripe dashboard."))
	case bad > 0:
		out = append(out, finding(GroupSecrets, wcheck, StatusFail, fmt.Sprintf("%d of %d values in STRIPE_WEBHOOK_SECRET are not whsec_ signing secrets", bad, len(parts)),
			"Use the endpoint's signing secret (whsec_…); separate two with a comma only while rotating."))
	default:
		msg := "STRIPE_WEBHOOK_SECRET is set (whsec_…)"
		if len(parts) > 1 {
			msg = fmt.Sprintf("STRIPE_WEBHOOK_SECRET holds %d secrets (rotation in progress?)", len(parts))
		}
		out = append(out, finding(GroupSecrets, wcheck, StatusPass, msg, ""))
	}

	var missing []string
	if circle == "" {
		missing = append(missing, "CIRCLE_API_TOKEN")
	}
	if kit == "" {
		missing = append(missing, "KIT_API_KEY")
	}
	if len(missing) > 0 {
		out = append(out, finding(GroupSecrets, "provider credentials", StatusFail, strings.Join(missing, " and ")+" not set: access and email cannot be synced",
			"Set the Circle Admin API token and the Kit v4 API key in the service's environment."))
	} else {
		out = append(out, finding(GroupSecrets, "provider credentials", StatusPass, "CIRCLE_API_TOKEN and KIT_API_KEY are set", ""))
	}
	return out
}
