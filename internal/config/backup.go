package config

import (
	"path/filepath"
	"time"
)

// BackupConfig schedules local backups of the SQLite database inside serve, for founders who set up
// nothing else: a consistent copy every Interval into Dir, the newest Keep kept. Off while Dir is
// empty. A copy on the same disk guards against mistakes and corruption, not against losing the
// disk: copy Dir elsewhere, or replicate continuously with Litestream (README).
type BackupConfig struct {
	// Dir is the folder the backups are written to (created 0700); empty turns scheduled backups off.
	Dir string `yaml:"dir"`
	// Interval between backups, default 24h.
	Interval Duration `yaml:"interval"`
	// Keep is how many backups are kept (the oldest are removed), default 7.
	Keep int `yaml:"keep"`
}

// Enabled reports whether serve takes scheduled backups.
func (b BackupConfig) Enabled() bool { return b.Dir != "" }

// MinBackupInterval is the shortest interval between scheduled backups: each one copies the whole
// database.
const MinBackupInterval = 15 * time.Minute

func (c *Config) defaultBackup() {
	if c.Backup.Interval == 0 {
		c.Backup.Interval = Duration(24 * time.Hour)
	}
	if c.Backup.Keep == 0 {
		c.Backup.Keep = 7
	}
}

func (c *Config) validateBackup(p *Problems) {
	b := c.Backup
	if !b.Enabled() {
		return
	}
	if b.Interval < Duration(MinBackupInterval) {
		p.add("backup.interval: %s is too often; each backup copies the whole database (use %s or more)", b.Interval, Duration(MinBackupInterval))
	}
	if b.Keep < 1 {
		p.add("backup.keep: %d must be 1 or more", b.Keep)
	}
	if dialect, path, err := ParseDatabaseURL(c.DatabaseURL); err == nil {
		switch {
		case dialect != "sqlite":
			p.add("backup.dir: scheduled backups copy a SQLite database; on PostgreSQL use pg_dump or your provider's point-in-time recovery, and remove backup.dir")
		case path != "" && filepath.Clean(b.Dir) == filepath.Clean(filepath.Dir(path)):
			p.add("backup.dir: %q is the database's own folder; use a folder of its own (best on another disk)", b.Dir)
		}
	}
}
