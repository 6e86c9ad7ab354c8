package status_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/mail"
	"github.com/membersync/membersync/internal/status"
)

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// form posts a form as the client.
func (c *testClient) form(path string, v url.Values) (int, http.Header, string) {
	c.w.t.Helper()
	req, err := http.NewRequest("POST", c.w.srv.URL+path, strings.NewReader(v.Encode()))
	if err != nil {
		c.w.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Test-Client", c.addr)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.w.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, readAll(c.w.t, resp)
}

// settle delivers the fake Stripe's events and syncs every person they touch, until nothing is
// left to do (a merge of two customers into one person takes a second round).
func (w *world) settle() {
	w.t.Helper()
	for range 4 {
		people := w.deliver()
		if len(people) == 0 {
			return
		}
		for _, pid := range people {
			_ = w.sync(pid, 1)
		}
	}
}

// TestSameEmailPurchaseRevealsNothingOfTheVictim is issue 13's finding 1: a stranger who buys
// anything with a member's email is merged into the member's person for access, but nothing on
// the buyer's welcome page, its progress JSON, or any link or button reachable from it names the
// member's plan or opens a billing portal for the member's customer.
func TestSameEmailPurchaseRevealsNothingOfTheVictim(t *testing.T) {
	w := newWorld(t, worldOptions{})
	victim, _, victimSub := w.subscribe("victim@example.com")
	w.settle()
	w.stripe.FailPayment(victimSub) // the victim's Pro is past due: a portal would be worth stealing
	w.settle()
	pid := w.person(victim)

	buyer := w.stripe.CreateCustomer("Victim@Example.com ", "Mallory")
	buyerSession, _ := w.stripe.Purchase(buyer, w.coursePrice)
	w.settle()
	w.mustSync(pid) // the merge asks for the survivor's sync (a job in serve)
	if got := w.person(buyer); got != pid {
		t.Fatalf("the buyer's customer is person %d, want the victim's person %d (access is merged by email)", got, pid)
	}
	if !slices.Contains(w.circle.GroupMemberEmails(w.courseGroup), "victim@example.com") {
		t.Fatalf("the email's owner did not get the course the same-email purchase paid for")
	}

	mallory := w.client("203.0.113.66")
	victimWords := []string{"Pro membership", "Payment failed", "Update payment method", victim}
	mustNotReveal := func(where, body string) {
		t.Helper()
		for _, word := range victimWords {
			if strings.Contains(body, word) {
				t.Errorf("%s reveals %q of the victim's membership:\n%s", where, word, body)
			}
		}
	}

	code, _, body := mallory.do("GET", "/welcome?session_id="+url.QueryEscape(buyerSession))
	if code != 200 {
		t.Fatalf("buyer's welcome page: %d", code)
	}
	mustNotReveal("the welcome page", body)
	code, pr := mallory.progress(buyerSession)
	if code != 200 || pr.StatusURL == "" {
		t.Fatalf("buyer's progress: %d %+v", code, pr)
	}
	mustNotReveal("the progress JSON", pr.Title+" "+pr.Message+" "+pr.State)
	if pr.State == "action" {
		t.Errorf("the buyer's progress says the victim's payment needs action")
	}

	code, _, body = mallory.do("GET", pr.StatusURL)
	if code != 200 {
		t.Fatalf("the buyer's status link: %d", code)
	}
	mustNotReveal("the status page from the welcome page", body)
	if !strings.Contains(body, "Lifetime course") {
		t.Errorf("the buyer's status page does not show what the buyer bought:\n%s", body)
	}

	// The portal opened from the buyer's link is the buyer's own customer's, never the victim's.
	code, _, body = mallory.do("POST", pr.StatusURL+"/portal")
	m := regexp.MustCompile(`href="(http://[^"]+/p/session/bps_[^"]+)"`).FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("portal from the buyer's link: %d\n%s", code, body)
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	portal := readAll(t, resp)
	if strings.Contains(portal, victim) || !strings.Contains(portal, buyer) {
		t.Errorf("the buyer's portal opens customer %q; want the buyer %s, never the victim %s", portal, buyer, victim)
	}

	// The operator's link (the email proven) still shows the whole membership of the address.
	_, _, body = w.client("10.0.0.9").do("GET", w.link(pid, time.Hour))
	if !strings.Contains(body, "Pro membership") || !strings.Contains(body, "Lifetime course") {
		t.Errorf("the operator's link for the address does not show both plans:\n%s", body)
	}
}

// TestCustomerLinkOfAnotherPersonOpensNothing: a link scoped to a customer opens only while that
// customer belongs to the person it names.
func TestCustomerLinkOfAnotherPersonOpensNothing(t *testing.T) {
	w := newWorld(t, worldOptions{})
	ada, _, _ := w.subscribe("ada@example.com")
	bob, _, _ := w.subscribe("bob@example.com")
	w.settle()
	forged := "/status/" + status.NewCustomerToken([]byte(signingKey), w.person(ada), bob, time.Hour, w.clock.Now())
	if code, _, _ := w.client("10.0.0.1").do("GET", forged); code != http.StatusNotFound {
		t.Errorf("a link naming Ada's person with Bob's customer answered %d, want 404", code)
	}
}

// capturedMail records the emails a test's Mailer was asked to send.
type capturedMail struct {
	mu   sync.Mutex
	sent []mail.Message
	got  chan struct{}
}

func newCapturedMail() *capturedMail { return &capturedMail{got: make(chan struct{}, 100)} }

func (c *capturedMail) Send(_ context.Context, m mail.Message) error {
	c.mu.Lock()
	c.sent = append(c.sent, m)
	c.mu.Unlock()
	c.got <- struct{}{}
	return nil
}

func (c *capturedMail) wait(t *testing.T) mail.Message {
	t.Helper()
	select {
	case <-c.got:
	case <-time.After(10 * time.Second):
		t.Fatal("no email was sent")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sent[len(c.sent)-1]
}

func (c *capturedMail) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sent)
}

// TestEmailMeMyStatusLink: the link that shows every membership of an address goes only to that
// address, never on screen; the answer is the same for members and strangers; and one address
// receives a bounded number of links.
func TestEmailMeMyStatusLink(t *testing.T) {
	mails := newCapturedMail()
	w := newWorld(t, worldOptions{mailer: mails})
	ada, _, _ := w.subscribe("ada@example.com")
	w.settle()
	c := w.client("198.51.100.1")

	post := func(c *testClient, email string) (int, string) {
		t.Helper()
		code, _, body := c.form("/status/email-link", url.Values{"email": {email}})
		return code, body
	}
	codeMember, bodyMember := post(c, " Ada@Example.com")
	msg := mails.wait(t)
	if codeMember != 200 || len(msg.To) != 1 || msg.To[0] != "ada@example.com" {
		t.Fatalf("member: status %d, mail to %v", codeMember, msg.To)
	}
	link := regexp.MustCompile(`http://status\.example\.test(/status/[A-Za-z0-9_-]+)`).FindStringSubmatch(msg.Text)
	if link == nil {
		t.Fatalf("the email holds no status link:\n%s", msg.Text)
	}
	if strings.Contains(bodyMember, link[1]) {
		t.Errorf("the mailed link is shown on screen")
	}
	_, _, page := w.client("10.0.0.2").do("GET", link[1])
	if !strings.Contains(page, "Pro membership") {
		t.Errorf("the mailed link does not show the membership:\n%s", page)
	}

	codeStranger, bodyStranger := post(c, "nobody@example.com")
	if codeStranger != codeMember || strings.ReplaceAll(bodyStranger, "nobody@example.com", "X") != strings.ReplaceAll(bodyMember, "ada@example.com", "X") {
		t.Errorf("a stranger's answer differs from a member's: %d vs %d", codeStranger, codeMember)
	}
	if code, _ := post(c, "not an email"); code != http.StatusBadRequest {
		t.Errorf("a malformed address answered %d, want 400", code)
	}

	// Three links per address per hour, whoever asks; a fourth is answered alike and not sent.
	post(w.client("198.51.100.2"), "ada@example.com")
	mails.wait(t)
	post(w.client("198.51.100.3"), "ada@example.com")
	mails.wait(t)
	if code, _ := post(w.client("198.51.100.4"), "ada@example.com"); code != 200 {
		t.Errorf("the fourth request answered %d, want 200 like the others", code)
	}
	// Another member's request after it: once that mail is out, a fourth to Ada would be too.
	bob, _, _ := w.subscribe("bob@example.com")
	w.settle()
	post(w.client("198.51.100.5"), "bob@example.com")
	if m := mails.wait(t); m.To[0] != "bob@example.com" {
		t.Errorf("a fourth email went to %v", m.To)
	}
	if n := mails.count(); n != 4 {
		t.Errorf("%d emails in all, want 3 to Ada and 1 to Bob", n)
	}
	_ = bob
	if !journaled(t, w, w.person(ada), "status_link_emailed") {
		t.Error("the emailed link is not in the person's journal")
	}

	// One client may ask ten times an hour.
	flood := w.client("198.51.100.99")
	for i := range 10 {
		post(flood, "x"+string(rune('a'+i))+"@example.com")
	}
	if code, _ := post(flood, "y@example.com"); code != http.StatusTooManyRequests {
		t.Errorf("the eleventh request from one client answered %d, want 429", code)
	}
}
