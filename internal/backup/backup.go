// Package backup owns serve's scheduled local backups of the SQLite database: a consistent copy
// (store.Backup) into a folder every interval, named by its UTC time, the newest few kept. It is
// the backup of founders who set up nothing else; a copy on the same disk guards against mistakes
// and corruption, not against losing the disk (the README shows Litestream for that).
package backup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/membersync/membersync/internal/store"
)

// Backup files are named Prefix + UTC time in TimeFormat + Suffix, such as
// membersync-20261206T184000Z.db, so that they sort by time and say when they were taken.
const (
	Prefix     = "membersync-"
	Suffix     = ".db"
	TimeFormat = "20060102T150405Z"
)

// staleTemp is how old a temporary file of an interrupted backup must be before Rotate removes it.
const staleTemp = 24 * time.Hour

// File is one backup in the folder.
type File struct {
	Path string
	At   time.Time
}

// Name returns the file name of a backup taken at t.
func Name(t time.Time) string { return Prefix + t.UTC().Format(TimeFormat) + Suffix }

// List returns the backups in dir, newest first; files not named like one are ignored. A missing
// folder holds none.
func List(dir string) ([]File, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []File
	for _, e := range entries {
		stamp, ok := strings.CutPrefix(e.Name(), Prefix)
		if stamp, ok = strings.CutSuffix(stamp, Suffix); !ok || !e.Type().IsRegular() {
			continue
		}
		at, err := time.Parse(TimeFormat, stamp)
		if err != nil {
			continue
		}
		out = append(out, File{Path: filepath.Join(dir, e.Name()), At: at})
	}
	slices.SortFunc(out, func(a, b File) int { return b.At.Compare(a.At) })
	return out, nil
}

// Rotate removes the backups in dir beyond the newest keep, and the temporary files of backups
// interrupted a day ago or more. It returns the files it removed.
func Rotate(dir string, keep int, now time.Time) ([]string, error) {
	files, err := List(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, f := range files[min(keep, len(files)):] {
		if err := os.Remove(f.Path); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, f.Path)
	}
	temps, _ := filepath.Glob(filepath.Join(dir, "."+Prefix+"*"+Suffix+".backup-*"))
	for _, t := range temps {
		if fi, err := os.Stat(t); err == nil && now.Sub(fi.ModTime()) >= staleTemp && os.Remove(t) == nil {
			removed = append(removed, t)
		}
	}
	return removed, errors.Join(errs...)
}

// Scheduler takes a backup when the newest one in Dir is Interval old, then rotates.
type Scheduler struct {
	Store *store.Store
	// Dir is the backups' folder (created 0700).
	Dir string
	// Interval is the age of the newest backup that makes the next one due.
	Interval time.Duration
	// Keep is how many backups stay.
	Keep int
	Log  *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Scheduler) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.New(slog.DiscardHandler)
}

// dueSlack lets a backup taken a little less than Interval ago count as due: the job's ticks and
// the backup's own duration drift by seconds.
const dueSlack = time.Minute

// Due reports whether a backup is due at now: none in Dir yet, or the newest Interval old.
func (s *Scheduler) Due(now time.Time) (bool, error) {
	files, err := List(s.Dir)
	if err != nil {
		return false, err
	}
	return len(files) == 0 || now.Sub(files[0].At) >= s.Interval-dueSlack, nil
}

// Run takes a backup when one is due and rotates the folder. It records the outcome
// (store.RecordBackupRun): a failure logs an error and fires the backup alert until a backup
// succeeds. It returns the backup taken (zero when none was due) and the failure.
func (s *Scheduler) Run(ctx context.Context) (store.BackupInfo, error) {
	now := s.now()
	due, err := s.Due(now)
	if err == nil && !due {
		return store.BackupInfo{}, nil
	}
	var info store.BackupInfo
	if err == nil {
		info, err = s.Store.Backup(ctx, filepath.Join(s.Dir, Name(now)), false)
	}
	took := s.now().Sub(now)
	if err != nil {
		err = fmt.Errorf("scheduled backup into %s: %w", s.Dir, err)
		s.log().Error("backup failed", "err", err, "dir", s.Dir)
		if rerr := s.Store.RecordBackupRun(context.WithoutCancel(ctx), store.BackupRun{At: now, Err: err.Error()}); rerr != nil {
			s.log().Error("recording the failed backup", "err", rerr)
		}
		return store.BackupInfo{}, err
	}
	removed, rerr := Rotate(s.Dir, s.Keep, now)
	if rerr != nil {
		s.log().Warn("removing old backups", "err", rerr, "dir", s.Dir)
	}
	s.log().Info("backup taken", "path", info.Path, "bytes", info.Bytes, "events", info.Events,
		"schema_version", info.SchemaVersion, "duration_ms", took.Milliseconds(), "removed", len(removed))
	if rerr := s.Store.RecordBackupRun(ctx, store.BackupRun{At: now, Path: info.Path, Bytes: info.Bytes}); rerr != nil {
		s.log().Error("recording the backup", "err", rerr)
	}
	return info, nil
}

// Args is the scheduled backup job.
type Args struct{}

// Kind names the job.
func (Args) Kind() string { return "backup" }

// InsertOpts runs a backup once: the next tick is the retry of one that failed.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 1, UniqueOpts: river.UniqueOpts{ByPeriod: time.Minute}}
}

// Tick is how often the job looks whether a backup is due: hourly, or every interval when that is
// shorter. Because the job decides from the newest file's age, a restart neither skips a backup
// nor takes an extra one.
func Tick(interval time.Duration) time.Duration { return min(interval, time.Hour) }

// PeriodicJob schedules the job every Tick(interval), and once at start.
func PeriodicJob(interval time.Duration) *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(Tick(interval)),
		func() (river.JobArgs, *river.InsertOpts) { return Args{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})
}

// Worker runs backup jobs (on the River leader only: one instance backs up).
type Worker struct {
	river.WorkerDefaults[Args]
	Scheduler *Scheduler
}

// Timeout bounds one backup: a copy of a database of a few GB.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return 30 * time.Minute }

// Work takes the backup when due. A failure is recorded and alerted by Run; the job itself does
// not fail (its retry is the next tick).
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	_, _ = w.Scheduler.Run(ctx)
	return nil
}
