package alert

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/membersync/membersync/internal/store"
)

// RuleCircleMemberLimit fires while Circle refuses new members because the community reached its
// daily limit on new members or its plan's member cap: while any review item of that kind (the sync
// engine opens one per person it could not add) is open. However many people wait, it is one alert;
// it resolves when the last item does (each resolves when a later sync of its person succeeds).
const RuleCircleMemberLimit = "circle_member_limit"

// ownAlertKinds are the review kinds that have an alert of their own, which the review-age rule
// leaves out: a founder hears about each problem once.
var ownAlertKinds = []string{RuleCredentials, RuleCircleMemberLimit}

// circleMemberLimit reports the people Circle refused to add because of a member limit.
func (e *Evaluator) circleMemberLimit(ctx context.Context, now time.Time) ([]finding, error) {
	groups, err := e.Store.OpenReviewsByProvider(ctx, RuleCircleMemberLimit)
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 {
		return nil, nil
	}
	var people int
	var since time.Time
	var personID int64
	lastError := ""
	for i, g := range groups { // one group in practice: the action key is "circle"
		people += g.People
		if i == 0 || g.Since.Before(since) {
			since = g.Since
		}
		if lastError == "" {
			lastError = g.LastError
		}
	}
	if len(groups) == 1 {
		personID = groups[0].PersonID
	}
	detail := fmt.Sprintf("Circle refused to add %s: the community reached its daily limit on new members (or its plan's member cap). "+
		"This is not a token problem. membersync retries automatically after the limit lifts (the daily limit after 00:00 UTC; Circle does not document when its day resets), "+
		"and this alert resolves once everyone is in. If it happens on every launch, upgrade the Circle plan.",
		plural(people, "new member", "new members"))
	if lastError != "" {
		detail += " Last error: " + clip(redact(lastError), 300) + "."
	}
	return []finding{{
		title:    "Circle refused new members: the community reached a member limit",
		detail:   detail,
		since:    since,
		affected: people,
		link:     e.personOr(personID, pageReview),
	}}, nil
}

// openReviewStats is store.OpenReviewStats of the items created before t, leaving out every kind of
// ownAlertKinds. The store leaves out one kind (credentials); while member-limit items are open,
// the open items are read and summarized here instead.
func (e *Evaluator) openReviewStats(ctx context.Context, before time.Time) (store.ReviewStats, error) {
	st, err := e.Store.OpenReviewStats(ctx, before, RuleCredentials)
	if err != nil || st.Items == 0 {
		return st, err
	}
	limited, err := e.Store.OpenReviewsByProvider(ctx, RuleCircleMemberLimit)
	if err != nil || len(limited) == 0 {
		return st, err
	}
	items, err := e.Store.Reviews(ctx, "open", 0, 0)
	if err != nil {
		return store.ReviewStats{}, err
	}
	st = store.ReviewStats{}
	people := map[int64]bool{}
	var minPID, maxPID int64
	for _, it := range items {
		if !it.CreatedAt.Before(before) || slices.Contains(ownAlertKinds, it.Kind) {
			continue
		}
		if st.Items == 0 || it.PersonID < minPID {
			minPID = it.PersonID
		}
		if st.Items == 0 || it.PersonID > maxPID {
			maxPID = it.PersonID
		}
		if it.PersonID != 0 {
			people[it.PersonID] = true
		}
		if st.Items == 0 || it.CreatedAt.Before(st.Oldest.CreatedAt) || it.CreatedAt.Equal(st.Oldest.CreatedAt) && it.ID < st.Oldest.ID {
			st.Oldest = it
		}
		st.Items++
	}
	st.People = len(people)
	if st.Items > 0 && minPID == maxPID {
		st.PersonID = minPID
	}
	return st, nil
}
