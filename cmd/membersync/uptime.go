package main

import (
	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/uptime"
)

// scheduleUptime adds the uptime job (every minute, on the River leader only, so one instance
// probes however many run) and its worker to serve's queue. The alert rule "uptime" reads what
// the job records; the admin overview's site-health section shows it. With no target configured
// the job still runs, probing nothing: it forgets the targets removed from the config (their
// alerts resolve) and ages their records out.
func (a *app) scheduleUptime(opts *queue.Options) {
	u := a.cfg.Uptime
	checker := &uptime.Checker{Store: a.store, Config: u, Log: a.log.With("component", "uptime"),
		Prober: uptime.NewProber(u.Targets, a.cfg.Egress.PrivateHosts, uptime.ProberOptions{})}
	register := opts.Workers
	opts.Workers = func(q *queue.Queue, w *river.Workers) {
		if register != nil {
			register(q, w)
		}
		river.AddWorker(w, &uptime.Worker{Checker: checker})
	}
	opts.PeriodicJobs = append(opts.PeriodicJobs, uptime.PeriodicJob())
}
