package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// This file holds the deploy and config history: one row per serve start. Package history owns
// what the JSON columns mean (the flattened config, the secrets' fingerprints, the changes); the
// store keeps them as the text it was given, so that the meaning lives in one place.

// DeployStart is one serve start as stored.
type DeployStart struct {
	ID int64
	At time.Time
	// Instance names the process that started: host/pid.
	Instance string
	// Version, Revision, Modified and VCSTime describe the binary (debug.ReadBuildInfo).
	Version  string
	Revision string
	Modified bool
	VCSTime  time.Time
	// ConfigDigest is the SHA-256 of the config file's bytes, hex; "" when serve read no file.
	ConfigDigest string
	// ConfigJSON is the effective config flattened to key paths, no secret in it.
	ConfigJSON string
	// SecretsJSON is each secret's keyed fingerprint, never a secret.
	SecretsJSON string
	// ChangesJSON is the changes against the start before; Changes counts them (0: a restart).
	ChangesJSON string
	Changes     int
}

// keepRestarts is how many of the latest starts are kept whatever they are; older starts that
// changed nothing (restarts) are deleted, so that a crash loop cannot fill the database, while every
// start that changed something, and the first, is kept.
const keepRestarts = 1000

const deployColumns = "id, started_at, instance, version, revision, modified, vcs_time, config_digest, config_json, secrets_json, changes_json, changes"

func scanDeployStart(r interface{ Scan(...any) error }) (DeployStart, error) {
	var d DeployStart
	var at, vcs, modified, changes int64
	if err := r.Scan(&d.ID, &at, &d.Instance, &d.Version, &d.Revision, &modified, &vcs, &d.ConfigDigest,
		&d.ConfigJSON, &d.SecretsJSON, &d.ChangesJSON, &changes); err != nil {
		return DeployStart{}, err
	}
	d.At, d.VCSTime, d.Modified, d.Changes = fromMicros(at), optMicros(vcs), modified != 0, int(changes)
	return d, nil
}

// RecordStart stores a serve start. diff computes its changes from the start recorded last (nil
// before the first) in the same transaction, so that two instances starting one after the other
// each compare with the one before. At defaults to the store's clock. Restarts older than the
// latest keepRestarts starts are deleted. It returns the start as stored.
func (s *Store) RecordStart(ctx context.Context, d DeployStart, diff func(prev *DeployStart) (changesJSON string, changes int, err error)) (DeployStart, error) {
	if d.At.IsZero() {
		d.At = s.now()
	}
	var out DeployStart
	err := s.InTx(ctx, func(tx *Tx) error {
		var prev *DeployStart
		p, err := scanDeployStart(tx.queryRow(ctx, "SELECT "+deployColumns+" FROM deploy_starts ORDER BY started_at DESC, id DESC LIMIT 1"))
		switch {
		case err == nil:
			prev = &p
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if d.ChangesJSON, d.Changes, err = diff(prev); err != nil {
			return err
		}
		var vcs int64
		if !d.VCSTime.IsZero() {
			vcs = micros(d.VCSTime)
		}
		modified := 0
		if d.Modified {
			modified = 1
		}
		out, err = scanDeployStart(tx.queryRow(ctx, `INSERT INTO deploy_starts (started_at, instance, version, revision, modified, vcs_time,
			config_digest, config_json, secrets_json, changes_json, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+deployColumns,
			micros(d.At), d.Instance, d.Version, d.Revision, modified, vcs, d.ConfigDigest, d.ConfigJSON, d.SecretsJSON, d.ChangesJSON, d.Changes))
		if err != nil {
			return err
		}
		var cutoff int64
		switch err := tx.queryRow(ctx, "SELECT id FROM deploy_starts ORDER BY id DESC LIMIT 1 OFFSET ?", keepRestarts).Scan(&cutoff); {
		case errors.Is(err, sql.ErrNoRows):
			return nil
		case err != nil:
			return err
		}
		_, err = tx.exec(ctx, "DELETE FROM deploy_starts WHERE changes = 0 AND id <= ? AND id > (SELECT MIN(id) FROM deploy_starts)", cutoff)
		return err
	})
	if err != nil {
		return DeployStart{}, fmt.Errorf("recording the serve start: %w", err)
	}
	return out, nil
}

// DeployStarts returns the latest starts, newest first, at most limit (default 50, at most 1000).
func (s *Store) DeployStarts(ctx context.Context, limit int) ([]DeployStart, error) {
	return s.deployStarts(ctx, "SELECT "+deployColumns+" FROM deploy_starts ORDER BY started_at DESC, id DESC LIMIT ?", limitOr(limit, 50))
}

// DeployStartsBetween returns the starts from from to to (both included), newest first, at most
// limit (default 50, at most 1000); with changedOnly, only those that changed something.
func (s *Store) DeployStartsBetween(ctx context.Context, from, to time.Time, changedOnly bool, limit int) ([]DeployStart, error) {
	least := 0
	if changedOnly {
		least = 1
	}
	return s.deployStarts(ctx, "SELECT "+deployColumns+" FROM deploy_starts WHERE started_at >= ? AND started_at <= ? AND changes >= ? ORDER BY started_at DESC, id DESC LIMIT ?",
		micros(from), micros(to), least, limitOr(limit, 50))
}

func (s *Store) deployStarts(ctx context.Context, query string, args ...any) ([]DeployStart, error) {
	r, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("reading the deploy history: %w", err)
	}
	defer r.Close()
	var out []DeployStart
	for r.Next() {
		d, err := scanDeployStart(r)
		if err != nil {
			return nil, fmt.Errorf("reading the deploy history: %w", err)
		}
		out = append(out, d)
	}
	return out, r.Err()
}
