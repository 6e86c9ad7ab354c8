package drift

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/membersync/membersync/internal/converge"
	"github.com/membersync/membersync/internal/store"
)

// ReviewStranger is the review kind of a stranger: someone in a managed access group, or with a
// managed tag, with no entitlement and no comp. The item's buttons are Remove (RemoveStranger) and
// Comp (the person page's comp form).
const ReviewStranger = "stranger"

// maxStrangerReviews bounds the review items one sweep opens: an install on a community whose
// managed tags predate membersync finds every earlier subscriber a stranger, and a queue of
// thousands helps nobody (the report still lists them, and remove still removes them).
const maxStrangerReviews = 200

// stranger is one email's differences of the stranger kinds.
type stranger struct {
	email string
	diffs []int // indexes in rep.Differences
}

// strangers deals with the strangers the sweep found, as reconcile.unknown_members says. Each
// stranger with a known email gets a person record by that email (so that a comp can attach and a
// sync can act); with RemoveStrangers a repairing sweep records what the providers hold as that
// person's applied grants and enqueues their sync, whose desired state (no entitlement) revokes
// them: the removal is the normal journaled sync. Otherwise each stranger gets one review item. A
// stranger whose email the sweep did not look up is only reported.
func (sw *sweep) strangers(ctx context.Context) error {
	remove := sw.opts.Repair && sw.opts.RemoveStrangers
	if remove && sw.s.Queue == nil {
		return errors.New("removing strangers needs a job queue")
	}
	var (
		list []*stranger
		err  error
	)
	byEmail := map[string]*stranger{}
	noEmail := map[[2]any]bool{}
	for i, d := range sw.rep.Differences {
		if !d.Kind.Stranger() || d.Pending {
			continue
		}
		if d.Email == "" {
			noEmail[[2]any{d.Provider, d.RemoteID}] = true
			continue
		}
		st := byEmail[d.Email]
		if st == nil {
			st = &stranger{email: d.Email}
			byEmail[d.Email] = st
			list = append(list, st)
		}
		st.diffs = append(st.diffs, i)
	}
	if list, err = sw.withoutErased(ctx, list); err != nil {
		return err
	}
	if len(noEmail) > 0 {
		sw.problem("%d strangers in managed access groups were not looked up (the lookup limit or budget), so they are only reported; the next sweeps look them up", len(noEmail))
	}
	slices.SortFunc(list, func(a, b *stranger) int { return strings.Compare(a.email, b.email) })
	for i, st := range list {
		if !remove && i >= maxStrangerReviews {
			sw.problem("%d more strangers got no review item (at most %d per sweep); see the report, or set reconcile.unknown_members: remove", len(list)-i, maxStrangerReviews)
			break
		}
		if err := sw.stranger(ctx, st, remove); err != nil {
			return fmt.Errorf("dealing with a stranger: %w", err)
		}
		if err := sw.step(ctx, PhaseStrangers, i+1, len(list)); err != nil {
			return err
		}
	}
	return nil
}

// withoutErased drops from list the strangers whose email membersync erased (a tombstone holds
// its keyed hash), and their email from the report's differences: the founder asked membersync to
// forget them, and left them in Circle or Kit (forget --local-only) or added them again by hand.
func (sw *sweep) withoutErased(ctx context.Context, list []*stranger) ([]*stranger, error) {
	if len(sw.s.ErasureKey) == 0 {
		return list, nil
	}
	kept, erased := list[:0], 0
	for _, st := range list {
		tombs, err := sw.s.Store.ErasuresByEmail(ctx, sw.s.ErasureKey, st.email)
		if err != nil {
			return nil, fmt.Errorf("reading erasures: %w", err)
		}
		if len(tombs) == 0 {
			kept = append(kept, st)
			continue
		}
		erased++
		for _, at := range st.diffs {
			sw.rep.Differences[at].Email = ""
		}
	}
	if erased > 0 {
		sw.problem("%d strangers in managed groups or tags are people membersync erased (membersync forget); they are left alone: remove them in Circle or Kit by hand if they should not be there", erased)
	}
	return kept, nil
}

// stranger records one stranger's person and either enqueues their removal or opens their item.
func (sw *sweep) stranger(ctx context.Context, st *stranger, remove bool) error {
	diffs := make([]Difference, len(st.diffs))
	for i, at := range st.diffs {
		diffs[i] = sw.rep.Differences[at]
	}
	var pid int64
	err := sw.s.Store.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if pid, _, err = tx.PersonForEmail(ctx, st.email); err != nil {
			return err
		}
		var circleID, kitID int64
		for _, d := range diffs {
			if d.Provider == store.ProviderKit {
				kitID = d.RemoteID
			} else {
				circleID = d.RemoteID
			}
		}
		if err := tx.NoteRemoteIDs(ctx, pid, circleID, kitID); err != nil {
			return err
		}
		if !remove {
			return nil
		}
		return adoptStranger(ctx, tx, sw.s.Queue, pid, st.email, diffs,
			"the drift sweep found "+strangerWhere(diffs)+" with no plan and no comp; removing them (reconcile.unknown_members: remove)")
	})
	if err != nil {
		return err
	}
	for _, at := range st.diffs {
		sw.rep.Differences[at].PersonID = pid
	}
	if remove {
		sw.rep.StrangersRemoved++
		_, err := sw.s.Store.ResolveReviews(ctx, pid, ReviewStranger, "*", "membersync",
			"removed by the drift sweep (reconcile.unknown_members: remove)")
		return err
	}
	sw.rep.StrangersReviewed++
	_, err = sw.s.Store.OpenReview(ctx, store.ReviewItem{PersonID: pid, Kind: ReviewStranger,
		Reason: st.email + " is in " + strangerWhere(diffs) + " with no plan and no comp (someone added them by hand, or membersync never granted it)."})
	return err
}

// adoptStranger records the stranger's grants the sweep observed as applied, journals why, and
// triggers their sync in tx: the sync revokes every grant their desired state lacks.
func adoptStranger(ctx context.Context, tx *store.Tx, q enqueuer, pid int64, email string, diffs []Difference, note string) error {
	for _, d := range diffs {
		a := store.Applied{PersonID: pid, Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: d.Target,
			Email: email, RemoteID: d.RemoteID}
		if d.Provider == store.ProviderKit {
			a.Provider, a.Kind = store.ProviderKit, store.KindTag
		}
		if err := tx.AdoptGrant(ctx, a); err != nil {
			return err
		}
	}
	if err := tx.AppendJournal(ctx, store.JournalEntry{PersonID: pid, Kind: "note", Action: "stranger", Result: "removal_queued",
		Detail: note}); err != nil {
		return err
	}
	return converge.Trigger(ctx, tx, q, pid, "stranger")
}

// strangerWhere words where a stranger was found: "Circle access group 11 and Kit tag 21".
func strangerWhere(diffs []Difference) string {
	var parts []string
	for _, d := range diffs {
		part := "Circle access group " + strconv.FormatInt(d.Target, 10)
		if d.Provider == store.ProviderKit {
			part = "Kit tag " + strconv.FormatInt(d.Target, 10)
		}
		if !slices.Contains(parts, part) {
			parts = append(parts, part)
		}
	}
	switch len(parts) {
	case 0:
		return "no managed group"
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}

// ErrNoStranger means the latest drift sweep lists no stranger for the person: there is nothing to
// remove (they left, were comped, or no sweep saw them since).
var ErrNoStranger = errors.New("the latest drift sweep lists them in no managed group without a plan")

// RemoveStranger removes a stranger on an operator's request (the review item's Remove button): it
// records what the latest sweep saw them hold as their applied grants, journals who asked, and
// triggers their sync, which revokes what their desired state lacks (a comp or a purchase since
// keeps it). It returns the differences it acted on; ErrNoStranger when there are none.
func RemoveStranger(ctx context.Context, st *store.Store, q enqueuer, personID int64, by string) ([]Difference, error) {
	p, err := st.Person(ctx, personID)
	if err != nil {
		return nil, err
	}
	rep, err := LatestReport(ctx, st)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNoStranger
	}
	if err != nil {
		return nil, err
	}
	var diffs []Difference
	for _, d := range rep.Differences {
		if d.Kind.Stranger() && d.Email != "" && (d.PersonID == personID || (p.Email != "" && d.Email == p.Email)) {
			diffs = append(diffs, d)
		}
	}
	if len(diffs) == 0 || p.Email == "" {
		return nil, ErrNoStranger
	}
	err = st.InTx(ctx, func(tx *store.Tx) error {
		return adoptStranger(ctx, tx, q, personID, p.Email, diffs, "removal of a stranger in "+strangerWhere(diffs)+" asked by "+by)
	})
	return diffs, err
}
