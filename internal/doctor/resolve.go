package doctor

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// resolver asks one DNS server (normally a recursive resolver) with miekg/dns, over UDP with EDNS0 and
// the DO bit, retrying over TCP when an answer is truncated.
type resolver struct {
	addr    string
	timeout time.Duration
}

// answer is the outcome of one query: the records of the asked type (CNAMEs followed by the server are
// dropped unless CNAME was asked), the signatures covering them, and whether the name exists.
type answer struct {
	RRs    []dns.RR
	Sigs   []*dns.RRSIG
	Rcode  int
	CNAMEs []*dns.CNAME
	// Authority holds the authority section (the zone's SOA on a negative answer).
	Authority []dns.RR
}

// empty reports whether the query found nothing: NXDOMAIN or no records of the type (a "void" lookup).
func (a answer) empty() bool { return len(a.RRs) == 0 }

// query asks for name/qtype. A SERVFAIL, REFUSED or transport error is an error: the answer is unknown,
// not empty.
func (r *resolver) query(ctx context.Context, name string, qtype uint16) (answer, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.RecursionDesired = true
	m.SetEdns0(4096, true)
	c := &dns.Client{Net: "udp", Timeout: r.timeout, UDPSize: 4096}
	in, _, err := c.ExchangeContext(ctx, m, r.addr)
	if err == nil && in.Rcode == dns.RcodeFormatError {
		// A server that does not speak EDNS0: ask again without it (and without signatures).
		m.Extra = nil
		in, _, err = c.ExchangeContext(ctx, m, r.addr)
	}
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.addr)
	}
	if err != nil {
		return answer{}, fmt.Errorf("asking %s for %s %s: %w", r.addr, name, dns.TypeToString[qtype], err)
	}
	if in.Rcode != dns.RcodeSuccess && in.Rcode != dns.RcodeNameError {
		return answer{}, fmt.Errorf("asking %s for %s %s: %s", r.addr, name, dns.TypeToString[qtype], dns.RcodeToString[in.Rcode])
	}
	ans := answer{Rcode: in.Rcode, Authority: in.Ns}
	for _, rr := range in.Answer {
		switch v := rr.(type) {
		case *dns.RRSIG:
			if v.TypeCovered == qtype {
				ans.Sigs = append(ans.Sigs, v)
			}
		case *dns.CNAME:
			if qtype == dns.TypeCNAME {
				ans.RRs = append(ans.RRs, rr)
			} else {
				ans.CNAMEs = append(ans.CNAMEs, v)
			}
		default:
			if rr.Header().Rrtype == qtype {
				ans.RRs = append(ans.RRs, rr)
			}
		}
	}
	return ans, nil
}

// txt returns the TXT strings at name, each record's character-strings joined as RFC 7208 §3.3 says.
func (r *resolver) txt(ctx context.Context, name string) ([]string, answer, error) {
	ans, err := r.query(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, ans, err
	}
	var out []string
	for _, rr := range ans.RRs {
		out = append(out, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return out, ans, nil
}

// txtWithPrefix returns the TXT records at name that start with prefix (case-insensitive), such as
// "v=spf1" or "v=DMARC1".
func (r *resolver) txtWithPrefix(ctx context.Context, name, prefix string) ([]string, error) {
	all, _, err := r.txt(ctx, name)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, t := range all {
		if hasTagPrefix(t, prefix) {
			out = append(out, t)
		}
	}
	return out, nil
}

// hasTagPrefix reports whether record starts with the version tag prefix, followed by the end, a space
// or a semicolon, ignoring case and surrounding space.
func hasTagPrefix(record, prefix string) bool {
	t := strings.TrimSpace(record)
	if len(t) < len(prefix) || !strings.EqualFold(t[:len(prefix)], prefix) {
		return false
	}
	rest := t[len(prefix):]
	return rest == "" || rest[0] == ' ' || rest[0] == ';' || rest[0] == '\t'
}
