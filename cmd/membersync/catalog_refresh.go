package main

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/queue"
)

// The catalog's names (internal/catalog) in serve, check and the commands: serve refreshes the
// lists not refreshed within the hour before it serves, then hourly lists again what is a day old
// (the catalog_refresh job); check refreshes every list; every instance reloads the cached names
// every few minutes, so that another instance's refresh reaches its pages.
const (
	// startRefreshTimeout bounds serve's refresh at start: a provider that does not answer delays
	// the start by this much at most, and its cached names stay.
	startRefreshTimeout = 3 * time.Second
	// namesReloadEvery is how often serve reads the cached names again.
	namesReloadEvery = 5 * time.Minute
)

// refresher lists the providers' names through the app's clients into the app's store and
// reloads names.
func (a *app) refresher(names *catalog.Cached) *catalog.Refresher {
	return &catalog.Refresher{Store: a.store, Circle: a.circle, Kit: a.kit, Stripe: a.billing, Names: names,
		Log: a.log.With("component", "catalog")}
}

// loadNames returns the cached names, held in memory. With serve it first refreshes the lists not
// refreshed within the hour (bounded by startRefreshTimeout), so that pages name ids from the
// first request, and keeps reloading them until ctx ends.
func (a *app) loadNames(ctx context.Context, serve bool) *catalog.Cached {
	log := a.log.With("component", "catalog")
	names := catalog.NewCached(a.store)
	if serve {
		rctx, cancel := context.WithTimeout(ctx, startRefreshTimeout)
		a.refresher(names).RefreshStale(rctx, catalog.StartMaxAge).Log(log)
		cancel()
		go names.ReloadEvery(ctx, namesReloadEvery, log)
	}
	if err := names.Reload(ctx); err != nil {
		log.Warn("catalog names not loaded; ids are shown without names", "err", err)
	}
	return names
}

// scheduleCatalog adds the hourly catalog_refresh job and its worker to serve's queue.
func (a *app) scheduleCatalog(opts *queue.Options) {
	register := opts.Workers
	opts.Workers = func(q *queue.Queue, w *river.Workers) {
		if register != nil {
			register(q, w)
		}
		river.AddWorker(w, &catalog.Worker{Refresher: a.refresher(a.names)})
	}
	opts.PeriodicJobs = append(opts.PeriodicJobs, catalog.PeriodicJob())
}

// refreshNamesForCheck refreshes every list, as check does, and prints one line: what was cached,
// or which lists failed (their cached names stay; a failure is a warning: the connection lines
// above already say what is wrong).
func refreshNamesForCheck(ctx context.Context, e env, a *app) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res := a.refresher(a.names).Refresh(ctx)
	verdict := "ok  "
	if res.Err() != nil {
		verdict = "WARN"
	}
	fmt.Fprintf(e.stdout, "%-11s %s cached the names of %s (membersync catalog prints them)\n", "names", verdict, res.Summary())
}
