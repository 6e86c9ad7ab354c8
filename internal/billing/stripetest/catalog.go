package stripetest

import (
	"strings"
)

// PriceSpec describes a price for CreatePriceWith.
type PriceSpec struct {
	// UnitAmount is in the currency's smallest unit (cents; yen for JPY).
	UnitAmount int64
	// Currency is the three-letter ISO code in lowercase, default "usd".
	Currency string
	// Interval is "day", "week", "month" or "year" for a recurring price, "" for a one-time one.
	Interval string
	// IntervalCount is the number of intervals between charges, default 1.
	IntervalCount int64
}

// CreatePriceWith creates a price for a product as spec says and returns its id (price_…).
func (s *Server) CreatePriceWith(productID string, spec PriceSpec) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.products[productID] == nil {
		panic("stripetest: no such product " + productID)
	}
	p := &price{id: s.st.newID("price"), product: productID, unitAmount: spec.UnitAmount, recurring: spec.Interval != "",
		created: s.Now().Unix(), currency: strings.ToLower(spec.Currency), interval: spec.Interval, intervalCount: spec.IntervalCount}
	s.st.prices[p.id] = p
	s.emit("price.created", s.renderPrice(p, nil), nil, "", false)
	s.Faults.Record("POST /v1/prices", "create price "+p.id)
	return p.id
}

// ArchivePrice makes a price inactive, as archiving it in the Dashboard does (price.updated).
// Subscriptions on it go on; it renders active: false.
func (s *Server) ArchivePrice(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.mustPrice(id)
	before := s.renderPrice(p, nil)
	p.archived = true
	after := s.renderPrice(p, nil)
	s.emit("price.updated", after, changed(before, after), "", false)
	s.Faults.Record("POST /v1/prices/{id}", "archive price "+id)
}

// RenameProduct renames a product (product.updated).
func (s *Server) RenameProduct(id, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.st.products[id]
	if p == nil {
		panic("stripetest: no such product " + id)
	}
	before := s.renderProduct(p)
	p.name = name
	after := s.renderProduct(p)
	s.emit("product.updated", after, changed(before, after), "", false)
	s.Faults.Record("POST /v1/products/{id}", "rename product "+id)
}

// listPrices serves GET /v1/prices, newest first, with Stripe's filters active (true or false;
// absent lists both), currency, product, type (one_time or recurring), recurring[interval] and
// created. A product filter naming no product lists nothing: Stripe does not document whether it
// answers an error there, and nothing membersync sends relies on either.
func (s *Server) listPrices(rq *request) (any, *apiError) {
	cf, aerr := rq.form.created()
	if aerr != nil {
		return nil, aerr
	}
	active := rq.form.get("active")
	if active != "" && active != "true" && active != "false" {
		return nil, badRequest("active", "Invalid boolean: %s", active)
	}
	typ := rq.form.get("type")
	if typ != "" && typ != "one_time" && typ != "recurring" {
		return nil, badRequest("type", "Invalid type: must be one of one_time or recurring")
	}
	interval := rq.form.get("recurring[interval]")
	switch interval {
	case "", "day", "week", "month", "year":
	default:
		return nil, badRequest("recurring[interval]", "Invalid recurring[interval]: must be one of day, month, week, or year")
	}
	currency, product := strings.ToLower(rq.form.get("currency")), rq.form.get("product")
	var out []*price
	for _, p := range newest(s.st, s.st.prices, func(p *price) string { return p.id }) {
		pTyp, pInterval := "one_time", ""
		if p.recurring {
			pTyp, pInterval = "recurring", p.interval
			if pInterval == "" {
				pInterval = "month"
			}
		}
		pCurrency := p.currency
		if pCurrency == "" {
			pCurrency = "usd"
		}
		switch {
		case active == "true" && p.archived, active == "false" && !p.archived,
			currency != "" && pCurrency != currency, product != "" && p.product != product,
			typ != "" && pTyp != typ, interval != "" && pInterval != interval, !cf.match(p.created):
			continue
		}
		out = append(out, p)
	}
	dataEx := rq.ex.at("data")
	return paginate(s, rq, "/v1/prices", false, out, func(p *price) string { return p.id },
		func(p *price) any { return s.renderPrice(p, dataEx) })
}
