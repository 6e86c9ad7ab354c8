package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// SPF is parsed and walked here rather than with a library: doctor needs the lookup tree and the
// counts (RFC 7208 §4.6.4), which evaluators that answer pass/fail for one IP do not expose.

// spfTerm is one directive or modifier of an SPF record.
type spfTerm struct {
	Raw       string
	Qualifier byte   // '+', '-', '~' or '?' for mechanisms
	Mech      string // all, include, a, mx, ptr, ip4, ip6, exists; empty for a modifier
	Target    string // domain-spec or IP network, without CIDR for a/mx
	Modifier  string // redirect, exp or another name, lowercase
	Value     string
}

// spfRecord is a parsed SPF record.
type spfRecord struct {
	Terms    []spfTerm
	All      *spfTerm // the all mechanism, if any
	Redirect string   // redirect= target, if any
}

// spfMechs lists the mechanisms RFC 7208 §5 defines.
var spfMechs = map[string]bool{"all": true, "include": true, "a": true, "mx": true, "ptr": true, "ip4": true, "ip6": true, "exists": true}

// parseSPF parses record (which must start with v=spf1) per RFC 7208 §4.6 and §12 and returns every
// syntax error it finds (a receiver would stop at the first: permerror).
func parseSPF(record string) (spfRecord, []error) {
	var rec spfRecord
	var errs []error
	fields := strings.Fields(record)
	if len(fields) == 0 || !strings.EqualFold(fields[0], "v=spf1") {
		return rec, []error{errors.New("does not start with v=spf1")}
	}
	seen := map[string]bool{}
	for _, raw := range fields[1:] {
		t := spfTerm{Raw: raw}
		if name, val, ok := strings.Cut(raw, "="); ok && !strings.ContainsAny(name, ":/") {
			t.Modifier, t.Value = strings.ToLower(name), val
			if !validModifierName(name) {
				errs = append(errs, fmt.Errorf("%q: invalid modifier name", raw))
				continue
			}
			if t.Modifier == "redirect" || t.Modifier == "exp" {
				if seen[t.Modifier] {
					errs = append(errs, fmt.Errorf("%q: %s= appears twice", raw, t.Modifier))
				}
				seen[t.Modifier] = true
				if err := checkDomainSpec(val); err != nil {
					errs = append(errs, fmt.Errorf("%q: %w", raw, err))
				}
				if t.Modifier == "redirect" {
					rec.Redirect = val
				}
			}
			rec.Terms = append(rec.Terms, t)
			continue
		}
		body := raw
		t.Qualifier = '+'
		if strings.ContainsRune("+-~?", rune(body[0])) {
			t.Qualifier = body[0]
			body = body[1:]
		}
		name, arg, hasArg := strings.Cut(body, ":")
		var cidr string
		if !hasArg {
			if i := strings.IndexByte(name, '/'); i >= 0 {
				name, cidr = name[:i], name[i:]
			}
		}
		t.Mech = strings.ToLower(name)
		if !spfMechs[t.Mech] {
			errs = append(errs, fmt.Errorf("%q: unknown mechanism %q", raw, name))
			continue
		}
		switch t.Mech {
		case "all":
			if hasArg || cidr != "" {
				errs = append(errs, fmt.Errorf("%q: all takes no argument", raw))
			}
			if rec.All == nil {
				tt := t
				rec.All = &tt
			}
		case "include", "exists":
			if !hasArg || arg == "" {
				errs = append(errs, fmt.Errorf("%q: %s needs a domain", raw, t.Mech))
			} else if err := checkDomainSpec(arg); err != nil {
				errs = append(errs, fmt.Errorf("%q: %w", raw, err))
			}
			t.Target = arg
		case "a", "mx":
			if hasArg {
				if i := strings.IndexByte(arg, '/'); i >= 0 {
					arg, cidr = arg[:i], arg[i:]
				}
				if err := checkDomainSpec(arg); err != nil {
					errs = append(errs, fmt.Errorf("%q: %w", raw, err))
				}
				t.Target = arg
			}
			if err := checkDualCIDR(cidr); err != nil {
				errs = append(errs, fmt.Errorf("%q: %w", raw, err))
			}
		case "ptr":
			if hasArg {
				if err := checkDomainSpec(arg); err != nil {
					errs = append(errs, fmt.Errorf("%q: %w", raw, err))
				}
				t.Target = arg
			}
		case "ip4", "ip6":
			if !hasArg {
				errs = append(errs, fmt.Errorf("%q: %s needs an address", raw, t.Mech))
				break
			}
			t.Target = arg
			if err := checkIP(t.Mech, arg); err != nil {
				errs = append(errs, fmt.Errorf("%q: %w", raw, err))
			}
		}
		rec.Terms = append(rec.Terms, t)
	}
	if rec.All != nil {
		// RFC 7208 §6.1: redirect is ignored when the record has an all mechanism.
		rec.Redirect = ""
	}
	return rec, errs
}

// validModifierName checks name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
func validModifierName(name string) bool {
	for i, r := range name {
		alpha := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if i == 0 && !alpha {
			return false
		}
		if !alpha && !(r >= '0' && r <= '9') && r != '-' && r != '_' && r != '.' {
			return false
		}
	}
	return name != ""
}

// checkIP validates the argument of ip4/ip6, with an optional prefix length.
func checkIP(mech, arg string) error {
	addr, bits, hasBits := strings.Cut(arg, "/")
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not an IP address", mech, addr)
	}
	if mech == "ip4" && !ip.Is4() {
		return fmt.Errorf("ip4: %q is not IPv4", addr)
	}
	if mech == "ip6" && !ip.Is6() {
		return fmt.Errorf("ip6: %q is not IPv6", addr)
	}
	if hasBits {
		max := 32
		if mech == "ip6" {
			max = 128
		}
		n, err := strconv.Atoi(bits)
		if err != nil || n < 0 || n > max || (len(bits) > 1 && bits[0] == '0') {
			return fmt.Errorf("%s: bad prefix length /%s", mech, bits)
		}
	}
	return nil
}

// checkDualCIDR validates "/n", "//m" or "/n//m" after a or mx.
func checkDualCIDR(c string) error {
	if c == "" {
		return nil
	}
	v4, v6, _ := strings.Cut(c, "//")
	if v4 != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(v4, "/"))
		if !strings.HasPrefix(v4, "/") || err != nil || n < 0 || n > 32 {
			return fmt.Errorf("bad IPv4 prefix %q", v4)
		}
	}
	if strings.Contains(c, "//") {
		n, err := strconv.Atoi(v6)
		if err != nil || n < 0 || n > 128 {
			return fmt.Errorf("bad IPv6 prefix //%s", v6)
		}
	}
	return nil
}

// hasMacro reports whether a domain-spec uses macros.
func hasMacro(s string) bool { return strings.Contains(s, "%") }

// checkDomainSpec validates a domain-spec: macros well formed (RFC 7208 §7.1), and a plain name a
// valid domain with at least two labels.
func checkDomainSpec(s string) error {
	if s == "" {
		return errors.New("empty domain")
	}
	if hasMacro(s) {
		for i := 0; i < len(s); i++ {
			if s[i] != '%' {
				continue
			}
			if i+1 >= len(s) {
				return fmt.Errorf("bad macro at end of %q", s)
			}
			switch s[i+1] {
			case '%', '_', '-':
				i++
				continue
			case '{':
				end := strings.IndexByte(s[i:], '}')
				if end < 0 {
					return fmt.Errorf("unterminated macro in %q", s)
				}
				body := s[i+2 : i+end]
				if body == "" || !strings.ContainsRune("slodiphcrtvSLODIPHCRTV", rune(body[0])) {
					return fmt.Errorf("unknown macro letter in %q", s)
				}
				i += end
			default:
				return fmt.Errorf("bad macro %q in %q", s[i:i+2], s)
			}
		}
		return nil
	}
	name := strings.TrimSuffix(s, ".")
	if _, ok := dns.IsDomainName(name); !ok || !strings.Contains(name, ".") || strings.Contains(name, "..") {
		return fmt.Errorf("%q is not a domain name", s)
	}
	for _, l := range strings.Split(name, ".") {
		if len(l) == 0 || len(l) > 63 {
			return fmt.Errorf("%q has an empty or over-long label", s)
		}
	}
	return nil
}

// expandDomain expands the macros doctor can know without a message (%{d}, %%, %_, %-) and reports
// whether the result depends on the sender or the connecting IP.
func expandDomain(spec, domain string) (string, bool) {
	if !hasMacro(spec) {
		return spec, true
	}
	var b strings.Builder
	for i := 0; i < len(spec); i++ {
		c := spec[i]
		if c != '%' || i+1 >= len(spec) {
			b.WriteByte(c)
			continue
		}
		switch spec[i+1] {
		case '%':
			b.WriteByte('%')
			i++
		case '_':
			b.WriteByte(' ')
			i++
		case '-':
			b.WriteString("%20")
			i++
		case '{':
			end := strings.IndexByte(spec[i:], '}')
			body := spec[i+2 : i+end]
			if body != "d" && body != "D" {
				return spec, false
			}
			b.WriteString(domain)
			i += end
		}
	}
	return b.String(), true
}

// spfWalk follows an SPF record's DNS-querying terms recursively, counting lookups and void lookups
// and drawing the tree.
type spfWalk struct {
	r       *resolver
	lookups int
	voids   int
	lines   []string
	errs    []string
	// all is the qualifier of the all mechanism that ends evaluation (the top record's, or the
	// redirect target's).
	all *spfTerm
}

// maxWalk stops the walk well past the limit so a runaway tree still terminates.
const maxWalk = 40

// walk evaluates record (published at domain) at the given depth; stack holds the domains being
// evaluated, to catch include loops. top is true for the published record and the records it
// redirects to, whose all mechanism decides the default result.
func (w *spfWalk) walk(ctx context.Context, domain, record string, depth int, stack []string, top bool) {
	rec, errs := parseSPF(record)
	for _, e := range errs {
		w.errs = append(w.errs, domain+": "+e.Error())
	}
	if top {
		w.all = rec.All
	}
	indent := strings.Repeat("  ", depth+1)
	for _, t := range rec.Terms {
		if w.lookups >= maxWalk {
			w.errs = append(w.errs, "stopped after "+strconv.Itoa(maxWalk)+" lookups")
			return
		}
		switch {
		case t.Mech == "include":
			w.lookups++
			w.follow(ctx, domain, t.Raw, t.Target, indent, depth, stack, false)
		case t.Modifier == "redirect" && rec.Redirect != "":
			w.lookups++
			w.follow(ctx, domain, t.Raw, t.Value, indent, depth, stack, top)
		case t.Mech == "a" || t.Mech == "mx" || t.Mech == "exists" || t.Mech == "ptr":
			w.lookups++
			w.lines = append(w.lines, fmt.Sprintf("%s[%d] %s%s", indent, w.lookups, t.Raw, w.resolveTerm(ctx, domain, t)))
		}
	}
}

// follow handles include and redirect: fetch the target's SPF record and walk it.
func (w *spfWalk) follow(ctx context.Context, domain, raw, spec, indent string, depth int, stack []string, top bool) {
	n := w.lookups
	target, ok := expandDomain(spec, domain)
	if !ok {
		w.lines = append(w.lines, fmt.Sprintf("%s[%d] %s (macro depends on the sender: not followed)", indent, n, raw))
		return
	}
	target = strings.ToLower(strings.TrimSuffix(target, "."))
	for _, s := range stack {
		if s == target {
			w.errs = append(w.errs, raw+": include loop back to "+target)
			w.lines = append(w.lines, fmt.Sprintf("%s[%d] %s (loop)", indent, n, raw))
			return
		}
	}
	recs, err := w.r.txtWithPrefix(ctx, target, "v=spf1")
	switch {
	case err != nil:
		w.errs = append(w.errs, raw+": "+err.Error())
		w.lines = append(w.lines, fmt.Sprintf("%s[%d] %s (lookup failed)", indent, n, raw))
		return
	case len(recs) == 0:
		w.voids++
		w.errs = append(w.errs, raw+": "+target+" has no SPF record (permerror)")
		w.lines = append(w.lines, fmt.Sprintf("%s[%d] %s (void: no SPF record)", indent, n, raw))
		return
	case len(recs) > 1:
		w.errs = append(w.errs, raw+": "+target+" has several SPF records (permerror)")
	}
	w.lines = append(w.lines, fmt.Sprintf("%s[%d] %s → %s", indent, n, raw, recs[0]))
	w.walk(ctx, target, recs[0], depth+1, append(slices.Clip(stack), target), top)
}

// resolveTerm performs the lookup of an a, mx, exists or ptr term and describes the result, counting
// void lookups.
func (w *spfWalk) resolveTerm(ctx context.Context, domain string, t spfTerm) string {
	if t.Mech == "ptr" {
		return " (ptr is deprecated and slow; needs the sender's IP, not resolved)"
	}
	spec := t.Target
	if spec == "" {
		spec = domain
	}
	target, ok := expandDomain(spec, domain)
	if !ok {
		return " (macro depends on the sender: not resolved)"
	}
	switch t.Mech {
	case "mx":
		ans, err := w.r.query(ctx, target, dns.TypeMX)
		if err != nil {
			w.errs = append(w.errs, t.Raw+": "+err.Error())
			return " (lookup failed)"
		}
		if ans.empty() {
			w.voids++
			return " (void: no MX)"
		}
		if len(ans.RRs) > 10 {
			w.errs = append(w.errs, t.Raw+": more than 10 MX records (permerror)")
		}
		return fmt.Sprintf(" → %d MX", len(ans.RRs))
	default: // a, exists
		n := 0
		types := []uint16{dns.TypeA, dns.TypeAAAA}
		if t.Mech == "exists" {
			types = types[:1]
		}
		for _, qt := range types {
			ans, err := w.r.query(ctx, target, qt)
			if err != nil {
				w.errs = append(w.errs, t.Raw+": "+err.Error())
				return " (lookup failed)"
			}
			n += len(ans.RRs)
		}
		if n == 0 {
			w.voids++
			return " (void: no address)"
		}
		return fmt.Sprintf(" → %d address(es)", n)
	}
}
