package history

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/config"
)

// Kinds of Delta.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Keys of the deltas that are not config keys.
const (
	// KeyVersion is the binary's version and revision.
	KeyVersion = "version"
	// KeyConfigFile is the config file's digest, reported only when no effective key changed (an
	// edit of comments or layout, or of a value equal to its default).
	KeyConfigFile = "config file"
)

// Delta is one change between two starts.
type Delta struct {
	// Key is a config key path ("plans[pro].kit.tags.active", "public_url"), a secret's environment
	// variable, KeyVersion or KeyConfigFile.
	Key  string `json:"key"`
	Kind string `json:"kind"` // Added, Removed or Changed
	// Old and New are the values: config values as Flatten shows them, secrets by their keyed
	// fingerprints, the version by Build.Label.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	// Secret marks a secret (Key is its environment variable); Plan a whole plan added or removed.
	Secret bool `json:"secret,omitempty"`
	Plan   bool `json:"plan,omitempty"`
}

// maxShown is the longest value a one-line Delta quotes; a longer one is said to have changed.
const maxShown = 48

// String words d in a few words: "STRIPE_WEBHOOK_SECRET changed", "plans[vip] added",
// "plans[pro].kit.tags.active 1001 → 1002", "version v1.2.2 → v1.2.3".
func (d Delta) String() string {
	switch {
	case d.Key == KeyVersion:
		return "version " + d.Old + " → " + d.New
	case d.Key == KeyConfigFile:
		return "config file edited, no effective change"
	case d.Secret && d.Kind == Added:
		return d.Key + " set"
	case d.Secret && d.Kind == Removed:
		return d.Key + " unset"
	case d.Secret || d.Plan:
		return d.Key + " " + d.Kind
	case d.Kind == Added:
		if len(d.New) > maxShown {
			return d.Key + " added"
		}
		return d.Key + " added: " + d.New
	case d.Kind == Removed:
		if len(d.Old) > maxShown {
			return d.Key + " removed"
		}
		return d.Key + " removed (was " + d.Old + ")"
	case len(d.Old) > maxShown || len(d.New) > maxShown:
		return d.Key + " changed"
	}
	return d.Key + " " + d.Old + " → " + d.New
}

// Diff returns what changed from prev to cur: the version, the secrets (by fingerprint), plans
// added and removed (whole), then every other config key added, removed or changed, sorted by key.
// When MEMBERSYNC_SIGNING_KEY changed, the other fingerprints (keyed by it) cannot be compared: only
// secrets set or unset are reported beside it.
func Diff(prev, cur Snapshot) []Delta {
	var out []Delta
	if pv, cv := prev.Build.Label(), cur.Build.Label(); pv != cv {
		out = append(out, Delta{Key: KeyVersion, Kind: Changed, Old: pv, New: cv})
	}
	out = append(out, diffSecrets(prev.Secrets, cur.Secrets)...)
	keys := diffConfig(prev.Config, cur.Config)
	out = append(out, keys...)
	if len(keys) == 0 && prev.ConfigDigest != "" && cur.ConfigDigest != "" && prev.ConfigDigest != cur.ConfigDigest {
		out = append(out, Delta{Key: KeyConfigFile, Kind: Changed, Old: prev.ConfigDigest[:12], New: cur.ConfigDigest[:12]})
	}
	return out
}

// secretOrder lists the secrets in config.Secrets.Fingerprints' order, for a stable report.
func secretOrder(maps ...map[string]string) []string {
	var order []string
	for _, f := range (config.Secrets{}).Fingerprints() {
		order = append(order, f.Env)
	}
	for _, m := range maps {
		var extra []string
		for k := range m {
			if !slices.Contains(order, k) {
				extra = append(extra, k)
			}
		}
		sort.Strings(extra)
		order = append(order, extra...)
	}
	return order
}

func diffSecrets(prev, cur map[string]string) []Delta {
	const unset = "not set"
	get := func(m map[string]string, k string) string {
		if v, ok := m[k]; ok && v != "" {
			return v
		}
		return unset
	}
	keyChanged := get(prev, config.EnvSigningKey) != get(cur, config.EnvSigningKey)
	var out []Delta
	for _, env := range secretOrder(prev, cur) {
		p, c := get(prev, env), get(cur, env)
		switch {
		case p == c:
		case p == unset:
			out = append(out, Delta{Key: env, Kind: Added, New: c, Secret: true})
		case c == unset:
			out = append(out, Delta{Key: env, Kind: Removed, Old: p, Secret: true})
		case keyChanged && env != config.EnvSigningKey:
			// Fingerprinted under another signing key: the values may be the same.
		default:
			out = append(out, Delta{Key: env, Kind: Changed, Old: p, New: c, Secret: true})
		}
	}
	return out
}

// planKey returns the plan part of a flattened key ("plans[pro]") and whether it has one.
func planKey(k string) (string, bool) {
	if !strings.HasPrefix(k, "plans[") {
		return "", false
	}
	end := strings.Index(k, "]")
	if end < 0 {
		return "", false
	}
	return k[:end+1], true
}

func diffConfig(prev, cur map[string]string) []Delta {
	plansOf := func(m map[string]string) map[string]bool {
		out := map[string]bool{}
		for k := range m {
			if p, ok := planKey(k); ok {
				out[p] = true
			}
		}
		return out
	}
	pp, cp := plansOf(prev), plansOf(cur)
	var plans, out []Delta
	for p := range pp {
		if !cp[p] {
			plans = append(plans, Delta{Key: p, Kind: Removed, Plan: true})
		}
	}
	for p := range cp {
		if !pp[p] {
			plans = append(plans, Delta{Key: p, Kind: Added, Plan: true})
		}
	}
	whole := func(k string) bool {
		p, ok := planKey(k)
		return ok && pp[p] != cp[p]
	}
	for k, pv := range prev {
		if whole(k) {
			continue
		}
		cv, ok := cur[k]
		switch {
		case !ok:
			out = append(out, Delta{Key: k, Kind: Removed, Old: pv})
		case cv != pv:
			out = append(out, Delta{Key: k, Kind: Changed, Old: pv, New: cv})
		}
	}
	for k, cv := range cur {
		if _, ok := prev[k]; !ok && !whole(k) {
			out = append(out, Delta{Key: k, Kind: Added, New: cv})
		}
	}
	byKey := func(a, b Delta) int { return strings.Compare(a.Key, b.Key) }
	slices.SortFunc(plans, byKey)
	slices.SortFunc(out, byKey)
	return append(plans, out...)
}

// Flatten lists the effective config by key path, the way the YAML writes it: struct fields by
// their yaml names ("alerts.circle_failures.max"), plans by id ("plans[pro].circle.access_groups"),
// other lists of records by index, maps by key ("plans[pro].kit.tags.active"); lists of plain
// values as one value ("[11, 12]"), durations as the config writes them. The secrets (yaml:"-")
// are left out, and every string goes through config.RedactURL: the database URL from
// MEMBERSYNC_DATABASE_URL may carry a password.
func Flatten(cfg *config.Config) map[string]string {
	out := map[string]string{}
	if cfg != nil {
		flattenStruct(reflect.ValueOf(*cfg), "", out)
	}
	return out
}

func flattenStruct(v reflect.Value, prefix string, out map[string]string) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		flattenValue(v.Field(i), join(prefix, name), out)
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

var (
	durationType = reflect.TypeFor[config.Duration]()
	timeType     = reflect.TypeFor[time.Time]()
)

func flattenValue(v reflect.Value, key string, out map[string]string) {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			out[key] = ""
			return
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		out[key] = v.Interface().(config.Duration).String()
	case v.Kind() == reflect.Struct && v.Type() != timeType:
		flattenStruct(v, key, out)
	case v.Kind() == reflect.Slice && composite(v.Type().Elem()):
		for i := range v.Len() {
			el := v.Index(i)
			k := fmt.Sprintf("%s[%d]", key, i)
			if p, ok := el.Interface().(config.Plan); ok && p.ID != "" {
				k = key + "[" + p.ID + "]"
			}
			flattenValue(el, k, out)
		}
	case v.Kind() == reflect.Map:
		keys := v.MapKeys()
		for _, mk := range keys {
			flattenValue(v.MapIndex(mk), key+"."+fmt.Sprint(mk.Interface()), out)
		}
	case v.Kind() == reflect.Slice:
		parts := make([]string, v.Len())
		for i := range v.Len() {
			parts[i] = scalar(v.Index(i))
		}
		out[key] = "[" + strings.Join(parts, ", ") + "]"
	default:
		out[key] = scalar(v)
	}
}

func composite(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return (t.Kind() == reflect.Struct && t != timeType) || t.Kind() == reflect.Map || t.Kind() == reflect.Slice
}

func scalar(v reflect.Value) string {
	if !v.CanInterface() {
		return ""
	}
	switch x := v.Interface().(type) {
	case config.Duration:
		return x.String()
	case time.Duration:
		return x.String()
	case string:
		return config.RedactURL(x)
	case fmt.Stringer:
		return config.RedactURL(x.String())
	}
	return config.RedactURL(fmt.Sprint(v.Interface()))
}
