package support

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/entitlement"
	"github.com/membersync/membersync/internal/journey"
	"github.com/membersync/membersync/internal/store"
)

// Fixes the admin offers for a diagnosis (Diagnosis.Fix).
const (
	FixRetry      = "retry"       // retry the review item Diagnosis.ReviewID
	FixResync     = "resync"      // sync the person again
	FixResend     = "resend"      // resend the community invitation (a sync that invites)
	FixStatusLink = "status_link" // mint a status link to send to the customer
	FixMerge      = "merge"       // the person paid with another email: merge or comp
)

// storyLines is how many of the journey's sentences a diagnosis quotes.
const storyLines = 3

// standing is one person's state as a diagnosis reads it from their journey.
type standing struct {
	j        *journey.Journey
	desired  *entitlement.Desired
	bought   []entitlement.PlanState // plans with a stage other than none
	entitled []entitlement.PlanState
	open     []store.ReviewItem // open review items, oldest first
	held     map[int64]time.Time
	story    journey.Story
}

// paid reports whether the person ever bought (or was comped) a plan, or a payment was seen and
// not synced yet.
func (s *standing) paid() bool {
	return len(s.bought) > 0 || s.desired == nil && len(s.j.Person.CustomerIDs) > 0
}

func (t *Triage) stand(ctx context.Context, personID int64) (*standing, error) {
	j, err := journey.Load(ctx, t.Store, personID)
	if err != nil {
		return nil, fmt.Errorf("reading the journey of person %d: %w", personID, err)
	}
	s := &standing{j: j, held: map[int64]time.Time{}}
	s.desired, _ = j.Desired() // unreadable: told as not synced yet
	if s.desired != nil {
		for _, p := range s.desired.Plans {
			if p.Stage == entitlement.StageNone {
				continue
			}
			s.bought = append(s.bought, p)
			if p.Entitled {
				s.entitled = append(s.entitled, p)
			}
		}
	}
	for _, r := range j.Reviews {
		if r.Status == "open" {
			s.open = append(s.open, r)
		}
	}
	slices.SortFunc(s.open, func(a, b store.ReviewItem) int { return a.CreatedAt.Compare(b.CreatedAt) })
	for _, a := range j.Applied {
		if a.Provider == store.ProviderCircle && a.Kind == store.KindAccessGroup {
			if at, ok := s.held[a.TargetID]; !ok || a.AppliedAt.Before(at) {
				s.held[a.TargetID] = a.AppliedAt
			}
		}
	}
	s.story = j.Story(t.Plans, t.Names, t.now())
	return s, nil
}

// diagnose writes the diagnosis of a message of category about the people m found.
func (t *Triage) diagnose(ctx context.Context, m match, category string) (Diagnosis, error) {
	var sender, other *standing
	var err error
	if m.sender != 0 {
		if sender, err = t.stand(ctx, m.sender); err != nil && !errors.Is(err, store.ErrNotFound) {
			return Diagnosis{}, err
		}
	}
	if m.other != 0 {
		if other, err = t.stand(ctx, m.other); err != nil && !errors.Is(err, store.ErrNotFound) {
			return Diagnosis{}, err
		}
	}
	var d Diagnosis
	switch {
	case (sender == nil || !sender.paid()) && other != nil && other.paid():
		d = t.anotherEmail(m, sender, other)
	case sender == nil || !sender.paid():
		d = t.noPayment(sender, category)
		if other != nil {
			d.Lines = append(d.Lines, fmt.Sprintf("The message also names %s (person #%d), who has no payment either.", m.otherBy, m.other))
		}
	default:
		d = t.paidDiagnosis(sender, category)
		if other != nil {
			d.Lines = append(d.Lines, fmt.Sprintf("The message also names %s, which belongs to another person (#%d): check they are not the same customer.", m.otherBy, m.other))
			d.OtherPersonID = m.other
		}
	}
	for _, f := range m.found {
		d.Lines = append(d.Lines, "The message names "+f+", which membersync does not know.")
	}
	return d, nil
}

// noPayment is the diagnosis of a sender with no payment on record.
func (t *Triage) noPayment(s *standing, category string) Diagnosis {
	d := Diagnosis{Summary: "No payment found for this email: membersync knows no purchase, subscription or comp for the sender.",
		Action: "no payment found for this email: ask for the receipt (or the email they paid with)"}
	if s != nil {
		d.Summary = fmt.Sprintf("No payment found for this email: person #%d has no plan.", s.j.Person.ID)
		d.Lines = append(d.Lines, s.storyTail()...)
	}
	if category == CategoryRefund || category == CategoryBilling {
		d.Lines = append(d.Lines, "A charge membersync does not know may be from another Stripe account or another product.")
	}
	return d
}

// anotherEmail is the diagnosis of a message whose sender has no payment but names someone who paid.
func (t *Triage) anotherEmail(m match, sender, other *standing) Diagnosis {
	d := Diagnosis{Fix: FixMerge, OtherPersonID: m.other,
		Summary: fmt.Sprintf("The sender's email has no payment, but the message names %s (person #%d), who has %s.",
			m.otherBy, m.other, t.planWords(other)),
		Action: fmt.Sprintf("paid with another email: %s — merge or comp?", m.otherBy)}
	if sender != nil {
		d.Lines = append(d.Lines, fmt.Sprintf("The sender is person #%d, with no plan.", sender.j.Person.ID))
	}
	d.Lines = append(d.Lines, "Circle and Kit use the email paid with: the sender can sign in with "+m.otherBy+
		", or be comped the plan under the email they wrote from.")
	d.Lines = append(d.Lines, other.storyTail()...)
	return d
}

// paidDiagnosis is the diagnosis of a sender who paid.
func (t *Triage) paidDiagnosis(s *standing, category string) Diagnosis {
	paid := t.planWords(s)
	var d Diagnosis
	switch {
	case s.desired == nil:
		d = Diagnosis{Fix: FixResync, Summary: "A payment was received but membersync has not synced this person yet: no access granted.",
			Action: "not synced yet: press Resync, then send the Circle sign-in link"}
	case len(s.entitled) == 0:
		d = t.lapsed(s, paid)
	case len(s.open) > 0:
		it := s.open[0]
		for _, r := range s.open { // a Circle item first: Circle is what "cannot access" is about
			if strings.HasPrefix(r.ActionKey, "circle") || r.Kind == "circle_member_limit" {
				it = r
				break
			}
		}
		title, action := journey.ReviewOf(it, catalog.Or(t.Names))
		what := grantWords(it)
		since := t.clock(it.CreatedAt)
		d = Diagnosis{Fix: FixRetry, ReviewID: it.ID,
			Summary: fmt.Sprintf("Paid: %s; %s failing since %s: %s.", paid, what, since, lowerFirst(title)),
			Action:  fmt.Sprintf("%s failing since %s: review item #%d, Retry", upperFirst(what), since, it.ID)}
		line := fmt.Sprintf("Review item #%d (%s): %s", it.ID, it.Kind, it.Reason)
		if it.LastError != "" {
			line += "; last error: " + clip(it.LastError, 300)
		}
		d.Lines = append(d.Lines, line+".", action)
		if n := len(s.open) - 1; n > 0 {
			d.Lines = append(d.Lines, fmt.Sprintf("%d more review item(s) are open for this person.", n))
		}
	case s.j.Sync.Error != "":
		d = Diagnosis{Fix: FixResync,
			Summary: fmt.Sprintf("Paid: %s; the last sync failed and membersync is retrying: %s.", paid, clip(s.j.Sync.Error, 200)),
			Action:  "sync retrying: wait for the retry, or press Resync once the cause is fixed"}
	case s.j.Person.SyncedGeneration < s.j.Person.Generation:
		d = Diagnosis{Summary: fmt.Sprintf("Paid: %s; a sync is under way and will grant what is missing.", paid),
			Action: "access is being granted now: wait a minute, then send the Circle sign-in link"}
	default:
		missing := t.missingGroups(s)
		if len(missing) > 0 {
			d = Diagnosis{Fix: FixResync,
				Summary: fmt.Sprintf("Paid: %s; Circle has not confirmed %s.", paid, strings.Join(missing, ", ")),
				Action:  "Circle access not confirmed: press Resync"}
			break
		}
		granted := t.grantedWords(s)
		switch category {
		case CategoryWelcomeEmail:
			d = Diagnosis{Fix: FixResend, Summary: fmt.Sprintf("Paid: %s; %s. Nothing is wrong on membersync's side.", paid, granted),
				Action: "nothing wrong: resend the invitation (and ask them to look in spam for Circle's email)"}
		case CategoryBilling, CategoryRefund:
			d = Diagnosis{Fix: FixStatusLink, Summary: fmt.Sprintf("Paid: %s; %s.", paid, granted),
				Action: "access is fine: answer the " + strings.ReplaceAll(category, "_", " ") + " question from Stripe" + customerWords(s)}
			if category == CategoryRefund {
				d.Action = "access is fine: refund in Stripe if you agree" + customerWords(s) + "; membersync revokes access when Stripe reports the refund"
			}
		default:
			d = Diagnosis{Fix: FixStatusLink, Summary: fmt.Sprintf("Paid: %s; %s. Nothing is wrong on membersync's side.", paid, granted),
				Action: "nothing wrong: send the Circle sign-in link"}
		}
	}
	for _, p := range s.bought {
		if p.Explanation != "" {
			d.Lines = append(d.Lines, t.planName(p.PlanID)+": "+ensureStop(p.Explanation))
		}
	}
	d.Lines = append(d.Lines, s.storyTail()...)
	return d
}

// lapsed is the diagnosis of someone who bought but holds no plan granting access now.
func (t *Triage) lapsed(s *standing, paid string) Diagnosis {
	stages := map[entitlement.Stage]bool{}
	for _, p := range s.bought {
		stages[p.Stage] = true
	}
	switch {
	case stages[entitlement.StagePastDue] || stages[entitlement.StageGraceExpired] || stages[entitlement.StageUnpaid] ||
		stages[entitlement.StageIncomplete] || stages[entitlement.StagePaused]:
		return Diagnosis{Fix: FixStatusLink, Summary: fmt.Sprintf("Bought %s; no access now because the payment is failing.", paid),
			Action: "payment failing: send the status link so they update their card"}
	case stages[entitlement.StageRefunded]:
		return Diagnosis{Summary: fmt.Sprintf("Bought %s; no access because the payment was refunded.", paid),
			Action: "refunded: no access is expected; they can buy again"}
	case stages[entitlement.StageDisputed]:
		return Diagnosis{Summary: fmt.Sprintf("Bought %s; no access while the payment is disputed (a chargeback).", paid),
			Action: "chargeback open: answer the dispute in Stripe before granting anything"}
	}
	return Diagnosis{Summary: fmt.Sprintf("Bought %s; it no longer grants access.", paid),
		Action: "their plan ended: offer to resubscribe, or comp if you promised access"}
}

// grantWords names what an open review item blocks: "Circle grant", "Kit tag", "sync".
func grantWords(it store.ReviewItem) string {
	prov, rest, _ := strings.Cut(it.ActionKey, ":")
	switch {
	case prov == "circle" && (rest == "" || strings.Contains(rest, "access_group") || strings.Contains(rest, "member")):
		return "Circle grant"
	case prov == "circle":
		return "Circle"
	case prov == "kit":
		return "Kit"
	case prov == "stripe":
		return "reading Stripe"
	case it.Kind == "circle_member_limit":
		return "Circle grant"
	}
	return "sync"
}

// planWords says what a person bought: "Pro (active), Course (refunded)".
func (t *Triage) planWords(s *standing) string {
	if len(s.bought) == 0 {
		if s.desired == nil && len(s.j.Person.CustomerIDs) > 0 {
			return "a payment not synced yet"
		}
		return "no plan"
	}
	parts := make([]string, len(s.bought))
	for i, p := range s.bought {
		parts[i] = fmt.Sprintf("%s (%s)", t.planName(p.PlanID), strings.ReplaceAll(string(p.Stage), "_", " "))
	}
	return strings.Join(parts, ", ")
}

func (t *Triage) planName(id string) string {
	for _, p := range t.Plans {
		if p.ID == id && p.Name != "" {
			return p.Name
		}
	}
	return id
}

// missingGroups names the Circle groups the plans grant that Circle has not confirmed.
func (t *Triage) missingGroups(s *standing) []string {
	var out []string
	for _, g := range s.desired.AccessGroups {
		if _, ok := s.held[g]; !ok {
			out = append(out, catalog.Or(t.Names).AccessGroup(g))
		}
	}
	return out
}

// grantedWords says when Circle access was granted: "Circle access granted 3 Dec 10:02".
func (t *Triage) grantedWords(s *standing) string {
	if len(s.desired.AccessGroups) == 0 {
		return "their plans grant no Circle group"
	}
	var first time.Time
	for _, g := range s.desired.AccessGroups {
		if at := s.held[g]; first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return "Circle access granted " + t.clock(first)
}

// customerWords names the person's Stripe customers: " (customer cus_…)".
func customerWords(s *standing) string {
	if len(s.j.Person.CustomerIDs) == 0 {
		return ""
	}
	return " (customer " + strings.Join(s.j.Person.CustomerIDs, ", ") + ")"
}

// storyTail is the last sentences of the person's story: how they got here.
func (s *standing) storyTail() []string {
	var out []string
	lines := s.story.Lines
	var told []journey.Line
	for _, l := range lines {
		if l.Text != "This needs you." && l.Text != "Nothing needs you." { // the diagnosis says what to do
			told = append(told, l)
		}
	}
	for _, l := range told[max(0, len(told)-storyLines):] {
		out = append(out, l.Text)
	}
	return out
}

// clock words an instant for support: "10:02" today, "3 Dec 10:02" before, in UTC.
func (t *Triage) clock(at time.Time) string {
	if at.IsZero() {
		return "an unknown time"
	}
	now := t.now().UTC()
	at = at.UTC()
	if at.Year() == now.Year() && at.YearDay() == now.YearDay() {
		return at.Format("15:04") + " UTC"
	}
	if at.Year() == now.Year() {
		return at.Format("2 Jan 15:04") + " UTC"
	}
	return at.Format("2 Jan 2006 15:04") + " UTC"
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// lowerFirst lowercases the first letter unless the sentence starts with a proper name.
func lowerFirst(s string) string {
	for _, proper := range []string{"Circle", "Kit", "Stripe", "A provider"} {
		if strings.HasPrefix(s, proper) {
			if proper == "A provider" {
				return "a provider" + s[len(proper):]
			}
			return s
		}
	}
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func ensureStop(s string) string {
	if s == "" || strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}
