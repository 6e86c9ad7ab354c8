package catalog

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// Kind is a kind of provider object that has a name.
type Kind string

// The kinds the catalog names. A Stripe product is listed with its prices (no call of its own).
const (
	KindAccessGroup Kind = "access_group" // Circle
	KindTag         Kind = "tag"          // Kit
	KindSequence    Kind = "sequence"     // Kit
	KindPrice       Kind = "price"        // Stripe
	KindProduct     Kind = "product"      // Stripe
)

// Kinds lists every kind, in the order the catalog prints them.
var Kinds = []Kind{KindAccessGroup, KindTag, KindSequence, KindPrice, KindProduct}

// Provider names the provider that owns objects of kind k: circle, kit or stripe.
func (k Kind) Provider() string {
	switch k {
	case KindAccessGroup:
		return "circle"
	case KindTag, KindSequence:
		return "kit"
	}
	return "stripe"
}

// Noun is the kind in words: "access group".
func (k Kind) Noun() string {
	if k == KindAccessGroup {
		return "access group"
	}
	return string(k)
}

// numeric reports whether ids of kind k are numbers (Circle's and Kit's) rather than Stripe's
// prefixed strings.
func (k Kind) numeric() bool { return k.Provider() != "stripe" }

// Entry is one named provider object.
type Entry struct {
	Kind Kind   `json:"kind"`
	ID   string `json:"id"`
	// Name is the provider's name: the group's, tag's or sequence's, a price's product's.
	Name string `json:"name"`
	// Detail qualifies it: a price's amount ("€29/month"), "archived" for an archived access group
	// or price.
	Detail string `json:"detail,omitempty"`
	// Product is a price's product id, as a refresh read it (the cache does not keep it).
	Product   string    `json:"product,omitempty"`
	FetchedAt time.Time `json:"fetched_at"`
}

// Label is the entry as Names words it: the name, with the detail in parentheses when there is
// one ("Pro (€29/month)", "Old cohort (archived)").
func (e Entry) Label() string {
	if e.Detail == "" {
		return e.Name
	}
	return e.Name + " (" + e.Detail + ")"
}

// Source is where Cached reads the names: *store.Store.
type Source interface {
	CatalogNames(ctx context.Context) ([]store.CatalogName, error)
}

type key struct {
	kind Kind
	id   string
}

// Cached is Names backed by the database's cache of provider names (the catalog_names table the
// Refresher writes), held in memory so that pages and texts name ids without a query. Reload
// reads the table again; the Refresher reloads it after each refresh, and serve reloads it
// periodically (ReloadEvery) so that an instance sees another instance's refresh. An id not
// cached falls back to Fallback's wording. The zero value names nothing; it is safe for
// concurrent use.
type Cached struct {
	src Source

	mu      sync.RWMutex
	entries map[key]Entry // guarded by mu
	loaded  time.Time     // guarded by mu: when entries were read
}

// NewCached returns a Cached that reads src; it names nothing until Reload.
func NewCached(src Source) *Cached { return &Cached{src: src} }

// Load returns a Cached holding src's names now.
func Load(ctx context.Context, src Source) (*Cached, error) {
	c := NewCached(src)
	return c, c.Reload(ctx)
}

// Reload reads every cached name again and replaces those held. On error the names held stay.
func (c *Cached) Reload(ctx context.Context) error {
	if c == nil || c.src == nil {
		return nil
	}
	rows, err := c.src.CatalogNames(ctx)
	if err != nil {
		return fmt.Errorf("loading the catalog's names: %w", err)
	}
	m := make(map[key]Entry, len(rows))
	for _, r := range rows {
		k := Kind(r.Kind)
		m[key{k, r.ID}] = Entry{Kind: k, ID: r.ID, Name: r.Name, Detail: r.Detail, FetchedAt: r.FetchedAt}
	}
	c.mu.Lock()
	c.entries, c.loaded = m, time.Now()
	c.mu.Unlock()
	return nil
}

// ReloadEvery reloads the names every interval until ctx ends, logging failures (the names held
// stay). serve runs it so that a refresh made by another instance reaches this one.
func (c *Cached) ReloadEvery(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := c.Reload(ctx); err != nil && ctx.Err() == nil && log != nil {
				log.Warn("catalog names not reloaded; the previous ones stay", "err", err)
			}
		}
	}
}

// Lookup returns the cached entry of kind's id.
func (c *Cached) Lookup(kind Kind, id string) (Entry, bool) {
	if c == nil {
		return Entry{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := c.entries[key{kind, id}]
	return e, ok
}

// Entries returns every cached entry, by kind (in Kinds order) and id (numerically for numeric
// ids).
func (c *Cached) Entries() []Entry {
	if c == nil {
		return nil
	}
	c.mu.RLock()
	out := make([]Entry, 0, len(c.entries))
	for _, e := range c.entries {
		out = append(out, e)
	}
	c.mu.RUnlock()
	SortEntries(out)
	return out
}

// SortEntries orders entries by kind (in Kinds order), then by id: numerically for Circle's and
// Kit's ids, as text for Stripe's.
func SortEntries(es []Entry) {
	slices.SortStableFunc(es, func(a, b Entry) int {
		if a.Kind != b.Kind {
			return slices.Index(Kinds, a.Kind) - slices.Index(Kinds, b.Kind)
		}
		if a.Kind.numeric() {
			x, errA := strconv.ParseInt(a.ID, 10, 64)
			y, errB := strconv.ParseInt(b.ID, 10, 64)
			if errA == nil && errB == nil {
				switch {
				case x < y:
					return -1
				case x > y:
					return 1
				}
				return 0
			}
		}
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
}

// name returns the label of kind's id, or fallback when it is not cached.
func (c *Cached) name(kind Kind, id, fallback string) string {
	if e, ok := c.Lookup(kind, id); ok && e.Name != "" {
		return e.Label()
	}
	return fallback
}

// AccessGroup implements Names: "Pro members", or "access group 11".
func (c *Cached) AccessGroup(id int64) string {
	return c.name(KindAccessGroup, strconv.FormatInt(id, 10), Fallback{}.AccessGroup(id))
}

// Tag implements Names: "pro-active", or "tag 1001".
func (c *Cached) Tag(id int64) string {
	return c.name(KindTag, strconv.FormatInt(id, 10), Fallback{}.Tag(id))
}

// Sequence implements Names: "Welcome to Pro", or "sequence 7".
func (c *Cached) Sequence(id int64) string {
	return c.name(KindSequence, strconv.FormatInt(id, 10), Fallback{}.Sequence(id))
}

// Price implements Names: "Pro (€29/month)", or "price price_…".
func (c *Cached) Price(id string) string { return c.name(KindPrice, id, Fallback{}.Price(id)) }

// Product names a Stripe product: "Pro membership", or "product prod_…".
func (c *Cached) Product(id string) string { return c.name(KindProduct, id, Fallback{}.Product(id)) }

// Product names a Stripe product by its id alone.
func (Fallback) Product(id string) string { return "product " + id }
