package store_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/store/storetest"
)

// BenchmarkStorage measures what membersync's data costs on disk, on SQLite and (with
// TEST_DATABASE_URL) PostgreSQL, in two parts:
//
//   - unit: the bytes one more person, one more Stripe event (a 3 KB payload, as Stripe's
//     invoice.paid is) and one more provider call (a journal row of kind call) add to the database,
//     indexes included: bytes/person, bytes/event, bytes/provider-call.
//   - year: a year of a community of 5,000 monthly members (yearWorkload says what it writes), then
//     the size with no retention (year-MB) and after the retention defaults (Store.Prune with 90
//     days of payloads, 180 days of provider calls and journal detail, and so on:
//     year-retention-MB, the pages still in use once freed pages are handed back, which is where
//     SQLite's incremental vacuum brings the file; on PostgreSQL after VACUUM FULL, the live data
//     without bloat). On SQLite it also times a backup of the year's database (Store.Backup:
//     backup-s, backup-MB).
//
// Sizes are counted in pages in use (SQLite: (page_count - freelist_count) × page_size after a
// checkpoint; PostgreSQL: pg_total_relation_size of every table of the schema, TOAST and indexes
// included; PostgreSQL compresses payloads over 2 KB, SQLite does not). Run it once per dialect:
//
//	go test -run '^$' -bench Storage -benchtime 1x -timeout 30m ./internal/store
//	TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test -run '^$' -bench Storage -benchtime 1x -timeout 30m ./internal/store
//
// -short simulates 500 members instead of 5,000.
func BenchmarkStorage(b *testing.B) {
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect+"/unit", func(b *testing.B) {
			for b.Loop() {
				benchUnits(b, dialect)
			}
		})
		b.Run(dialect+"/year", func(b *testing.B) {
			members := 5000
			if testing.Short() {
				members = 500
			}
			for b.Loop() {
				benchYear(b, dialect, members)
			}
		})
	}
}

// benchStore opens a migrated store for a bench; SQLite skips the fsync of each commit (the size
// is the same, the fill faster).
func benchStore(b *testing.B, dialect string) *store.Store {
	st := storetest.Open(b, dialect)
	if dialect == store.SQLite {
		if _, err := st.SQLDB().Exec("PRAGMA synchronous=OFF"); err != nil {
			b.Fatal(err)
		}
	}
	return st
}

func benchUnits(b *testing.B, dialect string) {
	ctx := context.Background()
	st := benchStore(b, dialect)
	const people, events, calls = 2000, 5000, 20000
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st.Now = func() time.Time { return at }

	size0 := usedBytes(b, st)
	pids := make([]int64, people)
	for i := range people {
		pids[i] = addPerson(b, st, i, at)
	}
	size1 := usedBytes(b, st)
	inBatches(b, st, events, func(tx *store.Tx, i int) error {
		id := fmt.Sprintf("evt_unit_%06d", i)
		_, err := tx.IngestEvent(ctx, store.Event{ID: id, Type: "invoice.paid", CustomerID: customerID(i % people), Actionable: true,
			Created: at, APIVersion: "2025-03-31.basil", Payload: stripePayload(id, customerID(i%people), 3000)})
		return err
	})
	size2 := usedBytes(b, st)
	inBatches(b, st, calls, func(tx *store.Tx, i int) error {
		return tx.AppendJournal(ctx, callRow(pids[i%people], at, i))
	})
	size3 := usedBytes(b, st)

	b.ReportMetric(float64(len(stripePayload("evt_1QxYz", customerID(0), 3000))), "payload-bytes")
	b.ReportMetric(float64(size1-size0)/people, "bytes/person")
	b.ReportMetric(float64(size2-size1)/events, "bytes/event")
	b.ReportMetric(float64(size3-size2)/calls, "bytes/provider-call")
}

// lifecycle is what one step of a member's life writes, as the inbox and the engine write it: the
// Stripe events of the endpoint's subscription list (README, "Register the webhook endpoint"),
// one journal row per sync and one per provider call (converge/journal.go). The calls per new
// purchase are BenchmarkConverge's (9 Stripe, 3 Circle, 3 Kit); a sync that changes nothing reads
// Stripe three times and calls neither Circle nor Kit.
type lifecycle struct {
	events []string
	syncs  int
	calls  []string // provider:operation, one journal row each
}

var (
	stripeReads = []string{"stripe:get_customer", "stripe:list_subscriptions", "stripe:list_checkout_sessions"}
	// renewal: a monthly invoice is paid and the subscription's period moves; two syncs that change nothing.
	renewal = lifecycle{events: []string{"invoice.paid", "customer.subscription.updated"}, syncs: 2,
		calls: repeat(stripeReads, 2)}
	// signup: a new member buys through Checkout; Circle grants access, Kit tags and enrolls.
	signup = lifecycle{events: []string{"checkout.session.completed", "customer.subscription.created", "invoice.paid"}, syncs: 3,
		calls: append(repeat(stripeReads, 3), "circle:create_member", "circle:get_member", "circle:add_to_access_group",
			"kit:create_subscriber", "kit:tag_subscriber", "kit:add_to_sequence")}
	// cancellation: cancel at period end, then the subscription ends; Circle access and Kit tags change.
	cancellation = lifecycle{events: []string{"customer.subscription.updated", "customer.subscription.deleted"}, syncs: 2,
		calls: append(repeat(stripeReads, 2), "circle:remove_from_access_group", "kit:untag_subscriber", "kit:tag_subscriber")}
	// dunning: a renewal fails, the subscription goes past_due, the retry succeeds.
	dunning = lifecycle{events: []string{"invoice.payment_failed", "customer.subscription.updated", "invoice.paid", "customer.subscription.updated"},
		syncs: 4, calls: append(repeat(stripeReads, 4), "kit:tag_subscriber", "kit:untag_subscriber")}
)

func repeat(s []string, n int) []string {
	var out []string
	for range n {
		out = append(out, s...)
	}
	return out
}

// yearWorkload is a year of a community of members paying monthly: each renews every month; 3%
// cancel each month and as many sign up (the community stays the same size; those who left keep
// their person row, their events and their journal); 2% of renewals fail once and are retried.
// With 5,000 members: 60,000 renewals, 1,800 signups, 1,800 cancellations and 1,200 dunning runs,
// about 134,000 events and 550,000 journal rows.
func yearWorkload(members int) []monthly {
	return []monthly{{&renewal, members}, {&signup, members * 3 / 100}, {&cancellation, members * 3 / 100}, {&dunning, members * 2 / 100}}
}

// monthly is how many times a month one lifecycle step happens.
type monthly struct {
	lc *lifecycle
	n  int
}

func benchYear(b *testing.B, dialect string, members int) {
	ctx := context.Background()
	st := benchStore(b, dialect)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := start
	st.Now = func() time.Time { return clock }

	// The community as it stands on January 1st.
	pids := make([]int64, 0, members*2)
	for i := range members {
		pids = append(pids, addPerson(b, st, i, start))
	}
	var events, rows int
	work := yearWorkload(members)
	for day := range 365 {
		clock = start.Add(time.Duration(day) * 24 * time.Hour)
		// Each kind of step is spread evenly over the month's 30 days.
		var todo []*lifecycle
		for _, w := range work {
			k := w.n / 30
			if day%30 < w.n%30 {
				k++
			}
			for range k {
				todo = append(todo, w.lc)
			}
		}
		var newPeople []int64
		for _, lc := range todo {
			if lc == &signup {
				pid := addPerson(b, st, len(pids)+len(newPeople), clock)
				newPeople = append(newPeople, pid)
			}
		}
		err := st.InTx(ctx, func(tx *store.Tx) error {
			n := 0
			for i, lc := range todo {
				member := (day*7919 + i*31) % len(pids)
				if lc == &signup {
					member = len(pids) + n
					n++
				}
				cus := customerID(member)
				for k, typ := range lc.events {
					id := fmt.Sprintf("evt_%03d_%05d_%d", day, i, k)
					if _, err := tx.IngestEvent(ctx, store.Event{ID: id, Type: typ, CustomerID: cus, Actionable: true, Created: clock,
						APIVersion: "2025-03-31.basil", Payload: stripePayload(id, cus, 3000)}); err != nil {
						return err
					}
					events++
				}
				pid := int64(0)
				if lc == &signup {
					pid = newPeople[n-1]
				} else {
					pid = pids[member]
				}
				at := clock.Add(time.Duration(i) * time.Second)
				for k, call := range lc.calls {
					e := callRow(pid, at, k)
					e.Action = call
					if err := tx.AppendJournal(ctx, e); err != nil {
						return err
					}
				}
				for range lc.syncs {
					if err := tx.AppendJournal(ctx, store.JournalEntry{PersonID: pid, At: at, Kind: "sync", Action: "sync", Target: "event",
						Result: "converged", Duration: 180 * time.Millisecond, Detail: fmt.Sprintf("%d action(s), %d call(s)", len(lc.calls)/lc.syncs/2, len(lc.calls)/lc.syncs)}); err != nil {
						return err
					}
				}
				rows += len(lc.calls) + lc.syncs
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		pids = append(pids, newPeople...)
	}
	end := start.Add(365 * 24 * time.Hour)
	full := usedBytes(b, st)
	if dialect == store.SQLite {
		// What a backup of that year costs (membersync backup, or the scheduled one).
		t0 := time.Now()
		info, err := st.Backup(ctx, filepath.Join(b.TempDir(), "backup.db"), false)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(t0).Seconds(), "backup-s")
		b.ReportMetric(float64(info.Bytes)/1e6, "backup-MB")
	}

	res, err := st.Prune(ctx, store.RetentionPolicy{EventPayloads: 90 * day, JournalDetail: 180 * day, ResolvedReviewItems: 365 * day,
		AlertNotifications: 365 * day, DriftReports: 180 * day, DoctorReports: 90 * day, BatchSize: 5000}, end)
	if err != nil {
		b.Fatal(err)
	}
	if dialect == store.Postgres {
		if _, err := st.Pool().Exec(ctx, "VACUUM FULL"); err != nil {
			b.Fatal(err)
		}
	}
	pruned := usedBytes(b, st)
	b.Logf("%s, %d members: %d people, %d events, %d journal rows; %.1f MB; retention pruned %s; then %.1f MB",
		dialect, members, len(pids), events, rows, float64(full)/1e6, res.Summary(), float64(pruned)/1e6)
	b.ReportMetric(float64(len(pids)), "people")
	b.ReportMetric(float64(events), "events")
	b.ReportMetric(float64(rows), "journal-rows")
	b.ReportMetric(float64(full)/1e6, "year-MB")
	b.ReportMetric(float64(pruned)/1e6, "year-retention-MB")
}

const day = 24 * time.Hour

func customerID(i int) string { return fmt.Sprintf("cus_Q%08dbench", i) }

// addPerson writes what the inbox and a first sync keep about one member: the person and customer,
// the email and name, the Circle and Kit ids, the billing snapshot and the desired state, and the
// three grants applied (a Circle access group, a Kit tag, a Kit sequence).
func addPerson(b *testing.B, st *store.Store, i int, at time.Time) int64 {
	ctx := context.Background()
	var pid int64
	err := st.InTx(ctx, func(tx *store.Tx) error {
		var err error
		pid, _, err = tx.PersonForCustomer(ctx, customerID(i))
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	email := fmt.Sprintf("member.%d@example.com", i)
	must(b, st.SetIdentity(ctx, pid, email, fmt.Sprintf("Member Number%d", i)))
	must(b, st.SetRemoteIDs(ctx, pid, int64(40_000_000+i), int64(3_000_000_000+i)))
	must(b, st.SaveBilling(ctx, pid, billingSnapshot(i, at)))
	must(b, st.SaveSyncResult(ctx, pid, `{"plans":["pro"],"stage":"active","circle_groups":[61234],"kit_tags":[5512301],"kit_sequences":[1803321],"next_change":0}`, time.Time{}, ""))
	for _, a := range []store.Applied{
		{Provider: store.ProviderCircle, Kind: store.KindAccessGroup, TargetID: 61234, RemoteID: int64(40_000_000 + i)},
		{Provider: store.ProviderKit, Kind: store.KindTag, TargetID: 5512301, RemoteID: int64(3_000_000_000 + i)},
		{Provider: store.ProviderKit, Kind: store.KindSequence, TargetID: 1803321, RemoteID: int64(3_000_000_000 + i)},
	} {
		a.PersonID, a.Email, a.AppliedAt = pid, email, at
		must(b, st.RecordApplied(ctx, a))
	}
	return pid
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// billingSnapshot is the shape and size of the snapshot a sync saves (entitlement.Billing as JSON)
// for a member with one subscription.
func billingSnapshot(i int, at time.Time) string {
	return fmt.Sprintf(`{"Customers":[{"ID":"%s","Email":"member.%d@example.com","Name":"Member Number%d","Deleted":false}],`+
		`"Subscriptions":[{"ID":"sub_1Q%012dAbCdEf","CustomerID":"%s","Status":"active","CancelAtPeriodEnd":false,`+
		`"CurrentPeriodEnd":"%s","Items":[{"PriceID":"price_1PqRsTuVwXyZ0123456789","ProductID":"prod_QwErTyUiOp1234"}],`+
		`"FirstFailedPaymentAt":"0001-01-01T00:00:00Z","Created":"%s"}],"Purchases":null,"Disputes":null}`,
		customerID(i), i, i, i, customerID(i), at.AddDate(0, 1, 0).Format(time.RFC3339), at.Format(time.RFC3339))
}

// callRow is the journal row of one provider call as converge/journal.go writes it.
func callRow(pid int64, at time.Time, i int) store.JournalEntry {
	ops := []string{"stripe:get_customer", "stripe:list_subscriptions", "circle:add_to_access_group", "kit:tag_subscriber"}
	return store.JournalEntry{PersonID: pid, At: at.Add(time.Duration(i) * time.Millisecond), Kind: "call", Action: ops[i%len(ops)],
		Target: fmt.Sprintf("%d", 61234+i%3), Result: "ok", Status: 200, Attempt: 1, Duration: time.Duration(120+i%200) * time.Millisecond}
}

// inBatches runs fn n times in transactions of 500.
func inBatches(b *testing.B, st *store.Store, n int, fn func(tx *store.Tx, i int) error) {
	for lo := 0; lo < n; lo += 500 {
		err := st.InTx(context.Background(), func(tx *store.Tx) error {
			for i := lo; i < min(lo+500, n); i++ {
				if err := fn(tx, i); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// usedBytes returns the bytes the database's pages in use take (see BenchmarkStorage).
func usedBytes(b *testing.B, st *store.Store) int64 {
	ctx := context.Background()
	if st.Dialect() == store.Postgres {
		var n int64
		if err := st.Pool().QueryRow(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::BIGINT FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm')`).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	db := st.SQLDB()
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	var pages, free, size int64
	for q, v := range map[string]*int64{"PRAGMA page_count": &pages, "PRAGMA freelist_count": &free, "PRAGMA page_size": &size} {
		if err := db.QueryRow(q).Scan(v); err != nil {
			b.Fatal(err)
		}
	}
	return (pages - free) * size
}

// stripePayload returns an invoice.paid event body shaped like Stripe's (API 2025-03-31), padded
// with line-item and metadata fields to size bytes: the size of a typical renewal's delivery.
func stripePayload(id, customer string, size int) []byte {
	h := sha256.Sum256([]byte(id))
	r := hex.EncodeToString(h[:])
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"id":"%s","object":"event","api_version":"2025-03-31.basil","created":1780000000,"data":{"object":{`+
		`"id":"in_1Q%s","object":"invoice","account_country":"DE","account_name":"Founder Community GmbH","account_tax_ids":null,`+
		`"amount_due":2900,"amount_overpaid":0,"amount_paid":2900,"amount_remaining":0,"amount_shipping":0,"application":null,`+
		`"attempt_count":1,"attempted":true,"auto_advance":false,"automatic_tax":{"disabled_reason":null,"enabled":false,"liability":null,"provider":null,"status":null},`+
		`"automatically_finalizes_at":null,"billing_reason":"subscription_cycle","collection_method":"charge_automatically",`+
		`"created":1779996400,"currency":"eur","custom_fields":null,"customer":"%s","customer_address":null,`+
		`"customer_email":"member.%s@example.com","customer_name":"Member %s","customer_phone":null,"customer_shipping":null,`+
		`"customer_tax_exempt":"none","customer_tax_ids":[],"default_payment_method":null,"default_source":null,"default_tax_rates":[],`+
		`"description":null,"discounts":[],"due_date":null,"effective_at":1779996400,"ending_balance":0,"footer":null,"from_invoice":null,`+
		`"hosted_invoice_url":"https://invoice.stripe.com/i/acct_1Pabcdefghijklmn/live_YWNjdF8xUGFi%s","invoice_pdf":"https://pay.stripe.com/invoice/acct_1Pabcdefghijklmn/live_YWNjdF8xUGFi%s/pdf?s=ap",`+
		`"issuer":{"type":"self"},"last_finalization_error":null,"latest_revision":null,"lines":{"object":"list","data":[{"id":"il_1Q%s",`+
		`"object":"line_item","amount":2900,"currency":"eur","description":"1 × Pro membership (at €29.00 / month)","discount_amounts":[],`+
		`"discountable":true,"discounts":[],"invoice":"in_1Q%s","livemode":true,"metadata":{},"parent":{"invoice_item_details":null,`+
		`"subscription_item_details":{"invoice_item":null,"proration":false,"proration_details":{"credited_items":null},`+
		`"subscription":"sub_1Q%s","subscription_item":"si_%s"},"type":"subscription_item_details"},`+
		`"period":{"end":1782588400,"start":1779996400},"pretax_credit_amounts":[],"pricing":{"price_details":{"price":"price_1PqRsTuVwXyZ0123456789",`+
		`"product":"prod_QwErTyUiOp1234"},"type":"price_details","unit_amount_decimal":"2900"},"quantity":1,"taxes":[]}],"has_more":false,`+
		`"total_count":1,"url":"/v1/invoices/in_1Q%s/lines"},"livemode":true,"metadata":{},"next_payment_attempt":null,"number":"A1B2C3D4-%s",`+
		`"on_behalf_of":null,"parent":{"quote_details":null,"subscription_details":{"metadata":{},"subscription":"sub_1Q%s"},"type":"subscription_details"},`+
		`"payment_settings":{"default_mandate":null,"payment_method_options":null,"payment_method_types":null},"period_end":1779996400,`+
		`"period_start":1777404400,"post_payment_credit_notes_amount":0,"pre_payment_credit_notes_amount":0,"receipt_number":null,`+
		`"rendering":null,"shipping_cost":null,"shipping_details":null,"starting_balance":0,"statement_descriptor":null,"status":"paid",`+
		`"status_transitions":{"finalized_at":1779996400,"marked_uncollectible_at":null,"paid_at":1779996402,"voided_at":null},`+
		`"subtotal":2900,"subtotal_excluding_tax":2900,"test_clock":null,"total":2900,"total_discount_amounts":[],"total_excluding_tax":2900,`+
		`"total_pretax_credit_amounts":[],"total_taxes":[],"webhooks_delivered_at":1779996401`,
		id, r[:22], customer, r[:6], r[6:12], r[:40], r[:40], r[22:44], r[:22], r[:14], r[14:28], r[:22], r[44:48], r[:14])
	fmt.Fprintf(&sb, `}},"livemode":true,"pending_webhooks":1,"request":{"id":null,"idempotency_key":null},"type":"invoice.paid"`)
	// Founders' metadata and Stripe's newer fields fill the rest.
	for k := 0; sb.Len() < size-40; k++ {
		fmt.Fprintf(&sb, `,"x_%02d":"%s"`, k, r[(k*7)%40:(k*7)%40+24])
	}
	sb.WriteString("}")
	return []byte(sb.String())
}
