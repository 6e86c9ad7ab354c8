package doctor

import (
	"context"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
	"golang.org/x/net/publicsuffix"
)

// checkEmail audits the domain's email authentication: SPF, DKIM, DMARC, MX, MTA-STS and TLS-RPT.
func (a *auditor) checkEmail(ctx context.Context) []Finding {
	out := a.checkSPF(ctx)
	out = append(out, a.checkDKIM(ctx)...)
	out = append(out, a.checkDMARC(ctx)...)
	out = append(out, a.checkMX(ctx), a.checkMTASTS(ctx), a.checkTLSRPT(ctx))
	return out
}

// checkSPF requires exactly one valid SPF record within the lookup limits and a strict all.
func (a *auditor) checkSPF(ctx context.Context) []Finding {
	recs, err := a.dns.txtWithPrefix(ctx, a.domain, "v=spf1")
	if err != nil {
		return []Finding{finding(GroupEmail, "SPF record", StatusUnknown, "could not look up TXT at "+a.domain+": "+err.Error(), "")}
	}
	switch len(recs) {
	case 0:
		return []Finding{finding(GroupEmail, "SPF record", StatusFail, a.domain+" has no SPF record: receivers cannot tell who may send as it",
			"Publish one TXT record at "+a.domain+` such as "v=spf1 include:<your email provider> -all".`)}
	case 1:
	default:
		return []Finding{finding(GroupEmail, "SPF record", StatusFail, fmt.Sprintf("%s has %d SPF records: receivers treat that as a permanent error", a.domain, len(recs)),
			"Merge them into one v=spf1 record (combine the include: terms, keep one all).", recs...)}
	}
	out := []Finding{finding(GroupEmail, "SPF record", StatusPass, a.domain+" has one SPF record", "", recs[0])}

	rec, errs := parseSPF(recs[0])
	if len(errs) > 0 {
		var d []string
		for _, e := range errs {
			d = append(d, e.Error())
		}
		out = append(out, finding(GroupEmail, "SPF syntax", StatusFail, "the SPF record has syntax errors: receivers reject it (permerror)",
			"Fix the terms listed; each mechanism is [+-~?]name[:domain][/cidr].", d...))
	} else {
		out = append(out, finding(GroupEmail, "SPF syntax", StatusPass, "the SPF record parses", ""))
	}

	w := &spfWalk{r: a.dns}
	w.lines = append(w.lines, a.domain+": "+recs[0])
	w.walk(ctx, a.domain, recs[0], 0, []string{a.domain}, true)
	detail := append(slices.Clone(w.lines), fmt.Sprintf("%d DNS lookups (limit 10), %d void lookups (limit 2)", w.lookups, w.voids))
	for _, e := range w.errs {
		detail = append(detail, "error: "+e)
	}
	const lcheck = "SPF lookups"
	fix := "Flatten or drop include: terms (each include, a, mx, ptr, exists and redirect costs a lookup, nested ones too) and remove terms whose names do not resolve."
	nested := slices.ContainsFunc(w.errs, func(e string) bool { return strings.Contains(e, "permerror") || strings.Contains(e, "loop") })
	switch {
	case w.lookups > 10:
		out = append(out, finding(GroupEmail, lcheck, StatusFail, fmt.Sprintf("SPF needs %d DNS lookups, over the limit of 10: receivers return permerror", w.lookups), fix, detail...))
	case w.voids > 2:
		out = append(out, finding(GroupEmail, lcheck, StatusFail, fmt.Sprintf("SPF has %d void lookups, over the limit of 2: receivers return permerror", w.voids), fix, detail...))
	case nested:
		out = append(out, finding(GroupEmail, lcheck, StatusFail, "an included SPF record is missing, duplicated or loops: receivers return permerror", fix, detail...))
	case len(w.errs) > 0:
		out = append(out, finding(GroupEmail, lcheck, StatusUnknown, "some SPF lookups failed", "", detail...))
	case w.lookups >= 9:
		out = append(out, finding(GroupEmail, lcheck, StatusWarn, fmt.Sprintf("SPF needs %d of 10 DNS lookups: one more provider breaks it", w.lookups), fix, detail...))
	default:
		out = append(out, finding(GroupEmail, lcheck, StatusPass, fmt.Sprintf("SPF needs %d of 10 DNS lookups and %d of 2 void lookups", w.lookups, w.voids), "", detail...))
	}

	const acheck = "SPF all qualifier"
	all := w.all
	if all == nil {
		all = rec.All
	}
	switch {
	case all == nil:
		out = append(out, finding(GroupEmail, acheck, StatusWarn, "the SPF record has no all mechanism: mail from anyone else is neutral",
			"End the record with -all (or ~all while testing)."))
	case all.Qualifier == '+':
		out = append(out, finding(GroupEmail, acheck, StatusFail, "the SPF record ends with +all: anyone may send as "+a.domain,
			"Replace +all with -all (or ~all)."))
	case all.Qualifier == '?':
		out = append(out, finding(GroupEmail, acheck, StatusWarn, "the SPF record ends with ?all: unlisted senders are neutral, not rejected",
			"Replace ?all with -all (or ~all)."))
	default:
		out = append(out, finding(GroupEmail, acheck, StatusPass, "the SPF record ends with "+string(all.Qualifier)+"all", ""))
	}
	return out
}

// tags parses "k=v; k=v" (DKIM, DMARC, MTA-STS TXT, TLS-RPT) into lowercase keys → trimmed values.
func tags(record string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(record, ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if _, dup := out[k]; !dup {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// checkDKIM looks up each selector's key record. A selector that does not exist is unknown, not
// failed: DNS cannot list selectors, so the name may simply be wrong.
func (a *auditor) checkDKIM(ctx context.Context) []Finding {
	if len(a.opts.DKIMSelectors) == 0 {
		return []Finding{finding(GroupEmail, "DKIM", StatusUnknown, "no DKIM selector given: DNS cannot list them, so DKIM was not checked",
			"Give doctor the selectors your email providers sign with (Kit, your mailbox host); each provider shows its selector with the DNS records it asks for.")}
	}
	var out []Finding
	for _, sel := range a.opts.DKIMSelectors {
		name := sel + "._domainkey." + a.domain
		check := "DKIM " + sel
		txts, ans, err := a.dns.txt(ctx, name)
		if err != nil {
			out = append(out, finding(GroupEmail, check, StatusUnknown, "could not look up "+name+": "+err.Error(), ""))
			continue
		}
		var key string
		for _, t := range txts {
			if strings.Contains(t, "p=") {
				key = t
				break
			}
		}
		if key == "" {
			msg := "selector " + sel + " not found at " + name
			if len(txts) > 0 {
				msg = name + " has TXT records but none with a key (p=)"
			} else if len(ans.CNAMEs) > 0 {
				msg = name + " is a CNAME whose target has no key record"
			}
			out = append(out, finding(GroupEmail, check, StatusUnknown, msg+"; the selector name may be wrong",
				"Copy the DKIM record (TXT or CNAME) your provider shows for this selector into DNS, or correct the selector name.", txts...))
			continue
		}
		out = append(out, judgeDKIM(check, name, key))
	}
	return out
}

// judgeDKIM checks a DKIM key record (RFC 6376 §3.6.1): a key is present, decodes, and is strong enough.
func judgeDKIM(check, name, record string) Finding {
	tg := tags(record)
	short := record
	if len(short) > 80 {
		short = short[:80] + "…"
	}
	if v, ok := tg["v"]; ok && v != "DKIM1" {
		return finding(GroupEmail, check, StatusFail, name+" has v="+v+", not DKIM1", "Publish the record exactly as the provider gives it.", short)
	}
	p := strings.Join(strings.Fields(tg["p"]), "")
	if p == "" {
		return finding(GroupEmail, check, StatusFail, name+" has an empty p=: the key is revoked and signatures fail",
			"Publish the current public key for this selector, or stop signing with it.", short)
	}
	der, err := base64.StdEncoding.DecodeString(p)
	if err != nil {
		return finding(GroupEmail, check, StatusFail, name+" has a p= that is not valid base64", "Copy the key again without line breaks or quotes.", short)
	}
	k := strings.ToLower(tg["k"])
	if k == "" {
		k = "rsa"
	}
	switch k {
	case "ed25519":
		if len(der) != ed25519.PublicKeySize {
			return finding(GroupEmail, check, StatusFail, name+" has an Ed25519 key of the wrong size", "Copy the key again.", short)
		}
		return finding(GroupEmail, check, StatusPass, name+" publishes an Ed25519 key", "", short)
	case "rsa":
		var bits int
		if pub, err := x509.ParsePKIXPublicKey(der); err == nil {
			if rk, ok := pub.(*rsa.PublicKey); ok {
				bits = rk.N.BitLen()
			}
		} else if rk, err := x509.ParsePKCS1PublicKey(der); err == nil {
			bits = rk.N.BitLen()
		}
		switch {
		case bits == 0:
			return finding(GroupEmail, check, StatusFail, name+" has a p= that is not an RSA public key", "Copy the key again.", short)
		case bits < 1024:
			return finding(GroupEmail, check, StatusFail, fmt.Sprintf("%s has a %d-bit RSA key: receivers ignore it", name, bits),
				"Rotate to a 2048-bit key at the provider.", short)
		case bits < 2048:
			return finding(GroupEmail, check, StatusWarn, fmt.Sprintf("%s has a %d-bit RSA key (2048 recommended)", name, bits),
				"Rotate to a 2048-bit key at the provider.", short)
		}
		return finding(GroupEmail, check, StatusPass, fmt.Sprintf("%s publishes a %d-bit RSA key", name, bits), "", short)
	}
	return finding(GroupEmail, check, StatusWarn, name+" uses key type k="+k+", which receivers may not support", "Use k=rsa (2048 bits).", short)
}

// orgDomain returns the organizational domain of name from the public suffix list (RFC 7489 §3.2).
func orgDomain(name string) string {
	if d, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		return d
	}
	return name
}

// checkDMARC requires one DMARC record with an enforcing policy and aggregate reports going to an
// address that accepts them.
func (a *auditor) checkDMARC(ctx context.Context) []Finding {
	const check = "DMARC record"
	where := "_dmarc." + a.domain
	recs, err := a.dns.txtWithPrefix(ctx, where, "v=DMARC1")
	if err != nil {
		return []Finding{finding(GroupEmail, check, StatusUnknown, "could not look up "+where+": "+err.Error(), "")}
	}
	org := orgDomain(a.domain)
	if len(recs) == 0 && org != a.domain {
		where = "_dmarc." + org
		if recs, err = a.dns.txtWithPrefix(ctx, where, "v=DMARC1"); err != nil {
			return []Finding{finding(GroupEmail, check, StatusUnknown, "could not look up "+where+": "+err.Error(), "")}
		}
	}
	switch len(recs) {
	case 0:
		return []Finding{finding(GroupEmail, check, StatusFail, "no DMARC record at _dmarc."+a.domain+": spoofed mail from "+a.domain+" is not rejected and Gmail/Yahoo bulk rules are not met",
			"Publish TXT at _dmarc."+a.domain+` "v=DMARC1; p=quarantine; rua=mailto:dmarc@`+a.domain+`" and move to p=reject once reports are clean.`)}
	case 1:
	default:
		return []Finding{finding(GroupEmail, check, StatusFail, fmt.Sprintf("%s has %d DMARC records: receivers ignore them all", where, len(recs)),
			"Keep exactly one v=DMARC1 record.", recs...)}
	}
	rec := recs[0]
	out := []Finding{finding(GroupEmail, check, StatusPass, where+" has one DMARC record", "", rec)}
	tg := tags(rec)

	const pcheck = "DMARC policy"
	p := strings.ToLower(tg["p"])
	var pd []string
	if pct, ok := tg["pct"]; ok {
		pd = append(pd, "pct="+pct)
	}
	if sp, ok := tg["sp"]; ok {
		pd = append(pd, "sp="+sp)
	}
	switch p {
	case "reject", "quarantine":
		if n, err := strconv.Atoi(tg["pct"]); err == nil && n < 100 {
			out = append(out, finding(GroupEmail, pcheck, StatusWarn, fmt.Sprintf("DMARC p=%s applies to only %d%% of failing mail", p, n),
				"Remove pct= (or set pct=100) once reports are clean.", pd...))
		} else if strings.EqualFold(tg["sp"], "none") {
			out = append(out, finding(GroupEmail, pcheck, StatusWarn, "DMARC p="+p+" but sp=none leaves subdomains unprotected",
				"Remove sp=none (subdomains then inherit p).", pd...))
		} else {
			out = append(out, finding(GroupEmail, pcheck, StatusPass, "DMARC policy is p="+p, "", pd...))
		}
	case "none":
		out = append(out, finding(GroupEmail, pcheck, StatusWarn, "DMARC p=none only monitors: spoofed mail is still delivered",
			"Once the reports show your senders pass, move to p=quarantine, then p=reject.", pd...))
	default:
		out = append(out, finding(GroupEmail, pcheck, StatusFail, "DMARC record has no valid p= tag: receivers ignore it",
			"Add p=none|quarantine|reject right after v=DMARC1.", rec))
	}
	out = append(out, a.checkRUA(ctx, tg["rua"], org))
	return out
}

// checkRUA requires aggregate report addresses and, for each one on another organizational domain,
// the external authorization record <domain>._report._dmarc.<rua-domain> (RFC 7489 §7.1).
func (a *auditor) checkRUA(ctx context.Context, rua, org string) Finding {
	const check = "DMARC reports (rua)"
	if strings.TrimSpace(rua) == "" {
		return finding(GroupEmail, check, StatusWarn, "DMARC has no rua: you get no reports of who sends as "+a.domain,
			"Add rua=mailto:dmarc@"+a.domain+" (or a DMARC report service's address).")
	}
	status := StatusPass
	var detail []string
	for _, u := range strings.Split(rua, ",") {
		u = strings.TrimSpace(u)
		if i := strings.LastIndexByte(u, '!'); i > 0 {
			u = u[:i] // size limit suffix
		}
		if !strings.HasPrefix(strings.ToLower(u), "mailto:") {
			status = StatusFail
			detail = append(detail, u+": not a mailto: URI")
			continue
		}
		addr, err := mail.ParseAddress(u[len("mailto:"):])
		if err != nil {
			status = StatusFail
			detail = append(detail, u+": not an email address")
			continue
		}
		_, host, _ := strings.Cut(addr.Address, "@")
		host = strings.ToLower(host)
		if orgDomain(host) == org {
			detail = append(detail, addr.Address+": same organizational domain")
			continue
		}
		name := a.domain + "._report._dmarc." + host
		recs, err := a.dns.txtWithPrefix(ctx, name, "v=DMARC1")
		switch {
		case err != nil:
			status = worst(status, StatusUnknown)
			detail = append(detail, addr.Address+": could not look up "+name+": "+err.Error())
		case len(recs) == 0:
			status = worst(status, StatusWarn)
			detail = append(detail, addr.Address+": "+host+" has not authorized reports for "+a.domain+" (no TXT at "+name+")")
		default:
			detail = append(detail, addr.Address+": authorized by "+name)
		}
	}
	switch status {
	case StatusFail:
		return finding(GroupEmail, check, status, "DMARC rua has invalid addresses", "Use rua=mailto:address, comma-separated.", detail...)
	case StatusWarn:
		return finding(GroupEmail, check, status, "DMARC reports go to another domain that has not authorized them: receivers will not send them",
			"Ask the report receiver to publish TXT \"v=DMARC1\" at <your domain>._report._dmarc.<their domain> (report services do this when you add the domain).", detail...)
	case StatusUnknown:
		return finding(GroupEmail, check, status, "could not confirm that the DMARC report addresses accept reports", "", detail...)
	}
	return finding(GroupEmail, check, StatusPass, "DMARC aggregate reports are requested and authorized", "", detail...)
}

// checkMX requires somewhere to receive replies (or an explicit null MX).
func (a *auditor) checkMX(ctx context.Context) Finding {
	const check = "MX"
	ans, err := a.dns.query(ctx, a.domain, dns.TypeMX)
	if err != nil {
		return finding(GroupEmail, check, StatusUnknown, "could not look up MX for "+a.domain+": "+err.Error(), "")
	}
	if ans.empty() {
		return finding(GroupEmail, check, StatusFail, a.domain+" has no MX record: replies to your emails bounce",
			"Add the MX records of your mailbox provider (or a null MX \"0 .\" if the domain never receives mail).")
	}
	var detail []string
	for _, rr := range ans.RRs {
		mx := rr.(*dns.MX)
		if mx.Mx == "." {
			return finding(GroupEmail, check, StatusPass, a.domain+" has a null MX: it receives no mail (replies must go elsewhere)", "", "MX 0 .")
		}
		detail = append(detail, fmt.Sprintf("MX %d %s", mx.Preference, strings.TrimSuffix(mx.Mx, ".")))
	}
	slices.Sort(detail)
	return finding(GroupEmail, check, StatusPass, fmt.Sprintf("%s has %d MX record(s)", a.domain, len(detail)), "", detail...)
}

// checkMTASTS reports the MTA-STS TXT record and, when present, the policy's mode.
func (a *auditor) checkMTASTS(ctx context.Context) Finding {
	const check = "MTA-STS"
	name := "_mta-sts." + a.domain
	recs, err := a.dns.txtWithPrefix(ctx, name, "v=STSv1")
	if err != nil {
		return finding(GroupEmail, check, StatusUnknown, "could not look up "+name+": "+err.Error(), "")
	}
	if len(recs) == 0 {
		return finding(GroupEmail, check, StatusWarn, "no MTA-STS record: mail to "+a.domain+" may be delivered without TLS",
			"Optional: publish TXT at "+name+" \"v=STSv1; id=<date>\" and serve https://mta-sts."+a.domain+"/.well-known/mta-sts.txt.")
	}
	policyURL := "https://mta-sts." + a.domain + "/.well-known/mta-sts.txt"
	pg, err := a.fetch(ctx, http.MethodGet, policyURL, "", "")
	if err != nil || pg.Status != http.StatusOK {
		why := ""
		if err != nil {
			why = err.Error()
		} else {
			why = "HTTP " + strconv.Itoa(pg.Status)
		}
		return finding(GroupEmail, check, StatusWarn, "the MTA-STS record exists but the policy cannot be fetched: "+why,
			"Serve the policy at "+policyURL+" over valid HTTPS.", recs[0])
	}
	mode := ""
	for _, line := range strings.Split(string(pg.Body), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if strings.EqualFold(strings.TrimSpace(k), "mode") {
			mode = strings.ToLower(strings.TrimSpace(v))
		}
	}
	detail := []string{recs[0], policyURL + ": mode " + mode}
	if mode != "enforce" {
		return finding(GroupEmail, check, StatusWarn, "MTA-STS policy is in mode "+mode+", not enforce",
			"Switch the policy to mode: enforce once TLS-RPT reports are clean.", detail...)
	}
	return finding(GroupEmail, check, StatusPass, "MTA-STS is published and enforced", "", detail...)
}

// checkTLSRPT reports the SMTP TLS reporting record.
func (a *auditor) checkTLSRPT(ctx context.Context) Finding {
	const check = "TLS-RPT"
	name := "_smtp._tls." + a.domain
	recs, err := a.dns.txtWithPrefix(ctx, name, "v=TLSRPTv1")
	if err != nil {
		return finding(GroupEmail, check, StatusUnknown, "could not look up "+name+": "+err.Error(), "")
	}
	if len(recs) == 0 {
		return finding(GroupEmail, check, StatusWarn, "no TLS-RPT record: you get no reports of failed TLS deliveries",
			"Optional: publish TXT at "+name+" \"v=TLSRPTv1; rua=mailto:tlsrpt@"+a.domain+"\".")
	}
	if tags(recs[0])["rua"] == "" {
		return finding(GroupEmail, check, StatusWarn, "the TLS-RPT record has no rua", "Add rua=mailto:… to the record.", recs[0])
	}
	return finding(GroupEmail, check, StatusPass, "TLS-RPT reports are requested", "", recs[0])
}
