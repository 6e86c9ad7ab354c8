package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// This file holds the append-only audit log of admin actions.

// AuditEntry is one admin action in the append-only audit log.
type AuditEntry struct {
	ID       int64
	At       time.Time
	Actor    string // the operator's email, "… (token NAME)" for an API token, or "cli"
	Action   string // such as person.resync, review.resolve, event.replay, user.add
	Target   string // such as person:12, review:7, event:evt_…, user:ops@example.com
	PersonID int64  // the person the action is about, 0 when none
	Before   string // JSON of the state before, "" when none
	After    string // JSON of the state after, "" when none
	Note     string
}

// AppendAudit records an admin action; At defaults to the store's clock.
func (s *Store) AppendAudit(ctx context.Context, e AuditEntry) (AuditEntry, error) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	err := s.queryRow(ctx, `INSERT INTO audit_log (at, actor, action, target, person_id, before_json, after_json, note)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, micros(e.At), e.Actor, e.Action, e.Target, e.PersonID, e.Before, e.After, e.Note).Scan(&e.ID)
	if err != nil {
		return AuditEntry{}, fmt.Errorf("writing audit log: %w", err)
	}
	return e, nil
}

// AuditFilter narrows the audit log; zero fields match everything.
type AuditFilter struct {
	Actor    string // substring
	Action   string // exact
	Target   string // substring
	PersonID int64
	Since    time.Time // inclusive
	Until    time.Time // exclusive
	BeforeID int64     // paging: entries older than this id
	Limit    int       // default 100
}

// Audit returns audit entries matching f, newest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	q := "SELECT id, at, actor, action, target, person_id, before_json, after_json, note FROM audit_log WHERE 1 = 1"
	var args []any
	if f.Actor != "" {
		q += ` AND LOWER(actor) LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscape(strings.ToLower(f.Actor))+"%")
	}
	if f.Action != "" {
		q += " AND action = ?"
		args = append(args, f.Action)
	}
	if f.Target != "" {
		q += ` AND target LIKE ? ESCAPE '\'`
		args = append(args, "%"+likeEscape(f.Target)+"%")
	}
	if f.PersonID != 0 {
		q += " AND person_id = ?"
		args = append(args, f.PersonID)
	}
	if !f.Since.IsZero() {
		q += " AND at >= ?"
		args = append(args, micros(f.Since))
	}
	if !f.Until.IsZero() {
		q += " AND at < ?"
		args = append(args, micros(f.Until))
	}
	if f.BeforeID > 0 {
		q += " AND id < ?"
		args = append(args, f.BeforeID)
	}
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT %d", limitOr(f.Limit, 100))
	r, err := s.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []AuditEntry
	for r.Next() {
		var e AuditEntry
		var at int64
		if err := r.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.PersonID, &e.Before, &e.After, &e.Note); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, r.Err()
}

// AuditActions returns the distinct actions in the audit log (for the filter).
func (s *Store) AuditActions(ctx context.Context) ([]string, error) {
	return s.textColumn(ctx, "SELECT DISTINCT action FROM audit_log ORDER BY action LIMIT 200")
}
