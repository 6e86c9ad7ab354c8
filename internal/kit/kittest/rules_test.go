package kittest

import (
	"strings"
	"testing"
)

// Kit documents that tagging or adding to a sequence by email needs an existing subscriber, but not
// how it answers an address it does not know: the fake answers 404 by default and 422 when asked, and
// creates no subscriber either way. The tag answer names the subscriber, as Kit documents.
func TestUnknownEmailStatus(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int // Options.UnknownEmailStatus
		want   int
	}{{0, 404}, {404, 404}, {422, 422}, {500, 404}} {
		s, _ := start(t, Options{UnknownEmailStatus: tc.status})
		tag, seq := s.CreateTag("buyer"), s.CreateSequence("welcome", true)
		for _, path := range []string{"/v4/tags/" + jsonInt(tag) + "/subscribers", "/v4/sequences/" + jsonInt(seq) + "/subscribers"} {
			if a := call(t, s, "POST", path, `{"email_address":"nobody@example.com"}`); a.status != tc.want || !strings.Contains(a.body, `"errors"`) {
				t.Errorf("option %d: POST %s for an unknown address = %d %s, want %d in Kit's error shape", tc.status, path, a.status, a.body, tc.want)
			}
		}
		if _, ok := s.Subscriber("nobody@example.com"); ok {
			t.Errorf("option %d: the fake created a subscriber; Kit v4 does not", tc.status)
		}
		sub := s.CreateSubscriber("ola@example.com", "")
		a := call(t, s, "POST", "/v4/tags/"+jsonInt(tag)+"/subscribers", `{"email_address":"ola@example.com"}`)
		if a.status != 201 || !strings.Contains(a.body, `"id":`+jsonInt(sub.ID)) {
			t.Errorf("option %d: tag answer %d %s, want 201 naming subscriber %d", tc.status, a.status, a.body, sub.ID)
		}
	}
}

// A "Tag added" rule enrolls a subscriber the API newly tags, once, in its active sequences; a tag
// already held, a manual tag (TagDirect) and an inactive sequence enroll nobody.
func TestRules(t *testing.T) {
	t.Parallel()
	s, _ := start(t, Options{})
	active, other := s.CreateTag("pro-active"), s.CreateTag("other")
	welcome, paused := s.CreateSequence("welcome", true), s.CreateSequence("paused", false)
	if !s.AddRule(active, welcome) || !s.AddRule(active, paused) {
		t.Fatal("AddRule refused existing ids")
	}
	if s.AddRule(active, 999_999) || s.AddRule(999_999, welcome) {
		t.Error("AddRule accepted an unknown id")
	}
	s.CreateSubscriber("ola@example.com", "")
	s.CreateSubscriber("per@example.com", "")
	tagPath := func(tag int64) string { return "/v4/tags/" + jsonInt(tag) + "/subscribers" }

	call(t, s, "POST", tagPath(other), `{"email_address":"ola@example.com"}`)
	if got := s.SequencesOf("ola@example.com"); len(got) != 0 {
		t.Errorf("another tag enrolled ola in %v", got)
	}
	for range 2 {
		call(t, s, "POST", tagPath(active), `{"email_address":"ola@example.com"}`)
	}
	if got := s.SequencesOf("ola@example.com"); len(got) != 1 || got[0] != welcome {
		t.Errorf("ola's sequences %v, want [%d] (the active one, once)", got, welcome)
	}
	if err := s.TagDirect(active, "per@example.com"); err != nil {
		t.Fatal(err)
	}
	if got := s.SequencesOf("per@example.com"); len(got) != 0 {
		t.Errorf("a manual tag enrolled per in %v", got)
	}
	var ruled int
	for _, m := range s.Faults.Mutations() {
		if m.Endpoint == ruleEndpoint {
			ruled++
		}
	}
	if ruled != 1 {
		t.Errorf("%d rule mutations, want 1", ruled)
	}
}
