package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"
)

// DoctorReport is one stored audit.
type DoctorReport struct {
	ID      int64
	At      time.Time
	Domain  string
	Fails   int
	Warns   int
	Failing []string // "group: check" of each failing check
	JSON    string
}

// SaveDoctorReport stores an audit.
func (s *Store) SaveDoctorReport(ctx context.Context, r DoctorReport) error {
	_, err := s.exec(ctx, "INSERT INTO doctor_reports (at, domain, fails, warns, failing, report) VALUES (?, ?, ?, ?, ?, ?)",
		micros(r.At), r.Domain, r.Fails, r.Warns, strings.Join(r.Failing, "\n"), r.JSON)
	return err
}

// LatestDoctorReport returns the newest audit, or ErrNotFound before the first.
func (s *Store) LatestDoctorReport(ctx context.Context) (DoctorReport, error) {
	var r DoctorReport
	var at int64
	var failing string
	err := s.queryRow(ctx, "SELECT id, at, domain, fails, warns, failing, report FROM doctor_reports ORDER BY at DESC, id DESC LIMIT 1").
		Scan(&r.ID, &at, &r.Domain, &r.Fails, &r.Warns, &failing, &r.JSON)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	r.At = fromMicros(at)
	if failing != "" {
		r.Failing = strings.Split(failing, "\n")
	}
	return r, err
}
