//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package store

// lockServe locks nothing: this system has no flock. The warning says so; serve logs it.
func lockServe(path string) (*ServeLock, error) {
	return &ServeLock{Warning: "this system offers no flock, so membersync cannot refuse a second serve on " + path +
		": run one serve per SQLite file (or use PostgreSQL to run several)"}, nil
}
