package alert

import (
	"context"
	"strings"
)

// whatChangedRules are the rules whose problems a deploy or a config change typically causes
// (a wrong STRIPE_WEBHOOK_SECRET, a changed public_url, a rotated provider token), each with the
// words naming its problem in the sentence Evaluator.WhatChanged returns.
var whatChangedRules = map[string]func(f finding) string{
	RuleWebhookFailures: func(finding) string { return "Undelivered webhooks" },
	RuleWebhookSilence:  func(finding) string { return "The webhook silence" },
	RuleCircleFailures:  func(finding) string { return "Circle sync failures" },
	RuleCredentials: func(f finding) string {
		return providerName(f.subject) + "'s rejections of the credentials"
	},
}

// explain appends to each finding of the listed rules what changed before it began, when the
// deploy history knows: "What changed: Undelivered webhooks began 2 min after the start at 14:02
// UTC, which changed STRIPE_WEBHOOK_SECRET." The sentence depends only on the finding's start and
// the history, so it stays the same from one pass to the next.
func (e *Evaluator) explain(ctx context.Context, rule string, found []finding) []finding {
	what, ok := whatChangedRules[rule]
	if !ok || e.WhatChanged == nil {
		return found
	}
	for i, f := range found {
		if f.since.IsZero() {
			continue
		}
		if s := e.WhatChanged(ctx, what(f), f.since); s != "" {
			found[i].detail = strings.TrimSpace(f.detail + " What changed: " + s + ".")
		}
	}
	return found
}
