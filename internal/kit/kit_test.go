package kit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/kit/kittest"
	"github.com/membersync/membersync/internal/provider"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// recorder keeps every Call a client reports.
type recorder struct {
	mu    sync.Mutex
	calls []provider.Call
}

func (r *recorder) observe(c provider.Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, c)
}

func (r *recorder) all() []provider.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

type env struct {
	fake  *kittest.Server
	kit   *Client
	clock *providertest.Clock
	rec   *recorder
}

// setup starts a fake Kit and a client for it. Unless cfg says otherwise the client's own throttle
// is set far above Kit's limit, so that only the tests about throttling meet it.
func setup(t *testing.T, opts kittest.Options, cfg Config) *env {
	t.Helper()
	e := &env{clock: providertest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), rec: &recorder{}}
	if opts.Now == nil {
		opts.Now = e.clock.Now
	}
	e.fake = kittest.New(opts)
	t.Cleanup(e.fake.Close)
	if cfg.BaseURL == "" {
		cfg.BaseURL = e.fake.URL
	}
	if cfg.APIKey == "" {
		cfg.APIKey = kittest.DefaultAPIKey
	}
	if cfg.RequestsPerMinute == 0 {
		cfg.RequestsPerMinute = 600_000
	}
	if cfg.Now == nil {
		cfg.Now = e.clock.Now
	}
	cfg.Observer = e.rec.observe
	e.kit = New(cfg)
	return e
}

func wantKind(t *testing.T, err error, kind provider.Kind, status int) *provider.Error {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a *provider.Error of kind %s", err, kind)
	}
	if pe.Kind != kind || pe.Status != status {
		t.Fatalf("err = %v: kind %s status %d, want kind %s status %d", err, pe.Kind, pe.Status, kind, status)
	}
	return pe
}

func mutationsOf(f *providertest.Faults, endpoint string) int {
	n := 0
	for _, m := range f.Mutations() {
		if m.Endpoint == endpoint {
			n++
		}
	}
	return n
}

func TestUpsertSubscriberTwice(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	ctx := context.Background()

	first, created, err := e.kit.UpsertSubscriber(ctx, "Ann.Lee+x@Example.com", "Ann")
	if err != nil || !created {
		t.Fatalf("first upsert: created %v, err %v; want created", created, err)
	}
	second, created, err := e.kit.UpsertSubscriber(ctx, "ann.lee+x@example.com", "Annie")
	if err != nil || created {
		t.Fatalf("second upsert: created %v, err %v; want existing", created, err)
	}
	if first.ID == 0 || second.ID != first.ID {
		t.Errorf("ids = %d, %d; want one non-zero id", first.ID, second.ID)
	}
	if second.FirstName != "Annie" || second.State != "active" || second.Email != "ann.lee+x@example.com" {
		t.Errorf("second = %+v, want first name Annie, active, normalized email", second)
	}
	if got := len(e.fake.Subscribers()); got != 1 {
		t.Errorf("fake holds %d subscribers, want 1", got)
	}
	if got := e.fake.AlreadyAnswers()["POST /v4/subscribers"]; got != 1 {
		t.Errorf("already answers = %d, want 1", got)
	}
	if d := e.fake.DuplicateEntries(); len(d) != 0 {
		t.Errorf("duplicates: %v", d)
	}
	var statuses []int
	for _, c := range e.rec.all() {
		statuses = append(statuses, c.Status)
	}
	if want := []int{201, 200}; !slices.Equal(statuses, want) {
		t.Errorf("statuses = %v, want %v", statuses, want)
	}
}

func TestFindSubscriber(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	ctx := context.Background()
	e.fake.CreateSubscriber("gone@example.com", "Gone")
	e.fake.Unsubscribe("gone@example.com")

	got, err := e.kit.FindSubscriber(ctx, "Gone@Example.com")
	if err != nil {
		t.Fatalf("find cancelled subscriber: %v", err)
	}
	if got.State != "cancelled" || got.FirstName != "Gone" {
		t.Errorf("got %+v, want the cancelled subscriber (status=all)", got)
	}
	_, err = e.kit.FindSubscriber(ctx, "nobody@example.com")
	wantKind(t, err, provider.NotFound, 0)
}

func TestUpdateSubscriberEmail(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	ctx := context.Background()
	a := e.fake.CreateSubscriber("old@example.com", "")
	e.fake.CreateSubscriber("taken@example.com", "")

	if err := e.kit.UpdateSubscriberEmail(ctx, a.ID, "new@example.com"); err != nil {
		t.Fatalf("update: %v", err)
	}
	if got, ok := e.fake.Subscriber("new@example.com"); !ok || got.ID != a.ID {
		t.Errorf("new@ = %+v, %v; want subscriber %d", got, ok, a.ID)
	}
	pe := wantKind(t, e.kit.UpdateSubscriberEmail(ctx, a.ID, "taken@example.com"), provider.Permanent, 422)
	if !strings.Contains(pe.Message, "already been taken") {
		t.Errorf("message = %q, want Kit's error text", pe.Message)
	}
	wantKind(t, e.kit.UpdateSubscriberEmail(ctx, 999_999, "x@example.com"), provider.NotFound, 404)
}

func TestTagSubscriberTwice(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	ctx := context.Background()
	tag := e.fake.CreateTag("member")
	if _, _, err := e.kit.UpsertSubscriber(ctx, "bo@example.com", ""); err != nil {
		t.Fatal(err)
	}

	for i, want := range []bool{true, false} {
		added, err := e.kit.TagSubscriber(ctx, tag, "bo@example.com")
		if err != nil || added != want {
			t.Fatalf("tag #%d: added %v, err %v; want added %v", i+1, added, err, want)
		}
	}
	const ep = "POST /v4/tags/{tag_id}/subscribers"
	if got := e.fake.TagsOf("bo@example.com"); !slices.Equal(got, []int64{tag}) {
		t.Errorf("tags = %v, want [%d]", got, tag)
	}
	if calls, muts := e.fake.Faults.Calls(ep), mutationsOf(e.fake.Faults, ep); calls != 2 || muts != 1 {
		t.Errorf("calls %d, mutations %d; want 2 calls and 1 mutation", calls, muts)
	}
	if got := e.fake.AlreadyAnswers()[ep]; got != 1 {
		t.Errorf("already answers = %d, want 1", got)
	}
	if d := e.fake.DuplicateEntries(); len(d) != 0 {
		t.Errorf("duplicates: %v", d)
	}
}

func TestTagUnknownSubscriber(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	tag := e.fake.CreateTag("member")
	_, err := e.kit.TagSubscriber(context.Background(), tag, "ghost@example.com")
	wantKind(t, err, provider.NotFound, 404)
	if _, ok := e.fake.Subscriber("ghost@example.com"); ok {
		t.Error("tagging created a subscriber; Kit v4 does not")
	}
}

func TestUntagTwice(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	ctx := context.Background()
	tag := e.fake.CreateTag("member")
	if err := e.fake.TagDirect(tag, "cy@example.com"); err != nil {
		t.Fatal(err)
	}
	sub, _ := e.fake.Subscriber("cy@example.com")

	for i := range 2 {
		if err := e.kit.UntagSubscriber(ctx, tag, sub.ID); err != nil {
			t.Fatalf("untag #%d: %v", i+1, err)
		}
	}
	if got := e.fake.TagsOf("cy@example.com"); len(got) != 0 {
		t.Errorf("tags = %v, want none", got)
	}
	var statuses []int
	for _, c := range e.rec.all() {
		statuses = append(statuses, c.Status)
	}
	if want := []int{204, 404}; !slices.Equal(statuses, want) {
		t.Errorf("statuses = %v, want %v (the second untag is already done)", statuses, want)
	}
}

func TestAddToSequenceTwice(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	ctx := context.Background()
	seq := e.fake.CreateSequence("onboarding", true)
	e.fake.CreateSubscriber("di@example.com", "")

	for i, want := range []bool{true, false} {
		added, err := e.kit.AddToSequence(ctx, seq, "di@example.com")
		if err != nil || added != want {
			t.Fatalf("add #%d: added %v, err %v; want added %v", i+1, added, err, want)
		}
	}
	if got := e.fake.SequencesOf("di@example.com"); !slices.Equal(got, []int64{seq}) {
		t.Errorf("sequences = %v, want [%d]", got, seq)
	}
	if got := mutationsOf(e.fake.Faults, "POST /v4/sequences/{id}/subscribers"); got != 1 {
		t.Errorf("mutations = %d, want 1", got)
	}
}

func TestAddToInactiveSequence(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	seq := e.fake.CreateSequence("paused", false)
	e.fake.CreateSubscriber("ed@example.com", "")

	_, err := e.kit.AddToSequence(context.Background(), seq, "ed@example.com")
	pe := wantKind(t, err, provider.Permanent, 422)
	if pe.Message != "Sequence is inactive" {
		t.Errorf("message = %q, want %q", pe.Message, "Sequence is inactive")
	}
	if got := e.fake.Faults.Calls("POST /v4/sequences/{id}/subscribers"); got != 1 {
		t.Errorf("calls = %d, want 1 (a permanent failure is not retried)", got)
	}
}

func TestBadKeyIsConfig(t *testing.T) {
	t.Parallel()
	const key = "wrong-secret-key-123"
	e := setup(t, kittest.Options{}, Config{APIKey: key})
	_, _, err := e.kit.UpsertSubscriber(context.Background(), "fi@example.com", "")
	pe := wantKind(t, err, provider.Config, 401)
	if pe.Message != "The access token is invalid" {
		t.Errorf("message = %q, want Kit's", pe.Message)
	}
	if strings.Contains(err.Error(), key) {
		t.Errorf("error %q reveals the API key", err)
	}
	if got := e.fake.Faults.TotalCalls(); got != 1 {
		t.Errorf("calls = %d, want 1 (a config failure is not retried)", got)
	}
}

func TestKitRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{MaxRetries: -1})
	ctx := context.Background()

	for i := range 120 {
		if _, err := e.kit.Tags(ctx); err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
	}
	_, err := e.kit.Tags(ctx)
	pe := wantKind(t, err, provider.RateLimited, 429)
	// Kit sends no Retry-After: the client pauses for Kit's 60 s window and asks the job to wait as long.
	if pe.Message != "Retry later" || pe.RetryAfter != RateLimitWindow {
		t.Errorf("message %q, retry after %s; want %q and %s", pe.Message, pe.RetryAfter, "Retry later", RateLimitWindow)
	}
	calls := e.fake.Faults.TotalCalls()
	if _, err := e.kit.Tags(ctx); provider.KindOf(err) != provider.RateLimited || e.fake.Faults.TotalCalls() != calls {
		t.Errorf("during the pause: %v, and %d more calls reached Kit; want a local refusal", err, e.fake.Faults.TotalCalls()-calls)
	}
	if !provider.Retryable(err) {
		t.Error("a 429 is not retryable")
	}

	e.clock.Advance(61 * time.Second)
	if _, err := e.kit.Tags(ctx); err != nil {
		t.Errorf("after the window: %v", err)
	}
}

func TestRateLimitRespectsMaxWait(t *testing.T) {
	t.Parallel()
	// Backoff(1) is at least 100 ms, longer than MaxWait: the 429 comes back at once, so that the
	// job snoozes instead of holding a worker.
	e := setup(t, kittest.Options{}, Config{MaxRetries: 2, MaxWait: 50 * time.Millisecond})
	e.fake.Faults.FailNext(5, providertest.Fault{Status: 429})
	_, err := e.kit.Tags(context.Background())
	wantKind(t, err, provider.RateLimited, 429)
	if got := e.fake.Faults.TotalCalls(); got != 1 {
		t.Errorf("calls = %d, want 1", got)
	}
}

func TestThrottleKeepsBurstUnderKitLimit(t *testing.T) {
	t.Parallel()
	// The default bucket lets through its burst at once and then one request per 600 ms. A MaxWait
	// of 1 ns turns every wait into an immediate local RateLimited failure, so that the requests
	// reaching the fake measure the bucket. The bound allows for refill during however long the
	// run took, so a slow machine cannot make it fail.
	e := setup(t, kittest.Options{RateLimit: -1}, Config{RequestsPerMinute: DefaultRequestsPerMinute, MaxWait: time.Nanosecond})
	if b, r := e.kit.rate.Burst, e.kit.rate.PerMinute; b+r > keyLimitPerMinute {
		t.Fatalf("burst %d + a minute at %d/min exceeds Kit's %d per minute", b, r, keyLimitPerMinute)
	}
	const workers, each = 8, 25
	began := time.Now()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		refused int
	)
	for range workers {
		wg.Go(func() {
			for range each {
				_, err := e.kit.Tags(context.Background())
				if err == nil {
					continue
				}
				var pe *provider.Error
				if !errors.As(err, &pe) || pe.Kind != provider.RateLimited || pe.Status != 0 {
					t.Errorf("err = %v, want a local RateLimited refusal", err)
				}
				mu.Lock()
				refused++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	refill := int(time.Since(began).Seconds()*float64(e.kit.rate.PerMinute)/60) + 1
	reached := e.fake.Faults.TotalCalls()
	burst := e.kit.rate.Burst
	if reached < burst || reached > burst+refill {
		t.Errorf("%d requests reached Kit, want the burst of %d (+%d for refill while running)", reached, burst, refill)
	}
	if reached+refused != workers*each {
		t.Errorf("reached %d + refused %d != %d", reached, refused, workers*each)
	}
}

func TestBurst(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ rpm, limit, want int }{
		{100, keyLimitPerMinute, 10}, {60, keyLimitPerMinute, 6}, {115, keyLimitPerMinute, 5},
		{120, keyLimitPerMinute, 1}, {600_000, keyLimitPerMinute, 1}, {5, keyLimitPerMinute, 1},
		{500, oauthLimitPerMinute, 50}, {580, oauthLimitPerMinute, 20}, {600, oauthLimitPerMinute, 1},
	} {
		if got := burst(tc.rpm, tc.limit); got != tc.want {
			t.Errorf("burst(%d, %d) = %d, want %d", tc.rpm, tc.limit, got, tc.want)
		}
	}
}

func TestRetriesTransientFailure(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{MaxRetries: 2})
	e.fake.Faults.FailNext(2, providertest.Fault{Status: 503})

	_, created, err := e.kit.UpsertSubscriber(context.Background(), "gil@example.com", "")
	if err != nil || !created {
		t.Fatalf("upsert: created %v, err %v; want created after retries", created, err)
	}
	var got []string
	for _, c := range e.rec.all() {
		got = append(got, fmt.Sprintf("%d:%d", c.Attempt, c.Status))
	}
	if want := []string{"1:503", "2:503", "3:201"}; !slices.Equal(got, want) {
		t.Errorf("attempts = %v, want %v", got, want)
	}
	if n := len(e.fake.Subscribers()); n != 1 {
		t.Errorf("subscribers = %d, want 1", n)
	}
}

func TestTransientFailureExhaustsRetries(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{MaxRetries: 1})
	e.fake.Faults.FailNext(2, providertest.Fault{Status: 500})
	_, err := e.kit.Tags(context.Background())
	pe := wantKind(t, err, provider.Transient, 500)
	if pe.Message != "Internal Server Error" {
		t.Errorf("message = %q, want the text of Kit's errors array", pe.Message)
	}
}

func TestTagSubscribersPagination(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	tag := e.fake.CreateTag("member")
	want := map[int64]bool{}
	for i := range 2500 {
		email := fmt.Sprintf("m%04d@example.com", i)
		if err := e.fake.TagDirect(tag, email); err != nil {
			t.Fatal(err)
		}
		s, _ := e.fake.Subscriber(email)
		want[s.ID] = true
	}
	e.fake.TagDirect(e.fake.CreateTag("other"), "outsider@example.com")

	got := map[int64]bool{}
	var sizes []int
	after := ""
	for {
		page, err := e.kit.TagSubscribers(context.Background(), tag, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.Subscribers))
		for _, s := range page.Subscribers {
			if got[s.ID] {
				t.Errorf("subscriber %d on two pages", s.ID)
			}
			got[s.ID] = true
		}
		if !page.HasNextPage {
			break
		}
		if len(sizes) > 5 {
			t.Fatal("pagination does not end")
		}
		after = page.EndCursor
	}
	if !slices.Equal(sizes, []int{1000, 1000, 500}) {
		t.Errorf("page sizes = %v, want [1000 1000 500]", sizes)
	}
	if len(got) != len(want) {
		t.Errorf("listed %d subscribers, want %d", len(got), len(want))
	}
	for id := range want {
		if !got[id] {
			t.Errorf("subscriber %d missing from the listing", id)
			break
		}
	}
	if n := e.fake.Faults.Calls("GET /v4/tags/{tag_id}/subscribers"); n != 3 {
		t.Errorf("calls = %d, want 3", n)
	}
}

func TestTagsAllPages(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	for i := range 1200 {
		e.fake.CreateTag(fmt.Sprintf("tag %d", i))
	}
	tags, err := e.kit.Tags(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 1200 || tags[0].Name != "tag 0" || tags[1199].Name != "tag 1199" {
		t.Errorf("got %d tags (%v … %v), want 1200 in order", len(tags), tags[0], tags[len(tags)-1])
	}
	if n := e.fake.Faults.Calls("GET /v4/tags"); n != 2 {
		t.Errorf("calls = %d, want 2", n)
	}
}

func TestObserverSeesEveryCallWithoutEmails(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	ctx := context.Background()
	tag := e.fake.CreateTag("member")
	seq := e.fake.CreateSequence("onboarding", true)
	const email = "secret.person@example.com"

	sub, _, err := e.kit.UpsertSubscriber(ctx, email, "")
	if err != nil {
		t.Fatal(err)
	}
	mustNil := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = e.kit.FindSubscriber(ctx, email)
	mustNil(err)
	_, err = e.kit.TagSubscriber(ctx, tag, email)
	mustNil(err)
	_, err = e.kit.AddToSequence(ctx, seq, email)
	mustNil(err)
	_, err = e.kit.TagSubscribers(ctx, tag, "", 10)
	mustNil(err)
	mustNil(e.kit.UntagSubscriber(ctx, tag, sub.ID))
	mustNil(e.kit.UpdateSubscriberEmail(ctx, sub.ID, "other.person@example.com"))

	calls := e.rec.all()
	var got []string
	for _, c := range calls {
		got = append(got, c.Operation+" "+c.Target)
		for _, s := range []string{c.Target, c.Path} {
			if strings.Contains(s, "@") || strings.Contains(s, "person") || strings.Contains(s, "%40") {
				t.Errorf("call %s reveals an email: %q", c.Operation, s)
			}
		}
		if c.Provider != "kit" || c.Attempt != 1 || c.Started.IsZero() {
			t.Errorf("call %+v: want provider kit, attempt 1, a start time", c)
		}
	}
	h := emailTarget(email)
	want := []string{
		"upsert_subscriber " + h,
		"find_subscriber " + h,
		fmt.Sprintf("tag_subscriber tag:%d", tag),
		fmt.Sprintf("add_to_sequence sequence:%d", seq),
		fmt.Sprintf("list_tag_subscribers tag:%d", tag),
		fmt.Sprintf("untag_subscriber tag:%d subscriber:%d", tag, sub.ID),
		fmt.Sprintf("update_subscriber_email subscriber:%d", sub.ID),
	}
	if !slices.Equal(got, want) {
		t.Errorf("calls =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := e.fake.Faults.TotalCalls(); n != len(calls) {
		t.Errorf("fake saw %d calls, observer %d", n, len(calls))
	}
	if emailTarget("Secret.Person@Example.com ") != h {
		t.Error("the email target does not use the normalized email")
	}
}

func TestTransportErrorHidesEmail(t *testing.T) {
	t.Parallel()
	dead := httptest.NewServer(http.NotFoundHandler())
	base := dead.URL
	dead.Close()
	e := setup(t, kittest.Options{}, Config{BaseURL: base, MaxRetries: -1})

	_, err := e.kit.FindSubscriber(context.Background(), "hidden@example.com")
	wantKind(t, err, provider.Transient, 0)
	for _, s := range []string{err.Error(), fmt.Sprint(e.rec.all()[0].Err)} {
		if strings.Contains(s, "hidden") {
			t.Errorf("error %q reveals the email", s)
		}
	}
}

func TestRedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, e.fake.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	c := New(Config{BaseURL: redirect.URL, APIKey: kittest.DefaultAPIKey, RequestsPerMinute: 600_000})

	_, err := c.Tags(context.Background())
	wantKind(t, err, provider.Permanent, 307)
	if n := e.fake.Faults.TotalCalls(); n != 0 {
		t.Errorf("the redirect reached the fake %d times with the key", n)
	}
}

func TestEmptyEmailIsRefusedLocally(t *testing.T) {
	t.Parallel()
	e := setup(t, kittest.Options{}, Config{})
	_, err := e.kit.TagSubscriber(context.Background(), 1, "  ")
	wantKind(t, err, provider.Permanent, 0)
	if n := e.fake.Faults.TotalCalls(); n != 0 {
		t.Errorf("calls = %d, want 0", n)
	}
}
