package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file holds what the support sources (package support/sources) keep between runs: how far
// the IMAP poller has read each mailbox, so that a restart counts nothing twice.

// IMAPCursor is how far the poller has read one mailbox. UIDs mean something only together with
// the UIDVALIDITY they were read under.
type IMAPCursor struct {
	Mailbox     string
	UIDValidity uint32
	// LastUID is the highest UID handled (ingested or passed over); 0 before the first.
	LastUID uint32
	// LastAt is the newest INTERNALDATE ingested; zero before the first.
	LastAt time.Time
	// FloorAt and FloorBelowUID pass over the messages that were already in the mailbox when the
	// poller first read it or when its UIDVALIDITY changed: a UID below FloorBelowUID whose
	// INTERNALDATE is not after FloorAt is skipped. Zero values mean no floor.
	FloorAt       time.Time
	FloorBelowUID uint32
}

// IMAPCursor returns the cursor of mailbox, and ErrNotFound before the poller first read it.
func (s *Store) IMAPCursor(ctx context.Context, mailbox string) (IMAPCursor, error) {
	c := IMAPCursor{Mailbox: mailbox}
	var validity, last, below, lastAt, floorAt int64
	err := s.queryRow(ctx, `SELECT uidvalidity, last_uid, last_at, floor_at, floor_below_uid
		FROM support_imap_cursors WHERE mailbox = ?`, mailbox).Scan(&validity, &last, &lastAt, &floorAt, &below)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("%w: reading the IMAP cursor of %s: %v", ErrUnavailable, mailbox, err)
	}
	c.UIDValidity, c.LastUID, c.FloorBelowUID = uint32(validity), uint32(last), uint32(below)
	c.LastAt, c.FloorAt = optMicros(lastAt), optMicros(floorAt)
	return c, nil
}

// SaveIMAPCursor writes the cursor of c.Mailbox, replacing the one stored.
func (s *Store) SaveIMAPCursor(ctx context.Context, c IMAPCursor) error {
	_, err := s.exec(ctx, `INSERT INTO support_imap_cursors (mailbox, uidvalidity, last_uid, last_at, floor_at, floor_below_uid, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = excluded.last_uid,
			last_at = excluded.last_at, floor_at = excluded.floor_at, floor_below_uid = excluded.floor_below_uid,
			updated_at = excluded.updated_at`,
		c.Mailbox, int64(c.UIDValidity), int64(c.LastUID), microsOrZero(c.LastAt), microsOrZero(c.FloorAt), int64(c.FloorBelowUID), micros(s.now()))
	if err != nil {
		return fmt.Errorf("%w: saving the IMAP cursor of %s: %v", ErrUnavailable, c.Mailbox, err)
	}
	return nil
}
