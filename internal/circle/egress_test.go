package circle_test

import (
	"context"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/circle/circletest"
	"github.com/membersync/membersync/internal/egress"
	"github.com/membersync/membersync/internal/provider"
)

// resolveTo answers every lookup with one address.
type resolveTo netip.Addr

func (r resolveTo) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.Addr(r)}, nil
}

// A circle.base_url whose name resolves to a loopback address (here, where the fake listens) is
// refused at dial time: the token never leaves, the fake sees nothing, and the error is a Config
// failure that names the host and the key to change, not a transient one to retry forever.
func TestEgressRefusesABaseURLResolvingToLoopback(t *testing.T) {
	fake := circletest.New(circletest.Options{})
	defer fake.Close()
	u, _ := url.Parse(fake.URL)
	base := "http://circle.example.test:" + u.Port()
	h, err := egress.HostFromURL("circle.base_url", base, nil)
	if err != nil {
		t.Fatal(err)
	}
	h.PlainHTTP = true // a config would refuse http here; the test isolates the dial-time rule
	pol := &egress.Policy{Component: "circle", Hosts: []egress.Host{h}, Resolver: resolveTo(netip.MustParseAddr("127.0.0.1"))}
	c := circle.New(circle.Config{BaseURL: base, Token: fake.Token, MaxRetries: -1, HTTPClient: pol.Client(0)})

	_, err = c.AccessGroups(context.Background())
	if provider.KindOf(err) != provider.Config {
		t.Fatalf("kind %v, err %v", provider.KindOf(err), err)
	}
	_, msg := provider.Explain(err)
	for _, want := range []string{"circle.example.test", "127.0.0.1", "circle.base_url", "egress.private_hosts"} {
		if !strings.Contains(msg, want) {
			t.Errorf("explained %q lacks %q", msg, want)
		}
	}
	if strings.Contains(err.Error(), fake.Token) {
		t.Error("the token is in the error")
	}
	if n := fake.RequestsThisMonth(); n != 0 {
		t.Fatalf("the fake received %d requests", n)
	}

	// Listed under egress.private_hosts, the same host is reached.
	h.Private = true
	pol = &egress.Policy{Component: "circle", Hosts: []egress.Host{h}, Resolver: resolveTo(netip.MustParseAddr("127.0.0.1"))}
	c = circle.New(circle.Config{BaseURL: base, Token: fake.Token, MaxRetries: -1, HTTPClient: pol.Client(0)})
	if _, err := c.AccessGroups(context.Background()); err != nil {
		t.Fatalf("private host refused: %v", err)
	}
}
