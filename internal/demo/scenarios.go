package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/provider/providertest"
)

// Player acts scenarios out against a running membersync.
type Player struct {
	World      *World
	WebhookURL string
	// Speed divides every pause (1 = watchable, 100 = tests).
	Speed float64
	Out   io.Writer
	// Settle waits until membersync has synced every trigger.
	Settle func(ctx context.Context) error
	// Resync enqueues a sync of the customer's person, as a timer or an operator would.
	Resync func(ctx context.Context, customerID string) error
	// Welcome receives the Checkout Session id of the first subscription bought through Checkout.
	Welcome func(sessionID, email string)
	// Done is told when a scenario converged as intended; may be nil.
	Done func(s Scenario)
}

// Scenario is one customer journey and what membersync must have made of it.
type Scenario struct {
	Name  string
	Title string
	// People are the emails of the scenario's customers (the demo prints a status link for each).
	People []string
	Run    func(ctx context.Context, p *Player) error
	// Check verifies the end state in the fakes once everything settled.
	Check func(p *Player) error
}

func (p *Player) say(format string, args ...any) {
	fmt.Fprintf(p.Out, "  "+format+"\n", args...)
}

func (p *Player) pause(ctx context.Context, d time.Duration) error {
	speed := p.Speed
	if speed <= 0 {
		speed = 1
	}
	t := time.NewTimer(time.Duration(float64(d) / speed))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// send delivers the new events and waits for membersync to settle.
func (p *Player) send(ctx context.Context, opts stripetest.DeliveryOptions) error {
	if err := p.World.Deliver(ctx, p.WebhookURL, opts); err != nil {
		return err
	}
	return p.Settle(ctx)
}

// Play runs the scenarios in order, printing what happens, and checks each one's outcome.
func (p *Player) Play(ctx context.Context, scenarios []Scenario) error {
	var failed []string
	for i, s := range scenarios {
		fmt.Fprintf(p.Out, "\n▶ %d/%d %s — %s\n", i+1, len(scenarios), s.Name, s.Title)
		if err := s.Run(ctx, p); err != nil {
			return fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		if err := p.Settle(ctx); err != nil {
			return fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		if err := s.Check(p); err != nil {
			failed = append(failed, s.Name)
			fmt.Fprintf(p.Out, "  ✗ %v\n", err)
			continue
		}
		fmt.Fprintf(p.Out, "  ✓ converged as intended\n")
		if p.Done != nil {
			p.Done(s)
		}
		if err := p.pause(ctx, 1500*time.Millisecond); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("scenarios did not converge as intended: %s", strings.Join(failed, ", "))
	}
	return nil
}

// Find returns the scenario with the name.
func Find(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// expect compares an email's managed Circle groups and Kit tags with what a scenario intends.
func (p *Player) expect(email string, groups, tags []int64) error {
	w := p.World
	var got []int64
	for _, g := range []int64{w.ProGroup, w.CourseGroup} {
		if slices.Contains(w.Circle.GroupMemberEmails(g), email) {
			got = append(got, g)
		}
	}
	slices.Sort(groups)
	if !slices.Equal(got, groups) {
		return fmt.Errorf("%s: Circle groups %v, want %v", email, got, groups)
	}
	gotTags := slices.Sorted(slices.Values(w.Kit.TagsOf(email)))
	slices.Sort(tags)
	if !slices.Equal(gotTags, tags) {
		return fmt.Errorf("%s: Kit tags %v, want %v", email, gotTags, tags)
	}
	return nil
}

func (p *Player) inSequence(email string, seq int64) bool {
	return slices.Contains(p.World.Kit.SequencesOf(email), seq)
}

// Scenarios returns the journeys the demo plays, in order.
func Scenarios() []Scenario {
	var ids struct{ dupCalls int }
	return []Scenario{
		{
			Name: "new-subscriber", Title: "a new member subscribes to Pro through Checkout",
			People: []string{"ada@example.com"},
			Run: func(ctx context.Context, p *Player) error {
				w := p.World
				cus := w.Stripe.CreateCustomer("ada@example.com", "Ada Lovelace")
				session, _ := w.Stripe.SubscribeViaCheckout(cus, w.ProPrice, 0)
				if p.Welcome != nil {
					p.Welcome(session, "ada@example.com")
				}
				p.say("Ada pays for Pro; Stripe sends checkout.session.completed, customer.subscription.created, invoice.paid…")
				return p.send(ctx, stripetest.DeliveryOptions{})
			},
			Check: func(p *Player) error {
				w := p.World
				if err := p.expect("ada@example.com", []int64{w.ProGroup}, []int64{w.TagActive}); err != nil {
					return err
				}
				if !p.inSequence("ada@example.com", w.SeqOnboarding) {
					return errors.New("ada@example.com is not in the onboarding sequence")
				}
				p.say("Ada is in Circle's Pro group, tagged pro-active in Kit, and onboarding started after access existed")
				return nil
			},
		},
		{
			Name: "duplicate-delivery", Title: "Stripe delivers every event twice, shuffled",
			People: []string{"ben@example.com"},
			Run: func(ctx context.Context, p *Player) error {
				w := p.World
				cus := w.Stripe.CreateCustomer("ben@example.com", "Ben")
				w.Stripe.Purchase(cus, w.CoursePrice)
				p.say("Ben buys the course; each event arrives twice, out of order, four at a time")
				if err := p.send(ctx, stripetest.DeliveryOptions{}); err != nil {
					return err
				}
				ids.dupCalls = w.Circle.Faults.TotalCalls() + w.Kit.Faults.TotalCalls()
				w.Rewind()
				return p.send(ctx, stripetest.DeliveryOptions{Duplicate: true, Shuffle: true, Seed: 42, Concurrency: 4})
			},
			Check: func(p *Player) error {
				w := p.World
				if extra := w.Circle.Faults.TotalCalls() + w.Kit.Faults.TotalCalls() - ids.dupCalls; extra != 0 {
					return fmt.Errorf("redelivering every event cost %d provider calls, want 0", extra)
				}
				if d := w.Circle.DuplicateMembers(); len(d) > 0 {
					return fmt.Errorf("duplicate Circle members %v", d)
				}
				p.say("every redelivery was recognised by its event id: 0 extra Circle or Kit calls")
				return p.expect("ben@example.com", []int64{w.CourseGroup}, []int64{w.TagCourse})
			},
		},
		{
			Name: "payment-recovers", Title: "a renewal fails, then the card works within the grace period",
			People: []string{"cara@example.com"},
			Run: func(ctx context.Context, p *Player) error {
				w := p.World
				cus := w.Stripe.CreateCustomer("cara@example.com", "Cara")
				sub := w.Stripe.Subscribe(cus, w.ProPrice, 0)
				if err := p.send(ctx, stripetest.DeliveryOptions{}); err != nil {
					return err
				}
				w.Stripe.FailPayment(sub)
				p.say("Cara's renewal is declined: past_due, access kept for the 72 h grace period, tagged pro-past-due")
				if err := p.send(ctx, stripetest.DeliveryOptions{}); err != nil {
					return err
				}
				if err := p.expect("cara@example.com", []int64{w.ProGroup}, []int64{w.TagPastDue}); err != nil {
					return err
				}
				if err := p.pause(ctx, time.Second); err != nil {
					return err
				}
				w.Stripe.RecoverPayment(sub)
				p.say("Stripe's retry succeeds the next day")
				return p.send(ctx, stripetest.DeliveryOptions{})
			},
			Check: func(p *Player) error {
				return p.expect("cara@example.com", []int64{p.World.ProGroup}, []int64{p.World.TagActive})
			},
		},
		{
			Name: "payment-expires", Title: "a renewal fails and the grace period runs out",
			People: []string{"dev@example.com"},
			Run: func(ctx context.Context, p *Player) error {
				w := p.World
				cus := w.Stripe.CreateCustomer("dev@example.com", "Dev")
				sub := w.Stripe.Subscribe(cus, w.ProPrice, 0)
				if err := p.send(ctx, stripetest.DeliveryOptions{}); err != nil {
					return err
				}
				w.Stripe.FailPayment(sub)
				if err := p.send(ctx, stripetest.DeliveryOptions{}); err != nil {
					return err
				}
				p.say("Dev's renewal is declined; the demo clock jumps 4 days and the grace-end timer fires")
				w.Stripe.Advance(4 * 24 * time.Hour)
				if err := p.Resync(ctx, cus); err != nil {
					return err
				}
				return p.Settle(ctx)
			},
			Check: func(p *Player) error {
				return p.expect("dev@example.com", nil, []int64{p.World.TagCanceled})
			},
		},
		{
			Name: "refund", Title: "a course buyer is refunded in full",
			People: []string{"eve@example.com"},
			Run: func(ctx context.Context, p *Player) error {
				w := p.World
				cus := w.Stripe.CreateCustomer("eve@example.com", "Eve")
				_, charge := w.Stripe.Purchase(cus, w.CoursePrice)
				if err := p.send(ctx, stripetest.DeliveryOptions{}); err != nil {
					return err
				}
				w.Stripe.Refund(charge, 19900)
				p.say("Eve asks for her money back; the refund revokes course access on the next sync")
				return p.send(ctx, stripetest.DeliveryOptions{})
			},
			Check: func(p *Player) error { return p.expect("eve@example.com", nil, nil) },
		},
		{
			Name: "cancel-at-period-end", Title: "a member cancels; access lasts until the period ends",
			People: []string{"finn@example.com"},
			Run: func(ctx context.Context, p *Player) error {
				w := p.World
				cus := w.Stripe.CreateCustomer("finn@example.com", "Finn")
				sub := w.Stripe.Subscribe(cus, w.ProPrice, 0)
				if err := p.send(ctx, stripetest.DeliveryOptions{}); err != nil {
					return err
				}
				w.Stripe.CancelAtPeriodEnd(sub)
				p.say("Finn cancels: he keeps Pro until the period ends, is tagged pro-canceled and gets the retention sequence")
				return p.send(ctx, stripetest.DeliveryOptions{})
			},
			Check: func(p *Player) error {
				w := p.World
				if !p.inSequence("finn@example.com", w.SeqRetention) {
					return errors.New("finn@example.com is not in the retention sequence")
				}
				return p.expect("finn@example.com", []int64{w.ProGroup}, []int64{w.TagCanceled})
			},
		},
		{
			Name: "two-customers-one-email", Title: "one person, two Stripe customers with the same email",
			People: []string{"gia@example.com"},
			Run: func(ctx context.Context, p *Player) error {
				w := p.World
				a := w.Stripe.CreateCustomer("gia@example.com", "Gia")
				b := w.Stripe.CreateCustomer("Gia@Example.com", "Gia")
				w.Stripe.Subscribe(a, w.ProPrice, 0)
				w.Stripe.Purchase(b, w.CoursePrice)
				p.say("Gia subscribes with one customer and buys the course with another; membersync sees one person")
				return p.send(ctx, stripetest.DeliveryOptions{Concurrency: 4})
			},
			Check: func(p *Player) error {
				w := p.World
				return p.expect("gia@example.com", []int64{w.ProGroup, w.CourseGroup}, []int64{w.TagActive, w.TagCourse})
			},
		},
		{
			Name: "circle-outage", Title: "Circle is down while someone subscribes, then heals",
			People: []string{"hana@example.com"},
			Run: func(ctx context.Context, p *Player) error {
				w := p.World
				w.Circle.Faults.FailFor(time.Hour, providertest.Fault{Status: 503, Body: `{"success":false,"message":"Service unavailable","error_details":null}`})
				cus := w.Stripe.CreateCustomer("hana@example.com", "Hana")
				w.Stripe.Subscribe(cus, w.ProPrice, 0)
				p.say("Circle answers 503: the webhook is stored, the sync retries with backoff, Kit's welcome email waits for access")
				if err := w.Deliver(ctx, p.WebhookURL, stripetest.DeliveryOptions{}); err != nil {
					return err
				}
				if err := p.pause(ctx, 3*time.Second); err != nil {
					return err
				}
				if n := len(w.Kit.SequencesOf("hana@example.com")); n > 0 {
					return errors.New("hana@example.com was enrolled in Kit before her Circle access existed")
				}
				w.Circle.Faults.Heal()
				p.say("Circle is back")
				return p.Settle(ctx)
			},
			Check: func(p *Player) error {
				w := p.World
				if !p.inSequence("hana@example.com", w.SeqOnboarding) {
					return errors.New("hana@example.com is not in the onboarding sequence after Circle healed")
				}
				return p.expect("hana@example.com", []int64{w.ProGroup}, []int64{w.TagActive})
			},
		},
		{
			Name: "kit-rate-limit", Title: "Kit rate-limits a burst of new members",
			People: []string{"ivy@example.com", "jon@example.com", "kai@example.com"},
			Run: func(ctx context.Context, p *Player) error {
				w := p.World
				w.Kit.Faults.FailNext(6, providertest.Fault{Status: 429, Body: "Retry later"})
				for _, n := range []string{"ivy", "jon", "kai"} {
					w.Stripe.Subscribe(w.Stripe.CreateCustomer(n+"@example.com", n), w.ProPrice, 0)
				}
				p.say("three people subscribe at once; Kit answers 429 Retry later: every Kit call pauses for Kit's window (60 s; the demo shortens it to 2 s), Circle access goes ahead, and their Kit steps wait in the Kit queue (no attempt burned) and resume")
				return p.send(ctx, stripetest.DeliveryOptions{Concurrency: 3})
			},
			Check: func(p *Player) error {
				w := p.World
				for _, n := range []string{"ivy", "jon", "kai"} {
					if err := p.expect(n+"@example.com", []int64{w.ProGroup}, []int64{w.TagActive}); err != nil {
						return err
					}
				}
				return nil
			},
		},
	}
}
