// Package mailtest is a small SMTP server on loopback for tests: EHLO, STARTTLS (with a certificate
// it makes itself), AUTH PLAIN, MAIL, RCPT, DATA and QUIT, recording what it receives. Options make
// it refuse STARTTLS or never greet, to test the client's refusals and timeouts.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options shape a Server.
type Options struct {
	// NoTLS leaves STARTTLS out of the EHLO answer.
	NoTLS bool
	// Stall accepts connections and never greets.
	Stall bool
	// User and Password are the credentials AUTH PLAIN accepts (defaults: "alerts@example.com",
	// "smtp-pass-123").
	User, Password string
}

// Server is the SMTP server.
type Server struct {
	Addr  string         // host:port on loopback
	Roots *x509.CertPool // trusts the server's certificate
	User  string
	// Password is the password AUTH PLAIN accepts.
	Password string

	opts Options
	tls  tls.Config

	mu    sync.Mutex
	mails []Mail // guarded by mu
	froms int    // MAIL commands seen; guarded by mu
}

// Mail is one message the server accepted.
type Mail struct {
	From string
	To   []string
	Data []byte
	TLS  bool   // sent after STARTTLS
	User string // authenticated as ("" for none)
}

// New starts a server that stops when the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.User == "" {
		opts.User = "alerts@example.com"
	}
	if opts.Password == "" {
		opts.Password = "smtp-pass-123"
	}
	cert, pool := Cert(t)
	s := &Server{Roots: pool, User: opts.User, Password: opts.Password, opts: opts}
	s.tls = tls.Config{Certificates: []tls.Certificate{cert}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	var wg sync.WaitGroup
	done := make(chan struct{})
	var conns sync.Map
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Go(func() {
				defer c.Close()
				if opts.Stall {
					<-done
					return
				}
				s.serve(c)
			})
		}
	})
	t.Cleanup(func() {
		close(done)
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	return s
}

// Take returns the messages received since the last call.
func (s *Server) Take() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.mails
	s.mails = nil
	return out
}

// MailCommands counts the MAIL commands seen (a message started, sent or not).
func (s *Server) MailCommands() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.froms
}

func (s *Server) serve(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 localhost test ESMTP")
	secure, user := false, ""
	var cur Mail
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			tp.PrintfLine("250-localhost greets %s", arg)
			if !secure && !s.opts.NoTLS {
				tp.PrintfLine("250-STARTTLS")
			}
			if secure {
				tp.PrintfLine("250-AUTH PLAIN")
			}
			tp.PrintfLine("250 8BITMIME")
		case "STARTTLS":
			if s.opts.NoTLS || secure {
				tp.PrintfLine("502 not offered")
				continue
			}
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, &s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, tp, secure = tc, textproto.NewConn(tc), true
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			b, _ := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(b), "\x00")
			if !secure || mech != "PLAIN" || len(parts) != 3 || parts[1] != s.User || parts[2] != s.Password {
				tp.PrintfLine("535 5.7.8 authentication failed")
				continue
			}
			user = parts[1]
			tp.PrintfLine("235 2.7.0 authenticated")
		case "MAIL":
			s.mu.Lock()
			s.froms++
			s.mu.Unlock()
			cur = Mail{From: addr(arg), TLS: secure, User: user}
			tp.PrintfLine("250 ok")
		case "RCPT":
			cur.To = append(cur.To, addr(arg))
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 end with <CRLF>.<CRLF>")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			cur.Data = data
			s.mu.Lock()
			s.mails = append(s.mails, cur)
			s.mu.Unlock()
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 unknown command")
		}
	}
}

// addr takes the address out of "FROM:<a@b>" or "TO:<a@b>".
func addr(arg string) string {
	_, a, _ := strings.Cut(arg, "<")
	a, _, _ = strings.Cut(a, ">")
	return a
}

// Cert makes a self-signed certificate for 127.0.0.1 and localhost, valid for an hour, and a pool
// that trusts it.
func Cert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "membersync test SMTP"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}
