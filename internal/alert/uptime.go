package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// RuleUptime fires while an uptime target (config uptime:) is down or flapping, one alert per
// target (uptime:NAME), and while a target's TLS certificate expires within its tls_days_warn
// (uptime:NAME:tls). The damping — N failures in a row before it fires, M successes before it
// resolves, held while the target flaps — lives in the uptime state this rule reads, which the
// uptime job moves on each probe; the evaluator then sends each firing and resolved message once.
const RuleUptime = "uptime"

// pageSiteHealth is the overview's site-health section.
const pageSiteHealth = pageOverview + "#site-health"

// uptime reports every target whose damped state is alerting, and every certificate close to
// expiry.
func (e *Evaluator) uptime(ctx context.Context, now time.Time) ([]finding, error) {
	states, err := e.Store.UptimeStates(ctx)
	if err != nil {
		return nil, err
	}
	var out []finding
	for _, s := range states {
		if s.Alerting {
			out = append(out, uptimeFinding(s, e.link(pageSiteHealth)))
		}
		if s.TLSDays >= 0 && s.TLSDaysWarn >= 0 && s.TLSDays < s.TLSDaysWarn {
			out = append(out, finding{
				subject: s.Target + ":tls",
				title:   fmt.Sprintf("The TLS certificate of %s expires in %s", s.Target, plural(s.TLSDays, "day", "days")),
				detail: fmt.Sprintf("%s serves a certificate with %s left (the warning starts at %d, uptime tls_days_warn). "+
					"Renew it, or check that automatic renewal (certbot, Caddy, your host) still runs: members get a browser warning the moment it expires.",
					clip(s.URL, 200), plural(s.TLSDays, "day", "days"), s.TLSDaysWarn),
				since:    s.LastAt,
				affected: -1,
				link:     e.link(pageSiteHealth),
			})
		}
	}
	return out, nil
}

func uptimeFinding(s store.UptimeState, link string) finding {
	f := finding{subject: s.Target, since: s.AlertSince, affected: -1, link: link}
	url := clip(s.URL, 200)
	if s.AlertKind == "flapping" {
		f.title = s.Target + " is flapping between up and down"
		f.detail = fmt.Sprintf("%s is unstable: %s. This alert stays firing until it has been up steadily; it does not page on every change. "+
			"Look for an overloaded server, a failing instance behind a load balancer, or a timeout set too close to the page's usual time.",
			url, clip(redact(s.AlertReason), 400))
		return f
	}
	f.title = s.Target + " is down"
	f.detail = fmt.Sprintf("%s has failed %s in a row since %s: %s.", url, plural(s.FailStreak, "probe", "probes"), when(s.AlertSince),
		clip(redact(s.AlertReason), 400))
	if s.OKStreak > 0 {
		f.detail = fmt.Sprintf("%s failed from %s (%s) and has answered again %s; the alert resolves after a few successes in a row.",
			url, when(s.AlertSince), clip(redact(s.AlertReason), 400), plural(s.OKStreak, "time", "times"))
	}
	return f
}
