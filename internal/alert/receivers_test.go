package alert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpReceiver is a local HTTP endpoint standing in for Slack or a JSON webhook receiver.
type httpReceiver struct {
	URL string
	srv *httptest.Server

	mu     sync.Mutex
	got    []httpDelivery // guarded by mu
	status int            // answer; 0 means 200; guarded by mu
	stall  bool           // hold every request until the client gives up; guarded by mu
}

type httpDelivery struct {
	Header http.Header
	Body   []byte
}

func newHTTPReceiver(t *testing.T) *httpReceiver {
	t.Helper()
	r := &httpReceiver{}
	release := make(chan struct{})
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status, stall := r.status, r.stall
		r.mu.Unlock()
		if stall {
			select {
			case <-req.Context().Done():
			case <-release:
			}
			return
		}
		if status != 0 && status != http.StatusOK {
			http.Error(w, "receiver unavailable", status)
			return
		}
		r.mu.Lock()
		r.got = append(r.got, httpDelivery{Header: req.Header.Clone(), Body: body})
		r.mu.Unlock()
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets stalled handlers return
	r.URL = r.srv.URL + "/services/T000/B000/SECRETPATH"
	return r
}

func (r *httpReceiver) set(status int, stall bool) {
	r.mu.Lock()
	r.status, r.stall = status, stall
	r.mu.Unlock()
}

// take returns what arrived since the last take.
func (r *httpReceiver) take() []httpDelivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.got
	r.got = nil
	return out
}

// downURL returns the URL of a server that no longer listens.
func downURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u + "/services/T000/B000/SECRETPATH"
}

// testCert makes a self-signed certificate for 127.0.0.1 and a pool that trusts it.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
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

// smtpServer is a tiny SMTP server on loopback: EHLO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
type smtpServer struct {
	Addr     string
	Roots    *x509.CertPool // trusts the server's certificate
	noTLS    bool           // do not offer STARTTLS
	stall    bool           // accept connections and never greet
	user     string
	password string

	tls tls.Config
	ln  net.Listener

	mu    sync.Mutex
	mails []smtpMail // guarded by mu
	froms int        // MAIL commands seen; guarded by mu
}

type smtpMail struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	User string
}

func newSMTPServer(t *testing.T, configure func(*smtpServer)) *smtpServer {
	t.Helper()
	cert, pool := testCert(t)
	s := &smtpServer{Roots: pool, user: "alerts@example.com", password: "smtp-pass-123"}
	s.tls = tls.Config{Certificates: []tls.Certificate{cert}}
	if configure != nil {
		configure(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln, s.Addr = ln, ln.Addr().String()
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
				if s.stall {
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

func (s *smtpServer) take() []smtpMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.mails
	s.mails = nil
	return out
}

func (s *smtpServer) mailCommands() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.froms
}

func (s *smtpServer) serve(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	tp.PrintfLine("220 localhost test ESMTP")
	secure, user := false, ""
	var cur smtpMail
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			tp.PrintfLine("250-localhost greets %s", arg)
			if !secure && !s.noTLS {
				tp.PrintfLine("250-STARTTLS")
			}
			if secure {
				tp.PrintfLine("250-AUTH PLAIN")
			}
			tp.PrintfLine("250 8BITMIME")
		case "STARTTLS":
			if s.noTLS || secure {
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
			if !secure || mech != "PLAIN" || len(parts) != 3 || parts[1] != s.user || parts[2] != s.password {
				tp.PrintfLine("535 5.7.8 authentication failed")
				continue
			}
			user = parts[1]
			tp.PrintfLine("235 2.7.0 authenticated")
		case "MAIL":
			s.mu.Lock()
			s.froms++
			s.mu.Unlock()
			cur = smtpMail{From: addr(arg), TLS: secure, User: user}
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
