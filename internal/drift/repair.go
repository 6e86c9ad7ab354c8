package drift

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/store"
)

// repairBatch is how many people one repair transaction covers.
const repairBatch = 200

// repair makes each drifted person's next sync fix their drift, and enqueues it. The sync converges
// the desired state against the locally recorded applied grants, not against the providers, so the
// record is corrected first: a grant the provider does not hold is forgotten (the sync applies it
// again) and a grant it holds unrecorded is adopted (the sync keeps it if desired, revokes it if
// not). Each person's corrections, journal note, mark and job commit together.
func (sw *sweep) repair(ctx context.Context) error {
	if sw.s.Queue == nil {
		return errors.New("repair needs a job queue")
	}
	byPerson := map[int64][]Difference{}
	var ids []int64
	for _, d := range sw.rep.Differences {
		if d.PersonID == 0 || d.Pending || d.Kind.Stranger() {
			continue // strangers are the strangers step's
		}
		if _, ok := byPerson[d.PersonID]; !ok {
			ids = append(ids, d.PersonID)
		}
		byPerson[d.PersonID] = append(byPerson[d.PersonID], d)
	}
	slices.Sort(ids)
	for start := 0; start < len(ids); start += repairBatch {
		batch := ids[start:min(start+repairBatch, len(ids))]
		err := sw.s.Store.InTx(ctx, func(tx *store.Tx) error {
			var jobs converge.Batch
			for _, id := range batch {
				p := sw.people[sw.byID[id]]
				if err := correct(ctx, tx, p, byPerson[id]); err != nil {
					return err
				}
				if err := jobs.Trigger(ctx, tx, id, "reconcile"); err != nil {
					return err
				}
			}
			return jobs.Insert(ctx, tx, sw.s.Queue)
		})
		if err != nil {
			return fmt.Errorf("repairing drift: %w", err)
		}
		sw.rep.Repaired += len(batch)
		if err := sw.step(ctx, PhaseRepair, sw.rep.Repaired, len(ids)); err != nil {
			return err
		}
	}
	return nil
}

// correct fixes one person's applied record for their differences and journals what it found.
func correct(ctx context.Context, tx *store.Tx, p person, diffs []Difference) error {
	var found []string
	for _, d := range diffs {
		var err error
		switch d.Kind {
		case PaidNoAccess:
			err = tx.ForgetGrant(ctx, p.id, store.ProviderCircle, store.KindAccessGroup, d.Target)
		case AccessWithoutEntitlement:
			if p.email != "" {
				err = tx.AdoptGrant(ctx, store.Applied{PersonID: p.id, Provider: store.ProviderCircle, Kind: store.KindAccessGroup,
					TargetID: d.Target, Email: p.email, RemoteID: d.RemoteID})
			}
		case MissingTag:
			err = tx.ForgetGrant(ctx, p.id, store.ProviderKit, store.KindTag, d.Target)
		case ExtraTag:
			if d.Email != "" {
				err = tx.AdoptGrant(ctx, store.Applied{PersonID: p.id, Provider: store.ProviderKit, Kind: store.KindTag,
					TargetID: d.Target, Email: d.Email, RemoteID: d.RemoteID})
			}
		}
		if err != nil {
			return err
		}
		found = append(found, fmt.Sprintf("%s (%s %s %d)", d.Kind.Describe(), d.Provider, targetKind(d.Provider), d.Target))
	}
	return tx.AppendJournal(ctx, store.JournalEntry{PersonID: p.id, Kind: "note", Action: "drift", Result: "repair_queued",
		Detail: "the drift sweep found " + strings.Join(found, "; ") + "; a sync is queued to fix it"})
}

func targetKind(prov string) string {
	if prov == store.ProviderKit {
		return "tag"
	}
	return "access group"
}
