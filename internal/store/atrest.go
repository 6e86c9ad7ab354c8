package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/membersync/membersync/internal/config"
)

// SQLitePermissionWarnings inspects the files of a SQLite database URL ("sqlite:PATH"; any other
// URL has none) and returns one warning, with the chmod that fixes it, for each that others may
// reach: the database, its -wal and -shm files when group or others may read or write them (they
// hold emails, billing snapshots and the journal), and its directory when group or others may write
// it (they could replace or delete the database; reading the directory only shows the file names).
// A file that does not exist is no warning. serve logs them at start and check prints them.
func SQLitePermissionWarnings(databaseURL string) []string {
	dialect, path, err := config.ParseDatabaseURL(databaseURL)
	if err != nil || dialect != SQLite || path == "" || strings.HasPrefix(path, ":") || strings.Contains(path, "?") {
		return nil
	}
	var out []string
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				out = append(out, fmt.Sprintf("%s: cannot inspect its permissions: %v", f, err))
			}
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			out = append(out, fmt.Sprintf("%s is %s by %s (mode %04o); it holds emails, billing and the journal: chmod 600 %s",
				f, access(perm, 0o044, 0o022), who(perm&0o077), perm, shellQuote(f)))
		}
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err == nil {
		if perm := fi.Mode().Perm(); perm&0o022 != 0 {
			out = append(out, fmt.Sprintf("the database's folder %s is writable by %s (mode %04o): they could replace or delete the database: chmod go-w %s (or chmod 700)",
				dir, who(perm&0o022), perm, shellQuote(dir)))
		}
	}
	return out
}

// access says "readable", "writable" or "readable and writable" from the read and write bits of perm.
func access(perm, read, write fs.FileMode) string {
	switch r, w := perm&read != 0, perm&write != 0; {
	case r && w:
		return "readable and writable"
	case w:
		return "writable"
	}
	return "readable"
}

// who says "group", "others" or "group and others" from the group and others bits set in perm.
func who(perm fs.FileMode) string {
	switch g, o := perm&0o070 != 0, perm&0o007 != 0; {
	case g && o:
		return "group and others"
	case g:
		return "group"
	}
	return "others"
}

// shellQuote quotes a path for a command a person copies, when it needs it.
func shellQuote(p string) string {
	if strings.ContainsAny(p, " \t'\"$`\\!*?[]{}()<>|&;#~") {
		return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
	}
	return p
}
