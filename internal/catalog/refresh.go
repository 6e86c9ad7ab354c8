package catalog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/store"
)

// The lists the Refresher reads, one call per page each.
type (
	circleLister interface {
		AccessGroups(ctx context.Context) ([]circle.AccessGroup, error)
	}
	kitLister interface {
		Tags(ctx context.Context) ([]kit.Tag, error)
		Sequences(ctx context.Context) ([]kit.Sequence, error)
	}
	stripeLister interface {
		Prices(ctx context.Context) ([]billing.Price, error)
	}
	// cacheStore is where the names go.
	cacheStore interface {
		ReplaceCatalogNames(ctx context.Context, provider, kind string, names []store.CatalogName, at time.Time) error
		CatalogRefreshes(ctx context.Context) (map[string]time.Time, error)
	}
)

// Refresher lists every Circle access group, Kit tag and sequence, and Stripe price (with its
// product) and replaces the cached names of each list that succeeded. The lists are independent:
// one that fails (a provider down, a key without a permission) leaves its cached names as they
// were and does not stop the others. A nil client skips its lists.
type Refresher struct {
	Store  cacheStore
	Circle circleLister
	Kit    kitLister
	Stripe stripeLister
	// Names, when set, is reloaded after each refresh that wrote something.
	Names *Cached
	Log   *slog.Logger
	// Now stamps the names; nil means time.Now.
	Now func() time.Time
}

// List is one list a refresh read: the entries it found, or why it could not (then the cache of
// its kind was left as it was).
type List struct {
	Kind    Kind
	Entries []Entry
	Err     error
}

// Result is what one refresh did, a List per kind in Kinds order.
type Result struct {
	At    time.Time
	Lists []List
}

// Err joins the lists' errors, nil when every list was read and stored.
func (r Result) Err() error {
	var errs []error
	for _, l := range r.Lists {
		if l.Err != nil {
			errs = append(errs, fmt.Errorf("%s %ss: %w", l.Kind.Provider(), l.Kind.Noun(), l.Err))
		}
	}
	return errors.Join(errs...)
}

// Entries returns the entries of every list that was read, in Kinds order.
func (r Result) Entries() []Entry {
	var out []Entry
	for _, l := range r.Lists {
		out = append(out, l.Entries...)
	}
	return out
}

// Summary says what the refresh found in a line: "2 access groups, 6 tags, 2 sequences, 2 prices
// (2 products)", with "… not refreshed (reason)" for each list that failed.
func (r Result) Summary() string {
	var ok, failed []string
	for _, l := range r.Lists {
		noun := l.Kind.Noun() + "s"
		if l.Err != nil && l.Kind == KindProduct {
			continue // listed with the prices: their failure says it
		}
		if l.Err != nil {
			_, msg := provider.Explain(l.Err)
			failed = append(failed, fmt.Sprintf("%s %s not refreshed (%s)", l.Kind.Provider(), noun, msg))
			continue
		}
		if len(l.Entries) == 1 {
			noun = l.Kind.Noun()
		}
		ok = append(ok, strconv.Itoa(len(l.Entries))+" "+noun)
	}
	s := strings.Join(ok, ", ")
	if len(failed) > 0 {
		if s != "" {
			s += "; "
		}
		s += strings.Join(failed, ", ")
	}
	return s
}

func (r *Refresher) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Refresher) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Refresh reads every list (the three providers at once), stores each one that was read, reloads
// Names, and reports every list of the providers it has a client for. It never returns early: a
// failed list is in the Result.
func (r *Refresher) Refresh(ctx context.Context) Result {
	return r.refresh(ctx, func(Kind) bool { return true })
}

// RefreshStale is Refresh for the lists last refreshed maxAge ago or longer (or never): serve
// calls it at start with an hour, so that a restart soon after a refresh spends no calls, and its
// hourly job with a day, so that each list is read daily and one that failed is tried again within
// the hour. When the refresh times cannot be read, every list is refreshed.
func (r *Refresher) RefreshStale(ctx context.Context, maxAge time.Duration) Result {
	var stamps map[string]time.Time
	if r.Store != nil {
		var err error
		if stamps, err = r.Store.CatalogRefreshes(ctx); err != nil {
			r.log().Warn("catalog refresh times not read; refreshing every list", "err", err)
		}
	}
	now := r.now()
	return r.refresh(ctx, func(k Kind) bool {
		at, ok := stamps[k.Provider()+":"+string(k)]
		return !ok || now.Sub(at) >= maxAge
	})
}

func (r *Refresher) refresh(ctx context.Context, want func(Kind) bool) Result {
	at := r.now()
	lists := map[Kind]*List{}
	for _, k := range Kinds {
		lists[k] = &List{Kind: k}
	}
	var kinds []Kind
	var wg sync.WaitGroup
	if r.Circle != nil && want(KindAccessGroup) {
		kinds = append(kinds, KindAccessGroup)
		wg.Go(func() {
			groups, err := r.Circle.AccessGroups(ctx)
			l := lists[KindAccessGroup]
			l.Err = err
			for _, g := range groups {
				e := Entry{Kind: KindAccessGroup, ID: strconv.FormatInt(g.ID, 10), Name: g.Name, FetchedAt: at}
				if g.Status == "archived" {
					e.Detail = "archived"
				}
				l.Entries = append(l.Entries, e)
			}
		})
	}
	tags, seqs := r.Kit != nil && want(KindTag), r.Kit != nil && want(KindSequence)
	if tags {
		kinds = append(kinds, KindTag)
	}
	if seqs {
		kinds = append(kinds, KindSequence)
	}
	if tags || seqs {
		wg.Go(func() { // one after the other: one key's budget
			if tags {
				list, err := r.Kit.Tags(ctx)
				l := lists[KindTag]
				l.Err = err
				for _, t := range list {
					l.Entries = append(l.Entries, Entry{Kind: KindTag, ID: strconv.FormatInt(t.ID, 10), Name: t.Name, FetchedAt: at})
				}
			}
			if seqs {
				list, err := r.Kit.Sequences(ctx)
				l := lists[KindSequence]
				l.Err = err
				for _, q := range list {
					l.Entries = append(l.Entries, Entry{Kind: KindSequence, ID: strconv.FormatInt(q.ID, 10), Name: q.Name, FetchedAt: at})
				}
			}
		})
	}
	if r.Stripe != nil && (want(KindPrice) || want(KindProduct)) {
		kinds = append(kinds, KindPrice, KindProduct)
		wg.Go(func() {
			prices, err := r.Stripe.Prices(ctx)
			lp, lprod := lists[KindPrice], lists[KindProduct]
			lp.Err, lprod.Err = err, err
			seen := map[string]bool{}
			for _, p := range prices {
				e := Entry{Kind: KindPrice, ID: p.ID, Name: p.Name(), Detail: p.Amount(), Product: p.ProductID, FetchedAt: at}
				if !p.Active {
					e.Detail += ", archived"
				}
				lp.Entries = append(lp.Entries, e)
				if p.ProductID != "" && p.ProductName != "" && !seen[p.ProductID] {
					seen[p.ProductID] = true
					lprod.Entries = append(lprod.Entries, Entry{Kind: KindProduct, ID: p.ProductID, Name: p.ProductName, FetchedAt: at})
				}
			}
		})
	}
	wg.Wait()

	res := Result{At: at}
	wrote := false
	for _, k := range kinds {
		l := lists[k]
		if l.Err != nil {
			l.Entries = nil
		} else if r.Store != nil {
			if err := r.Store.ReplaceCatalogNames(ctx, k.Provider(), string(k), rows(l.Entries), at); err != nil {
				l.Err = err
			} else {
				wrote = true
			}
		}
		SortEntries(l.Entries)
		res.Lists = append(res.Lists, *l)
	}
	if wrote && r.Names != nil {
		if err := r.Names.Reload(ctx); err != nil {
			r.log().Warn("catalog names refreshed but not reloaded", "err", err)
		}
	}
	return res
}

func rows(es []Entry) []store.CatalogName {
	out := make([]store.CatalogName, 0, len(es))
	for _, e := range es {
		out = append(out, store.CatalogName{ID: e.ID, Name: e.Name, Detail: e.Detail})
	}
	return out
}

// RefreshArgs asks for one refresh of the catalog's stale names (a periodic job, hourly).
type RefreshArgs struct{}

// Kind is River's name for the job.
func (RefreshArgs) Kind() string { return "catalog_refresh" }

// InsertOpts runs a refresh once: the next hour's job is the retry of a list that failed.
func (RefreshArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// MaxAge is how old a list may grow before the job lists it again: names are read daily.
const MaxAge = 24 * time.Hour

// StartMaxAge is how old a list may be for serve to skip it at start.
const StartMaxAge = time.Hour

// PeriodicJob schedules the refresh job every hour: it lists again what is a day old (MaxAge), or
// failed since. serve refreshes at start itself (RefreshStale with StartMaxAge), before it serves.
func PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return RefreshArgs{}, nil }, nil)
}

// Worker runs catalog_refresh jobs.
type Worker struct {
	river.WorkerDefaults[RefreshArgs]
	Refresher *Refresher
}

// Timeout bounds one refresh: a few pages per provider, throttled.
func (w *Worker) Timeout(*river.Job[RefreshArgs]) time.Duration { return 10 * time.Minute }

// Work refreshes the lists a day old or older. A list that fails keeps its cached names and is
// tried again by the next hour's job; the job itself never fails (nothing waits on it).
func (w *Worker) Work(ctx context.Context, _ *river.Job[RefreshArgs]) error {
	res := w.Refresher.RefreshStale(ctx, MaxAge)
	res.Log(w.Refresher.log())
	return nil
}

// Log writes what the refresh did: a line at Info when it listed something, and a warning per list
// that failed (its cached names stay).
func (r Result) Log(log *slog.Logger) {
	if len(r.Lists) == 0 {
		return
	}
	for _, l := range r.Lists {
		if l.Err != nil && l.Kind != KindProduct {
			log.Warn("catalog list not refreshed; its cached names stay", "provider", l.Kind.Provider(), "kind", string(l.Kind), "err", l.Err)
		}
	}
	log.Info("catalog names refreshed", "lists", r.Summary())
}
