package sources

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/support"
)

// fetchBatch is how many messages one FETCH asks for: what is held in memory at once is
// fetchBatch × MaxBodyBytes.
const fetchBatch = 10

// Cursors keeps how far the poller has read each mailbox; *store.Store is one.
type Cursors interface {
	IMAPCursor(ctx context.Context, mailbox string) (store.IMAPCursor, error)
	SaveIMAPCursor(ctx context.Context, c store.IMAPCursor) error
}

// Poller reads the support mailbox, read-only (EXAMINE: no flag is changed, a message stays unread
// for the founder), and ingests each message that arrived since the last poll. What it has read is
// a UID under the mailbox's UIDVALIDITY, kept in the database after every message: a restart,
// a crash or a second instance re-reads nothing it has handled, and a message ingested twice after
// a crash between the ingest and the cursor's write is a duplicate for the triage (idempotent on
// the ExternalID "<mailbox>/<uidvalidity>/<uid>").
//
// The first poll reads the messages received within Config.Backfill; when the server changes the
// mailbox's UIDVALIDITY (it rebuilt its index: every UID changed), the poller starts again from the
// mailbox's current messages but passes over those whose INTERNALDATE is not after the newest one
// it had ingested, so nothing is counted twice.
type Poller struct {
	Config   config.SupportIMAP
	Password string
	Cursors  Cursors
	Ingester Ingester
	// Dial connects to the server; the egress policy's DialContext in serve. Nil dials directly.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// TLS is the client TLS configuration (tests set RootCAs); nil means the system roots.
	TLS *tls.Config
	Now func() time.Time
	Log *slog.Logger
	// HashKey keys the sender hashes in the log.
	HashKey []byte
}

// PollResult is what one poll did.
type PollResult struct {
	UIDValidity uint32
	// Ingested counts the messages new to the triage; Duplicates those it had already seen;
	// Skipped the ones passed over (before the floor, automatic mail, no sender).
	Ingested, Duplicates, Skipped int
	// More is set when the poll stopped at Config.MaxPerPoll with messages left.
	More bool
	// Reset is set when the mailbox's UIDVALIDITY changed since the last poll.
	Reset bool
}

func (p *Poller) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Poller) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Poll connects, reads what is new and disconnects. It stops at the first message the triage
// cannot take (the database is down): that message and the rest wait for the next poll.
func (p *Poller) Poll(ctx context.Context) (PollResult, error) {
	c, stop, err := p.connect(ctx)
	if err != nil {
		return PollResult{}, err
	}
	defer stop()
	defer c.Close()
	defer func() { _ = c.Logout().Wait() }()
	return p.poll(ctx, c)
}

// connect dials, secures and logs in. stop releases the watch that closes the connection when ctx
// ends.
func (p *Poller) connect(ctx context.Context) (c *imapclient.Client, stop func() bool, err error) {
	cfg := p.Config
	dial := p.Dial
	if dial == nil {
		var d net.Dialer
		dial = d.DialContext
	}
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("imap: connecting to %s: %w", addr, err)
	}
	// The whole session is bounded by ctx: a server that stops answering cannot hold the job.
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	stop = context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(format string, err error) (*imapclient.Client, func() bool, error) {
		stop()
		conn.Close()
		return nil, nil, fmt.Errorf(format, addr, err)
	}
	tlsCfg := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if p.TLS != nil {
		tlsCfg = p.TLS.Clone()
		if tlsCfg.ServerName == "" {
			tlsCfg.ServerName = cfg.Host
		}
		tlsCfg.MinVersion = max(tlsCfg.MinVersion, tls.VersionTLS12)
	}
	opts := &imapclient.Options{TLSConfig: tlsCfg}
	switch cfg.Security {
	case config.IMAPSecurityStartTLS:
		if c, err = imapclient.NewStartTLS(conn, opts); err != nil {
			return fail("imap: STARTTLS with %s: %w", err)
		}
	case config.IMAPSecurityNone:
		c = imapclient.New(conn, opts)
	default:
		tc := tls.Client(conn, tlsCfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return fail("imap: TLS with %s: %w", err)
		}
		c = imapclient.New(tc, opts)
	}
	if err := c.WaitGreeting(); err != nil {
		c.Close()
		return fail("imap: greeting from %s: %w", err)
	}
	if err := c.Login(cfg.Username, p.Password).Wait(); err != nil {
		c.Close()
		return fail("imap: logging in to %s with support.imap.username and "+config.EnvIMAPPassword+": %w", err)
	}
	return c, stop, nil
}

// poll reads the selected mailbox from the cursor on.
func (p *Poller) poll(ctx context.Context, c *imapclient.Client) (PollResult, error) {
	cfg := p.Config
	sel, err := c.Select(cfg.Mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return PollResult{}, fmt.Errorf("imap: examining mailbox %q: %w", cfg.Mailbox, err)
	}
	res := PollResult{UIDValidity: sel.UIDValidity}
	cur, err := p.Cursors.IMAPCursor(ctx, cfg.Mailbox)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// First read: only what arrived within the backfill window.
		cur = store.IMAPCursor{Mailbox: cfg.Mailbox, UIDValidity: sel.UIDValidity, FloorAt: p.now().Add(-cfg.Backfill.D()),
			FloorBelowUID: floorBelow(sel)}
	case err != nil:
		return res, err
	case cur.UIDValidity != sel.UIDValidity:
		// Every UID changed: read the mailbox again, passing over what was ingested before.
		res.Reset = true
		p.log().Warn("support mailbox UIDVALIDITY changed; reading it again without counting twice",
			"mailbox", cfg.Mailbox, "was", cur.UIDValidity, "now", sel.UIDValidity)
		floor := cur.LastAt
		if floor.IsZero() {
			floor = cur.FloorAt
		}
		cur = store.IMAPCursor{Mailbox: cfg.Mailbox, UIDValidity: sel.UIDValidity, LastAt: cur.LastAt, FloorAt: floor,
			FloorBelowUID: floorBelow(sel)}
	}
	if err := p.Cursors.SaveIMAPCursor(ctx, cur); err != nil {
		return res, err
	}
	if sel.NumMessages == 0 {
		return res, nil
	}
	uids, err := p.candidates(c, cur)
	if err != nil {
		return res, err
	}
	if len(uids) > cfg.MaxPerPoll {
		uids, res.More = uids[:cfg.MaxPerPoll], true
	}
	for start := 0; start < len(uids); start += fetchBatch {
		batch := uids[start:min(start+fetchBatch, len(uids))]
		if err := p.fetch(ctx, c, &cur, batch, &res); err != nil {
			return res, err
		}
	}
	return res, nil
}

// floorBelow is the UID from which every message is new: the mailbox's UIDNEXT, or, when the
// server does not send it, no limit (every message is compared with the floor's date).
func floorBelow(sel *imap.SelectData) uint32 {
	if sel.UIDNext > 0 {
		return uint32(sel.UIDNext)
	}
	return ^uint32(0)
}

// candidates returns the UIDs after the cursor, ascending: below the floor's UID only those
// received on or after the floor's day (SEARCH compares dates; fetch compares the instants).
func (p *Poller) candidates(c *imapclient.Client, cur store.IMAPCursor) ([]imap.UID, error) {
	from := imap.UID(cur.LastUID + 1)
	var uids []imap.UID
	search := func(crit *imap.SearchCriteria) error {
		data, err := c.UIDSearch(crit, nil).Wait()
		if err != nil {
			return fmt.Errorf("imap: searching mailbox %q: %w", p.Config.Mailbox, err)
		}
		for _, u := range data.AllUIDs() {
			if u >= from { // "n:*" includes the last message even when its UID is below n
				uids = append(uids, u)
			}
		}
		return nil
	}
	floored := !cur.FloorAt.IsZero() && cur.FloorBelowUID > 0 && uint32(from) < cur.FloorBelowUID
	if floored {
		below := imap.UID(cur.FloorBelowUID - 1)
		crit := &imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: from, Stop: below}}}, Since: cur.FloorAt}
		if err := search(crit); err != nil {
			return nil, err
		}
		from = imap.UID(cur.FloorBelowUID)
		if cur.FloorBelowUID == ^uint32(0) {
			slices.Sort(uids)
			return slices.Compact(uids), nil
		}
	}
	if err := search(&imap.SearchCriteria{UID: []imap.UIDSet{{imap.UIDRange{Start: from, Stop: 0}}}}); err != nil {
		return nil, err
	}
	slices.Sort(uids)
	return slices.Compact(uids), nil
}

// fetch reads one batch of messages and ingests each, saving the cursor after each one.
func (p *Poller) fetch(ctx context.Context, c *imapclient.Client, cur *store.IMAPCursor, uids []imap.UID, res *PollResult) error {
	cfg := p.Config
	section := &imap.FetchItemBodySection{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: int64(cfg.MaxBodyBytes)}}
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, InternalDate: true, RFC822Size: true,
		BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		return fmt.Errorf("imap: fetching %d messages from %q: %w", len(uids), cfg.Mailbox, err)
	}
	slices.SortFunc(msgs, func(a, b *imapclient.FetchMessageBuffer) int { return int(a.UID) - int(b.UID) })
	for _, m := range msgs {
		uid := uint32(m.UID)
		if uid <= cur.LastUID {
			continue
		}
		ingest := true
		if uid < cur.FloorBelowUID && !cur.FloorAt.IsZero() && !m.InternalDate.After(cur.FloorAt) {
			ingest = false // there before the first poll or the UIDVALIDITY change
		}
		var raw []byte
		if len(m.BodySection) > 0 {
			raw = m.BodySection[0].Bytes
		}
		var pm parsedMail
		if ingest {
			pm, err = parseMail(raw)
			switch {
			case err != nil:
				p.log().Warn("support message not readable; passed over", "mailbox", cfg.Mailbox, "uid", uid, "err", err)
				ingest = false
			case pm.Auto || pm.From == "":
				ingest = false // a vacation reply, a bounce, a notification: not a customer writing
			}
		}
		if ingest {
			at := m.InternalDate
			if at.IsZero() {
				at = pm.Date
			}
			out, err := p.Ingester.Ingest(ctx, support.Message{Source: SourceIMAP,
				ExternalID: fmt.Sprintf("%s/%d/%d", cfg.Mailbox, cur.UIDValidity, uid),
				From:       pm.From, Subject: pm.Subject, Body: pm.Body, ReceivedAt: at.UTC()})
			switch {
			case errors.Is(err, support.ErrInvalid):
				p.log().Warn("support message refused by the triage; passed over", "mailbox", cfg.Mailbox, "uid", uid, "err", err)
				res.Skipped++
			case err != nil:
				return fmt.Errorf("imap: ingesting message %d of %q: %w", uid, cfg.Mailbox, err)
			case out.Duplicate:
				res.Duplicates++
			default:
				res.Ingested++
				p.log().Info("support message received", "source", SourceIMAP, "id", out.ID, "category", out.Category,
					"from_hash", emailHash(p.HashKey, pm.From))
			}
			if at.After(cur.LastAt) {
				cur.LastAt = at
			}
		} else {
			res.Skipped++
		}
		cur.LastUID = uid
		if err := p.Cursors.SaveIMAPCursor(ctx, *cur); err != nil {
			return err
		}
	}
	return nil
}
