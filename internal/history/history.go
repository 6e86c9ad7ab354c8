// Package history owns the deploy and config history: what each `serve` start ran (the binary's
// version, the config file's digest, the effective config flattened to key paths, each secret's
// keyed fingerprint) and what changed against the start before, so that "it stopped after the
// deploy" can be checked in one line. Explain answers "what changed?" for a problem that began at
// a given time: the nearest preceding start that changed something.
//
// No secret is ever recorded: secrets appear only as config.Secrets.Fingerprints gives them, and
// config values that may carry credentials (URLs) go through config.RedactURL.
package history

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
)

// Build describes the running binary.
type Build struct {
	// Version is the release (main.version set at build time, else the module version), or "dev".
	Version string `json:"version"`
	// Revision is the VCS commit the binary was built from ("" when unknown).
	Revision string `json:"revision,omitempty"`
	// Modified reports a build from a work tree with uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// Time is the commit's time (vcs.time).
	Time time.Time `json:"vcs_time,omitzero"`
}

// ReadBuild returns the binary's build: version is the value set with -ldflags (main.version); when
// it is "" or "dev" the main module's version is used, when that is a release.
func ReadBuild(version string) Build {
	b := Build{Version: version}
	info, ok := debug.ReadBuildInfo()
	if ok {
		if (b.Version == "" || b.Version == "dev") && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			case "vcs.time":
				b.Time, _ = time.Parse(time.RFC3339, s.Value)
			}
		}
	}
	b.Version = cmp.Or(b.Version, "dev")
	return b
}

// Label words the build for people: "v1.2.3 (abc1234)", "dev (abc1234, modified)", "dev".
func (b Build) Label() string {
	var extra []string
	if b.Revision != "" {
		extra = append(extra, shortRev(b.Revision))
	}
	if b.Modified {
		extra = append(extra, "modified")
	}
	if len(extra) == 0 {
		return b.Version
	}
	return b.Version + " (" + strings.Join(extra, ", ") + ")"
}

func shortRev(r string) string {
	if len(r) > 7 {
		return r[:7]
	}
	return r
}

// Snapshot is what one start records.
type Snapshot struct {
	At       time.Time
	Instance string // host/pid
	Build    Build
	// ConfigDigest is the SHA-256 of the config file's bytes, hex; "" when no file was read.
	ConfigDigest string
	// Config is the effective config flattened by Flatten: no secret in it.
	Config map[string]string
	// Secrets maps each secret's environment variable to its keyed fingerprints (Fingerprint.Short):
	// "not set", "set" (no signing key to fingerprint it with), "1a2b3c4d" or "1a2b3c4d,5e6f7a8b".
	Secrets map[string]string
}

// maxConfigFile bounds the config file read for its digest (config.Load refuses larger ones).
const maxConfigFile = 1 << 20

// Take builds the snapshot of a start: cfg as loaded (secrets included, which are only
// fingerprinted), the config file at path (its digest; "" for none), the build and the instance.
func Take(cfg *config.Config, path string, build Build, instance string, at time.Time) Snapshot {
	s := Snapshot{At: at, Instance: instance, Build: build, Config: Flatten(cfg), Secrets: map[string]string{}}
	if path != "" {
		if b, err := os.ReadFile(path); err == nil && len(b) <= maxConfigFile {
			sum := sha256.Sum256(b)
			s.ConfigDigest = hex.EncodeToString(sum[:])
		}
	}
	for _, f := range cfg.Secrets.Fingerprints() {
		s.Secrets[f.Env] = f.Short()
	}
	return s
}

// Instance names this process for the history: host/pid.
func Instance() string {
	host, _ := os.Hostname()
	return cmp.Or(host, "unknown-host") + "/" + strconv.Itoa(os.Getpid())
}

// Start is one recorded start with what it changed.
type Start struct {
	ID           int64     `json:"id"`
	At           time.Time `json:"at"`
	Instance     string    `json:"instance"`
	Build        Build     `json:"build"`
	ConfigDigest string    `json:"config_digest,omitempty"`
	// First marks the first start recorded: nothing to compare with.
	First bool `json:"first"`
	// Deltas are the changes against the start before; none for a plain restart.
	Deltas []Delta `json:"changes"`
}

// Restart reports a start that changed nothing.
func (s Start) Restart() bool { return !s.First && len(s.Deltas) == 0 }

// Summary words the start in one line without its time: "start v1.2.3 (abc1234):
// STRIPE_WEBHOOK_SECRET changed; public_url http://a → https://b", "restart v1.2.3 (abc1234), nothing
// changed", "first recorded start v1.2.3 (abc1234)".
func (s Start) Summary() string {
	switch {
	case s.First:
		return "first recorded start " + s.Build.Label()
	case s.Restart():
		return "restart " + s.Build.Label() + ", nothing changed"
	}
	parts := make([]string, len(s.Deltas))
	for i, d := range s.Deltas {
		parts[i] = d.String()
	}
	return "start " + s.Build.Label() + ": " + strings.Join(parts, "; ")
}

// Line is Summary after the start's time in UTC: "2026-12-06 14:02 start v1.2.3 (abc1234): …".
func (s Start) Line() string {
	return s.At.UTC().Format("2006-01-02 15:04") + " " + s.Summary()
}

// Record stores snap as a start, with its changes against the start recorded before it, and
// returns it.
func Record(ctx context.Context, st *store.Store, snap Snapshot) (Start, error) {
	cj, err := json.Marshal(snap.Config)
	if err != nil {
		return Start{}, err
	}
	sj, err := json.Marshal(snap.Secrets)
	if err != nil {
		return Start{}, err
	}
	d := store.DeployStart{At: snap.At, Instance: snap.Instance, Version: snap.Build.Version, Revision: snap.Build.Revision,
		Modified: snap.Build.Modified, VCSTime: snap.Build.Time, ConfigDigest: snap.ConfigDigest, ConfigJSON: string(cj), SecretsJSON: string(sj)}
	row, err := st.RecordStart(ctx, d, func(prev *store.DeployStart) (string, int, error) {
		if prev == nil {
			b, err := json.Marshal(storedChanges{First: true, Changes: []Delta{}})
			return string(b), 0, err
		}
		p, err := snapshotOf(*prev)
		if err != nil {
			return "", 0, err
		}
		deltas := Diff(p, snap)
		b, err := json.Marshal(storedChanges{Changes: orEmpty(deltas)})
		return string(b), len(deltas), err
	})
	if err != nil {
		return Start{}, err
	}
	return startOf(row)
}

// storedChanges is the stored form of a start's changes.
type storedChanges struct {
	First   bool    `json:"first,omitempty"`
	Changes []Delta `json:"changes"`
}

func orEmpty(d []Delta) []Delta {
	if d == nil {
		return []Delta{}
	}
	return d
}

// snapshotOf reads back the parts of a stored start that Diff compares.
func snapshotOf(d store.DeployStart) (Snapshot, error) {
	s := Snapshot{At: d.At, Instance: d.Instance, ConfigDigest: d.ConfigDigest,
		Build: Build{Version: d.Version, Revision: d.Revision, Modified: d.Modified, Time: d.VCSTime}}
	if err := json.Unmarshal([]byte(d.ConfigJSON), &s.Config); err != nil {
		return Snapshot{}, fmt.Errorf("reading the config of start %d: %w", d.ID, err)
	}
	if err := json.Unmarshal([]byte(d.SecretsJSON), &s.Secrets); err != nil {
		return Snapshot{}, fmt.Errorf("reading the fingerprints of start %d: %w", d.ID, err)
	}
	return s, nil
}

// startOf reads a stored start.
func startOf(d store.DeployStart) (Start, error) {
	s := Start{ID: d.ID, At: d.At, Instance: d.Instance, ConfigDigest: d.ConfigDigest,
		Build: Build{Version: d.Version, Revision: d.Revision, Modified: d.Modified, Time: d.VCSTime}}
	var c storedChanges
	if err := json.Unmarshal([]byte(d.ChangesJSON), &c); err != nil {
		return Start{}, fmt.Errorf("reading the changes of start %d: %w", d.ID, err)
	}
	s.First, s.Deltas = c.First, c.Changes
	return s, nil
}

// List returns the latest starts, newest first, at most limit (default 50).
func List(ctx context.Context, st *store.Store, limit int) ([]Start, error) {
	rows, err := st.DeployStarts(ctx, limit)
	if err != nil {
		return nil, err
	}
	return startsOf(rows)
}

// Between returns the starts from from to to, newest first, at most limit (default 50); with
// changedOnly, only those that changed something.
func Between(ctx context.Context, st *store.Store, from, to time.Time, changedOnly bool, limit int) ([]Start, error) {
	rows, err := st.DeployStartsBetween(ctx, from, to, changedOnly, limit)
	if err != nil {
		return nil, err
	}
	return startsOf(rows)
}

func startsOf(rows []store.DeployStart) ([]Start, error) {
	out := make([]Start, 0, len(rows))
	for _, r := range rows {
		s, err := startOf(r)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// changedNames lists what a start changed, for a sentence: the secrets by their variables, the
// version, plans added or removed, the config keys.
func (s Start) changedNames() []string {
	var out []string
	for _, d := range s.Deltas {
		switch {
		case d.Key == KeyVersion:
			out = append(out, "the version ("+d.Old+" → "+d.New+")")
		case d.Key == KeyConfigFile:
			out = append(out, "the config file (no effective change)")
		case d.Plan && d.Kind == Added:
			out = append(out, "added "+d.Key)
		case d.Plan && d.Kind == Removed:
			out = append(out, "removed "+d.Key)
		default:
			out = append(out, d.Key)
		}
	}
	return slices.Compact(out)
}
