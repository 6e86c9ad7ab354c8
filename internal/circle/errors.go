package circle

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/membersync/membersync/internal/provider"
)

// maxErrorText bounds each part of a parsed error so that a huge answer cannot flood a log line.
const maxErrorText = 300

// maxErrorDepth bounds how deep parseError descends into nested error_details.
const maxErrorDepth = 4

// apiError is Circle's error answer {success:false, message, error_details}, flattened to text.
type apiError struct {
	// Message is the top-level message (or the "errors"/"error" key some answers use instead).
	Message string
	// Details is error_details flattened: a string as is, an object's "message" or its key: value
	// pairs, an array's elements joined with "; ", null as "".
	Details string
}

// String returns the message and the details in one line, without repeating either.
func (e apiError) String() string {
	switch {
	case e.Details == "" || e.Details == e.Message:
		return e.Message
	case e.Message == "":
		return e.Details
	default:
		return e.Message + " (" + e.Details + ")"
	}
}

// missingRecord returns what a 404 says is missing, lowercased, such as "access group" or
// "access group community member" for "Missing record: access group community member"; "" when
// the answer does not say.
func (e apiError) missingRecord() string {
	const marker = "missing record:"
	for _, s := range []string{e.Details, e.Message} {
		l := strings.ToLower(s)
		if i := strings.Index(l, marker); i >= 0 {
			thing := l[i+len(marker):]
			if j := strings.IndexAny(thing, ";()"); j >= 0 {
				thing = thing[:j]
			}
			return strings.TrimSpace(strings.TrimRight(strings.TrimSpace(thing), "."))
		}
	}
	return ""
}

// saysAlready reports whether the answer says the change was already made ("already a member").
func (e apiError) saysAlready() bool {
	return strings.Contains(strings.ToLower(e.Message+" "+e.Details), "already")
}

// parseError reads Circle's error body. It never fails: a body that is not a JSON object becomes the
// Message, shortened.
func parseError(body []byte) apiError {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return apiError{Message: plainText(body)}
	}
	var e apiError
	for _, key := range []string{"message", "errors", "error"} {
		if e.Message = clip(flatten(fields[key])); e.Message != "" {
			break
		}
	}
	e.Details = clip(flatten(fields["error_details"]))
	return e
}

// flatten renders any JSON value as one line of text.
func flatten(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return ""
	}
	return flattenValue(v, 0)
}

func flattenValue(v any, depth int) string {
	if depth > maxErrorDepth {
		return ""
	}
	switch x := v.(type) {
	case string:
		return strings.Join(strings.Fields(x), " ")
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case []any:
		var parts []string
		for _, el := range x {
			if s := flattenValue(el, depth+1); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	case map[string]any:
		if s := flattenValue(x["message"], depth+1); s != "" {
			return s
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			if s := flattenValue(x[k], depth+1); s != "" {
				parts = append(parts, k+": "+s)
			}
		}
		return strings.Join(parts, "; ")
	}
	return "" // nil
}

// plainText renders the start of a body that is not Circle's JSON (an HTML error page from a proxy,
// say) as one line.
func plainText(body []byte) string {
	if len(body) > 4*maxErrorText {
		body = body[:4*maxErrorText]
	}
	return clip(strings.Join(strings.Fields(strings.ToValidUTF8(string(body), "\uFFFD")), " "))
}

// clip shortens s to maxErrorText bytes without splitting a UTF-8 sequence.
func clip(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	cut := maxErrorText
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// Circle's member limits. POST /community_members answers 403 when the community may not take one
// more member: "Daily member limit exceeded." (a cap on new members per day) or a message about the
// plan's member cap ("You have reached the member limit for your plan…"), both documented with an
// "errors" key instead of "message". Neither is a bad token, so neither is provider.Config: each is
// provider.Limit, with RetryAfter set to when trying again is worth a request.
const (
	// dailyLimitMargin is how long after 00:00 UTC membersync tries again after the daily member
	// limit. Circle does not document when its day resets; membersync assumes midnight UTC, plus a
	// minute so that a clock slightly ahead of Circle's does not find the old day's limit still in
	// force and wait a whole day more.
	dailyLimitMargin = time.Minute
	// planLimitRetry is how long membersync waits after the plan's member cap: it lifts only when
	// the founder upgrades the plan or removes members, and one try a day costs next to nothing.
	planLimitRetry = 24 * time.Hour
)

// memberLimit is which of Circle's member limits a 403 names.
type memberLimit int

const (
	noMemberLimit    memberLimit = iota
	dailyMemberLimit             // "Daily member limit exceeded."
	planMemberLimit              // "You have reached the member limit for your plan…"
)

// memberLimit reads which member limit the answer names, wherever Circle put the text (message,
// errors or error_details).
func (e apiError) memberLimit() memberLimit {
	s := strings.ToLower(e.Message + " " + e.Details)
	if !strings.Contains(s, "limit") || !strings.Contains(s, "member") {
		return noMemberLimit
	}
	if strings.Contains(s, "daily") || strings.Contains(s, "per day") {
		return dailyMemberLimit
	}
	return planMemberLimit
}

// nextDailyReset returns when membersync tries again after the daily member limit answered at now:
// the next 00:01 UTC (see dailyLimitMargin).
func nextDailyReset(now time.Time) time.Time {
	u := now.UTC()
	at := time.Date(u.Year(), u.Month(), u.Day(), 0, 0, 0, 0, time.UTC).Add(dailyLimitMargin)
	if !at.After(u) {
		at = at.AddDate(0, 0, 1)
	}
	return at
}

// failMember is failStatus for an answer to a member create: a 403 that names one of Circle's member
// limits is a provider.Limit whose message says what it means and when membersync tries again;
// every other answer (a 403 "not eligible for admin API v2 access" and a 401 included) keeps the
// Kind its status implies.
func (c *Client) failMember(op string, resp *provider.Response) *provider.Error {
	pe := c.failStatus(op, resp)
	if resp.Status != http.StatusForbidden {
		return pe
	}
	said := pe.Message
	switch parseError(resp.Body).memberLimit() {
	case dailyMemberLimit:
		now := time.Now()
		if c.http.Now != nil {
			now = c.http.Now()
		}
		pe.Kind = provider.Limit
		pe.RetryAfter = nextDailyReset(now).Sub(now)
		pe.Message = "Circle's daily limit on new members is reached; membersync tries again after 00:00 UTC (Circle does not document when its day resets)"
	case planMemberLimit:
		pe.Kind = provider.Limit
		pe.RetryAfter = planLimitRetry
		pe.Message = "the community reached its Circle plan's member cap; membersync tries again in 24 h, and the cap lifts when the plan is upgraded or members are removed"
	default:
		return pe
	}
	if said != "" {
		pe.Message += ` (Circle: "` + said + `")`
	}
	return pe
}
