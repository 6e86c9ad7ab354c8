package stripetest

import (
	"encoding/json"
	"net/url"
	"strings"
)

// The handlers run with s.mu held (see Server.api).

func (s *Server) listCustomers(rq *request) (any, *apiError) {
	cf, aerr := rq.form.created()
	if aerr != nil {
		return nil, aerr
	}
	email := rq.form.get("email")
	var out []*customer
	for _, c := range newest(s.st, s.st.customers, func(c *customer) string { return c.id }) {
		if c.deleted || (email != "" && c.email != email) || !cf.match(c.created) {
			continue
		}
		out = append(out, c)
	}
	return paginate(s, rq, "/v1/customers", false, out, func(c *customer) string { return c.id },
		func(c *customer) any { return s.renderCustomer(c, false) })
}

func (s *Server) getCustomer(rq *request) (any, *apiError) {
	c := s.st.customers[rq.r.PathValue("id")]
	if c == nil {
		return nil, notFound("customer", rq.r.PathValue("id"), "id")
	}
	return s.renderCustomer(c, false), nil
}

func (s *Server) getProduct(rq *request) (any, *apiError) {
	p := s.st.products[rq.r.PathValue("id")]
	if p == nil {
		return nil, notFound("product", rq.r.PathValue("id"), "id")
	}
	return s.renderProduct(p), nil
}

func (s *Server) getPrice(rq *request) (any, *apiError) {
	p := s.st.prices[rq.r.PathValue("id")]
	if p == nil {
		return nil, notFound("price", rq.r.PathValue("id"), "price")
	}
	return s.renderPrice(p, rq.ex), nil
}

// customerFilter checks a customer= filter the way Stripe does: an unknown customer is an error.
func (s *Server) customerFilter(rq *request) (string, *apiError) {
	id := rq.form.get("customer")
	if id != "" && s.st.customers[id] == nil {
		return "", &apiError{status: 400, typ: "invalid_request_error", code: "resource_missing",
			message: "No such customer: '" + id + "'", param: "customer"}
	}
	return id, nil
}

func (s *Server) listSubscriptions(rq *request) (any, *apiError) {
	cust, aerr := s.customerFilter(rq)
	if aerr != nil {
		return nil, aerr
	}
	cf, aerr := rq.form.created()
	if aerr != nil {
		return nil, aerr
	}
	status := rq.form.get("status")
	switch status {
	case "", "all", "ended", "active", "past_due", "unpaid", "canceled", "incomplete", "incomplete_expired", "trialing", "paused":
	default:
		return nil, badRequest("status", "Invalid status: must be one of active, all, canceled, ended, incomplete, incomplete_expired, past_due, paused, trialing, or unpaid")
	}
	price := rq.form.get("price")
	var out []*subscription
	for _, sub := range newest(s.st, s.st.subs, func(x *subscription) string { return x.id }) {
		if cust != "" && sub.customer != cust || !cf.match(sub.created) {
			continue
		}
		switch status {
		case "":
			if sub.status == "canceled" {
				continue
			}
		case "all":
		case "ended":
			if sub.status != "canceled" && sub.status != "incomplete_expired" {
				continue
			}
		default:
			if sub.status != status {
				continue
			}
		}
		if price != "" && !s.hasPrice(sub, price) {
			continue
		}
		out = append(out, sub)
	}
	dataEx := rq.ex.at("data")
	return paginate(s, rq, "/v1/subscriptions", false, out, func(x *subscription) string { return x.id },
		func(x *subscription) any { return s.renderSubscription(x, dataEx) })
}

func (s *Server) hasPrice(sub *subscription, priceID string) bool {
	for _, it := range s.subItems(sub) {
		if it.price == priceID {
			return true
		}
	}
	return false
}

func (s *Server) getSubscription(rq *request) (any, *apiError) {
	sub := s.st.subs[rq.r.PathValue("id")]
	if sub == nil {
		return nil, notFound("subscription", rq.r.PathValue("id"), "id")
	}
	return s.renderSubscription(sub, rq.ex), nil
}

func (s *Server) listSubscriptionItems(rq *request) (any, *apiError) {
	id := rq.form.get("subscription")
	if id == "" {
		return nil, badRequest("subscription", "Missing required param: subscription.")
	}
	sub := s.st.subs[id]
	if sub == nil {
		return nil, &apiError{status: 400, typ: "invalid_request_error", code: "resource_missing",
			message: "No such subscription: '" + id + "'", param: "subscription"}
	}
	dataEx := rq.ex.at("data")
	return paginate(s, rq, "/v1/subscription_items", true, s.subItems(sub), func(it *subItem) string { return it.id },
		func(it *subItem) any { return s.renderSubItem(it, dataEx) })
}

func (s *Server) getInvoice(rq *request) (any, *apiError) {
	inv := s.st.invoices[rq.r.PathValue("id")]
	if inv == nil {
		return nil, notFound("invoice", rq.r.PathValue("id"), "invoice")
	}
	return s.renderInvoice(inv, rq.ex), nil
}

func (s *Server) listInvoicePayments(rq *request) (any, *apiError) {
	invID := rq.form.get("invoice")
	var out []*invoicePayment
	for _, ip := range newest(s.st, s.st.inpays, func(x *invoicePayment) string { return x.id }) {
		if invID != "" && ip.invoice != invID {
			continue
		}
		if st := rq.form.get("status"); st != "" && ip.status != st {
			continue
		}
		out = append(out, ip)
	}
	dataEx := rq.ex.at("data")
	return paginate(s, rq, "/v1/invoice_payments", false, out, func(x *invoicePayment) string { return x.id },
		func(x *invoicePayment) any { return s.renderInvoicePayment(x, dataEx) })
}

func (s *Server) getPaymentIntent(rq *request) (any, *apiError) {
	pi := s.st.intents[rq.r.PathValue("id")]
	if pi == nil {
		return nil, notFound("payment_intent", rq.r.PathValue("id"), "intent")
	}
	return s.renderPaymentIntent(pi, rq.ex), nil
}

func (s *Server) listCharges(rq *request) (any, *apiError) {
	cust, aerr := s.customerFilter(rq)
	if aerr != nil {
		return nil, aerr
	}
	cf, aerr := rq.form.created()
	if aerr != nil {
		return nil, aerr
	}
	pi := rq.form.get("payment_intent")
	var out []*charge
	for _, ch := range newest(s.st, s.st.charges, func(x *charge) string { return x.id }) {
		if cust != "" && ch.customer != cust || pi != "" && ch.intent != pi || !cf.match(ch.created) {
			continue
		}
		out = append(out, ch)
	}
	dataEx := rq.ex.at("data")
	return paginate(s, rq, "/v1/charges", false, out, func(x *charge) string { return x.id },
		func(x *charge) any { return s.renderCharge(x, dataEx) })
}

func (s *Server) getCharge(rq *request) (any, *apiError) {
	ch := s.st.charges[rq.r.PathValue("id")]
	if ch == nil {
		return nil, notFound("charge", rq.r.PathValue("id"), "id")
	}
	return s.renderCharge(ch, rq.ex), nil
}

func (s *Server) listRefunds(rq *request) (any, *apiError) {
	chID, pi := rq.form.get("charge"), rq.form.get("payment_intent")
	var out []*refund
	for _, r := range newest(s.st, s.st.refunds, func(x *refund) string { return x.id }) {
		if chID != "" && r.charge != chID || pi != "" && r.intent != pi {
			continue
		}
		out = append(out, r)
	}
	dataEx := rq.ex.at("data")
	return paginate(s, rq, "/v1/refunds", false, out, func(x *refund) string { return x.id },
		func(x *refund) any { return s.renderRefund(x, dataEx) })
}

func (s *Server) listDisputes(rq *request) (any, *apiError) {
	chID, pi := rq.form.get("charge"), rq.form.get("payment_intent")
	var out []*dispute
	for _, d := range newest(s.st, s.st.disputes, func(x *dispute) string { return x.id }) {
		if chID != "" && d.charge != chID || pi != "" && d.intent != pi {
			continue
		}
		out = append(out, d)
	}
	dataEx := rq.ex.at("data")
	return paginate(s, rq, "/v1/disputes", false, out, func(x *dispute) string { return x.id },
		func(x *dispute) any { return s.renderDispute(x, dataEx) })
}

func (s *Server) getDispute(rq *request) (any, *apiError) {
	d := s.st.disputes[rq.r.PathValue("id")]
	if d == nil {
		return nil, notFound("dispute", rq.r.PathValue("id"), "dispute")
	}
	return s.renderDispute(d, rq.ex), nil
}

func (s *Server) listCheckoutSessions(rq *request) (any, *apiError) {
	cust, aerr := s.customerFilter(rq)
	if aerr != nil {
		return nil, aerr
	}
	cf, aerr := rq.form.created()
	if aerr != nil {
		return nil, aerr
	}
	status, pi, sub := rq.form.get("status"), rq.form.get("payment_intent"), rq.form.get("subscription")
	email := rq.form.get("customer_details[email]")
	var out []*checkoutSession
	for _, cs := range newest(s.st, s.st.sessions, func(x *checkoutSession) string { return x.id }) {
		if cust != "" && cs.customer != cust || status != "" && cs.status != status ||
			pi != "" && cs.intent != pi || sub != "" && cs.sub != sub || email != "" && cs.email != email ||
			!cf.match(cs.created) {
			continue
		}
		out = append(out, cs)
	}
	dataEx := rq.ex.at("data")
	return paginate(s, rq, "/v1/checkout/sessions", false, out, func(x *checkoutSession) string { return x.id },
		func(x *checkoutSession) any { return s.renderSession(x, dataEx) })
}

func (s *Server) getCheckoutSession(rq *request) (any, *apiError) {
	cs := s.st.sessions[rq.r.PathValue("id")]
	if cs == nil {
		return nil, notFound("checkout.session", rq.r.PathValue("id"), "session")
	}
	return s.renderSession(cs, rq.ex), nil
}

func (s *Server) listLineItems(rq *request) (any, *apiError) {
	cs := s.st.sessions[rq.r.PathValue("id")]
	if cs == nil {
		return nil, notFound("checkout.session", rq.r.PathValue("id"), "session")
	}
	dataEx := rq.ex.at("data")
	return paginate(s, rq, "/v1/checkout/sessions/"+cs.id+"/line_items", true, cs.lineItems, func(li lineItem) string { return li.id },
		func(li lineItem) any { return s.renderLineItem(li, dataEx) })
}

func (s *Server) createPortalSession(rq *request) (any, *apiError) {
	id := rq.form.get("customer")
	if id == "" {
		return nil, badRequest("customer", "Missing required param: customer.")
	}
	c := s.st.customers[id]
	if c == nil || c.deleted {
		return nil, &apiError{status: 400, typ: "invalid_request_error", code: "resource_missing",
			message: "No such customer: '" + id + "'", param: "customer"}
	}
	ret := rq.form.get("return_url")
	if ret != "" {
		if u, err := url.Parse(ret); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, badRequest("return_url", "Not a valid URL")
		}
	}
	ps := &portalSession{id: s.st.newID("bps"), customer: id, returnURL: ret, created: s.Now().Unix()}
	ps.url = s.URL + "/p/session/" + ps.id
	s.st.portal[ps.id] = ps
	return s.renderPortal(ps, rq.ex), nil
}

func (s *Server) listEvents(rq *request) (any, *apiError) {
	cf, aerr := rq.form.created()
	if aerr != nil {
		return nil, aerr
	}
	typ := rq.form.get("type")
	types := rq.form.all("types")
	if typ != "" && len(types) > 0 {
		return nil, badRequest("types", "You may only specify one of these parameters: type, types.")
	}
	if len(types) > 20 {
		return nil, badRequest("types", "You may pass at most 20 types.")
	}
	match := func(t string) bool {
		if typ != "" {
			return typeMatches(typ, t)
		}
		if len(types) > 0 {
			for _, x := range types {
				if x == t {
					return true
				}
			}
			return false
		}
		return true
	}
	// delivery_success: "Filter events by whether all webhooks were successfully delivered. If false,
	// events which are still pending or have failed all delivery attempts to a webhook endpoint will
	// be returned" (stripe-go EventListParams). The fake's endpoint never runs out of attempts, so an
	// event is delivered exactly when its pending_webhooks is 0.
	delivered := func(*event) bool { return true }
	switch v := rq.form.get("delivery_success"); v {
	case "":
	case "true":
		delivered = func(e *event) bool { return e.pending == 0 }
	case "false":
		delivered = func(e *event) bool { return e.pending > 0 }
	default:
		return nil, badRequest("delivery_success", "Invalid boolean: %s", v)
	}
	var out []*event
	for i := len(s.st.events) - 1; i >= 0; i-- {
		e := s.st.events[i]
		if match(e.typ) && cf.match(e.created) && delivered(e) {
			out = append(out, e)
		}
	}
	return paginate(s, rq, "/v1/events", false, out, func(e *event) string { return e.id },
		func(e *event) any { return json.RawMessage(e.body()) })
}

func (s *Server) getEvent(rq *request) (any, *apiError) {
	id := rq.r.PathValue("id")
	for _, e := range s.st.events {
		if e.id == id {
			return json.RawMessage(e.body()), nil
		}
	}
	return nil, notFound("event", id, "id")
}

// typeMatches reports whether an event type matches a type= filter with Stripe's * wildcard.
func typeMatches(filter, typ string) bool {
	prefix, ok := strings.CutSuffix(filter, "*")
	if !ok {
		return filter == typ
	}
	return strings.HasPrefix(typ, prefix)
}
