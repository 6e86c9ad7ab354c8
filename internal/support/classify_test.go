package support

import (
	"slices"
	"strings"
	"testing"
)

// TestClassify is the classifier against messages as customers write them, in English, Spanish,
// French, German and Portuguese, with typos of case, accents and apostrophes.
func TestClassify(t *testing.T) {
	tests := []struct {
		lang, subject, body, want string
	}{
		// English
		{"en", "Paid but cannot access", "Hi, I paid yesterday but I cannot access the community. Can you help?", CategoryAccess},
		{"en", "login", "I can't log in to Circle, it says my email isn't registered.", CategoryAccess},
		{"en", "", "CANT LOGIN!!! I just bought the course", CategoryAccess},
		{"en", "Locked out", "Hey, I'm locked out of the membership since this morning.", CategoryAccess},
		{"en", "Re: your order", "I paid for Pro but still no access to the Pro space.", CategoryAccess},
		{"en", "help", "Where do I log in? I bought the bundle an hour ago.", CategoryAccess},
		{"en", "access", "Hello, I don’t have access to the course after paying. Thanks, Ana", CategoryAccess},
		{"en", "Welcome email?", "I didn't receive the welcome email after my purchase.", CategoryWelcomeEmail},
		{"en", "No invite", "Never got the invite to the community. Checked spam too.", CategoryWelcomeEmail},
		{"en", "", "Hi! I haven't received any email since I signed up on Monday.", CategoryWelcomeEmail},
		{"en", "invitation link expired", "The invitation link in your email says it expired.", CategoryWelcomeEmail},
		{"en", "Charged twice", "I was charged twice for the same month, please look into it.", CategoryBilling},
		{"en", "Invoice", "Could you send me an invoice with my company's VAT number?", CategoryBilling},
		{"en", "card", "My card was declined but the money left my account.", CategoryBilling},
		{"en", "Cancel", "Please cancel my subscription at the end of the month.", CategoryBilling},
		{"en", "Refund request", "I'd like a refund, the course isn't what I expected.", CategoryRefund},
		{"en", "money", "Can I get my money back? I bought by mistake.", CategoryRefund},
		{"en", "Great content", "Just wanted to say thanks for the last live session!", CategoryOther},
		{"en", "Question about next cohort", "When does the next cohort start?", CategoryOther},
		{"en", "Re: login", "> I can't log in\nThanks, it works now!", CategoryOther},
		// Spanish
		{"es", "No puedo acceder", "Hola, pagué ayer pero no puedo acceder a la comunidad.", CategoryAccess},
		{"es", "", "No me deja entrar, dice que mi correo no existe.", CategoryAccess},
		{"es", "acceso", "Ya pague y sigo SIN ACCESO al curso", CategoryAccess},
		{"es", "Correo de bienvenida", "No recibí el correo de bienvenida después de la compra.", CategoryWelcomeEmail},
		{"es", "", "No me llegó ningún email con la invitación.", CategoryWelcomeEmail},
		{"es", "Cobro doble", "Me cobraron dos veces este mes, ¿pueden revisarlo?", CategoryBilling},
		{"es", "factura", "Necesito la factura de mi pago para la empresa.", CategoryBilling},
		{"es", "Reembolso", "Quiero un reembolso, por favor.", CategoryRefund},
		{"es", "", "¿Me pueden devolver el dinero? Compré por error.", CategoryRefund},
		{"es", "Gracias", "Muchas gracias por la clase de hoy, fue genial.", CategoryOther},
		// French
		{"fr", "Impossible d'accéder", "Bonjour, j'ai payé mais impossible d’accéder à la communauté.", CategoryAccess},
		{"fr", "", "Je n'arrive pas à me connecter depuis hier soir.", CategoryAccess},
		{"fr", "accès", "JE N'AI PAS ACCES au cours malgré le paiement", CategoryAccess},
		{"fr", "Email de bienvenue", "Je n'ai pas reçu l'email de bienvenue.", CategoryWelcomeEmail},
		{"fr", "Débité deux fois", "J'ai été débité deux fois pour le même abonnement.", CategoryBilling},
		{"fr", "Résilier", "Je voudrais résilier mon abonnement.", CategoryBilling},
		{"fr", "Remboursement", "Pouvez-vous me rembourser ? Merci.", CategoryRefund},
		{"fr", "Merci", "Merci pour la formation, c'était top.", CategoryOther},
		// German
		{"de", "Kein Zugang", "Hallo, ich habe bezahlt, aber keinen Zugang zur Community.", CategoryAccess},
		{"de", "", "Ich kann mich nicht einloggen, das Passwort wird abgelehnt.", CategoryAccess},
		{"de", "Willkommensmail", "Ich habe keine Willkommens-E-Mail erhalten.", CategoryWelcomeEmail},
		{"de", "Doppelt abgebucht", "Mir wurde der Betrag zweimal abgebucht.", CategoryBilling},
		{"de", "Kündigung", "Ich möchte mein Abo kündigen.", CategoryBilling},
		{"de", "Rückerstattung", "Bitte um Rückerstattung, der Kurs passt nicht.", CategoryRefund},
		{"de", "Frage", "Wann findet das nächste Treffen statt?", CategoryOther},
		// Portuguese
		{"pt", "Não consigo acessar", "Paguei ontem mas não consigo acessar a comunidade.", CategoryAccess},
		{"pt", "", "Nao recebi o email de boas-vindas.", CategoryWelcomeEmail},
		{"pt", "Cobrança duplicada", "Fui cobrado duas vezes no cartão.", CategoryBilling},
		{"pt", "Reembolso", "Gostaria de pedir o reembolso.", CategoryRefund},
		{"pt", "Obrigado", "Obrigado pelo conteúdo!", CategoryOther},
	}
	if len(tests) < 40 {
		t.Fatalf("the table has %d messages; the brief asks for at least 40", len(tests))
	}
	langs := map[string]int{}
	var rs Rules
	for _, tt := range tests {
		langs[tt.lang]++
		t.Run(tt.lang+"/"+tt.want+"/"+tt.subject, func(t *testing.T) {
			got, matched := rs.Classify(tt.subject, tt.body)
			if got != tt.want {
				t.Errorf("Classify(%q, %q) = %q (rules %q), want %q", tt.subject, tt.body, got, matched, tt.want)
			}
			if got != CategoryOther && !slices.ContainsFunc(matched, func(r string) bool { return strings.HasPrefix(r, got+": ") }) {
				t.Errorf("matched rules %q name no %s rule", matched, got)
			}
			if tt.want == CategoryOther && len(matched) != 0 {
				t.Errorf("a message of no category matched %q", matched)
			}
		})
	}
	if len(langs) < 3 {
		t.Errorf("languages %v: want English and at least two others", langs)
	}
}

// TestClassifyRecordsEveryRule checks that a message matching several categories lists every rule
// and picks the category with the most.
func TestClassifyRecordsEveryRule(t *testing.T) {
	got, matched := Rules{}.Classify("Charged twice and no access", "I was charged twice, I cannot access the course and I can't log in.")
	if got != CategoryAccess {
		t.Errorf("category %q, want access (three access rules against one billing rule)", got)
	}
	for _, want := range []string{"access: cannot access", "access: can't log in", "billing: charged twice"} {
		if !slices.Contains(matched, want) {
			t.Errorf("matched %q, want it to include %q", matched, want)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Can’t LOG-IN!":      "cant log in",
		"Rückerstattung":     "ruckerstattung",
		"Straße":             "strasse",
		"  não   recebi\n\t": "nao recebi",
		"d'accéder":          "dacceder",
		"Ｆｕｌｌwidth ﬁle":      "fullwidth file",
	} {
		if got := normalize(in, false); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultRulesParse(t *testing.T) {
	names := map[string]bool{}
	for _, r := range DefaultRules().List() {
		if names[r.Name] {
			t.Errorf("rule %q is listed twice", r.Name)
		}
		names[r.Name] = true
	}
	if len(names) < 100 {
		t.Errorf("%d default rules; the table should hold the five languages", len(names))
	}
}

func TestCustomRules(t *testing.T) {
	rs, err := NewRules(map[string][]string{"access": {"Kurs & gesperrt"}, "refund": {"plata înapoi"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := rs.Classify("", "Mein Kurs ist GESPERRT"); got != CategoryAccess {
		t.Errorf("custom rule: got %q, want access", got)
	}
	if got, _ := rs.Classify("", "I cannot access anything"); got != CategoryOther {
		t.Errorf("with replace_defaults the default rules must not apply: got %q", got)
	}
	if got, _ := rs.Classify("", "vreau plata inapoi"); got != CategoryRefund {
		t.Errorf("accent-insensitive custom rule: got %q, want refund", got)
	}
	if _, err := NewRules(map[string][]string{"spam": {"viagra"}}, false); err == nil {
		t.Error("an unknown category was accepted")
	}
	if _, err := NewRules(map[string][]string{"access": {" & x"}}, false); err == nil {
		t.Error("a phrase with an empty part was accepted")
	}
	if _, err := NewRules(nil, true); err == nil {
		t.Error("replacing the defaults with nothing was accepted")
	}
}
