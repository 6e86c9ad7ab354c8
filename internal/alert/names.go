package alert

import (
	"context"

	"github.com/membersync/membersync/internal/catalog"
)

// names returns the catalog's cached names for this pass, read from the store (one query a
// minute: the names another instance refreshed are seen at once). When they cannot be read, the
// alerts name ids only.
func (e *Evaluator) names(ctx context.Context) catalog.Names {
	n, err := catalog.Load(ctx, e.Store)
	if err != nil {
		e.log().Warn("alert texts name ids only: the catalog's names could not be read", "err", err)
		return nil
	}
	return n
}

// named puts the founder's names beside the ids a rule's findings mention (a review item's reason
// "Circle has no access group 11" becomes `… access group "Pro members" (#11) …`), in titles and
// details alike. With nil names the findings are returned as they are.
func named(n catalog.Names, found []finding) []finding {
	if n == nil {
		return found
	}
	for i := range found {
		found[i].title = catalog.Annotate(n, found[i].title)
		found[i].detail = catalog.Annotate(n, found[i].detail)
	}
	return found
}
