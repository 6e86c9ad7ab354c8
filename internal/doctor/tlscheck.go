package doctor

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// tlsProbe is what one handshake with a host showed: the certificates the server sent (verified or not)
// and the result of verifying them for the host.
type tlsProbe struct {
	Host      string
	Chain     []*x509.Certificate
	Version   uint16
	Err       error // the handshake failed
	VerifyErr error // the chain does not verify for the host
}

// handshake dials host:443 and runs a TLS handshake with cfg, returning the connection state.
func (a *auditor) handshake(ctx context.Context, host string, cfg *tls.Config) (tls.ConnectionState, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	raw, err := a.dial(ctx, "tcp", net.JoinHostPort(host, "443"))
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer raw.Close()
	conn := tls.Client(raw, cfg)
	if err := conn.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, err
	}
	return conn.ConnectionState(), nil
}

// probeTLS fetches the certificates host serves without trusting them, then verifies them against the
// configured roots at the configured time.
func (a *auditor) probeTLS(ctx context.Context, host string) *tlsProbe {
	p := &tlsProbe{Host: host}
	st, err := a.handshake(ctx, host, &tls.Config{ServerName: host, InsecureSkipVerify: true})
	if err != nil {
		p.Err = err
		return p
	}
	p.Chain = st.PeerCertificates
	p.Version = st.Version
	if len(p.Chain) == 0 {
		p.Err = fmt.Errorf("no certificate served")
		return p
	}
	inter := x509.NewCertPool()
	for _, c := range p.Chain[1:] {
		inter.AddCert(c)
	}
	_, p.VerifyErr = p.Chain[0].Verify(x509.VerifyOptions{DNSName: host, Roots: a.opts.RootCAs, Intermediates: inter, CurrentTime: a.now()})
	return p
}

// checkTLS audits, for each host, the chain, the expiry of every served certificate, the protocol
// versions accepted and HSTS.
func (a *auditor) checkTLS(ctx context.Context) []Finding {
	var out []Finding
	for _, h := range a.hosts() {
		p := a.certs[h]
		if p.Err != nil {
			out = append(out, finding(GroupTLS, "certificate ("+h+")", StatusFail, "no TLS handshake with "+h+":443: "+p.Err.Error(),
				"Serve HTTPS on "+h+" with a certificate for it (e.g. from Let's Encrypt or the CDN)."))
		} else {
			out = append(out, a.checkChain(p), a.checkExpiry(p))
		}
		out = append(out, a.checkVersions(ctx, h))
		out = append(out, a.checkHSTS(h))
	}
	return out
}

// certLine describes a certificate for Detail.
func certLine(c *x509.Certificate) string {
	return fmt.Sprintf("%s (issuer %s) valid %s to %s", c.Subject.CommonName, c.Issuer.CommonName,
		c.NotBefore.UTC().Format("2006-01-02"), c.NotAfter.UTC().Format("2006-01-02"))
}

// checkChain reports whether the served chain verifies for the host.
func (a *auditor) checkChain(p *tlsProbe) Finding {
	check := "certificate chain (" + p.Host + ")"
	leaf := p.Chain[0]
	detail := []string{"names: " + strings.Join(leaf.DNSNames, ", ")}
	for _, c := range p.Chain {
		detail = append(detail, certLine(c))
	}
	if p.VerifyErr != nil {
		return finding(GroupTLS, check, StatusFail, "the certificate served for "+p.Host+" does not verify: "+p.VerifyErr.Error(),
			"Serve a certificate that covers "+p.Host+", with its full intermediate chain, from a trusted CA.", detail...)
	}
	return finding(GroupTLS, check, StatusPass, "the certificate for "+p.Host+" verifies (issuer "+leaf.Issuer.CommonName+")", "", detail...)
}

// isSelfSigned reports whether c is a root (self-issued and self-signed), which is not the server's to renew.
func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

// checkExpiry warns under 30 days and fails under 7 days (or expired, or not yet valid) for the leaf and
// every intermediate served.
func (a *auditor) checkExpiry(p *tlsProbe) Finding {
	check := "certificate expiry (" + p.Host + ")"
	now := a.now()
	status := StatusPass
	var detail, problems []string
	soonest := time.Duration(1<<63 - 1)
	for i, c := range p.Chain {
		if i > 0 && isSelfSigned(c) {
			continue
		}
		role := "leaf"
		if i > 0 {
			role = "intermediate"
		}
		left := c.NotAfter.Sub(now)
		days := int(left.Hours() / 24)
		detail = append(detail, fmt.Sprintf("%s %s expires %s (%d days)", role, c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339), days))
		soonest = min(soonest, left)
		switch {
		case now.Before(c.NotBefore):
			status = StatusFail
			problems = append(problems, role+" "+c.Subject.CommonName+" is not valid yet")
		case left <= 0:
			status = StatusFail
			problems = append(problems, role+" "+c.Subject.CommonName+" has expired")
		case left < 7*24*time.Hour:
			status = StatusFail
			problems = append(problems, fmt.Sprintf("%s %s expires in %d days", role, c.Subject.CommonName, days))
		case left < 30*24*time.Hour:
			status = worst(status, StatusWarn)
			problems = append(problems, fmt.Sprintf("%s %s expires in %d days", role, c.Subject.CommonName, days))
		}
	}
	if len(problems) > 0 {
		return finding(GroupTLS, check, status, strings.Join(problems, "; "),
			"Renew the certificate now and check that automatic renewal (ACME, CDN) works and serves the current intermediate.", detail...)
	}
	return finding(GroupTLS, check, StatusPass, fmt.Sprintf("the served certificates are valid for at least %d more days", int(soonest.Hours()/24)), "", detail...)
}

// allSuites lists every cipher suite Go implements, so that a probe can reach servers that only speak
// old protocol versions.
func allSuites() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	for _, s := range tls.InsecureCipherSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}

// checkVersions tries a handshake at each protocol version; TLS 1.0 or 1.1 accepted warns.
func (a *auditor) checkVersions(ctx context.Context, host string) Finding {
	check := "protocol versions (" + host + ")"
	versions := []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12, tls.VersionTLS13}
	var offered, old []string
	for _, v := range versions {
		cfg := &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: v, MaxVersion: v, CipherSuites: allSuites()}
		if _, err := a.handshake(ctx, host, cfg); err == nil {
			name := tls.VersionName(v)
			offered = append(offered, name)
			if v < tls.VersionTLS12 {
				old = append(old, name)
			}
		}
	}
	detail := []string{"accepted: " + strings.Join(offered, ", ")}
	switch {
	case len(offered) == 0:
		return finding(GroupTLS, check, StatusUnknown, "no TLS version could be negotiated with "+host, "")
	case len(old) > 0:
		return finding(GroupTLS, check, StatusWarn, host+" still accepts "+strings.Join(old, " and ")+" (deprecated by RFC 8996)",
			"Set the minimum TLS version to 1.2 at the server or CDN.", detail...)
	}
	return finding(GroupTLS, check, StatusPass, host+" accepts only "+strings.Join(offered, " and "), "", detail...)
}

// checkHSTS reads Strict-Transport-Security from the first HTTPS response of the host.
func (a *auditor) checkHSTS(host string) Finding {
	check := "HSTS (" + host + ")"
	c := a.chains["https://"+host+"/"]
	if c == nil || len(c.Hops) == 0 {
		msg := "could not fetch https://" + host + "/"
		if c != nil && c.Err != nil {
			msg += ": " + c.Err.Error()
		}
		return finding(GroupTLS, check, StatusUnknown, msg, "")
	}
	v := c.Hops[0].Header.Get("Strict-Transport-Security")
	fix := "Send `Strict-Transport-Security: max-age=31536000; includeSubDomains` on every HTTPS response (redirects too)."
	if v == "" {
		return finding(GroupTLS, check, StatusWarn, "https://"+host+"/ sends no Strict-Transport-Security header", fix)
	}
	age := -1
	for _, part := range strings.Split(v, ";") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		if strings.EqualFold(strings.TrimSpace(k), "max-age") {
			if n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`)); err == nil {
				age = n
			}
		}
	}
	detail := []string{"Strict-Transport-Security: " + v}
	switch {
	case age < 0:
		return finding(GroupTLS, check, StatusWarn, "HSTS header has no valid max-age", fix, detail...)
	case age < 31536000:
		return finding(GroupTLS, check, StatusWarn, fmt.Sprintf("HSTS max-age is %d s, under one year", age), fix, detail...)
	}
	return finding(GroupTLS, check, StatusPass, fmt.Sprintf("HSTS max-age is %d s", age), "", detail...)
}
