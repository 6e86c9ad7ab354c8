package billing

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/stripe/stripe-go/v85"

	"github.com/membersync/membersync/internal/provider"
)

// Price is one Stripe price as the catalog shows it: its product's name and what it costs.
type Price struct {
	ID        string // price_…
	ProductID string // prod_…
	// ProductName is the product's name; "" when the product is deleted or the key may not read
	// products (then Name falls back to the nickname or the id).
	ProductName string
	Nickname    string
	// Active is false for an archived price (existing subscriptions on it go on).
	Active bool
	// Currency is the lowercase ISO code ("eur").
	Currency string
	// UnitAmount is in the currency's smallest unit (cents; yen for JPY); UnitAmountDecimal holds
	// it with sub-unit precision when Stripe has one.
	UnitAmount        int64
	UnitAmountDecimal float64
	// Interval is day, week, month or year for a recurring price, "" for a one-time price;
	// IntervalCount is how many intervals lie between two charges.
	Interval      string
	IntervalCount int64
	// CustomAmount: the customer chooses the amount (Checkout's "pay what you want").
	CustomAmount bool
	// Tiered: the amount depends on the quantity (billing_scheme tiered).
	Tiered bool
}

// Name is what the founder calls the price: its product's name, else its nickname, else its id.
func (p Price) Name() string {
	switch {
	case p.ProductName != "":
		return p.ProductName
	case p.Nickname != "":
		return p.Nickname
	}
	return p.ID
}

// Amount says what the price costs: "€29/month", "$199", "€290 every 2 years", "tiered" or
// "customer chooses".
func (p Price) Amount() string {
	var amount string
	switch {
	case p.CustomAmount:
		amount = "customer chooses"
	case p.Tiered:
		amount = "tiered"
	default:
		amount = FormatAmount(p.UnitAmount, p.UnitAmountDecimal, p.Currency)
	}
	switch {
	case p.Interval == "":
		return amount
	case p.IntervalCount > 1:
		return fmt.Sprintf("%s every %d %ss", amount, p.IntervalCount, p.Interval)
	}
	return amount + "/" + p.Interval
}

// Label is the price as pages show it: "Pro (€29/month)".
func (p Price) Label() string { return p.Name() + " (" + p.Amount() + ")" }

// zeroDecimal are the currencies Stripe counts in whole units (docs.stripe.com/currencies);
// threeDecimal those it counts in thousandths.
var (
	zeroDecimal = map[string]bool{"bif": true, "clp": true, "djf": true, "gnf": true, "jpy": true, "kmf": true,
		"krw": true, "mga": true, "pyg": true, "rwf": true, "ugx": true, "vnd": true, "vuv": true, "xaf": true,
		"xof": true, "xpf": true}
	threeDecimal = map[string]bool{"bhd": true, "jod": true, "kwd": true, "omr": true, "tnd": true}
	// symbols prefix an amount; other currencies are written "29 SEK".
	symbols = map[string]string{"usd": "$", "eur": "€", "gbp": "£", "jpy": "¥", "inr": "₹", "krw": "₩",
		"cad": "CA$", "aud": "A$", "nzd": "NZ$", "brl": "R$", "mxn": "MX$"}
)

// FormatAmount writes an amount in a currency's smallest unit as people read it: "€29",
// "$29.50", "¥3000", "29 SEK". decimal, when not zero, is the same amount with sub-unit precision
// (Stripe's unit_amount_decimal), shown when it is not a whole number of units.
func FormatAmount(amount int64, decimal float64, currency string) string {
	currency = strings.ToLower(currency)
	places := 2
	switch {
	case zeroDecimal[currency]:
		places = 0
	case threeDecimal[currency]:
		places = 3
	}
	unit := 1.0
	for range places {
		unit *= 10
	}
	value := float64(amount) / unit
	if decimal != 0 {
		value = decimal / unit
	}
	var num string
	if value == float64(int64(value)) {
		num = strconv.FormatInt(int64(value), 10)
	} else {
		num = strconv.FormatFloat(value, 'f', -1, 64)
		if _, frac, _ := strings.Cut(num, "."); len(frac) < places {
			num += strings.Repeat("0", places-len(frac))
		}
	}
	if sym, ok := symbols[currency]; ok {
		return sym + num
	}
	if currency == "" {
		return num
	}
	return num + " " + strings.ToUpper(currency)
}

// Prices returns every price of the account, active and archived, newest first, each with its
// product's name (one list call per 100 prices, products expanded). A restricted key without Read
// on Products cannot expand them: the prices are then listed again without product names rather
// than not at all.
func (r *Reader) Prices(ctx context.Context) ([]Price, error) {
	out, err := r.listPrices(ctx, true)
	if provider.KindOf(err) == provider.Config {
		if plain, perr := r.listPrices(ctx, false); perr == nil {
			return plain, nil
		}
	}
	return out, err
}

func (r *Reader) listPrices(ctx context.Context, withProducts bool) ([]Price, error) {
	ctx, tr := track(ctx)
	p := &stripe.PriceListParams{}
	p.Limit = stripe.Int64(pageSize)
	if withProducts {
		p.AddExpand("data.product")
	}
	var out []Price
	for sp, err := range r.sc.V1Prices.List(ctx, p).All(ctx) {
		if err != nil {
			return nil, tr.fail(err)
		}
		out = append(out, priceOf(sp))
	}
	return out, nil
}

// priceOf reads a stripe-go price.
func priceOf(sp *stripe.Price) Price {
	p := Price{ID: sp.ID, Nickname: sp.Nickname, Active: sp.Active, Currency: string(sp.Currency),
		UnitAmount: sp.UnitAmount, UnitAmountDecimal: sp.UnitAmountDecimal,
		CustomAmount: sp.CustomUnitAmount != nil, Tiered: sp.BillingScheme == stripe.PriceBillingSchemeTiered}
	if sp.Product != nil {
		p.ProductID = sp.Product.ID
		if !sp.Product.Deleted {
			p.ProductName = sp.Product.Name
		}
	}
	if sp.Recurring != nil {
		p.Interval, p.IntervalCount = string(sp.Recurring.Interval), sp.Recurring.IntervalCount
	}
	return p
}
