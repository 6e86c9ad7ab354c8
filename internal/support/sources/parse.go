package sources

import (
	"bytes"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	_ "github.com/emersion/go-message/charset" // decodes ISO-8859-*, Windows-125x, … bodies and headers
	gomail "github.com/emersion/go-message/mail"
	"golang.org/x/net/html"
)

// maxText bounds the text kept of one message (after decoding): the triage reads the first
// lines, not a quoted thread of fifty replies.
const maxText = 64 << 10

// parsedMail is what the triage needs of an email.
type parsedMail struct {
	From, Subject, Body string
	Date                time.Time
	// Auto is set for automatic mail (Auto-Submitted other than "no", RFC 3834): vacation replies,
	// bounces, notifications. It is not a customer writing.
	Auto bool
}

// parseMail reads an RFC 5322 message, perhaps cut short at the fetch limit: the sender's
// address, the decoded subject, and the text/plain body (else the text of the text/html body). A
// body cut mid-part yields what was read; only a message whose header cannot be read is an error.
func parseMail(raw []byte) (parsedMail, error) {
	mr, err := gomail.CreateReader(bytes.NewReader(raw))
	if mr == nil {
		return parsedMail{}, fmt.Errorf("reading the message header: %w", err)
	}
	defer mr.Close()
	var pm parsedMail
	if list, err := mr.Header.AddressList("From"); err == nil && len(list) > 0 {
		pm.From = list[0].Address
	} else if a, err := mail.ParseAddress(mr.Header.Get("From")); err == nil {
		pm.From = a.Address
	}
	if s, err := mr.Header.Subject(); err == nil {
		pm.Subject = s
	} else {
		pm.Subject = mr.Header.Get("Subject")
	}
	pm.Date, _ = mr.Header.Date()
	if v := strings.ToLower(strings.TrimSpace(mr.Header.Get("Auto-Submitted"))); v != "" && v != "no" {
		pm.Auto = true
	}
	var plain, htmlText string
	for plain == "" {
		p, err := mr.NextPart()
		if err != nil {
			break // io.EOF, or a part cut at the fetch limit: keep what was read
		}
		h, ok := p.Header.(*gomail.InlineHeader)
		if !ok {
			continue // attachments are not read
		}
		ct, _, _ := h.ContentType()
		b, _ := io.ReadAll(io.LimitReader(p.Body, maxText*4))
		switch {
		case ct == "text/plain" || ct == "":
			plain = string(b)
		case ct == "text/html" && htmlText == "":
			htmlText = HTMLText(string(b))
		}
	}
	pm.Body = plain
	if strings.TrimSpace(pm.Body) == "" {
		pm.Body = htmlText
	}
	pm.Body = clip(strings.TrimSpace(pm.Body), maxText)
	pm.Subject = clip(strings.TrimSpace(pm.Subject), 1000)
	return pm, nil
}

// clip returns s cut to at most n bytes on a rune boundary, with invalid UTF-8 replaced.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// blockTags end a line when they open or close.
var blockTags = map[string]bool{"p": true, "div": true, "br": true, "li": true, "tr": true, "h1": true, "h2": true,
	"h3": true, "h4": true, "h5": true, "h6": true, "blockquote": true, "pre": true, "table": true, "ul": true, "ol": true, "hr": true}

// HTMLText returns the text a person reads in an HTML fragment: tags dropped, entities decoded,
// scripts and styles left out, a line break for each block element, runs of blank lines folded.
// Help Scout's thread bodies and HTML-only emails go through it.
func HTMLText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return strings.TrimSpace(s)
	}
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	skip := 0
	for b.Len() < maxText*2 {
		switch z.Next() {
		case html.ErrorToken:
			return foldBlank(b.String())
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			switch n := string(name); {
			case n == "script" || n == "style" || n == "head" || n == "title":
				skip++
			case blockTags[n]:
				b.WriteByte('\n')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			switch n := string(name); {
			case (n == "script" || n == "style" || n == "head" || n == "title") && skip > 0:
				skip--
			case blockTags[n]:
				b.WriteByte('\n')
			}
		}
	}
	return foldBlank(b.String())
}

// foldBlank trims each line's trailing spaces and folds runs of blank lines into one.
func foldBlank(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := true
	for _, l := range lines {
		l = strings.TrimRight(strings.ReplaceAll(l, "\u00a0", " "), " \t\r")
		if strings.TrimSpace(l) == "" {
			if blank {
				continue
			}
			blank = true
			out = append(out, "")
			continue
		}
		blank = false
		out = append(out, strings.TrimLeft(l, " \t"))
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
