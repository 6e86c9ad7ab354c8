package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// AlertState is one alert's state: whether it fires, since when, and what was last said about it.
type AlertState struct {
	ID   string // the rule, or rule:subject (credentials:circle)
	Rule string
	// Firing is whether the condition holds and the alert was raised.
	Firing bool
	// PendingSince is when the condition was first seen holding while the rule's hold time runs.
	PendingSince time.Time
	// Since is when the condition began.
	Since time.Time
	// LastSent is when a firing message was last delivered; zero while one is owed.
	LastSent time.Time
	// Sent counts the firing messages delivered (first and repeats) in this firing.
	Sent       int
	ResolvedAt time.Time
	// ResolveOwed is set while the resolved message is still to be delivered.
	ResolveOwed bool
	Title       string
	Detail      string
	Link        string
	Affected    int // people affected; -1 when unknown
	// Version is the stored version this state was read at; SaveAlertState compares and bumps it.
	Version   int64
	UpdatedAt time.Time
}

const alertCols = "id, rule, firing, pending_since, since, last_sent, sent_count, resolved_at, resolve_owed, title, detail, link, affected, version, updated_at"

func scanAlert(r row) (AlertState, error) {
	var a AlertState
	var pending, since, sent, resolved, updated int64
	err := r.Scan(&a.ID, &a.Rule, &a.Firing, &pending, &since, &sent, &a.Sent, &resolved, &a.ResolveOwed, &a.Title, &a.Detail, &a.Link, &a.Affected, &a.Version, &updated)
	a.PendingSince, a.Since, a.LastSent, a.ResolvedAt, a.UpdatedAt = fromMicros(pending), fromMicros(since), fromMicros(sent), fromMicros(resolved), fromMicros(updated)
	return a, err
}

// AlertStates returns every alert's state; firingOnly keeps those that fire. Ordered by rule and id.
func (s *Store) AlertStates(ctx context.Context, firingOnly bool) ([]AlertState, error) {
	q := "SELECT " + alertCols + " FROM alert_state"
	if firingOnly {
		q += " WHERE firing = TRUE"
	}
	r, err := s.query(ctx, q+" ORDER BY rule, id")
	if err != nil {
		return nil, fmt.Errorf("reading alert state: %w", err)
	}
	defer r.Close()
	var out []AlertState
	for r.Next() {
		a, err := scanAlert(r)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, r.Err()
}

// SaveAlertState writes a if the stored row is still at a.Version (a.Version 0 inserts a new row),
// and bumps a.Version. It returns false, writing nothing, when another evaluator moved the alert
// first: each transition (and so each message) happens once across instances.
func (s *Store) SaveAlertState(ctx context.Context, a *AlertState) (bool, error) {
	now := micros(s.now())
	args := []any{a.Rule, a.Firing, t0(a.PendingSince), t0(a.Since), t0(a.LastSent), a.Sent, t0(a.ResolvedAt), a.ResolveOwed, a.Title, a.Detail, a.Link, a.Affected, now}
	var n int64
	var err error
	if a.Version == 0 {
		n, err = s.exec(ctx, `INSERT INTO alert_state (rule, firing, pending_since, since, last_sent, sent_count, resolved_at, resolve_owed, title, detail, link, affected, updated_at, id, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT (id) DO NOTHING`, append(args, a.ID)...)
	} else {
		n, err = s.exec(ctx, `UPDATE alert_state SET rule = ?, firing = ?, pending_since = ?, since = ?, last_sent = ?, sent_count = ?, resolved_at = ?, resolve_owed = ?,
			title = ?, detail = ?, link = ?, affected = ?, updated_at = ?, version = version + 1 WHERE id = ? AND version = ?`, append(args, a.ID, a.Version)...)
	}
	if err != nil {
		return false, fmt.Errorf("saving alert %s: %w", a.ID, err)
	}
	if n == 0 {
		return false, nil
	}
	a.Version++
	a.UpdatedAt = fromMicros(now)
	return true, nil
}

func t0(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micros(t)
}

// AlertNotification is one alert message as sent, with each notifier's result.
type AlertNotification struct {
	ID        int64
	AlertID   string
	Rule      string
	At        time.Time
	Status    string // firing | repeat | resolved
	Title     string
	Results   string // "slack=ok webhook=failed: …"
	Delivered bool   // at least one notifier delivered it
}

// AppendAlertNotification records a message sent.
func (s *Store) AppendAlertNotification(ctx context.Context, n AlertNotification) error {
	if n.At.IsZero() {
		n.At = s.now()
	}
	_, err := s.exec(ctx, "INSERT INTO alert_notifications (alert_id, rule, at, status, title, results, delivered) VALUES (?, ?, ?, ?, ?, ?, ?)",
		n.AlertID, n.Rule, micros(n.At), n.Status, n.Title, n.Results, n.Delivered)
	if err != nil {
		return fmt.Errorf("recording alert notification: %w", err)
	}
	return nil
}

// AlertNotifications returns the latest messages sent, newest first.
func (s *Store) AlertNotifications(ctx context.Context, limit int) ([]AlertNotification, error) {
	if limit <= 0 {
		limit = 50
	}
	r, err := s.query(ctx, fmt.Sprintf("SELECT id, alert_id, rule, at, status, title, results, delivered FROM alert_notifications ORDER BY at DESC, id DESC LIMIT %d", limit))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out []AlertNotification
	for r.Next() {
		var n AlertNotification
		var at int64
		if err := r.Scan(&n.ID, &n.AlertID, &n.Rule, &at, &n.Status, &n.Title, &n.Results, &n.Delivered); err != nil {
			return nil, err
		}
		n.At = fromMicros(at)
		out = append(out, n)
	}
	return out, r.Err()
}

// WebhookRefusals is a count of refused webhook deliveries of one code in one minute.
type WebhookRefusals struct {
	Minute time.Time // truncated to the minute
	Code   string
	Count  int
}

// RecordWebhookRefusal counts one refused delivery now. The webhook handler should rather go
// through alert.Refusals, which batches and survives a database outage.
func (s *Store) RecordWebhookRefusal(ctx context.Context, code string) error {
	return s.AddWebhookRefusals(ctx, []WebhookRefusals{{Minute: s.now(), Code: code, Count: 1}})
}

// AddWebhookRefusals adds counts of refused deliveries, in one transaction.
func (s *Store) AddWebhookRefusals(ctx context.Context, counts []WebhookRefusals) error {
	if len(counts) == 0 {
		return nil
	}
	return s.InTx(ctx, func(tx *Tx) error {
		for _, c := range counts {
			if _, err := tx.exec(ctx, `INSERT INTO webhook_refusals (minute, code, count) VALUES (?, ?, ?)
				ON CONFLICT (minute, code) DO UPDATE SET count = webhook_refusals.count + excluded.count`,
				micros(c.Minute.Truncate(time.Minute)), c.Code, c.Count); err != nil {
				return fmt.Errorf("counting webhook refusals: %w", err)
			}
		}
		return nil
	})
}

// WebhookRefusalCounts returns the refusals per code in the minutes from since on (since is
// truncated to its minute), and the first minute of each code in them.
func (s *Store) WebhookRefusalCounts(ctx context.Context, since time.Time) (counts map[string]int, first map[string]time.Time, err error) {
	r, err := s.query(ctx, "SELECT code, CAST(SUM(count) AS BIGINT), MIN(minute) FROM webhook_refusals WHERE minute >= ? GROUP BY code",
		micros(since.Truncate(time.Minute)))
	if err != nil {
		return nil, nil, fmt.Errorf("reading webhook refusals: %w", err)
	}
	defer r.Close()
	counts, first = map[string]int{}, map[string]time.Time{}
	for r.Next() {
		var code string
		var n, at int64
		if err := r.Scan(&code, &n, &at); err != nil {
			return nil, nil, err
		}
		counts[code], first[code] = int(n), fromMicros(at)
	}
	return counts, first, r.Err()
}

// PruneWebhookRefusals forgets the counts of minutes before t.
func (s *Store) PruneWebhookRefusals(ctx context.Context, before time.Time) error {
	_, err := s.exec(ctx, "DELETE FROM webhook_refusals WHERE minute < ?", micros(before))
	return err
}

// CircleFailureStats summarizes the syncs that failed on Circle.
type CircleFailureStats struct {
	Syncs     int   // syncs that ended in retry or failed with a failed Circle call during them
	People    int   // distinct people among them
	PersonID  int64 // the person, when People is 1
	First     time.Time
	LastError string // the last failed Circle call's detail
}

// CircleSyncFailures counts the syncs journaled since t that ended in "retry" or "failed" with at
// least one failed Circle call (result other than ok) during the sync: between its start (at minus
// its duration, less 100 ms for the clocks' reading order) and its end. A failure that a later sync
// of the same person recovered (recoveredLater) no longer counts: the alert resolves once every
// person converged, not an hour later.
func (s *Store) CircleSyncFailures(ctx context.Context, since time.Time) (CircleFailureStats, error) {
	const failed = `FROM journal s WHERE s.kind = 'sync' AND s.action = 'sync' AND s.result IN ('retry', 'failed') AND s.at >= ?
		AND EXISTS (SELECT 1 FROM journal c WHERE c.person_id = s.person_id AND c.kind = 'call' AND c.action LIKE 'circle:%'
			AND c.result <> 'ok' AND c.at >= s.at - s.duration_us - 100000 AND c.at <= s.at)
		AND NOT ` + recoveredLater
	var st CircleFailureStats
	var first, pid int64
	err := s.queryRow(ctx, "SELECT COUNT(*), COUNT(DISTINCT s.person_id), COALESCE(MIN(s.at), 0), COALESCE(MAX(s.person_id), 0) "+failed, micros(since)).
		Scan(&st.Syncs, &st.People, &first, &pid)
	if err != nil {
		return st, fmt.Errorf("counting Circle sync failures: %w", err)
	}
	st.First = fromMicros(first)
	if st.People == 1 {
		st.PersonID = pid
	}
	if st.Syncs == 0 {
		return st, nil
	}
	err = s.queryRow(ctx, `SELECT detail FROM journal WHERE kind = 'call' AND action LIKE 'circle:%' AND result <> 'ok' AND at >= ?
		ORDER BY at DESC, id DESC LIMIT 1`, micros(since)).Scan(&st.LastError)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, err
	}
	return st, nil
}

// ReviewStats summarizes open review items.
type ReviewStats struct {
	Items    int
	People   int   // distinct people (items about no person count as none)
	PersonID int64 // the person, when every item is about one
	Oldest   ReviewItem
}

// OpenReviewStats summarizes the open review items created before t, of every kind but exclude.
func (s *Store) OpenReviewStats(ctx context.Context, createdBefore time.Time, exclude string) (ReviewStats, error) {
	var st ReviewStats
	var minPID, maxPID int64
	const where = " FROM review_items WHERE status = 'open' AND created_at < ? AND kind <> ?"
	err := s.queryRow(ctx, "SELECT COUNT(*), COUNT(DISTINCT NULLIF(person_id, 0)), COALESCE(MIN(person_id), 0), COALESCE(MAX(person_id), 0)"+where,
		micros(createdBefore), exclude).Scan(&st.Items, &st.People, &minPID, &maxPID)
	if err != nil || st.Items == 0 {
		return st, err
	}
	if minPID == maxPID {
		st.PersonID = minPID
	}
	st.Oldest, err = scanReview(s.queryRow(ctx, "SELECT "+reviewCols+where+" ORDER BY created_at, id LIMIT 1", micros(createdBefore), exclude))
	return st, err
}

// ProviderReviews is the open review items of one kind about one provider (the action key).
type ProviderReviews struct {
	Provider  string
	Items     int
	People    int
	PersonID  int64 // the person, when every item is about one
	Since     time.Time
	LastError string
}

// OpenReviewsByProvider groups the open review items of kind by their action key (the provider,
// for credentials items), oldest first.
func (s *Store) OpenReviewsByProvider(ctx context.Context, kind string) ([]ProviderReviews, error) {
	r, err := s.query(ctx, `SELECT action_key, COUNT(*), COUNT(DISTINCT NULLIF(person_id, 0)), MIN(person_id), MAX(person_id), MIN(created_at)
		FROM review_items WHERE status = 'open' AND kind = ? GROUP BY action_key ORDER BY MIN(created_at), action_key`, kind)
	if err != nil {
		return nil, fmt.Errorf("reading open review items: %w", err)
	}
	var out []ProviderReviews
	for r.Next() {
		var p ProviderReviews
		var minPID, maxPID, since int64
		if err := r.Scan(&p.Provider, &p.Items, &p.People, &minPID, &maxPID, &since); err != nil {
			r.Close()
			return nil, err
		}
		if minPID == maxPID {
			p.PersonID = minPID
		}
		p.Since = fromMicros(since)
		out = append(out, p)
	}
	r.Close()
	if err := r.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		err := s.queryRow(ctx, "SELECT last_error FROM review_items WHERE status = 'open' AND kind = ? AND action_key = ? ORDER BY updated_at DESC, id DESC LIMIT 1",
			kind, out[i].Provider).Scan(&out[i].LastError)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, err
		}
	}
	return out, nil
}

// ConvergeSample is one event's time to converge.
type ConvergeSample struct {
	EventID    string
	PersonID   int64
	ReceivedAt time.Time
	// ConvergedAt is when the first sync that started after the event was received converged; zero
	// while none has.
	ConvergedAt time.Time
}

// ConvergeSamples returns the webhook events received in [from, to] that membersync acts on (with a
// person), each with the end of the first sync of its person that started at or after the event's
// receipt and converged: "event received → every action confirmed". At most limit, newest first.
func (s *Store) ConvergeSamples(ctx context.Context, from, to time.Time, limit int) ([]ConvergeSample, error) {
	r, err := s.query(ctx, fmt.Sprintf(`SELECT e.id, e.person_id, e.received_at,
		COALESCE((SELECT MIN(j.at) FROM journal j WHERE j.person_id = e.person_id AND j.kind = 'sync' AND j.action = 'sync'
			AND j.result = 'converged' AND j.at >= e.received_at AND j.at - j.duration_us >= e.received_at), 0)
		FROM stripe_events e
		WHERE e.received_at >= ? AND e.received_at <= ? AND e.source = 'webhook' AND e.state <> ? AND e.person_id <> 0
		ORDER BY e.received_at DESC, e.id LIMIT %d`, max(limit, 1)), micros(from), micros(to), EventIgnored)
	if err != nil {
		return nil, fmt.Errorf("reading time to converge: %w", err)
	}
	defer r.Close()
	var out []ConvergeSample
	for r.Next() {
		var c ConvergeSample
		var recv, conv int64
		if err := r.Scan(&c.EventID, &c.PersonID, &recv, &conv); err != nil {
			return nil, err
		}
		c.ReceivedAt, c.ConvergedAt = fromMicros(recv), fromMicros(conv)
		out = append(out, c)
	}
	return out, r.Err()
}

// LastWebhook returns when the newest webhook-delivered event was received and the newest Stripe
// created time among the webhook events of that last day; ok is false when none was ever received.
func (s *Store) LastWebhook(ctx context.Context) (receivedAt, created time.Time, ok bool, err error) {
	var recv int64
	err = s.queryRow(ctx, "SELECT COALESCE(MAX(received_at), 0) FROM stripe_events WHERE source = 'webhook'").Scan(&recv)
	if err != nil || recv == 0 {
		return time.Time{}, time.Time{}, false, err
	}
	var c int64
	err = s.queryRow(ctx, "SELECT COALESCE(MAX(created), 0) FROM stripe_events WHERE source = 'webhook' AND received_at >= ?",
		recv-(24*time.Hour).Microseconds()).Scan(&c)
	return fromMicros(recv), time.Unix(c, 0).UTC(), true, err
}

// InstalledAt returns when the database was first migrated.
func (s *Store) InstalledAt(ctx context.Context) (time.Time, error) {
	var at int64
	err := s.queryRow(ctx, "SELECT COALESCE(MIN(applied_at), 0) FROM membersync_migrations").Scan(&at)
	return fromMicros(at), err
}
