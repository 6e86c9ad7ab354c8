package stripetest

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// formValues are the parameters of a call: the query string of a GET, the form body of a POST.
type formValues url.Values

func parseForm(r *http.Request) (formValues, error) {
	if r.Method == http.MethodGet || r.Method == http.MethodDelete {
		v, err := url.ParseQuery(r.URL.RawQuery)
		return formValues(v), err
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return formValues(r.PostForm), nil
}

func (f formValues) get(name string) string {
	return url.Values(f).Get(name)
}

// all returns the values of an array parameter, accepting Stripe's spellings name, name[] and the
// indexed name[0], name[1] that stripe-go sends, in index order.
func (f formValues) all(name string) []string {
	type kv struct {
		i int
		v string
	}
	var out []kv
	for k, vs := range f {
		switch {
		case k == name || k == name+"[]":
			for _, v := range vs {
				out = append(out, kv{-1, v})
			}
		case strings.HasPrefix(k, name+"[") && strings.HasSuffix(k, "]"):
			n, err := strconv.Atoi(k[len(name)+1 : len(k)-1])
			if err != nil {
				continue
			}
			for _, v := range vs {
				out = append(out, kv{n, v})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b kv) int { return cmp.Compare(a.i, b.i) })
	vals := make([]string, 0, len(out))
	for _, o := range out {
		vals = append(vals, o.v)
	}
	return vals
}

// createdFilter is a created / created[gte|gt|lte|lt] filter.
type createdFilter struct {
	set              bool
	gte, gt, lte, lt *int64
	eq               *int64
}

func (f formValues) created() (createdFilter, *apiError) {
	var c createdFilter
	parse := func(key string) (*int64, *apiError) {
		v := f.get(key)
		if v == "" {
			return nil, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, badRequest(key, "Invalid integer: %s", v)
		}
		c.set = true
		return &n, nil
	}
	var err *apiError
	if c.eq, err = parse("created"); err != nil {
		return c, err
	}
	if c.gte, err = parse("created[gte]"); err != nil {
		return c, err
	}
	if c.gt, err = parse("created[gt]"); err != nil {
		return c, err
	}
	if c.lte, err = parse("created[lte]"); err != nil {
		return c, err
	}
	if c.lt, err = parse("created[lt]"); err != nil {
		return c, err
	}
	return c, nil
}

func (c createdFilter) match(t int64) bool {
	switch {
	case c.eq != nil && t != *c.eq:
		return false
	case c.gte != nil && t < *c.gte:
		return false
	case c.gt != nil && t <= *c.gt:
		return false
	case c.lte != nil && t > *c.lte:
		return false
	case c.lt != nil && t >= *c.lt:
		return false
	}
	return true
}

// expansion is the tree of expand[] paths of a call, rooted at the answer's type.
type expansion struct {
	kids map[string]*expansion
}

// has reports whether field is expanded here.
func (e *expansion) has(field string) bool {
	return e != nil && e.kids[field] != nil
}

// at returns the expansions below field (nil when there are none).
func (e *expansion) at(field string) *expansion {
	if e == nil {
		return nil
	}
	return e.kids[field]
}

// fieldRef says what a field of a Stripe object holds.
type fieldRef struct {
	typ        string // type of the value: "invoice", "list:invoice_payment", …
	expandable bool   // an id unless expanded (or, for includable lists, absent unless expanded)
}

// fieldOf is the expansion schema of the objects the fake renders: the fields that can be expanded
// and the object-valued fields a path may go through.
func fieldOf(typ, field string) (fieldRef, bool) {
	if elem, ok := strings.CutPrefix(typ, "list:"); ok {
		if field == "data" {
			return fieldRef{typ: elem}, true
		}
		return fieldRef{}, false
	}
	exp := func(t string) (fieldRef, bool) { return fieldRef{typ: t, expandable: true}, true }
	nav := func(t string) (fieldRef, bool) { return fieldRef{typ: t}, true }
	switch typ + "." + field {
	case "subscription.customer", "invoice.customer", "payment_intent.customer", "charge.customer",
		"checkout.session.customer", "billing_portal.session.customer":
		return exp("customer")
	case "subscription.latest_invoice", "invoice_payment.invoice", "checkout.session.invoice":
		return exp("invoice")
	case "subscription.items":
		return nav("list:subscription_item")
	case "subscription_item.price", "item.price":
		return nav("price")
	case "price.product":
		return exp("product")
	case "invoice.payments":
		return exp("list:invoice_payment")
	case "invoice.lines":
		return nav("list:line_item")
	case "invoice_payment.payment":
		return nav("invoice_payment_payment")
	case "invoice_payment_payment.payment_intent", "charge.payment_intent", "refund.payment_intent",
		"dispute.payment_intent", "checkout.session.payment_intent":
		return exp("payment_intent")
	case "invoice_payment_payment.charge", "payment_intent.latest_charge", "refund.charge", "dispute.charge":
		return exp("charge")
	case "charge.refunds":
		return exp("list:refund")
	case "checkout.session.line_items":
		return exp("list:item")
	case "checkout.session.subscription":
		return exp("subscription")
	}
	return fieldRef{}, false
}

// readPermission is what a restricted key needs to see an expanded object of type typ.
func readPermission(typ string) string {
	typ = strings.TrimPrefix(typ, "list:")
	switch typ {
	case "invoice_payment":
		return "rak_invoice_read"
	case "refund":
		return "rak_charge_read"
	case "item":
		return "rak_checkout_session_read"
	case "checkout.session":
		return "rak_checkout_session_read"
	}
	return "rak_" + typ + "_read"
}

// parseExpand validates expand[] paths against the schema, starting at root, and returns the tree and
// the read permissions the expanded objects need. Like Stripe it refuses a path that names a field
// that cannot be expanded (or is listed in refuse), and paths deeper than four levels below the object.
func parseExpand(root string, paths, refuse []string) (*expansion, []string, *apiError) {
	tree := &expansion{}
	var perms []string
	for _, p := range paths {
		if slices.Contains(refuse, p) {
			return nil, nil, badRequest("expand", "This property cannot be expanded (%s).", p)
		}
		segs := strings.Split(p, ".")
		depth := len(segs)
		if strings.HasPrefix(root, "list:") && segs[0] == "data" {
			depth--
		}
		if depth > 4 {
			return nil, nil, badRequest("expand", "You cannot expand more than 4 levels of a property. Property: %s", p)
		}
		typ, node := root, tree
		for i, seg := range segs {
			ref, ok := fieldOf(typ, seg)
			if !ok || (i == len(segs)-1 && !ref.expandable) {
				return nil, nil, badRequest("expand", "This property cannot be expanded (%s).", strings.Join(segs[:i+1], "."))
			}
			if ref.expandable {
				perms = append(perms, readPermission(ref.typ))
			}
			if node.kids == nil {
				node.kids = map[string]*expansion{}
			}
			next := node.kids[seg]
			if next == nil {
				next = &expansion{}
				node.kids[seg] = next
			}
			typ, node = ref.typ, next
		}
	}
	return tree, perms, nil
}

// listObject is Stripe's list envelope.
type listObject struct {
	Object     string `json:"object"`
	Data       []any  `json:"data"`
	HasMore    bool   `json:"has_more"`
	TotalCount *int   `json:"total_count,omitempty"`
	URL        string `json:"url"`
}

// pageSize returns the page size of a call: limit (default 10, 1..100), capped by MaxPageSize.
func (s *Server) pageSize(f formValues) (int, *apiError) {
	n := 10
	if v := f.get("limit"); v != "" {
		l, err := strconv.Atoi(v)
		if err != nil || l < 1 || l > 100 {
			return 0, badRequest("limit", "Invalid limit: must be between 1 and 100")
		}
		n = l
	}
	if s.opts.MaxPageSize > 0 && n > s.opts.MaxPageSize {
		n = s.opts.MaxPageSize
	}
	return n, nil
}

// paginate answers a list call. items holds every matching object in list order: newest first, or
// oldest first when ascending (line items, subscription items); render turns one into its JSON
// shape. It honours limit, starting_after and ending_before as Stripe does: the cursor is any object
// id, and an ending_before page holds the objects just before the cursor in list order.
func paginate[T any](s *Server, rq *request, url string, ascending bool, items []T, id func(T) string, render func(T) any) (any, *apiError) {
	n, aerr := s.pageSize(rq.form)
	if aerr != nil {
		return nil, aerr
	}
	after, before := rq.form.get("starting_after"), rq.form.get("ending_before")
	if after != "" && before != "" {
		return nil, badRequest("ending_before", "You may only specify one of these parameters: ending_before, starting_after.")
	}
	// rank orders the list: a higher rank comes first.
	rank := func(id string) int64 {
		if ascending {
			return -s.st.seq[id]
		}
		return s.st.seq[id]
	}
	seqOf := func(cursor, param string) (int64, *apiError) {
		if _, ok := s.st.seq[cursor]; !ok {
			return 0, &apiError{status: 400, typ: "invalid_request_error", code: "resource_missing",
				message: "No such object: '" + cursor + "'", param: param}
		}
		return rank(cursor), nil
	}
	var page []T
	hasMore := false
	switch {
	case before != "":
		q, aerr := seqOf(before, "ending_before")
		if aerr != nil {
			return nil, aerr
		}
		var newer []T // newest first
		for _, it := range items {
			if rank(id(it)) > q {
				newer = append(newer, it)
			}
		}
		start := max(len(newer)-n, 0)
		page, hasMore = newer[start:], start > 0
	default:
		var rest []T
		if after != "" {
			q, aerr := seqOf(after, "starting_after")
			if aerr != nil {
				return nil, aerr
			}
			for _, it := range items {
				if rank(id(it)) < q {
					rest = append(rest, it)
				}
			}
		} else {
			rest = items
		}
		page, hasMore = rest[:min(n, len(rest))], len(rest) > n
	}
	data := make([]any, 0, len(page))
	for _, it := range page {
		data = append(data, render(it))
	}
	return listObject{Object: "list", Data: data, HasMore: hasMore, URL: url}, nil
}

// embeddedList renders a list inside an object (subscription items, invoice payments, line items,
// refunds): the first page of up to limit objects, capped by MaxPageSize.
func embeddedList[T any](s *Server, url string, items []T, limit int, render func(T) any) listObject {
	if s.opts.MaxPageSize > 0 && limit > s.opts.MaxPageSize {
		limit = s.opts.MaxPageSize
	}
	data := make([]any, 0, min(limit, len(items)))
	for _, it := range items[:min(limit, len(items))] {
		data = append(data, render(it))
	}
	total := len(items)
	return listObject{Object: "list", Data: data, HasMore: len(items) > limit, TotalCount: &total, URL: url}
}
