package kit

import (
	"context"
	"errors"
	"net/http"

	"github.com/membersync/membersync/internal/provider"
)

// Kit calls per purchase: what Kit API v4 allows, from its documentation as read for issue 16 (the
// README's "Kit calls per purchase" section has the measured figures and the trade-offs).
//
//   - Tag by email, POST /v4/tags/{tag_id}/subscribers, does not create the subscriber: "The
//     subscriber being tagged must already exist. Subscribers can be created using the Create a
//     subscriber endpoint" (developers.kit.com/api-reference/tags/tag-a-subscriber-by-email-address).
//     It answers 201 tagged or 200 already tagged, each with the subscriber (its id) in the body; 404
//     "when the provided id does not exist"; 422 when the email is missing. Not documented: which of
//     404 or 422 an address Kit does not know gets. TagOrCreate treats either as "create, then tag
//     again". (v3's POST /v3/tags/{id}/subscribe created subscribers; v4 does not.)
//   - Add to sequence by email, POST /v4/sequences/{id}/subscribers, does not create one either: "The
//     subscriber being added to the sequence must already exist"
//     (developers.kit.com/api-reference/sequences/add-subscriber-to-sequence-by-email-address).
//   - Create a subscriber, POST /v4/subscribers, is an upsert (201 created, 200 existed and only
//     first_name changes) and takes neither tags nor sequences
//     (developers.kit.com/api-reference/subscribers/create-a-subscriber). So with an API key a person
//     Kit does not know costs at least two calls: create, then tag.
//   - A Kit automation rule has the trigger "Tag added" and the action "Subscribe to a sequence"
//     (help.kit.com/en/articles/6611507-how-to-create-and-manage-automation-rules-in-kit); a visual
//     automation has the entry point "Tag is added" and exists to "automate the process of adding
//     subscribers to Sequences" (help.kit.com/en/articles/5523023). That is Config.Onboarding =
//     OnboardingAutomation: the plan's tag, applied only once Circle confirmed access, starts the
//     onboarding sequence and saves the sequence call. Not documented by Kit: that a tag added
//     through the API fires a rule (a third-party guide says rules fire on automated events and not
//     on manual edits), nor what a rule does for a subscriber already in, or done with, the sequence.
//   - OAuth: "OAuth 2.0 for apps available for all creators in the Kit App Store; API keys for
//     automating simple tools and integrations for your own account"; "to set this up in your Kit
//     account, first you have to create an app and turn on API access"
//     (developers.kit.com/api-reference/authentication). Building an app is "completely self-serve
//     ... build, test, and publish an app in your Kit account" (help.kit.com/en/articles/9427685),
//     and Kit recommends testing on "an unpublished test version of the app"
//     (developers.kit.com/kit-app-store/managing-your-apps). The authorization-code flow
//     (https://api.kit.com/v4/oauth/authorize?client_id=…&response_type=code&redirect_uri=…, then the
//     token endpoint with the client id and secret) returns access_token, expires_in and
//     refresh_token; the examples show expires_in 172800 (two days) for the code and 7200 for a
//     refresh (developers.kit.com/api-reference/oauth-refresh-token-flow). So a founder can authorize
//     their own account through an unpublished app of their own: documented as the way to test an
//     app, not as a production use. An OAuth access token gets 600 requests per 60 s, an API key 120,
//     "for each" credential (developers.kit.com/api-reference/rate-limits); nothing there exempts an
//     unpublished app. This client takes such a token (Config.OAuthToken) but does not refresh it.
//   - Bulk (OAuth only): POST /v4/bulk/tags/subscribers takes {tag_id, subscriber_id} pairs of
//     subscribers that "must already exist" (POST /v4/bulk/subscribers creates them); up to 100 are
//     processed synchronously (200 with subscribers and failures), more asynchronously (202, the
//     result POSTed to a callback_url); 413 when the account's queued bulk data is over its limit
//     (developers.kit.com/api-reference/bulk-and-async-processing). membersync does not use them: a
//     sync converges one person and records a grant only once Kit confirmed it; a bulk call would
//     need a batcher across people's syncs (see the README).

// TagOrCreate tags the subscriber with email with tag tagID, creating the subscriber first when Kit
// does not know the email (firstName then names it; an existing subscriber's name is left alone). It
// returns the subscriber, whose ID links the person, whether Kit created it, and whether the tag is
// new. It costs one call for a subscriber Kit already has and three for one it does not (tag,
// create, tag again), where UpsertSubscriber then TagSubscriber cost two either way.
//
// Kit does not document whether it answers an unknown email 404 or 422; either one leads to the
// create. On an error, sub is the subscriber when Kit created or found it before the failure, so that
// the caller can link it; the error's Operation says which call failed (upsert_subscriber or
// tag_subscriber).
func (c *Client) TagOrCreate(ctx context.Context, tagID int64, email, firstName string) (sub Subscriber, created, added bool, err error) {
	sub, added, err = c.tagByEmail(ctx, tagID, email)
	switch {
	case err == nil && sub.ID != 0:
		return sub, false, added, nil
	case err == nil:
		// Tagged, but the answer did not name the subscriber (Kit documents that it does): find it.
		sub, err = c.FindSubscriber(ctx, email)
		return sub, false, added, err
	case !unknownSubscriber(err):
		return Subscriber{}, false, false, err
	}
	sub, created, err = c.UpsertSubscriber(ctx, email, firstName)
	if err != nil {
		return Subscriber{}, false, false, err
	}
	_, added, err = c.tagByEmail(ctx, tagID, email)
	return sub, created, added, err
}

// unknownSubscriber reports whether a tag-by-email error may mean that Kit has no subscriber with
// the address: a 404, or a 422 (the address is not empty: checkEmail refused that before the call).
func unknownSubscriber(err error) bool {
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Operation != tagOp {
		return false
	}
	return pe.Status == http.StatusNotFound || pe.Status == http.StatusUnprocessableEntity
}
