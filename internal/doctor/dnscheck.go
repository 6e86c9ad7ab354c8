package doctor

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// checkDNS audits resolution of the apex and www, the zone's NS and SOA, CAA against the certificate
// actually served, and DNSSEC.
func (a *auditor) checkDNS(ctx context.Context) []Finding {
	var out []Finding
	zone, soa, zoneErr := a.zoneApex(ctx)

	for _, h := range a.hosts() {
		out = append(out, a.checkResolves(ctx, h))
	}
	out = append(out, a.checkApexCNAME(ctx, zone, zoneErr))
	out = append(out, a.checkNS(ctx, zone, zoneErr))
	out = append(out, checkSOA(zone, soa, zoneErr))
	out = append(out, a.checkCAA(ctx))
	out = append(out, a.checkDNSSEC(ctx, zone, zoneErr))
	return out
}

// zoneApex finds the zone that holds the domain: the domain itself when it owns a SOA, otherwise the
// owner of the SOA in a negative answer's authority section, otherwise (the domain is an alias, whose
// answer carries the target's zone) the closest ancestor that owns a SOA.
func (a *auditor) zoneApex(ctx context.Context) (string, *dns.SOA, error) {
	labels := dns.SplitDomainName(a.domain)
	for i := range labels {
		name := strings.Join(labels[i:], ".")
		ans, err := a.dns.query(ctx, name, dns.TypeSOA)
		if err != nil {
			return a.domain, nil, err
		}
		for _, rr := range ans.RRs {
			if soa, ok := rr.(*dns.SOA); ok && sameName(soa.Hdr.Name, name) {
				return name, soa, nil
			}
		}
		for _, rr := range ans.Authority {
			if soa, ok := rr.(*dns.SOA); ok && dns.IsSubDomain(soa.Hdr.Name, dns.Fqdn(name)) {
				return strings.TrimSuffix(strings.ToLower(soa.Hdr.Name), "."), soa, nil
			}
		}
	}
	return a.domain, nil, nil
}

// sameName compares two domain names ignoring case and the trailing dot.
func sameName(x, y string) bool {
	return strings.EqualFold(strings.TrimSuffix(x, "."), strings.TrimSuffix(y, "."))
}

// checkResolves reports whether host has A or AAAA records.
func (a *auditor) checkResolves(ctx context.Context, host string) Finding {
	check := "apex resolves"
	if host != a.domain {
		check = "www resolves"
	}
	var addrs []string
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		ans, err := a.dns.query(ctx, host, t)
		if err != nil {
			return finding(GroupDNS, check, StatusUnknown, "could not resolve "+host+": "+err.Error(), "Check that the DNS server answers, then run doctor again.")
		}
		for _, rr := range ans.RRs {
			switch v := rr.(type) {
			case *dns.A:
				addrs = append(addrs, "A "+v.A.String())
			case *dns.AAAA:
				addrs = append(addrs, "AAAA "+v.AAAA.String())
			}
		}
		for _, c := range ans.CNAMEs {
			if t == dns.TypeA {
				addrs = append(addrs, "CNAME "+strings.TrimSuffix(c.Hdr.Name, ".")+" → "+strings.TrimSuffix(c.Target, "."))
			}
		}
	}
	if !slices.ContainsFunc(addrs, func(s string) bool { return strings.HasPrefix(s, "A") }) {
		return finding(GroupDNS, check, StatusFail, host+" has no A or AAAA record: visitors cannot reach it",
			"Add A (and AAAA) records for "+host+" pointing at the site's host or CDN.", addrs...)
	}
	msg := host + " resolves"
	if !slices.ContainsFunc(addrs, func(s string) bool { return strings.HasPrefix(s, "AAAA") }) {
		msg += " (IPv4 only: no AAAA)"
	}
	return finding(GroupDNS, check, StatusPass, msg, "", addrs...)
}

// checkApexCNAME fails a CNAME at the zone apex, where it conflicts with SOA, NS and MX (RFC 1034 §3.6.2).
func (a *auditor) checkApexCNAME(ctx context.Context, zone string, zoneErr error) Finding {
	const check = "no CNAME at apex"
	ans, err := a.dns.query(ctx, a.domain, dns.TypeCNAME)
	if err != nil {
		return finding(GroupDNS, check, StatusUnknown, "could not look up a CNAME at "+a.domain+": "+err.Error(), "")
	}
	if ans.empty() {
		return finding(GroupDNS, check, StatusPass, a.domain+" has no CNAME", "")
	}
	target := strings.TrimSuffix(ans.RRs[0].(*dns.CNAME).Target, ".")
	if zoneErr == nil && zone != a.domain {
		return finding(GroupDNS, check, StatusPass, a.domain+" is a CNAME to "+target+", allowed since it is not a zone apex (zone "+zone+")", "")
	}
	return finding(GroupDNS, check, StatusFail, a.domain+" is a CNAME to "+target+" at the zone apex: it breaks MX, NS and TXT records there",
		"Replace the apex CNAME with A/AAAA records, or the DNS host's ALIAS/ANAME/CNAME-flattening record.", "CNAME "+a.domain+" → "+target)
}

// checkNS requires at least two nameservers for the zone, each of which resolves.
func (a *auditor) checkNS(ctx context.Context, zone string, zoneErr error) Finding {
	const check = "nameservers"
	ans, err := a.dns.query(ctx, zone, dns.TypeNS)
	if err != nil {
		return finding(GroupDNS, check, StatusUnknown, "could not look up NS for "+zone+": "+err.Error(), "")
	}
	var names, detail, unresolved []string
	for _, rr := range ans.RRs {
		ns := strings.TrimSuffix(strings.ToLower(rr.(*dns.NS).Ns), ".")
		names = append(names, ns)
	}
	slices.Sort(names)
	for _, ns := range names {
		a4, err4 := a.dns.query(ctx, ns, dns.TypeA)
		a6, err6 := a.dns.query(ctx, ns, dns.TypeAAAA)
		if err4 == nil && err6 == nil && a4.empty() && a6.empty() {
			unresolved = append(unresolved, ns)
			detail = append(detail, "NS "+ns+" (does not resolve)")
		} else {
			detail = append(detail, "NS "+ns)
		}
	}
	switch {
	case len(names) == 0:
		return finding(GroupDNS, check, StatusFail, zone+" has no NS records", "Delegate the zone to at least two nameservers at the registrar.")
	case len(names) == 1:
		return finding(GroupDNS, check, StatusWarn, zone+" has a single nameserver: one outage takes the site and email down",
			"Use at least two nameservers (DNS hosts provide two or more; list them all at the registrar).", detail...)
	case len(unresolved) > 0:
		return finding(GroupDNS, check, StatusWarn, fmt.Sprintf("%d of %d nameservers of %s do not resolve", len(unresolved), len(names), zone),
			"Remove or fix the nameservers that have no address.", detail...)
	}
	return finding(GroupDNS, check, StatusPass, fmt.Sprintf("%s has %d nameservers", zone, len(names)), "", detail...)
}

// checkSOA checks that the zone has a SOA with sane timers (RFC 1912 §2.2 ranges).
func checkSOA(zone string, soa *dns.SOA, zoneErr error) Finding {
	const check = "SOA"
	if zoneErr != nil {
		return finding(GroupDNS, check, StatusUnknown, "could not look up the SOA of "+zone+": "+zoneErr.Error(), "")
	}
	if soa == nil {
		return finding(GroupDNS, check, StatusFail, "no SOA record found for "+zone, "Check the zone at the DNS host: every zone has a SOA record.")
	}
	detail := []string{fmt.Sprintf("serial %d, refresh %d, retry %d, expire %d, negative TTL %d", soa.Serial, soa.Refresh, soa.Retry, soa.Expire, soa.Minttl),
		"primary " + strings.TrimSuffix(soa.Ns, ".") + ", contact " + strings.TrimSuffix(soa.Mbox, ".")}
	var problems []string
	if soa.Serial == 0 {
		problems = append(problems, "serial is 0")
	}
	if soa.Refresh < 1200 || soa.Refresh > 86400 {
		problems = append(problems, fmt.Sprintf("refresh %d is outside 1200–86400 s", soa.Refresh))
	}
	if soa.Retry >= soa.Refresh {
		problems = append(problems, fmt.Sprintf("retry %d is not below refresh %d", soa.Retry, soa.Refresh))
	}
	if soa.Expire < 604800 || soa.Expire <= soa.Refresh {
		problems = append(problems, fmt.Sprintf("expire %d is under a week", soa.Expire))
	}
	if soa.Minttl > 86400 {
		problems = append(problems, fmt.Sprintf("negative TTL %d is over a day: new records stay invisible that long", soa.Minttl))
	}
	if len(problems) > 0 {
		return finding(GroupDNS, check, StatusWarn, "SOA of "+zone+": "+strings.Join(problems, "; "),
			"Set the SOA timers to the DNS host's defaults (refresh ≈ 1–24 h, retry < refresh, expire 1–4 weeks, negative TTL ≤ 1 day).", detail...)
	}
	return finding(GroupDNS, check, StatusPass, "SOA of "+zone+" is present and sane", "", detail...)
}

// caaDomains maps an issuer organisation (a lowercase substring of the leaf's issuer O) to the CAA
// issuer domains its CA accepts. Several brands share one CA; any listed domain authorizes.
var caaDomains = []struct {
	org     string
	domains []string
}{
	{"let's encrypt", []string{"letsencrypt.org"}},
	{"isrg", []string{"letsencrypt.org"}},
	{"google trust services", []string{"pki.goog"}},
	{"zerossl", []string{"sectigo.com", "zerossl.com"}},
	{"sectigo", []string{"sectigo.com", "comodoca.com", "comodo.com"}},
	{"comodo", []string{"sectigo.com", "comodoca.com", "comodo.com"}},
	{"digicert", []string{"digicert.com", "symantec.com", "geotrust.com", "thawte.com", "rapidssl.com"}},
	{"geotrust", []string{"digicert.com", "geotrust.com"}},
	{"thawte", []string{"digicert.com", "thawte.com"}},
	{"rapidssl", []string{"digicert.com", "rapidssl.com"}},
	{"amazon", []string{"amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com"}},
	{"globalsign", []string{"globalsign.com"}},
	{"microsoft", []string{"microsoft.com", "digicert.com"}},
	{"cloudflare", []string{"digicert.com", "letsencrypt.org", "pki.goog", "comodoca.com", "sectigo.com", "ssl.com"}},
	{"ssl corporation", []string{"ssl.com"}},
	{"ssl.com", []string{"ssl.com"}},
	{"entrust", []string{"entrust.net"}},
	{"godaddy", []string{"godaddy.com", "starfieldtech.com"}},
	{"starfield", []string{"starfieldtech.com", "godaddy.com"}},
	{"buypass", []string{"buypass.com", "buypass.no"}},
	{"actalis", []string{"actalis.it"}},
}

// issuerCAADomains returns the CAA domains that authorize the issuer of leaf, or nil when the issuer is
// not one doctor knows.
func issuerCAADomains(leaf *x509.Certificate) []string {
	orgs := append(slices.Clone(leaf.Issuer.Organization), leaf.Issuer.CommonName)
	for _, o := range orgs {
		o = strings.ToLower(o)
		for _, m := range caaDomains {
			if strings.Contains(o, m.org) {
				return m.domains
			}
		}
	}
	return nil
}

// servedLeaf returns the certificate served for the domain (or www), whether or not it verifies.
func (a *auditor) servedLeaf() *x509.Certificate {
	for _, h := range a.hosts() {
		if p := a.certs[h]; p != nil && len(p.Chain) > 0 {
			return p.Chain[0]
		}
	}
	return nil
}

// checkCAA finds the relevant CAA RRset (RFC 8659 §3: the closest one up the tree) and checks that it
// lets the issuer of the served certificate issue.
func (a *auditor) checkCAA(ctx context.Context) Finding {
	const check = "CAA"
	var (
		set   []*dns.CAA
		owner string
	)
	labels := dns.SplitDomainName(a.domain)
	for i := 0; i < len(labels)-1; i++ {
		name := strings.Join(labels[i:], ".")
		ans, err := a.dns.query(ctx, name, dns.TypeCAA)
		if err != nil {
			return finding(GroupDNS, check, StatusUnknown, "could not look up CAA for "+name+": "+err.Error(), "")
		}
		for _, rr := range ans.RRs {
			set = append(set, rr.(*dns.CAA))
		}
		if len(set) > 0 {
			owner = name
			break
		}
	}
	if len(set) == 0 {
		return finding(GroupDNS, check, StatusWarn, "no CAA record: any certificate authority may issue for "+a.domain,
			"Add a CAA record naming your CA, e.g. `"+a.domain+". CAA 0 issue \"letsencrypt.org\"`, plus `0 iodef \"mailto:you@"+a.domain+"\"`.")
	}
	var detail []string
	issue := map[string]bool{}
	wild := map[string]bool{}
	hasWild := false
	for _, c := range set {
		detail = append(detail, fmt.Sprintf("%s CAA %d %s %q", owner, c.Flag, c.Tag, c.Value))
		dom := strings.ToLower(strings.TrimSpace(strings.SplitN(c.Value, ";", 2)[0]))
		switch strings.ToLower(c.Tag) {
		case "issue":
			if dom != "" {
				issue[dom] = true
			}
		case "issuewild":
			hasWild = true
			if dom != "" {
				wild[dom] = true
			}
		case "iodef", "issuemail", "issuevmc", "contactemail", "contactphone":
		default:
			if c.Flag&128 != 0 {
				return finding(GroupDNS, check, StatusFail, "CAA has a critical tag "+c.Tag+" that CAs do not understand: no CA will issue",
					"Remove the critical flag (128) from the unknown CAA tag or remove the record.", detail...)
			}
		}
	}
	leaf := a.servedLeaf()
	if leaf == nil {
		return finding(GroupDNS, check, StatusUnknown, "CAA is present but no certificate could be fetched to compare it with", "", detail...)
	}
	allowed := issue
	if hasWild && slices.ContainsFunc(leaf.DNSNames, func(n string) bool { return strings.HasPrefix(n, "*.") }) {
		allowed = wild
	}
	issuer := leaf.Issuer.String()
	want := issuerCAADomains(leaf)
	detail = append(detail, "served certificate issued by "+issuer)
	if want == nil {
		return finding(GroupDNS, check, StatusUnknown, "CAA is present; the served certificate's issuer ("+issuer+") is not one doctor can map to a CAA domain",
			"Check by hand that the CAA issue records name your CA's domain.", detail...)
	}
	for _, d := range want {
		if allowed[d] {
			return finding(GroupDNS, check, StatusPass, "CAA allows "+d+", the issuer of the served certificate", "", detail...)
		}
	}
	return finding(GroupDNS, check, StatusFail, "CAA does not allow the CA that issued the served certificate ("+strings.Join(want, " or ")+"): renewal will fail",
		"Add `"+owner+". CAA 0 issue \""+want[0]+"\"` (or switch the certificate to a CA the CAA records allow).", detail...)
}

// checkDNSSEC reports whether the zone is signed and, when it is, verifies the chain from the DS records
// to the DNSKEY set and from the DNSKEY set to the SOA and the apex A records with RRSIG.Verify.
// The DS records themselves are taken from the resolver; doctor does not validate up to the root.
func (a *auditor) checkDNSSEC(ctx context.Context, zone string, zoneErr error) Finding {
	const check = "DNSSEC"
	if zoneErr != nil {
		return finding(GroupDNS, check, StatusUnknown, "could not find the zone of "+a.domain+": "+zoneErr.Error(), "")
	}
	dsAns, err := a.dns.query(ctx, zone, dns.TypeDS)
	if err != nil {
		return finding(GroupDNS, check, StatusUnknown, "could not look up DS for "+zone+": "+err.Error(), "")
	}
	keyAns, err := a.dns.query(ctx, zone, dns.TypeDNSKEY)
	if err != nil {
		return finding(GroupDNS, check, StatusUnknown, "could not look up DNSKEY for "+zone+": "+err.Error(), "")
	}
	var keys []*dns.DNSKEY
	for _, rr := range keyAns.RRs {
		keys = append(keys, rr.(*dns.DNSKEY))
	}
	var dss []*dns.DS
	for _, rr := range dsAns.RRs {
		dss = append(dss, rr.(*dns.DS))
	}
	const enable = "Enable DNSSEC at the DNS host, then publish its DS record at the registrar."
	switch {
	case len(dss) == 0 && len(keys) == 0:
		return finding(GroupDNS, check, StatusWarn, zone+" is not signed (no DS, no DNSKEY): answers can be spoofed", enable)
	case len(dss) == 0:
		return finding(GroupDNS, check, StatusWarn, zone+" publishes DNSKEYs but the parent has no DS: the signatures are not trusted",
			"Publish the DS record shown by the DNS host at the registrar.")
	case len(keys) == 0:
		return finding(GroupDNS, check, StatusFail, "the parent has a DS for "+zone+" but the zone has no DNSKEY: validating resolvers cannot resolve it",
			"Re-enable signing at the DNS host, or remove the DS record at the registrar.")
	}
	now := a.now()
	var detail []string
	// The DS must match a key, and that key must sign the DNSKEY set.
	var trusted []*dns.DNSKEY
	for _, ds := range dss {
		for _, k := range keys {
			if k.KeyTag() != ds.KeyTag || k.Algorithm != ds.Algorithm {
				continue
			}
			if got := k.ToDS(ds.DigestType); got != nil && strings.EqualFold(got.Digest, ds.Digest) {
				trusted = append(trusted, k)
				detail = append(detail, fmt.Sprintf("DS %d (%s) matches DNSKEY %d", ds.KeyTag, dns.AlgorithmToString[ds.Algorithm], k.KeyTag()))
			}
		}
	}
	if len(trusted) == 0 {
		return finding(GroupDNS, check, StatusFail, "no DNSKEY of "+zone+" matches the DS at the parent: validating resolvers reject the zone",
			"Replace the DS at the registrar with the one the DNS host shows for the current key.", dsDetail(dss, keys)...)
	}
	if err := verifySet(keyAns, trusted, now); errors.Is(err, errNoSigs) {
		return finding(GroupDNS, check, StatusUnknown, "the resolver returned no signatures for the DNSKEY set of "+zone+": cannot validate",
			"Point doctor at a DNSSEC-aware resolver (one that returns RRSIG records with the DO bit).", detail...)
	} else if err != nil {
		return finding(GroupDNS, check, StatusFail, "the DNSKEY set of "+zone+" does not validate: "+err.Error(),
			"Re-sign the zone at the DNS host (or roll the key and update the DS).", append(detail, dsDetail(dss, keys)...)...)
	}
	detail = append(detail, "DNSKEY set: RRSIG valid")
	for _, t := range []uint16{dns.TypeSOA, dns.TypeA} {
		name := zone
		if t == dns.TypeA {
			name = a.domain
		}
		ans, err := a.dns.query(ctx, name, t)
		if err != nil {
			return finding(GroupDNS, check, StatusUnknown, "could not fetch signed records: "+err.Error(), "", detail...)
		}
		if ans.empty() || len(ans.CNAMEs) > 0 {
			continue // an alias's target lives in another zone, signed (or not) by other keys
		}
		if err := verifySet(ans, keys, now); errors.Is(err, errNoSigs) {
			return finding(GroupDNS, check, StatusUnknown, "the resolver returned no signatures for "+name+": cannot validate", "", detail...)
		} else if err != nil {
			return finding(GroupDNS, check, StatusFail, fmt.Sprintf("the %s records of %s do not validate: %v", dns.TypeToString[t], name, err),
				"Re-sign the zone at the DNS host; signatures must be fresh and made by a published key.", detail...)
		}
		detail = append(detail, fmt.Sprintf("%s %s: RRSIG valid", name, dns.TypeToString[t]))
	}
	return finding(GroupDNS, check, StatusPass, zone+" is signed and its signatures validate", "", detail...)
}

// dsDetail lists the DS records and key tags for a report.
func dsDetail(dss []*dns.DS, keys []*dns.DNSKEY) []string {
	var out []string
	for _, ds := range dss {
		out = append(out, fmt.Sprintf("DS key tag %d algorithm %d digest type %d", ds.KeyTag, ds.Algorithm, ds.DigestType))
	}
	for _, k := range keys {
		out = append(out, fmt.Sprintf("DNSKEY key tag %d flags %d algorithm %d", k.KeyTag(), k.Flags, k.Algorithm))
	}
	return out
}

// errNoSigs reports an answer without signatures: the resolver may strip them, so the zone's state is
// unknown rather than broken.
var errNoSigs = errors.New("no RRSIG returned (is the resolver DNSSEC-aware?)")

// verifySet checks that at least one RRSIG over ans.RRs verifies with one of keys and is within its
// validity period at now.
func verifySet(ans answer, keys []*dns.DNSKEY, now time.Time) error {
	if len(ans.Sigs) == 0 {
		return errNoSigs
	}
	var last error
	for _, sig := range ans.Sigs {
		for _, k := range keys {
			if k.KeyTag() != sig.KeyTag || k.Algorithm != sig.Algorithm {
				continue
			}
			if err := sig.Verify(k, ans.RRs); err != nil {
				last = fmt.Errorf("RRSIG by key %d: %w", sig.KeyTag, err)
				continue
			}
			if !sig.ValidityPeriod(now) {
				last = fmt.Errorf("RRSIG by key %d is outside its validity period (%s to %s)", sig.KeyTag,
					dns.TimeToString(sig.Inception), dns.TimeToString(sig.Expiration))
				continue
			}
			return nil
		}
	}
	if last == nil {
		last = fmt.Errorf("no RRSIG made by a published key")
	}
	return last
}
