package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/entitlement"
)

// This file holds the people list: its filters (plan, stage, access state, "paid but no access",
// "access but not paid"), run in SQL over an index of each person's last computed desired state
// (tables person_plans and person_access), and the membership figures of the overview.
//
// The index is written from the desired state and billing snapshot the sync saves
// (SaveSyncResult, SaveBilling): by IndexPerson right after a sync when the sync calls it, and in
// any case before every read, for each person whose synced_at moved since their index was built
// (RefreshPeopleIndex). The reads are therefore right whether or not the sync indexes.

// PlanStanding is one plan a person has bought, as their last sync computed it.
type PlanStanding struct {
	PlanID   string
	Stage    string // an entitlement.Stage other than none
	Entitled bool   // the plan grants access now
	// StartedAt is when the subscription or purchase that decides the plan began; zero when unknown.
	StartedAt time.Time
	// LapsedAt is when the plan stopped granting access; zero while it grants, or when unknown.
	LapsedAt time.Time
}

// Access states of a person: where their sync stands. One applies, in this order of precedence.
const (
	// AccessFailing: the last sync failed or is retrying.
	AccessFailing = "failing"
	// AccessInReview: review items about the person are open.
	AccessInReview = "in_review"
	// AccessPending: a trigger came after the last completed sync.
	AccessPending = "pending"
	// AccessInSync: none of the above.
	AccessInSync = "in_sync"
)

// AccessStates returns the access states in the order the list offers them.
func AccessStates() []string {
	return []string{AccessInSync, AccessPending, AccessFailing, AccessInReview}
}

// Stage filters beside the stages themselves.
const (
	// StageEntitled matches a plan that grants access, whatever its stage.
	StageEntitled = "entitled"
	// StageLapsed matches a plan bought once that no longer grants access.
	StageLapsed = "lapsed"
)

// The special filters (PeopleFilter.Only).
const (
	// OnlyPaidNoAccess keeps people entitled to a Circle access group that membersync has not
	// confirmed in Circle.
	OnlyPaidNoAccess = "paid_no_access"
	// OnlyAccessNotPaid keeps people holding a Circle access group, as membersync last confirmed
	// it, that their entitlements do not include.
	OnlyAccessNotPaid = "access_not_paid"
)

// ErrBadFilter is a filter value the list does not know.
var ErrBadFilter = errors.New("unknown filter value")

// PeopleFilter selects people for the list. Empty fields select everyone.
type PeopleFilter struct {
	// Query matches the email or name (substring, case-insensitive), a Stripe customer id (prefix)
	// or the person id, as SearchPeople does.
	Query string
	// Plan keeps people with this plan bought (a config plan id).
	Plan string
	// Stage keeps people with a plan in this stage (the Plan's, when Plan is set): an
	// entitlement.Stage, StageEntitled or StageLapsed.
	Stage string
	// Access keeps people in this access state (AccessInSync, …).
	Access string
	// Only is OnlyPaidNoAccess, OnlyAccessNotPaid or empty.
	Only string
	// After continues the list after this row of the previous page; zero starts at the top.
	After PeopleCursor
	// Limit is the page size (default 50, at most 1000).
	Limit int
}

// PeopleCursor is a row's place in the list: the list is ordered by last change, newest first.
type PeopleCursor struct {
	UpdatedAt int64 // unix microseconds
	ID        int64
}

// IsZero reports whether the cursor is the top of the list.
func (c PeopleCursor) IsZero() bool { return c.ID == 0 }

// String encodes the cursor for a link.
func (c PeopleCursor) String() string {
	if c.IsZero() {
		return ""
	}
	return strconv.FormatInt(c.UpdatedAt, 10) + "." + strconv.FormatInt(c.ID, 10)
}

// ParsePeopleCursor reads a cursor written by String; "" is the top of the list.
func ParsePeopleCursor(s string) (PeopleCursor, error) {
	if s == "" {
		return PeopleCursor{}, nil
	}
	a, b, ok := strings.Cut(s, ".")
	at, err1 := strconv.ParseInt(a, 10, 64)
	id, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil || id <= 0 {
		return PeopleCursor{}, fmt.Errorf("%w: cursor %q", ErrBadFilter, s)
	}
	return PeopleCursor{UpdatedAt: at, ID: id}, nil
}

// PersonListing is one row of the people list.
type PersonListing struct {
	PersonSummary
	// Access is the person's access state (AccessInSync, …).
	Access string
	// Plans are the plans the person has bought, ordered by plan id.
	Plans []PlanStanding
}

// Cursor is the row's place in the list, to continue after it.
func (l PersonListing) Cursor() PeopleCursor {
	return PeopleCursor{UpdatedAt: micros(l.UpdatedAt), ID: l.ID}
}

// accessExpr is the access state of the person p, in SQL: failing when the last sync journaled
// failed or is retrying (or left an error), in review when review items are open, pending when a
// trigger is not covered by a completed sync, else in sync.
const accessExpr = `(CASE
	WHEN p.sync_error <> '' OR (SELECT j.result FROM journal j WHERE j.person_id = p.id AND j.kind = 'sync' AND j.action = 'sync'
		ORDER BY j.at DESC, j.id DESC LIMIT 1) IN ('retry', 'failed') THEN 'failing'
	WHEN EXISTS (SELECT 1 FROM review_items r WHERE r.person_id = p.id AND r.status = 'open') THEN 'in_review'
	WHEN p.synced_generation < p.generation THEN 'pending'
	ELSE 'in_sync' END)`

// Circle access groups held (as last confirmed) and entitled to, for the special filters.
const (
	paidNoAccess = `EXISTS (SELECT 1 FROM person_access d WHERE d.person_id = p.id AND NOT EXISTS (
		SELECT 1 FROM applied a WHERE a.person_id = p.id AND a.provider = 'circle' AND a.kind = 'access_group' AND a.target_id = d.group_id))`
	accessNotPaid = `EXISTS (SELECT 1 FROM applied a WHERE a.person_id = p.id AND a.provider = 'circle' AND a.kind = 'access_group' AND NOT EXISTS (
		SELECT 1 FROM person_access d WHERE d.person_id = p.id AND d.group_id = a.target_id))`
)

// where returns the filter's conditions on people p (without the cursor) and their arguments.
func (f PeopleFilter) where() (string, []any, error) {
	var conds []string
	var args []any
	if q := strings.TrimSpace(f.Query); q != "" {
		low := "%" + likeEscape(strings.ToLower(q)) + "%"
		c := `(p.email LIKE ? ESCAPE '\' OR LOWER(p.name) LIKE ? ESCAPE '\' OR p.id IN (SELECT c.person_id FROM customers c WHERE c.id LIKE ? ESCAPE '\')`
		args = append(args, low, low, likeEscape(q)+"%")
		if id, err := strconv.ParseInt(q, 10, 64); err == nil {
			c += " OR p.id = ?"
			args = append(args, id)
		}
		conds = append(conds, c+")")
	}
	if f.Plan != "" || f.Stage != "" {
		c := "EXISTS (SELECT 1 FROM person_plans pp WHERE pp.person_id = p.id"
		if f.Plan != "" {
			c += " AND pp.plan_id = ?"
			args = append(args, f.Plan)
		}
		switch f.Stage {
		case "":
		case StageEntitled:
			c += " AND pp.entitled = TRUE"
		case StageLapsed:
			c += " AND pp.entitled = FALSE"
		default:
			c += " AND pp.stage = ?"
			args = append(args, f.Stage)
		}
		conds = append(conds, c+")")
	}
	switch f.Access {
	case "":
	case AccessInSync, AccessPending, AccessFailing, AccessInReview:
		conds = append(conds, accessExpr+" = ?")
		args = append(args, f.Access)
	default:
		return "", nil, fmt.Errorf("%w: access state %q", ErrBadFilter, f.Access)
	}
	switch f.Only {
	case "":
	case OnlyPaidNoAccess:
		conds = append(conds, paidNoAccess)
	case OnlyAccessNotPaid:
		conds = append(conds, accessNotPaid)
	default:
		return "", nil, fmt.Errorf("%w: %q", ErrBadFilter, f.Only)
	}
	if len(conds) == 0 {
		return "TRUE", nil, nil
	}
	return strings.Join(conds, " AND "), args, nil
}

// FilterPeople returns one page of the people the filter matches, most recently changed first,
// and how many match in all. It first brings the index up to date (RefreshPeopleIndex).
func (s *Store) FilterPeople(ctx context.Context, f PeopleFilter) ([]PersonListing, int, error) {
	if _, err := s.RefreshPeopleIndex(ctx); err != nil {
		return nil, 0, err
	}
	where, args, err := f.where()
	if err != nil {
		return nil, 0, err
	}
	var total int
	if err := s.queryRow(ctx, "SELECT COUNT(*) FROM people p WHERE "+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting people: %w", err)
	}
	page, err := s.peoplePage(ctx, where, args, f.After, limitOr(f.Limit, 50))
	return page, total, err
}

// EachPerson calls fn with every person the filter matches (its After and Limit ignored), most
// recently changed first, reading them a page at a time: an export of any size holds one page in
// memory. It stops at fn's first error and returns it.
func (s *Store) EachPerson(ctx context.Context, f PeopleFilter, fn func(PersonListing) error) error {
	if _, err := s.RefreshPeopleIndex(ctx); err != nil {
		return err
	}
	where, args, err := f.where()
	if err != nil {
		return err
	}
	const pageSize = 500
	var after PeopleCursor
	for {
		page, err := s.peoplePage(ctx, where, args, after, pageSize)
		if err != nil {
			return err
		}
		for _, l := range page {
			if err := fn(l); err != nil {
				return err
			}
		}
		if len(page) < pageSize {
			return nil
		}
		after = page[len(page)-1].Cursor()
	}
}

// peoplePage reads up to limit people matching where after the cursor: their ids first (the
// filter and order), then the details of just those.
func (s *Store) peoplePage(ctx context.Context, where string, args []any, after PeopleCursor, limit int) ([]PersonListing, error) {
	q := "SELECT p.id FROM people p WHERE " + where
	args = append([]any(nil), args...)
	if !after.IsZero() {
		q += " AND (p.updated_at < ? OR (p.updated_at = ? AND p.id < ?))"
		args = append(args, after.UpdatedAt, after.UpdatedAt, after.ID)
	}
	q += fmt.Sprintf(" ORDER BY p.updated_at DESC, p.id DESC LIMIT %d", limit)
	ids, err := s.int64Column(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("filtering people: %w", err)
	}
	if len(ids) == 0 {
		return []PersonListing{}, nil
	}
	in := "(?" + strings.Repeat(",?", len(ids)-1) + ")"
	idArgs := make([]any, len(ids))
	for i, id := range ids {
		idArgs[i] = id
	}
	byID := make(map[int64]*PersonListing, len(ids))
	r, err := s.query(ctx, `SELECT p.id, p.email, p.name, p.generation, p.synced_generation, p.sync_error, p.synced_at, p.updated_at,
		(SELECT COUNT(*) FROM review_items r WHERE r.person_id = p.id AND r.status = 'open'), `+accessExpr+`
		FROM people p WHERE p.id IN `+in, idArgs...)
	if err != nil {
		return nil, fmt.Errorf("reading people: %w", err)
	}
	for r.Next() {
		var l PersonListing
		var sa, ua int64
		if err := r.Scan(&l.ID, &l.Email, &l.Name, &l.Generation, &l.SyncedGeneration, &l.SyncError, &sa, &ua, &l.OpenReviews, &l.Access); err != nil {
			r.Close()
			return nil, err
		}
		l.SyncedAt, l.UpdatedAt = fromMicros(sa), fromMicros(ua)
		byID[l.ID] = &l
	}
	r.Close()
	if err := r.Err(); err != nil {
		return nil, err
	}
	r, err = s.query(ctx, "SELECT person_id, id FROM customers WHERE person_id IN "+in+" ORDER BY id", idArgs...)
	if err != nil {
		return nil, fmt.Errorf("reading customers: %w", err)
	}
	for r.Next() {
		var pid int64
		var cid string
		if err := r.Scan(&pid, &cid); err != nil {
			r.Close()
			return nil, err
		}
		if l := byID[pid]; l != nil {
			l.CustomerIDs = append(l.CustomerIDs, cid)
		}
	}
	r.Close()
	if err := r.Err(); err != nil {
		return nil, err
	}
	plans, err := s.planStandings(ctx, s, ids)
	if err != nil {
		return nil, err
	}
	out := make([]PersonListing, 0, len(ids))
	for _, id := range ids {
		if l := byID[id]; l != nil { // gone between the two reads: merged away
			l.Plans = plans[id]
			out = append(out, *l)
		}
	}
	return out, nil
}

// planStandings returns the indexed plans of the people, by person, ordered by plan id.
func (s *Store) planStandings(ctx context.Context, db q, ids []int64) (map[int64][]PlanStanding, error) {
	out := map[int64][]PlanStanding{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	r, err := db.query(ctx, "SELECT person_id, plan_id, stage, entitled, started_at, lapsed_at FROM person_plans WHERE person_id IN (?"+
		strings.Repeat(",?", len(ids)-1)+") ORDER BY person_id, plan_id", args...)
	if err != nil {
		return nil, fmt.Errorf("reading plans: %w", err)
	}
	defer r.Close()
	for r.Next() {
		var pid, started, lapsed int64
		var p PlanStanding
		if err := r.Scan(&pid, &p.PlanID, &p.Stage, &p.Entitled, &started, &lapsed); err != nil {
			return nil, err
		}
		p.StartedAt, p.LapsedAt = fromMicros(started), fromMicros(lapsed)
		out[pid] = append(out[pid], p)
	}
	return out, r.Err()
}

// int64Column runs a query returning one integer column.
func (s *Store) int64Column(ctx context.Context, query string, args ...any) ([]int64, error) {
	r, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []int64
	for r.Next() {
		var v int64
		if err := r.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, r.Err()
}

// indexBatch is how many people one transaction of RefreshPeopleIndex indexes: short enough that
// webhooks (SQLite's one writer) wait little behind it.
const indexBatch = 500

// RefreshPeopleIndex indexes every person whose last sync is newer than their index (a sync that
// did not call IndexPerson, or people synced before the index existed), a batch per transaction,
// and returns how many people it indexed. A database of 50,000 people synced before the upgrade
// is indexed once, on the first read. (The rows of a person merged away go with the person: the
// index tables cascade on delete.)
func (s *Store) RefreshPeopleIndex(ctx context.Context) (int, error) {
	ids, err := s.int64Column(ctx, "SELECT id FROM people WHERE indexed_at <> synced_at ORDER BY id")
	if err != nil {
		return 0, fmt.Errorf("finding people to index: %w", err)
	}
	for i := 0; i < len(ids); i += indexBatch {
		batch := ids[i:min(i+indexBatch, len(ids))]
		if err := s.InTx(ctx, func(tx *Tx) error { return tx.indexPeople(ctx, batch) }); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// IndexPerson indexes the person's plans and entitled Circle access groups from the desired
// state and billing snapshot their last sync saved. The sync calls it after SaveSyncResult; a
// person it missed is indexed before the next read (RefreshPeopleIndex).
func (s *Store) IndexPerson(ctx context.Context, personID int64) error {
	return s.InTx(ctx, func(tx *Tx) error { return tx.indexPeople(ctx, []int64{personID}) })
}

// indexSource is what a person's index is built from.
type indexSource struct {
	id                         int64
	desired, billing           string
	syncedAt, indexedAt, since int64
}

// indexPeople builds the index rows of the people among ids whose index is stale, and moves their
// indexed_at to the synced_at it read them at. The rows read stay this transaction's until it
// commits (SQLite has one writer; PostgreSQL locks them), so two instances indexing at once do not
// both write, and a sync saved meanwhile waits and leaves the person to index again. A batch
// costs a fixed number of statements, whatever its size.
func (tx *Tx) indexPeople(ctx context.Context, ids []int64) error {
	in, idArgs := inList(ids)
	q := "SELECT id, desired, billing, synced_at, indexed_at, created_at FROM people WHERE indexed_at <> synced_at AND id IN " + in
	if tx.s.dialect == Postgres {
		q += " FOR UPDATE" // another instance indexing them waits, then finds them indexed
	}
	r, err := tx.query(ctx, q, idArgs...)
	if err != nil {
		return fmt.Errorf("indexing people: %w", err)
	}
	var srcs []indexSource
	for r.Next() {
		var src indexSource
		if err := r.Scan(&src.id, &src.desired, &src.billing, &src.syncedAt, &src.indexedAt, &src.since); err != nil {
			r.Close()
			return err
		}
		srcs = append(srcs, src)
	}
	r.Close()
	if err := r.Err(); err != nil || len(srcs) == 0 {
		return err
	}
	// The rows are this transaction's (SQLite's write lock; PostgreSQL's row locks, taken by the
	// read), so synced_at is still what was read.
	claimed := make([]int64, len(srcs))
	for i, src := range srcs {
		claimed[i] = src.id
	}
	cin, cargs := inList(claimed)
	if _, err := tx.exec(ctx, "UPDATE people SET indexed_at = synced_at WHERE id IN "+cin, cargs...); err != nil {
		return fmt.Errorf("indexing people: %w", err)
	}
	var seen []int64 // people indexed before: their old rows go
	for _, src := range srcs {
		if src.indexedAt >= 0 {
			seen = append(seen, src.id)
		}
	}
	prev, err := tx.s.planStandings(ctx, tx, seen)
	if err != nil {
		return err
	}
	prevGroups, err := tx.accessGroups(ctx, seen)
	if err != nil {
		return err
	}
	// Only the people whose rows differ are rewritten: most syncs (a repeated event, a renewal)
	// change nothing here, and a burst of them should not rewrite the index of each.
	var planRows, groupRows []any
	var rewrite []int64 // indexed before and changed: their old rows go
	for _, src := range srcs {
		plans, groups := indexRows(src.desired, src.billing, fromMicros(src.syncedAt), fromMicros(src.since), src.indexedAt > 0, prev[src.id])
		if src.indexedAt >= 0 {
			if samePlans(plans, prev[src.id]) && slices.Equal(sortedIDs(groups), prevGroups[src.id]) {
				continue
			}
			rewrite = append(rewrite, src.id)
		}
		for _, p := range plans {
			planRows = append(planRows, src.id, p.PlanID, p.Stage, p.Entitled, t0(p.StartedAt), t0(p.LapsedAt))
		}
		for _, g := range groups {
			groupRows = append(groupRows, src.id, g)
		}
	}
	if len(rewrite) > 0 {
		old, oldArgs := inList(rewrite)
		for _, table := range []string{"person_plans", "person_access"} {
			if _, err := tx.exec(ctx, "DELETE FROM "+table+" WHERE person_id IN "+old, oldArgs...); err != nil {
				return fmt.Errorf("indexing people: %w", err)
			}
		}
	}
	if err := tx.insertRows(ctx, "person_plans (person_id, plan_id, stage, entitled, started_at, lapsed_at)", 6, planRows); err != nil {
		return fmt.Errorf("indexing people: %w", err)
	}
	if err := tx.insertRows(ctx, "person_access (person_id, group_id)", 2, groupRows); err != nil {
		return fmt.Errorf("indexing people: %w", err)
	}
	return nil
}

// accessGroups returns the indexed access groups of the people, by person, sorted.
func (tx *Tx) accessGroups(ctx context.Context, ids []int64) (map[int64][]int64, error) {
	out := map[int64][]int64{}
	if len(ids) == 0 {
		return out, nil
	}
	in, args := inList(ids)
	r, err := tx.query(ctx, "SELECT person_id, group_id FROM person_access WHERE person_id IN "+in+" ORDER BY person_id, group_id", args...)
	if err != nil {
		return nil, fmt.Errorf("reading access groups: %w", err)
	}
	defer r.Close()
	for r.Next() {
		var pid, g int64
		if err := r.Scan(&pid, &g); err != nil {
			return nil, err
		}
		out[pid] = append(out[pid], g)
	}
	return out, r.Err()
}

// samePlans reports whether two people's plan rows are the same, in any order.
func samePlans(a, b []PlanStanding) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(p PlanStanding) string {
		return fmt.Sprintf("%s|%s|%t|%d|%d", p.PlanID, p.Stage, p.Entitled, t0(p.StartedAt), t0(p.LapsedAt))
	}
	ka, kb := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		ka[i], kb[i] = key(a[i]), key(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// sortedIDs returns a sorted copy of ids (nil for none, as accessGroups gives).
func sortedIDs(ids []int64) []int64 {
	if len(ids) == 0 {
		return nil
	}
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// insertRows inserts the rows (width values each, flattened) into table, several per statement.
func (tx *Tx) insertRows(ctx context.Context, table string, width int, values []any) error {
	const perStatement = 200
	row := "(?" + strings.Repeat(", ?", width-1) + ")"
	for len(values) > 0 {
		n := min(len(values)/width, perStatement)
		if _, err := tx.exec(ctx, "INSERT INTO "+table+" VALUES "+strings.TrimSuffix(strings.Repeat(row+",", n), ","), values[:n*width]...); err != nil {
			return err
		}
		values = values[n*width:]
	}
	return nil
}

// inList returns "(?, ?, …)" for ids and the ids as arguments.
func inList(ids []int64) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(?" + strings.Repeat(",?", len(ids)-1) + ")", args
}

// indexRows derives a person's index from the saved desired state and billing snapshot (both
// JSON, "" before the first sync; unreadable JSON indexes nothing). prev is the previous index,
// observed whether it was built from an earlier sync: a plan that granted access in prev and no
// longer does lapsed at this sync (or when Stripe says the subscription ended), and a plan whose
// start the snapshot does not date (a source other than Stripe) started at the sync that first
// showed it, or, with nothing earlier observed, when the person was first seen.
func indexRows(desiredJSON, billingJSON string, syncedAt, createdAt time.Time, observed bool, prev []PlanStanding) ([]PlanStanding, []int64) {
	if desiredJSON == "" {
		return nil, nil
	}
	var d entitlement.Desired
	if err := json.Unmarshal([]byte(desiredJSON), &d); err != nil {
		return nil, nil
	}
	var b entitlement.Billing
	if billingJSON != "" {
		_ = json.Unmarshal([]byte(billingJSON), &b) // unreadable: no dates from Stripe, the fallbacks apply
	}
	before := map[string]PlanStanding{}
	for _, p := range prev {
		before[p.PlanID] = p
	}
	var plans []PlanStanding
	for _, ps := range d.Plans {
		if ps.Stage == entitlement.StageNone || ps.Stage == "" {
			continue
		}
		p := PlanStanding{PlanID: ps.PlanID, Stage: string(ps.Stage), Entitled: ps.Entitled}
		old, had := before[ps.PlanID]
		switch {
		case !entitlement.SourceStarted(b, ps.Source).IsZero():
			p.StartedAt = entitlement.SourceStarted(b, ps.Source)
		case had && !old.StartedAt.IsZero():
			p.StartedAt = old.StartedAt
		case observed:
			p.StartedAt = syncedAt
		default:
			p.StartedAt = createdAt
		}
		ended := entitlement.SourceEnded(b, ps.Source, syncedAt)
		switch {
		case p.Entitled:
		case had && old.Entitled && !ended.IsZero():
			p.LapsedAt = ended
		case had && old.Entitled:
			p.LapsedAt = syncedAt
		case had:
			p.LapsedAt = old.LapsedAt
		default:
			p.LapsedAt = ended
		}
		plans = append(plans, p)
	}
	return plans, d.AccessGroups
}

// PlanStageCount is how many people hold a plan in one stage.
type PlanStageCount struct {
	PlanID   string
	Stage    string
	Entitled bool
	People   int
	// New counts those whose plan began since the window's start (and granted access at some point).
	New int
	// Churned counts those whose plan stopped granting access since the window's start.
	Churned int
}

// Membership is the overview's count of members by plan and stage.
type Membership struct {
	// Counts has one row per plan, stage and entitlement held by anyone, ordered by plan and stage.
	Counts []PlanStageCount
	// Members is how many people hold at least one plan that grants access.
	Members int
	// New is how many people's first plan (that granted access) began since the window's start.
	New int
	// Churned is how many people lost access since the window's start and hold no plan now.
	Churned int
}

// Membership counts the people of each plan and stage, and the people who became members or
// stopped being members since since. It first brings the index up to date.
func (s *Store) Membership(ctx context.Context, since time.Time) (Membership, error) {
	var m Membership
	if _, err := s.RefreshPeopleIndex(ctx); err != nil {
		return m, err
	}
	at := micros(since)
	r, err := s.query(ctx, `SELECT pp.plan_id, pp.stage, pp.entitled, COUNT(*),
			COALESCE(SUM(CASE WHEN pp.started_at >= ? AND (pp.entitled = TRUE OR pp.lapsed_at > 0) THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN pp.entitled = FALSE AND pp.lapsed_at >= ? THEN 1 ELSE 0 END), 0)
		FROM person_plans pp GROUP BY pp.plan_id, pp.stage, pp.entitled ORDER BY pp.plan_id, pp.stage, pp.entitled`, at, at)
	if err != nil {
		return m, fmt.Errorf("counting members: %w", err)
	}
	for r.Next() {
		var c PlanStageCount
		if err := r.Scan(&c.PlanID, &c.Stage, &c.Entitled, &c.People, &c.New, &c.Churned); err != nil {
			r.Close()
			return m, err
		}
		m.Counts = append(m.Counts, c)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return m, err
	}
	err = s.queryRow(ctx, `SELECT COALESCE(SUM(CASE WHEN x.entitled > 0 THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN x.first_start >= ? THEN 1 ELSE 0 END), 0),
			COALESCE(SUM(CASE WHEN x.entitled = 0 AND x.last_lapse >= ? THEN 1 ELSE 0 END), 0)
		FROM (SELECT pp.person_id,
				SUM(CASE WHEN pp.entitled = TRUE THEN 1 ELSE 0 END) AS entitled,
				MIN(CASE WHEN pp.started_at > 0 AND (pp.entitled = TRUE OR pp.lapsed_at > 0) THEN pp.started_at END) AS first_start,
				MAX(pp.lapsed_at) AS last_lapse
			FROM person_plans pp GROUP BY pp.person_id) x`, at, at).Scan(&m.Members, &m.New, &m.Churned)
	if err != nil {
		return m, fmt.Errorf("counting members: %w", err)
	}
	return m, nil
}

// IndexedPlans returns the plan ids anyone holds in the index, sorted: a plan removed from the
// config still names its former members.
func (s *Store) IndexedPlans(ctx context.Context) ([]string, error) {
	return s.textColumn(ctx, "SELECT DISTINCT plan_id FROM person_plans ORDER BY plan_id")
}
