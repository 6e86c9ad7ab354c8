package kit

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/budget"
	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// TagOrCreate spends one call on a subscriber Kit already has and three on one it does not, whichever
// of 404 or 422 Kit answers an unknown address with (its documentation does not say).
func TestTagOrCreate(t *testing.T) {
	t.Parallel()
	const tagEP, upsertEP = "POST /v4/tags/{tag_id}/subscribers", "POST /v4/subscribers"
	for _, tc := range []struct {
		name      string
		unknown   int    // kittest.Options.UnknownEmailStatus
		existing  bool   // Kit has the subscriber before the call
		tagged    bool   // ... and it already holds the tag
		email     string // default ada@example.com
		unknownID bool   // tag an id Kit does not have
		wantCalls map[string]int
		wantNew   bool
		wantAdded bool
		wantErr   string // the failed call's Operation
		wantKind  provider.Kind
	}{
		{name: "subscriber on the list", existing: true,
			wantCalls: map[string]int{tagEP: 1}, wantAdded: true},
		{name: "subscriber already tagged", existing: true, tagged: true,
			wantCalls: map[string]int{tagEP: 1}},
		{name: "new subscriber, Kit answers 404", unknown: http.StatusNotFound,
			wantCalls: map[string]int{tagEP: 2, upsertEP: 1}, wantNew: true, wantAdded: true},
		{name: "new subscriber, Kit answers 422", unknown: http.StatusUnprocessableEntity,
			wantCalls: map[string]int{tagEP: 2, upsertEP: 1}, wantNew: true, wantAdded: true},
		{name: "unknown tag", unknownID: true,
			wantCalls: map[string]int{tagEP: 2, upsertEP: 1}, wantNew: true, wantErr: tagOp, wantKind: provider.NotFound},
		{name: "address Kit refuses", email: "not-an-address",
			wantCalls: map[string]int{tagEP: 1, upsertEP: 1}, wantErr: "upsert_subscriber", wantKind: provider.Permanent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t, kittest.Options{UnknownEmailStatus: tc.unknown}, Config{})
			ctx := context.Background()
			email := tc.email
			if email == "" {
				email = "ada@example.com"
			}
			tag := e.fake.CreateTag("buyer")
			var before kittest.Subscriber
			if tc.existing {
				before = e.fake.CreateSubscriber(email, "Ada from the list")
			}
			if tc.tagged {
				if err := e.fake.TagDirect(tag, email); err != nil {
					t.Fatal(err)
				}
			}
			if tc.unknownID {
				tag = 999_999
			}
			e.fake.Faults.ResetCalls()

			sub, created, added, err := e.kit.TagOrCreate(ctx, tag, email, "Ada")
			if got := e.fake.Faults.AllCalls(); !maps.Equal(got, tc.wantCalls) {
				t.Errorf("calls %v, want %v", got, tc.wantCalls)
			}
			if tc.wantErr != "" {
				var pe *provider.Error
				if !errors.As(err, &pe) || pe.Operation != tc.wantErr || pe.Kind != tc.wantKind {
					t.Fatalf("err = %v, want a %s error of %s", err, tc.wantKind, tc.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if created != tc.wantNew || added != tc.wantAdded {
				t.Errorf("created %v, added %v; want %v, %v", created, added, tc.wantNew, tc.wantAdded)
			}
			now, ok := e.fake.Subscriber(email)
			if !ok {
				if sub.ID != 0 {
					t.Errorf("subscriber %d returned, and Kit has none", sub.ID)
				}
				return
			}
			if sub.ID != now.ID {
				t.Errorf("subscriber id %d, want Kit's %d (it links the person, also after a failed tag)", sub.ID, now.ID)
			}
			if tc.existing && (now.ID != before.ID || now.FirstName != before.FirstName) {
				t.Errorf("subscriber %+v after the call, want %+v untouched", now, before)
			}
			if tc.wantNew && now.FirstName != "Ada" {
				t.Errorf("new subscriber named %q, want %q", now.FirstName, "Ada")
			}
			if tc.wantErr == "" && !slices.Contains(e.fake.TagsOf(email), tag) {
				t.Errorf("tags %v, want %d", e.fake.TagsOf(email), tag)
			}
			if d := e.fake.DuplicateEntries(); len(d) != 0 {
				t.Errorf("duplicates: %v", d)
			}
		})
	}
}

// A transient failure of the first tag is not taken for an unknown address: nothing is created.
func TestTagOrCreateTransientFailureCreatesNothing(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{MaxRetries: -1})
	tag := e.fake.CreateTag("buyer")
	e.fake.Faults.FailNext(1, providertest.Fault{Status: http.StatusServiceUnavailable})
	_, created, _, err := e.kit.TagOrCreate(context.Background(), tag, "bo@example.com", "Bo")
	wantKind(t, err, provider.Transient, http.StatusServiceUnavailable)
	if created || e.fake.Faults.TotalCalls() != 1 {
		t.Errorf("created %v after %d calls; want nothing created after 1", created, e.fake.Faults.TotalCalls())
	}
	if _, ok := e.fake.Subscriber("bo@example.com"); ok {
		t.Error("a 503 made TagOrCreate create the subscriber")
	}
}

// An OAuth token is sent as a bearer token instead of the API key and has Kit's 600 per 60 s: the
// 121st request, which an API key would see refused, passes, and the 601st is refused.
func TestOAuthTokenHasTheOAuthLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{OAuthToken: kittest.DefaultOAuthToken, APIKey: "not-the-key", MaxRetries: -1})
	ctx := context.Background()
	for i := range kittest.DefaultOAuthRateLimit {
		if _, err := e.kit.Tags(ctx); err != nil {
			t.Fatalf("request %d with the OAuth token: %v", i+1, err)
		}
	}
	_, err := e.kit.Tags(ctx)
	wantKind(t, err, provider.RateLimited, http.StatusTooManyRequests)
}

func TestBadOAuthTokenIsConfig(t *testing.T) {
	t.Parallel()
	const token = "expired-oauth-token-456"
	e := setup(t, kittest.Options{}, Config{OAuthToken: token})
	_, _, err := e.kit.UpsertSubscriber(context.Background(), "fi@example.com", "")
	wantKind(t, err, provider.Config, http.StatusUnauthorized)
	if strings.Contains(err.Error(), token) {
		t.Errorf("error %q reveals the token", err)
	}
}

func TestRateFollowsTheCredential(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cfg  Config
		want budget.Rate
	}{
		{"API key, default", Config{APIKey: "k"}, budget.Rate{PerMinute: 100, Burst: 10}},
		{"API key, 110", Config{APIKey: "k", RequestsPerMinute: 110}, budget.Rate{PerMinute: 110, Burst: 10}},
		{"OAuth token, default", Config{OAuthToken: "t"}, budget.Rate{PerMinute: 500, Burst: 50}},
		{"OAuth token wins over the key", Config{APIKey: "k", OAuthToken: "t", RequestsPerMinute: 590}, budget.Rate{PerMinute: 590, Burst: 10}},
	} {
		if got := New(tc.cfg).rate; got != tc.want {
			t.Errorf("%s: rate %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if Rate(0) != New(Config{}).rate || OAuthRate(0) != New(Config{OAuthToken: "t"}).rate {
		t.Error("Rate and OAuthRate must be the budgets New uses, for the shared database budget")
	}
}

func TestModes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		cfg                Config
		automation, tagged bool
	}{
		{Config{}, false, false},
		{Config{Onboarding: OnboardingAPI}, false, false},
		{Config{Onboarding: OnboardingAutomation, TagFirst: true}, true, true},
	} {
		c := New(tc.cfg)
		if c.OnboardingByAutomation() != tc.automation || c.TagFirst() != tc.tagged {
			t.Errorf("%+v: automation %v, tag first %v; want %v, %v", tc.cfg, c.OnboardingByAutomation(), c.TagFirst(), tc.automation, tc.tagged)
		}
	}
}
