// Package catalog knows the founder's names for the provider ids membersync manages: Circle access
// groups, Kit tags and sequences, Stripe prices and their products. Pages, the journey story, trace
// and alerts show these names, with the id beside them, instead of "access group 11".
//
// Refresher (refresh.go) lists every access group, tag, sequence and price and caches their names
// in the database, and its job refreshes them hourly once a day old; Cached (cache.go) is the Names
// those cached names make, held in memory; label.go says how a name and its id are shown together
// (Label, Annotate).
package catalog

import "fmt"

// Names resolves provider ids to the founder's names. A name not known (never fetched, or the
// provider could not be reached) falls back to the kind and the id, as Fallback words it.
type Names interface {
	AccessGroup(id int64) string
	Tag(id int64) string
	Sequence(id int64) string
	// Price is a Stripe price's product name and amount, e.g. "Pro (€29/month)".
	Price(id string) string
}

// Fallback names nothing: every id is shown as its kind and id.
type Fallback struct{}

// AccessGroup implements Names.
func (Fallback) AccessGroup(id int64) string { return fmt.Sprintf("access group %d", id) }

// Tag implements Names.
func (Fallback) Tag(id int64) string { return fmt.Sprintf("tag %d", id) }

// Sequence implements Names.
func (Fallback) Sequence(id int64) string { return fmt.Sprintf("sequence %d", id) }

// Price implements Names.
func (Fallback) Price(id string) string { return "price " + id }

// Or returns n, or Fallback when n is nil.
func Or(n Names) Names {
	if n == nil {
		return Fallback{}
	}
	return n
}
