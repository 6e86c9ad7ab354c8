package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/backup"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/queue"
	"github.com/membersync/membersync/internal/store"
)

// Backups of the SQLite database: the backup and restore commands, and serve's scheduled backups
// (backup.dir). PostgreSQL is refused with directions to pg_dump and point-in-time recovery.

func cmdBackup(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "backup --to FILE [flags]",
		`Write a consistent copy of the SQLite database to FILE while serve keeps running (it only reads:
every transaction committed before the copy started is in it, none after). The copy is written
beside FILE, checked (PRAGMA integrity_check, its schema version) and then renamed to FILE, created
0600. An existing FILE is kept unless --force. On PostgreSQL use pg_dump or point-in-time recovery.`,
		"  membersync backup --to /var/backups/membersync-$(date -u +%Y%m%dT%H%M%SZ).db\n  membersync backup --to backup.db --force --config /etc/membersync.yaml")
	cfgPath := configFlag(fs)
	to := fs.String("to", "", "the backup file to write (required)")
	force := fs.Bool("force", false, "replace FILE when it exists")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" {
		fmt.Fprintln(fs.Output(), "backup needs --to FILE")
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	dialect, path, err := config.ParseDatabaseURL(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	if dialect != store.SQLite {
		return store.ErrPostgresBackup
	}
	// Opening a missing file would create an empty database: say there is none instead.
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("there is no database at %s (database_url %s) to back up", path, cfg.DatabaseURL)
	}
	st, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Now()
	info, err := st.Backup(ctx, *to, *force)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "backed up %s to %s in %s: %s, %d Stripe events, schema version %d, integrity ok\n",
		path, info.Path, time.Since(start).Round(time.Millisecond), byteSize(info.Bytes), info.Events, info.SchemaVersion)
	return nil
}

func cmdRestore(ctx context.Context, e env, args []string) error {
	fs := newFlags(e, "restore FILE [flags]",
		`Replace the SQLite database with the backup FILE. Stop serve first: restore refuses while serve
runs. FILE is checked first (PRAGMA integrity_check, its schema version): a backup from a newer
membersync is refused, one from an older membersync is migrated before it replaces anything (a
migration that fails leaves the database as it was). A database that holds data is replaced only
with --force, and is kept as <database>.replaced-<UTC time>, never deleted. On PostgreSQL use
pg_restore or your provider's point-in-time recovery.`,
		"  membersync restore /var/backups/membersync-20261206T030000Z.db --config /etc/membersync.yaml\n  membersync restore backup.db --force")
	cfgPath := configFlag(fs)
	force := fs.Bool("force", false, "replace a database that holds data (it is kept as <database>.replaced-<time>)")
	pos, err := parseInterleaved(fs, args, 1, 1)
	if err != nil {
		return err
	}
	cfg, err := loadConfig(e, *cfgPath)
	if err != nil {
		return err
	}
	res, err := store.Restore(ctx, cfg.DatabaseURL, pos[0], store.RestoreOptions{Replace: *force})
	if err != nil {
		return redactedError{err}
	}
	fmt.Fprintf(e.stdout, "restored %s into %s: %s, %d Stripe events, schema version %d\n",
		pos[0], res.Database, byteSize(res.Backup.Bytes), res.Backup.Events, res.Backup.SchemaVersion)
	if len(res.Migrated) > 0 {
		fmt.Fprintf(e.stdout, "migrated it to this version's schema (version %d, %d migration(s) applied)\n",
			res.Migrated[len(res.Migrated)-1], len(res.Migrated))
	}
	if res.Replaced != "" {
		fmt.Fprintf(e.stdout, "the previous database is kept at %s (delete it once the restored one serves)\n", res.Replaced)
	}
	fmt.Fprintln(e.stdout, "start serve again; events Stripe sent since the backup can be recovered with: membersync backfill --since 72h")
	return nil
}

// byteSize words a file size: "812 KB", "194.3 MB".
func byteSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%d KB", n/1e3)
	}
	return fmt.Sprintf("%d bytes", n)
}

// scheduleBackup adds the scheduled backup (backup.dir, on the River leader only) to serve's queue.
func (a *app) scheduleBackup(opts *queue.Options) {
	b := a.cfg.Backup
	if !b.Enabled() || a.store.Dialect() != store.SQLite {
		return
	}
	sched := &backup.Scheduler{Store: a.store, Dir: b.Dir, Interval: b.Interval.D(), Keep: b.Keep,
		Log: a.log.With("component", "backup")}
	register := opts.Workers
	opts.Workers = func(q *queue.Queue, w *river.Workers) {
		if register != nil {
			register(q, w)
		}
		river.AddWorker(w, &backup.Worker{Scheduler: sched})
	}
	opts.PeriodicJobs = append(opts.PeriodicJobs, backup.PeriodicJob(b.Interval.D()))
	a.log.Info("scheduled backups on", "dir", b.Dir, "interval", b.Interval.D().String(), "keep", b.Keep)
}
