package main

import (
	"bytes"
	"context"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/store"
)

// writeNamedJourney prints j as trace does, with the founder's names beside the ids it mentions
// (`access group "Pro members" (#11)`, `tag "pro-active" (#1001)`, `"Pro (€29/month)"
// (price_…)`), from the names cached in st. The timeline's columns are named before they are
// aligned; the rest (the applied grants, the plans' explanations) is named as printed. Without
// cached names (never refreshed, or a database not migrated yet) the ids print as they are.
func writeNamedJourney(ctx context.Context, e env, st *store.Store, j *journey.Journey) error {
	names, err := catalog.Load(ctx, st)
	if err != nil || len(names.Entries()) == 0 {
		return j.WriteText(e.stdout)
	}
	for i := range j.Steps {
		s := &j.Steps[i]
		s.What, s.Result, s.Detail = catalog.Annotate(names, s.What), catalog.Annotate(names, s.Result), catalog.Annotate(names, s.Detail)
	}
	for i := range j.Reviews {
		r := &j.Reviews[i]
		r.ActionKey, r.Reason, r.LastError = catalog.Annotate(names, r.ActionKey), catalog.Annotate(names, r.Reason), catalog.Annotate(names, r.LastError)
	}
	var buf bytes.Buffer
	if err := j.WriteText(&buf); err != nil {
		return err
	}
	_, err = e.stdout.Write([]byte(catalog.Annotate(names, buf.String())))
	return err
}
