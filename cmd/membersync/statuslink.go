package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/status"
	"github.com/membersync/membersync/internal/store"
)

// maxLinkTTL bounds status links: a link that never expires cannot be taken back.
const maxLinkTTL = 366 * 24 * time.Hour

func cmdStatusLink(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "status-link [flags] EMAIL|cus_…|-",
		`Print a signed link to one person's status page (public_url/status/TOKEN), valid for --ttl.
The page shows the person's plans in plain words, with the way forward (update the payment method,
resend the community invitation). This link covers every Stripe customer with the person's email, so
send it only to that address (the welcome page after Checkout shows a link scoped to the checkout's
own customer instead: an email typed at Checkout proves nothing). Links are signed with
MEMBERSYNC_SIGNING_KEY (32 or more characters): use the value serve uses; changing it invalidates
every link.
With --all, or with - to read one EMAIL or cus_… per line from stdin, it prints CSV with the columns
email,status_link, ready to import into Kit as a custom field (see the README).`,
		`  membersync status-link ada@example.com
  membersync status-link --ttl 2160h cus_Q2x8…
  membersync status-link --all --ttl 720h > status_links.csv
  cut -d, -f1 customers.csv | membersync status-link - > status_links.csv`)
	cfgPath := configFlag(fs)
	ttl := fs.Duration("ttl", 720*time.Hour, "how long the link works, such as 720h (30 days); at most 8784h")
	all := fs.Bool("all", false, "print a link for every person whose email is known, as CSV")
	pos, err := parseInterleaved(fs, args, 0, 1)
	if err != nil {
		return err
	}
	if *all && len(pos) != 0 || !*all && len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	if *ttl <= 0 || *ttl > maxLinkTTL {
		return fmt.Errorf("--ttl %s: use a duration between 1s and %s", *ttl, maxLinkTTL)
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	if cfg.Secrets.SigningKey == "" {
		return errors.New(config.EnvSigningKey + " is not set: status links are signed with it; set the same value serve uses")
	}
	if msg := cfg.Secrets.SigningKeyProblem(); msg != "" {
		return errors.New(msg)
	}
	if u, err := url.Parse(cfg.PublicURL); err == nil && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1") {
		fmt.Fprintf(e.stderr, "warning: public_url is %s; these links only work on this machine\n", cfg.PublicURL)
	}
	st, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	now := time.Now()
	key := []byte(cfg.Secrets.SigningKey)
	link := func(pid int64) string {
		return cfg.PublicURL + "/status/" + status.NewToken(key, pid, *ttl, now)
	}

	if !*all && pos[0] != "-" {
		pid, err := findPerson(ctx, st, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintln(e.stdout, link(pid))
		fmt.Fprintf(e.stderr, "valid until %s\n", now.Add(*ttl).UTC().Format("2006-01-02 15:04 UTC"))
		return nil
	}

	w := csv.NewWriter(e.stdout)
	if err := w.Write([]string{"email", "status_link"}); err != nil {
		return err
	}
	var people []store.PersonEmail
	skipped := 0
	if *all {
		if people, err = st.PeopleEmails(ctx); err != nil {
			return err
		}
	} else {
		sc := bufio.NewScanner(e.stdin)
		for line := 1; sc.Scan(); line++ {
			who := strings.TrimSpace(sc.Text())
			if who == "" || strings.EqualFold(who, "email") {
				continue
			}
			pid, err := findPerson(ctx, st, who)
			if err == nil {
				var p store.Person
				if p, err = st.Person(ctx, pid); err == nil && p.Email == "" {
					err = errors.New("its email is not known yet (no sync has read it from Stripe)")
				}
				if err == nil {
					people = append(people, store.PersonEmail{ID: pid, Email: p.Email})
					continue
				}
			}
			fmt.Fprintf(e.stderr, "line %d: skipped: %v\n", line, err)
			skipped++
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
	}
	for _, p := range people {
		if err := w.Write([]string{p.Email, link(p.ID)}); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "%d link(s), valid until %s\n", len(people), now.Add(*ttl).UTC().Format("2006-01-02 15:04 UTC"))
	if skipped > 0 {
		return fmt.Errorf("%d line(s) skipped (see above)", skipped)
	}
	return nil
}
