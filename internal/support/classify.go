package support

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Categories a message is classified into.
const (
	CategoryAccess       = "access"        // paid but cannot get in
	CategoryWelcomeEmail = "welcome_email" // the invitation or welcome email never arrived
	CategoryBilling      = "billing"       // charges, invoices, cards, cancellations
	CategoryRefund       = "refund"        // asks for money back
	CategoryOther        = "other"         // no rule matched
)

// Categories lists every category, access-related first (the order of charts and tables).
var Categories = []string{CategoryAccess, CategoryWelcomeEmail, CategoryBilling, CategoryRefund, CategoryOther}

// AccessRelated reports whether a category counts toward the seed's acceptance check: "paid but
// cannot access" and "did not receive the welcome email" are the same trouble seen twice.
func AccessRelated(category string) bool {
	return category == CategoryAccess || category == CategoryWelcomeEmail
}

// priority breaks ties between categories matched by as many rules: the access-related ones
// first, since those are the tickets membersync can answer by itself; a refund request before a
// billing question, since it asks for an action.
var priority = []string{CategoryWelcomeEmail, CategoryAccess, CategoryRefund, CategoryBilling}

// Rule is one keyword rule: the message belongs to Category when one of Phrases occurs in it.
// Phrases are compared after normalization (lowercase, accents and apostrophes dropped,
// punctuation as spaces) on word boundaries. A phrase ending in "*" matches any word starting so
// ("refund*" matches "refunded"); "a & b" matches when both parts occur, in any order.
type Rule struct {
	Name     string // what Outcome and the admin record as matched, such as "access: can't log in"
	Category string
	phrase   [][]string // the parts of the phrase (split on "&"), each its normalized words
}

// Rules is the classifier: an ordered list of keyword rules. The zero value classifies with
// DefaultRules.
type Rules struct {
	list []Rule
}

// NewRule builds a rule of category from a phrase as a person writes it.
func NewRule(category, phrase string) (Rule, error) {
	if !slices.Contains(Categories, category) || category == CategoryOther {
		return Rule{}, fmt.Errorf("support rule %q: unknown category %q (use access, welcome_email, billing or refund)", phrase, category)
	}
	r := Rule{Name: category + ": " + strings.TrimSpace(phrase), Category: category}
	for part := range strings.SplitSeq(phrase, "&") {
		words := strings.Fields(normalize(part, true))
		if len(words) == 0 {
			return Rule{}, fmt.Errorf("support rule %q: a part has no words", phrase)
		}
		r.phrase = append(r.phrase, words)
	}
	return r, nil
}

// NewRules returns the default rules plus custom ones (category → phrases), or only the custom
// ones when replace is set.
func NewRules(custom map[string][]string, replace bool) (Rules, error) {
	var rs Rules
	if !replace {
		rs = DefaultRules()
	}
	var errs []error
	for _, cat := range Categories {
		for _, p := range custom[cat] {
			r, err := NewRule(cat, p)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			rs.list = append(rs.list, r)
		}
	}
	for cat := range custom {
		if !slices.Contains(Categories, cat) || cat == CategoryOther {
			errs = append(errs, fmt.Errorf("support rules: unknown category %q (use access, welcome_email, billing or refund)", cat))
		}
	}
	if len(rs.list) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("support rules: replacing the defaults with no rules would classify every message as other"))
	}
	return rs, errors.Join(errs...)
}

// List returns the rules in order.
func (rs Rules) List() []Rule {
	if rs.list == nil {
		return DefaultRules().list
	}
	return rs.list
}

// Classify returns the category of a message and the names of the rules that matched (every
// matching rule, of every category, so that the admin shows why). The category is the one with
// the most matching rules, ties broken access-related first; other when none matched.
func (rs Rules) Classify(subject, body string) (category string, matched []string) {
	text := " " + normalize(subject+"\n"+stripQuoted(body), false) + " "
	score := map[string]int{}
	for _, r := range rs.List() {
		if r.matches(text) {
			score[r.Category]++
			matched = append(matched, r.Name)
		}
	}
	category = CategoryOther
	best := 0
	for _, c := range priority {
		if score[c] > best {
			category, best = c, score[c]
		}
	}
	return category, matched
}

// matches reports whether every part of the rule's phrase occurs in text (normalized, padded with
// spaces).
func (r Rule) matches(text string) bool {
	for _, words := range r.phrase {
		if !containsWords(text, words) {
			return false
		}
	}
	return true
}

// containsWords reports whether words occur in text consecutively on word boundaries; a last word
// ending in "*" matches any word it starts.
func containsWords(text string, words []string) bool {
	last := words[len(words)-1]
	if prefix, ok := strings.CutSuffix(last, "*"); ok {
		needle := " " + strings.Join(append(slices.Clone(words[:len(words)-1]), prefix), " ")
		return strings.Contains(text, needle)
	}
	return strings.Contains(text, " "+strings.Join(words, " ")+" ")
}

// stripQuoted drops the lines of a reply that quote an earlier message ("> …"), so that a reply
// is classified by what its sender wrote now.
func stripQuoted(body string) string {
	if !strings.Contains(body, ">") {
		return body
	}
	var b strings.Builder
	for line := range strings.Lines(body) {
		if strings.HasPrefix(strings.TrimSpace(line), ">") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// normalize folds text for matching: Unicode-decomposed with compatibility forms folded
// (full-width letters, ligatures), accents dropped, lowercased, "ß" as "ss", apostrophes dropped
// ("can't" → "cant", "n'arrive" → "narrive"), every other character that is not a letter or digit
// a space, and spaces collapsed. keepStar keeps "*" (in a rule's phrase).
func normalize(s string, keepStar bool) string {
	var b strings.Builder
	b.Grow(len(s))
	space := true
	for _, r := range norm.NFKD.String(s) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == '\'' || r == '’' || r == '‘' || r == 'ʼ' || r == '`' || r == '´':
			continue
		case r == 'ß':
			b.WriteString("ss")
			space = false
		case unicode.IsLetter(r) || unicode.IsDigit(r) || keepStar && r == '*':
			b.WriteRune(unicode.ToLower(r))
			space = false
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// DefaultRules returns the built-in rules: the seed's phrases ("paid but cannot access", "can't
// log in", "didn't receive the welcome email", "charged twice", "refund", "cancel") and their
// common variants in English, Spanish, French, German and Portuguese.
func DefaultRules() Rules {
	var rs Rules
	for _, d := range defaultPhrases {
		for _, p := range d.phrases {
			r, err := NewRule(d.category, p)
			if err != nil {
				panic(err) // the table below is wrong: TestDefaultRulesParse catches it
			}
			rs.list = append(rs.list, r)
		}
	}
	return rs
}

// defaultPhrases are the built-in rules, by category and language. Write them as people write:
// normalization folds case, accents and apostrophes.
var defaultPhrases = []struct {
	category string
	phrases  []string
}{
	{CategoryAccess, []string{
		// English
		"cannot access", "can't access", "can not access", "unable to access", "couldn't access", "could not access",
		"no access", "don't have access", "do not have access", "doesn't give me access", "lost access", "lost my access",
		"access denied", "still no access", "haven't got access", "without access",
		"can't log in", "cannot log in", "can't login", "cannot login", "unable to log in", "unable to login",
		"can't sign in", "cannot sign in", "unable to sign in", "can't get in", "cannot get in", "can't get into",
		"locked out", "login doesn't work", "login not working", "login isn't working", "log in doesn't work",
		"password doesn't work", "password not working", "says i'm not a member", "not a member", "no longer a member",
		"paid & can't access", "paid & no access", "paid & can't get in", "paid & can't log*",
		"where do i log in", "how do i log in", "how do i access", "access the community", "access the course",
		// Spanish
		"no puedo acceder", "no puedo entrar", "no puedo ingresar", "no puedo iniciar sesión", "no tengo acceso",
		"sin acceso", "no me deja entrar", "no me deja acceder", "no consigo entrar", "no consigo acceder",
		"perdí el acceso", "acceso denegado", "no logro entrar",
		// French
		"je ne peux pas accéder", "impossible d'accéder", "impossible de me connecter", "je n'arrive pas à me connecter",
		"je n'arrive pas à accéder", "je ne peux pas me connecter", "je n'ai pas accès", "pas accès", "aucun accès",
		"accès refusé", "pas d'accès",
		// German
		"kein zugang", "keinen zugang", "kein zugriff", "keinen zugriff", "kann mich nicht einloggen",
		"kann mich nicht anmelden", "komme nicht rein", "login funktioniert nicht", "zugang funktioniert nicht",
		"anmeldung funktioniert nicht",
		// Portuguese
		"não consigo acessar", "não consigo entrar", "não consigo fazer login", "sem acesso", "não tenho acesso",
		"acesso negado", "não consigo logar",
	}},
	{CategoryWelcomeEmail, []string{
		// English
		"welcome email", "welcome e-mail", "welcome mail", "welcome message", "invitation email", "invite email",
		"invitation link", "invite link", "no invitation", "no invite", "never got the invite*", "didn't get the invite*",
		"didn't receive & email", "didn't receive & invit*", "did not receive & email", "never received & email",
		"never got & email", "haven't received & email", "didn't get & email", "no email from", "no confirmation email",
		"confirmation email", "check my spam", "not in spam",
		// Spanish
		"correo de bienvenida", "email de bienvenida", "mail de bienvenida", "no recibí & correo", "no recibí & email",
		"no me llegó & correo", "no me llegó & email", "no me ha llegado", "no recibí & invitación", "no recibí la invitación",
		// French
		"email de bienvenue", "mail de bienvenue", "e-mail de bienvenue", "courriel de bienvenue", "pas reçu & email",
		"pas reçu & mail", "pas reçu & courriel", "pas reçu & invitation", "jamais reçu", "aucun email", "aucun mail",
		// German
		"willkommensmail", "willkommens-e-mail", "willkommens-email", "willkommensnachricht", "keine e-mail erhalten",
		"keine email erhalten", "keine mail erhalten", "keine einladung", "einladung nicht erhalten", "keine bestätigungsmail",
		// Portuguese
		"email de boas-vindas", "e-mail de boas-vindas", "não recebi & email", "não recebi & e-mail", "não recebi & convite",
		"não chegou & email", "nenhum email",
	}},
	{CategoryBilling, []string{
		// English
		"charged twice", "charged two times", "double charged", "double charge", "duplicate charge", "billed twice",
		"charged again", "overcharged", "wrong amount", "invoice", "receipt", "card declined", "card was declined",
		"payment failed", "payment didn't go through", "payment declined", "update my card", "update my payment",
		"change my card", "cancel*", "subscription", "billing", "charged me",
		// Spanish ("cancel*" above covers "cancelar", also Portuguese)
		"cobrado dos veces", "cobro doble", "me cobraron dos veces", "me cobraron", "doble cargo", "factura", "recibo",
		"tarjeta rechazada", "suscripción", "pago fallido", "darme de baja",
		// French
		"débité deux fois", "facturé deux fois", "prélevé deux fois", "double prélèvement", "facture", "reçu de paiement",
		"carte refusée", "annuler", "résilier", "abonnement", "paiement refusé", "paiement échoué",
		// German
		"doppelt abgebucht", "zweimal abgebucht", "doppelt belastet", "zweimal belastet", "rechnung", "quittung",
		"karte abgelehnt", "kündigen", "kündigung", "abo", "zahlung fehlgeschlagen", // "abonnement": French above,
		// Portuguese
		"cobrado duas vezes", "cobrança duplicada", "cobraram duas vezes", "fatura", "cartão recusado",
		"assinatura", "pagamento falhou", "pagamento recusado",
	}},
	{CategoryRefund, []string{
		// English
		"refund*", "money back", "chargeback", "reimburse*", "give me my money",
		// Spanish
		"reembols*", "devolución", "devuelvan & dinero", "devolver & dinero",
		// French
		"rembours*",
		// German
		"rückerstattung", "erstatten", "erstattung", "geld zurück",
		// Portuguese
		"estorno", "devolução", "dinheiro de volta",
	}},
}
