package billing_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/membersync/membersync/internal/billing"
	"github.com/membersync/membersync/internal/egress"
	"github.com/membersync/membersync/internal/provider"
)

// stripe-go's own client follows redirects, and would carry the Authorization header to another
// host on the same domain. Through the egress allowlist, a redirect from the Stripe base URL to a
// host nobody configured is not followed: the call fails as a Config error naming the key.
func TestRedirectToUnlistedHostIsNotFollowed(t *testing.T) {
	var stolen atomic.Int32
	evil := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { stolen.Add(1) }))
	defer evil.Close()
	stripe := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, evil.URL+r.URL.Path, http.StatusFound)
	}))
	defer stripe.Close()
	h, err := egress.HostFromURL("stripe.base_url", stripe.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	pol := &egress.Policy{Component: "stripe", Hosts: []egress.Host{h}}
	r := billing.NewReader(billing.Config{SecretKey: "rk_test_egress", BaseURL: stripe.URL, HTTPClient: pol.Client(billing.DefaultTimeout)})
	_, _, err = r.LatestEvent(context.Background())
	if provider.KindOf(err) != provider.Config || egress.Refused(err) == nil {
		t.Fatalf("kind %v, err %v", provider.KindOf(err), err)
	}
	if stolen.Load() != 0 {
		t.Fatal("the redirect was followed to an unlisted host")
	}
}
