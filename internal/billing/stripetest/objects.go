package stripetest

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// obj is a rendered Stripe object.
type obj = map[string]any

// state is everything the fake holds. Every object gets a sequence number at creation; lists sort
// newest first by it (Stripe sorts by creation time), and cursors resolve through it.
type state struct {
	next int64
	seq  map[string]int64

	customers map[string]*customer
	products  map[string]*product
	prices    map[string]*price
	subs      map[string]*subscription
	items     map[string]*subItem
	invoices  map[string]*invoice
	inpays    map[string]*invoicePayment
	intents   map[string]*paymentIntent
	charges   map[string]*charge
	refunds   map[string]*refund
	disputes  map[string]*dispute
	sessions  map[string]*checkoutSession
	portal    map[string]*portalSession
	events    []*event // oldest first
}

func newState() *state {
	return &state{
		seq:       map[string]int64{},
		customers: map[string]*customer{},
		products:  map[string]*product{},
		prices:    map[string]*price{},
		subs:      map[string]*subscription{},
		items:     map[string]*subItem{},
		invoices:  map[string]*invoice{},
		inpays:    map[string]*invoicePayment{},
		intents:   map[string]*paymentIntent{},
		charges:   map[string]*charge{},
		refunds:   map[string]*refund{},
		disputes:  map[string]*dispute{},
		sessions:  map[string]*checkoutSession{},
		portal:    map[string]*portalSession{},
	}
}

// newID allocates an id with Stripe's prefix for the kind of object, such as "cus".
func (st *state) newID(prefix string) string {
	st.next++
	id := fmt.Sprintf("%s_T%013d", prefix, st.next)
	st.seq[id] = st.next
	return id
}

// newest returns the values of m sorted newest first.
func newest[T any](st *state, m map[string]T, id func(T) string) []T {
	out := slices.Collect(maps.Values(m))
	slices.SortFunc(out, func(a, b T) int { return cmp.Compare(st.seq[id(b)], st.seq[id(a)]) })
	return out
}

type customer struct {
	id, email, name string
	created         int64
	deleted         bool
}

type product struct {
	id, name string
	created  int64
}

type price struct {
	id, product string
	unitAmount  int64
	recurring   bool
	created     int64
	// currency ("" is usd), interval ("" is month) and intervalCount (0 is 1) are set by
	// CreatePriceWith; archived prices render active: false (ArchivePrice).
	currency, interval string
	intervalCount      int64
	archived           bool
}

type subscription struct {
	id, customer      string
	status            string
	created           int64
	cancelAtPeriodEnd bool
	cancelAt          int64
	canceledAt        int64
	endedAt           int64
	trialStart        int64
	trialEnd          int64
	cancelReason      string
	items             []string
	latestInvoice     string
	// daysUntilDue is set when the subscription's collection_method is send_invoice (0: charge_automatically).
	daysUntilDue int64
}

// collectionMethod is the subscription's (and its new invoices') collection_method.
func (sub *subscription) collectionMethod() string {
	if sub.daysUntilDue > 0 {
		return "send_invoice"
	}
	return "charge_automatically"
}

type subItem struct {
	id, sub, price string
	created        int64
	periodStart    int64
	periodEnd      int64
}

type invoice struct {
	id, customer, sub string
	status            string // draft, open, paid, void, uncollectible
	billingReason     string
	amountDue         int64
	amountPaid        int64
	created           int64
	finalizedAt       int64
	paidAt            int64
	periodStart       int64
	periodEnd         int64
	attemptCount      int64
	nextAttempt       int64
	number            string
	collectionMethod  string // charge_automatically or send_invoice
	dueDate           int64  // send_invoice only
	lines             []invoiceLine
	payments          []string // invoice payment ids, oldest first
}

type invoiceLine struct {
	id, price, item string
	amount          int64
	start, end      int64
}

type invoicePayment struct {
	id, invoice, intent string
	amount              int64
	status              string // open, paid, canceled
	created             int64
	paidAt              int64
}

type paymentIntent struct {
	id, customer  string
	amount        int64
	status        string // requires_payment_method, succeeded
	created       int64
	latestCharge  string
	description   string
	lastErrCharge string // the failed charge behind last_payment_error
}

type charge struct {
	id, customer, intent string
	amount               int64
	amountRefunded       int64
	status               string // succeeded, failed
	created              int64
	disputed             bool
	description          string
	refunds              []string // newest first
}

type refund struct {
	id, charge, intent string
	amount             int64
	created            int64
}

type dispute struct {
	id, charge, intent string
	amount             int64
	status             string
	created            int64
}

type checkoutSession struct {
	id, customer    string
	email, name     string
	mode            string // payment, subscription
	status          string // complete
	paymentStatus   string // paid, unpaid, no_payment_required
	intent, sub     string
	invoice         string
	amountTotal     int64
	created         int64
	lineItems       []lineItem
	successURL      string
	clientReference string
}

type lineItem struct {
	id, price string
	amount    int64
}

type portalSession struct {
	id, customer, returnURL, url string
	created                      int64
}

// nullable renders zero as JSON null, as Stripe does for unset timestamps.
func nullable(v int64) any {
	if v == 0 {
		return nil
	}
	return v
}

func nullStr(v string) any {
	if v == "" {
		return nil
	}
	return v
}

// ref renders an expandable field: the id, the expanded object, or null.
func ref(id string, ex *expansion, field string, render func(*expansion) any) any {
	if id == "" {
		return nil
	}
	if ex.has(field) {
		return render(ex.at(field))
	}
	return id
}

func (s *Server) renderCustomerRef(id string, ex *expansion, field string) any {
	return ref(id, ex, field, func(*expansion) any { return s.renderCustomer(s.st.customers[id], true) })
}

// renderCustomer renders a customer; a deleted one renders as the stub Stripe returns, unless full.
func (s *Server) renderCustomer(c *customer, full bool) any {
	if c.deleted && !full {
		return obj{"id": c.id, "object": "customer", "deleted": true}
	}
	return obj{
		"id": c.id, "object": "customer", "address": nil, "balance": 0, "created": c.created,
		"currency": "usd", "default_source": nil, "delinquent": s.delinquent(c.id), "description": nil,
		"discount": nil, "email": nullStr(c.email), "invoice_prefix": "T" + c.id[len(c.id)-6:],
		"invoice_settings": obj{"custom_fields": nil, "default_payment_method": "pm_card_visa", "footer": nil, "rendering_options": nil},
		"livemode":         false, "metadata": obj{}, "name": nullStr(c.name), "next_invoice_sequence": 1,
		"phone": nil, "preferred_locales": []string{}, "shipping": nil, "tax_exempt": "none", "test_clock": nil,
	}
}

func (s *Server) delinquent(customerID string) bool {
	for _, inv := range s.st.invoices {
		if inv.customer == customerID && inv.status == "open" && inv.attemptCount > 0 {
			return true
		}
	}
	return false
}

func (s *Server) renderProduct(p *product) any {
	return obj{
		"id": p.id, "object": "product", "active": true, "created": p.created, "default_price": nil,
		"description": nil, "images": []string{}, "livemode": false, "marketing_features": []any{},
		"metadata": obj{}, "name": p.name, "package_dimensions": nil, "shippable": nil,
		"statement_descriptor": nil, "tax_code": nil, "type": "service", "unit_label": nil,
		"updated": p.created, "url": nil,
	}
}

func (s *Server) renderPrice(p *price, ex *expansion) any {
	var recurring any
	typ := "one_time"
	if p.recurring {
		typ = "recurring"
		recurring = obj{"interval": cmp.Or(p.interval, "month"), "interval_count": max(p.intervalCount, 1), "meter": nil, "trial_period_days": nil, "usage_type": "licensed"}
	}
	return obj{
		"id": p.id, "object": "price", "active": !p.archived, "billing_scheme": "per_unit", "created": p.created,
		"currency": cmp.Or(p.currency, "usd"), "custom_unit_amount": nil, "livemode": false, "lookup_key": nil, "metadata": obj{},
		"nickname":  nil,
		"product":   ref(p.product, ex, "product", func(*expansion) any { return s.renderProduct(s.st.products[p.product]) }),
		"recurring": recurring, "tax_behavior": "unspecified", "tiers_mode": nil, "transform_quantity": nil,
		"type": typ, "unit_amount": p.unitAmount, "unit_amount_decimal": strconv.FormatInt(p.unitAmount, 10),
	}
}

func (s *Server) renderSubItem(it *subItem, ex *expansion) any {
	return obj{
		"id": it.id, "object": "subscription_item", "billing_thresholds": nil, "created": it.created,
		"current_period_end": it.periodEnd, "current_period_start": it.periodStart, "discounts": []any{},
		"metadata": obj{}, "price": s.renderPrice(s.st.prices[it.price], ex.at("price")), "quantity": 1,
		"subscription": it.sub, "tax_rates": []any{},
	}
}

func (s *Server) subItems(sub *subscription) []*subItem {
	out := make([]*subItem, 0, len(sub.items))
	for _, id := range sub.items {
		out = append(out, s.st.items[id])
	}
	return out
}

func (s *Server) renderSubscription(sub *subscription, ex *expansion) any {
	itemsEx := ex.at("items").at("data")
	items := embeddedList(s, "/v1/subscription_items?subscription="+sub.id, s.subItems(sub), 20,
		func(it *subItem) any { return s.renderSubItem(it, itemsEx) })
	var anchor int64
	if its := s.subItems(sub); len(its) > 0 {
		anchor = its[0].periodEnd
	}
	var reason any
	if sub.cancelReason != "" {
		reason = sub.cancelReason
	}
	return obj{
		"id": sub.id, "object": "subscription", "application": nil, "application_fee_percent": nil,
		"automatic_tax":        obj{"disabled_reason": nil, "enabled": false, "liability": nil},
		"billing_cycle_anchor": anchor, "billing_cycle_anchor_config": nil,
		"billing_mode":       obj{"flexible": obj{"proration_discounts": "included"}, "type": "flexible", "updated_at": sub.created},
		"billing_thresholds": nil, "cancel_at": nullable(sub.cancelAt), "cancel_at_period_end": sub.cancelAtPeriodEnd,
		"canceled_at":          nullable(sub.canceledAt),
		"cancellation_details": obj{"comment": nil, "feedback": nil, "reason": reason},
		"collection_method":    sub.collectionMethod(), "created": sub.created, "currency": "usd",
		"customer":       s.renderCustomerRef(sub.customer, ex, "customer"),
		"days_until_due": nullable(sub.daysUntilDue), "default_payment_method": "pm_card_visa", "default_source": nil,
		"default_tax_rates": []any{}, "description": nil, "discounts": []any{}, "ended_at": nullable(sub.endedAt),
		"invoice_settings": obj{"account_tax_ids": nil, "issuer": obj{"type": "self"}},
		"items":            items,
		"latest_invoice": ref(sub.latestInvoice, ex, "latest_invoice", func(x *expansion) any {
			return s.renderInvoice(s.st.invoices[sub.latestInvoice], x)
		}),
		"livemode": false, "metadata": obj{}, "next_pending_invoice_item_invoice": nil, "on_behalf_of": nil,
		"pause_collection":              nil,
		"payment_settings":              obj{"payment_method_options": nil, "payment_method_types": nil, "save_default_payment_method": "off"},
		"pending_invoice_item_interval": nil, "pending_setup_intent": nil, "pending_update": nil,
		"schedule": nil, "start_date": sub.created, "status": sub.status, "test_clock": nil, "transfer_data": nil,
		"trial_end":      nullable(sub.trialEnd),
		"trial_settings": obj{"end_behavior": obj{"missing_payment_method": "create_invoice"}},
		"trial_start":    nullable(sub.trialStart),
	}
}

func (s *Server) invoicePayments(inv *invoice) []*invoicePayment {
	out := make([]*invoicePayment, 0, len(inv.payments))
	for _, id := range inv.payments {
		out = append(out, s.st.inpays[id])
	}
	return out
}

func (s *Server) renderInvoice(inv *invoice, ex *expansion) any {
	c := s.st.customers[inv.customer]
	lines := make([]any, 0, len(inv.lines))
	for _, l := range inv.lines {
		p := s.st.prices[l.price]
		lines = append(lines, obj{
			"id": l.id, "object": "line_item", "amount": l.amount, "currency": "usd",
			"description":      fmt.Sprintf("1 × %s (at $%.2f / month)", s.st.products[p.product].name, float64(p.unitAmount)/100),
			"discount_amounts": []any{}, "discountable": true, "discounts": []any{}, "invoice": inv.id,
			"livemode": false, "metadata": obj{},
			"parent": obj{"invoice_item_details": nil, "subscription_item_details": obj{
				"invoice_item": nil, "proration": false, "proration_details": obj{"credited_items": nil},
				"subscription": inv.sub, "subscription_item": l.item}, "type": "subscription_item_details"},
			"period":                obj{"end": l.end, "start": l.start},
			"pretax_credit_amounts": []any{},
			"pricing":               obj{"price_details": obj{"price": p.id, "product": p.product}, "type": "price_details", "unit_amount_decimal": strconv.FormatInt(p.unitAmount, 10)},
			"quantity":              1,
			"subtotal":              l.amount,
			"taxes":                 []any{},
		})
	}
	o := obj{
		"id": inv.id, "object": "invoice", "account_country": "US", "account_name": "Membersync Test",
		"account_tax_ids": nil, "amount_due": inv.amountDue, "amount_overpaid": 0, "amount_paid": inv.amountPaid,
		"amount_remaining": inv.amountDue - inv.amountPaid, "amount_shipping": 0, "application": nil,
		"attempt_count": inv.attemptCount, "attempted": inv.attemptCount > 0 || inv.status == "paid",
		"auto_advance":               inv.status == "open" || inv.status == "draft",
		"automatic_tax":              obj{"disabled_reason": nil, "enabled": false, "liability": nil, "provider": nil, "status": nil},
		"automatically_finalizes_at": nil, "billing_reason": inv.billingReason,
		"collection_method": inv.collectionMethod, "created": inv.created, "currency": "usd",
		"custom_fields":    nil,
		"customer":         s.renderCustomerRef(inv.customer, ex, "customer"),
		"customer_address": nil, "customer_email": nullStr(c.email), "customer_name": nullStr(c.name),
		"customer_phone": nil, "customer_shipping": nil, "customer_tax_exempt": "none", "customer_tax_ids": []any{},
		"default_payment_method": nil, "default_source": nil, "default_tax_rates": []any{}, "description": nil,
		"discounts": []any{}, "due_date": nullable(inv.dueDate), "effective_at": nullable(inv.finalizedAt), "ending_balance": 0,
		"footer": nil, "from_invoice": nil,
		"hosted_invoice_url": s.URL + "/i/" + inv.id, "invoice_pdf": s.URL + "/i/" + inv.id + "/pdf",
		"issuer": obj{"type": "self"}, "last_finalization_error": nil, "latest_revision": nil,
		"lines":    listObject{Object: "list", Data: lines, URL: "/v1/invoices/" + inv.id + "/lines", TotalCount: ptr(len(lines))},
		"livemode": false, "metadata": obj{}, "next_payment_attempt": nullable(inv.nextAttempt),
		"number": nullStr(inv.number), "on_behalf_of": nil,
		"parent":           obj{"quote_details": nil, "subscription_details": obj{"metadata": obj{}, "subscription": inv.sub}, "type": "subscription_details"},
		"payment_settings": obj{"default_mandate": nil, "payment_method_options": nil, "payment_method_types": nil},
		"period_end":       inv.periodEnd, "period_start": inv.periodStart,
		"post_payment_credit_notes_amount": 0, "pre_payment_credit_notes_amount": 0, "receipt_number": nil,
		"rendering": nil, "shipping_cost": nil, "shipping_details": nil, "starting_balance": 0,
		"statement_descriptor": nil, "status": inv.status,
		"status_transitions": obj{"finalized_at": nullable(inv.finalizedAt), "marked_uncollectible_at": nil,
			"paid_at": nullable(inv.paidAt), "voided_at": nil},
		"subtotal": inv.amountDue, "subtotal_excluding_tax": inv.amountDue, "test_clock": nil,
		"total": inv.amountDue, "total_discount_amounts": []any{}, "total_excluding_tax": inv.amountDue,
		"total_pretax_credit_amounts": []any{}, "total_taxes": []any{}, "webhooks_delivered_at": inv.created,
	}
	if ex.has("payments") {
		pex := ex.at("payments").at("data")
		o["payments"] = embeddedList(s, "/v1/invoice_payments?invoice="+inv.id, s.invoicePayments(inv), 10,
			func(ip *invoicePayment) any { return s.renderInvoicePayment(ip, pex) })
	}
	return o
}

func ptr[T any](v T) *T { return &v }

func (s *Server) renderInvoicePayment(ip *invoicePayment, ex *expansion) any {
	pay := ex.at("payment")
	var canceledAt int64
	if ip.status == "canceled" {
		canceledAt = ip.created
	}
	return obj{
		"id": ip.id, "object": "invoice_payment", "amount_paid": nullableAmount(ip.status == "paid", ip.amount),
		"amount_requested": ip.amount, "created": ip.created, "currency": "usd",
		"invoice":    ref(ip.invoice, ex, "invoice", func(x *expansion) any { return s.renderInvoice(s.st.invoices[ip.invoice], x) }),
		"is_default": true, "livemode": false,
		"payment": obj{"type": "payment_intent", "payment_intent": ref(ip.intent, pay, "payment_intent", func(x *expansion) any {
			return s.renderPaymentIntent(s.st.intents[ip.intent], x)
		})},
		"status":             ip.status,
		"status_transitions": obj{"canceled_at": nullable(canceledAt), "paid_at": nullable(ip.paidAt)},
	}
}

func nullableAmount(set bool, v int64) any {
	if !set {
		return nil
	}
	return v
}

func (s *Server) renderPaymentIntent(pi *paymentIntent, ex *expansion) any {
	var lastErr any
	if pi.lastErrCharge != "" && pi.status != "succeeded" {
		lastErr = obj{"charge": pi.lastErrCharge, "code": "card_declined", "decline_code": "generic_decline",
			"doc_url": "https://stripe.com/docs/error-codes/card-declined", "message": "Your card was declined.",
			"payment_method": obj{"id": "pm_card_visa", "object": "payment_method", "type": "card"}, "type": "card_error"}
	}
	received := int64(0)
	if pi.status == "succeeded" {
		received = pi.amount
	}
	return obj{
		"id": pi.id, "object": "payment_intent", "amount": pi.amount, "amount_capturable": 0,
		"amount_details": obj{"tip": obj{}}, "amount_received": received, "application": nil,
		"application_fee_amount": nil, "automatic_payment_methods": nil, "canceled_at": nil,
		"cancellation_reason": nil, "capture_method": "automatic_async", "client_secret": pi.id + "_secret_T",
		"confirmation_method": "automatic", "created": pi.created, "currency": "usd",
		"customer": s.renderCustomerRef(pi.customer, ex, "customer"), "description": nullStr(pi.description),
		"excluded_payment_method_types": nil, "last_payment_error": lastErr,
		"latest_charge": ref(pi.latestCharge, ex, "latest_charge", func(x *expansion) any {
			return s.renderCharge(s.st.charges[pi.latestCharge], x)
		}),
		"livemode": false, "metadata": obj{}, "next_action": nil, "on_behalf_of": nil,
		"payment_method": "pm_card_visa", "payment_method_configuration_details": nil,
		"payment_method_options": obj{"card": obj{"installments": nil, "mandate_options": nil, "network": nil, "request_three_d_secure": "automatic"}},
		"payment_method_types":   []string{"card"}, "processing": nil, "receipt_email": nil, "review": nil,
		"setup_future_usage": nil, "shipping": nil, "source": nil, "statement_descriptor": nil,
		"statement_descriptor_suffix": nil, "status": pi.status, "transfer_data": nil, "transfer_group": nil,
	}
}

func (s *Server) renderCharge(ch *charge, ex *expansion) any {
	ok := ch.status == "succeeded"
	outcome := obj{"advice_code": nil, "network_advice_code": nil, "network_decline_code": nil,
		"network_status": "approved_by_network", "reason": nil, "risk_level": "normal", "risk_score": 32,
		"seller_message": "Payment complete.", "type": "authorized"}
	var failureCode, failureMessage, balanceTxn any
	captured := ch.amount
	if !ok {
		outcome = obj{"advice_code": "try_again_later", "network_advice_code": nil, "network_decline_code": "05",
			"network_status": "declined_by_network", "reason": "generic_decline", "risk_level": "normal",
			"risk_score": 41, "seller_message": "The bank did not return any further details with this decline.",
			"type": "issuer_declined"}
		failureCode, failureMessage, captured = "card_declined", "Your card was declined.", 0
	} else {
		balanceTxn = "txn_" + ch.id[3:]
	}
	c := s.st.customers[ch.customer]
	email := ""
	if c != nil {
		email = c.email
	}
	o := obj{
		"id": ch.id, "object": "charge", "amount": ch.amount, "amount_captured": captured,
		"amount_refunded": ch.amountRefunded, "application": nil, "application_fee": nil,
		"application_fee_amount": nil, "balance_transaction": balanceTxn,
		"billing_details": obj{"address": obj{"city": nil, "country": "US", "line1": nil, "line2": nil, "postal_code": "94107", "state": nil},
			"email": nullStr(email), "name": nil, "phone": nil, "tax_id": nil},
		"calculated_statement_descriptor": "MEMBERSYNC", "captured": ok, "created": ch.created, "currency": "usd",
		"customer": s.renderCustomerRef(ch.customer, ex, "customer"), "description": nullStr(ch.description),
		"destination": nil, "dispute": nil, "disputed": ch.disputed, "failure_balance_transaction": nil,
		"failure_code": failureCode, "failure_message": failureMessage, "fraud_details": obj{}, "livemode": false,
		"metadata": obj{}, "on_behalf_of": nil, "order": nil, "outcome": outcome, "paid": ok,
		"payment_intent": ref(ch.intent, ex, "payment_intent", func(x *expansion) any {
			return s.renderPaymentIntent(s.st.intents[ch.intent], x)
		}),
		"payment_method": "pm_card_visa",
		"payment_method_details": obj{"card": obj{"amount_authorized": nullableAmount(ok, ch.amount), "brand": "visa",
			"checks":  obj{"address_line1_check": nil, "address_postal_code_check": "pass", "cvc_check": "pass"},
			"country": "US", "exp_month": 12, "exp_year": 2034, "fingerprint": "Tfp4242", "funding": "credit",
			"last4": "4242", "network": "visa", "three_d_secure": nil, "wallet": nil}, "type": "card"},
		"receipt_email": nil, "receipt_number": nil, "receipt_url": s.URL + "/r/" + ch.id,
		"refunded": ch.amountRefunded > 0 && ch.amountRefunded == ch.amount, "review": nil, "shipping": nil,
		"source": nil, "source_transfer": nil, "statement_descriptor": nil, "statement_descriptor_suffix": nil,
		"status": ch.status, "transfer_data": nil, "transfer_group": nil,
	}
	if ex.has("refunds") {
		var rs []*refund
		for _, id := range ch.refunds {
			rs = append(rs, s.st.refunds[id])
		}
		rex := ex.at("refunds").at("data")
		o["refunds"] = embeddedList(s, "/v1/charges/"+ch.id+"/refunds", rs, 10, func(r *refund) any { return s.renderRefund(r, rex) })
	}
	return o
}

func (s *Server) renderRefund(r *refund, ex *expansion) any {
	return obj{
		"id": r.id, "object": "refund", "amount": r.amount, "balance_transaction": "txn_" + r.id[3:],
		"charge":  ref(r.charge, ex, "charge", func(x *expansion) any { return s.renderCharge(s.st.charges[r.charge], x) }),
		"created": r.created, "currency": "usd",
		"destination_details": obj{"card": obj{"reference_status": "pending", "reference_type": "acquirer_reference_number", "type": "refund"}, "type": "card"},
		"metadata":            obj{},
		"payment_intent": ref(r.intent, ex, "payment_intent", func(x *expansion) any {
			return s.renderPaymentIntent(s.st.intents[r.intent], x)
		}),
		"reason": "requested_by_customer", "receipt_number": nil, "source_transfer_reversal": nil,
		"status": "succeeded", "transfer_reversal": nil,
	}
}

func (s *Server) renderDispute(d *dispute, ex *expansion) any {
	return obj{
		"id": d.id, "object": "dispute", "amount": d.amount, "balance_transactions": []any{},
		"charge":  ref(d.charge, ex, "charge", func(x *expansion) any { return s.renderCharge(s.st.charges[d.charge], x) }),
		"created": d.created, "currency": "usd", "enhanced_eligibility_types": []string{},
		"evidence":             obj{"access_activity_log": nil, "billing_address": nil, "customer_email_address": nil, "product_description": nil, "uncategorized_text": nil},
		"evidence_details":     obj{"due_by": d.created + 7*86400, "enhanced_eligibility": obj{}, "has_evidence": false, "past_due": false, "submission_count": 0},
		"is_charge_refundable": false, "livemode": false, "metadata": obj{},
		"payment_intent": ref(d.intent, ex, "payment_intent", func(x *expansion) any {
			return s.renderPaymentIntent(s.st.intents[d.intent], x)
		}),
		"payment_method_details": obj{"card": obj{"brand": "visa", "case_type": "chargeback", "network_reason_code": "10.4"}, "type": "card"},
		"reason":                 "fraudulent", "status": d.status,
	}
}

func (s *Server) renderLineItem(li lineItem, ex *expansion) any {
	p := s.st.prices[li.price]
	return obj{
		"id": li.id, "object": "item", "amount_discount": 0, "amount_subtotal": li.amount, "amount_tax": 0,
		"amount_total": li.amount, "currency": "usd", "description": s.st.products[p.product].name,
		"metadata": obj{}, "price": s.renderPrice(p, ex.at("price")), "quantity": 1,
	}
}

func (s *Server) renderSession(cs *checkoutSession, ex *expansion) any {
	var details any
	if cs.status == "complete" {
		details = obj{"address": obj{"city": nil, "country": "US", "line1": nil, "line2": nil, "postal_code": "94107", "state": nil},
			"business_name": nil, "email": cs.email, "individual_name": nil, "name": nullStr(cs.name), "phone": nil,
			"tax_exempt": "none", "tax_ids": []any{}}
	}
	o := obj{
		"id": cs.id, "object": "checkout.session", "adaptive_pricing": obj{"enabled": true},
		"after_expiration": nil, "allow_promotion_codes": nil, "amount_subtotal": cs.amountTotal,
		"amount_total": cs.amountTotal, "automatic_tax": obj{"enabled": false, "liability": nil, "provider": nil, "status": nil},
		"billing_address_collection": nil, "cancel_url": nil, "client_reference_id": nullStr(cs.clientReference),
		"client_secret": nil, "collected_information": obj{"business_name": nil, "individual_name": nil, "shipping_details": nil},
		"consent": nil, "consent_collection": nil, "created": cs.created, "currency": "usd",
		"currency_conversion": nil, "custom_fields": []any{},
		"custom_text":       obj{"after_submit": nil, "shipping_address": nil, "submit": nil, "terms_of_service_acceptance": nil},
		"customer":          s.renderCustomerRef(cs.customer, ex, "customer"),
		"customer_creation": "always", "customer_details": details, "customer_email": nil,
		"discounts": []any{}, "expires_at": cs.created + 86400,
		"invoice": ref(cs.invoice, ex, "invoice", func(x *expansion) any {
			return s.renderInvoice(s.st.invoices[cs.invoice], x)
		}),
		"invoice_creation": nil, "livemode": false, "locale": nil, "metadata": obj{}, "mode": cs.mode,
		"origin_context": nil,
		"payment_intent": ref(cs.intent, ex, "payment_intent", func(x *expansion) any {
			return s.renderPaymentIntent(s.st.intents[cs.intent], x)
		}),
		"payment_link": nil, "payment_method_collection": "if_required",
		"payment_method_configuration_details": obj{"id": "pmc_T0000000000001", "parent": nil},
		"payment_method_options":               obj{"card": obj{"request_three_d_secure": "automatic"}},
		"payment_method_types":                 []string{"card"}, "payment_status": cs.paymentStatus,
		"permissions": nil, "phone_number_collection": obj{"enabled": false}, "recovered_from": nil,
		"saved_payment_method_options": nil, "setup_intent": nil, "shipping_address_collection": nil,
		"shipping_cost": nil, "shipping_options": []any{}, "status": cs.status, "submit_type": nil,
		"subscription": ref(cs.sub, ex, "subscription", func(x *expansion) any {
			return s.renderSubscription(s.st.subs[cs.sub], x)
		}),
		"success_url":   cs.successURL,
		"total_details": obj{"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
		"ui_mode":       "hosted", "url": nil, "wallet_options": nil,
	}
	if ex.has("line_items") {
		lex := ex.at("line_items").at("data")
		o["line_items"] = embeddedList(s, "/v1/checkout/sessions/"+cs.id+"/line_items", cs.lineItems, 10,
			func(li lineItem) any { return s.renderLineItem(li, lex) })
	}
	return o
}

func (s *Server) renderPortal(ps *portalSession, ex *expansion) any {
	return obj{
		"id": ps.id, "object": "billing_portal.session", "configuration": "bpc_T0000000000001",
		"created": ps.created, "customer": s.renderCustomerRef(ps.customer, ex, "customer"),
		"customer_account": nil, "flow": nil, "livemode": false, "locale": nil, "on_behalf_of": nil,
		"return_url": nullStr(ps.returnURL), "url": ps.url,
	}
}
