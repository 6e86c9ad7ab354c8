package admin

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/membersync/membersync/internal/catalog"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/store"
	"github.com/membersync/membersync/internal/web/respond"
)

// settingRow is one effective configuration value, secrets masked.
type settingRow struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// planSetting is one plan of the mapping.
type planSetting struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	Prices         []string `json:"prices"`
	Products       []string `json:"products"`
	AccessGroups   []int64  `json:"access_groups"`
	Tags           []string `json:"tags"` // "stage: id"
	Onboarding     int64    `json:"onboarding_sequence"`
	Retention      int64    `json:"retention_sequence"`
	GracePeriod    string   `json:"grace_period"`
	AccessDuration string   `json:"access_duration"`
	// Names are the ids above with the names the catalog knows for them.
	Names planNames `json:"names"`
	// StageTags are Tags for the page: each stage with its tag's id.
	StageTags []stageTag `json:"-"`
}

// planNames labels a plan's ids (catalog.Label: id, name, and whether the name is known).
type planNames struct {
	Prices       []catalog.Label `json:"prices"`
	Products     []catalog.Label `json:"products"`
	AccessGroups []catalog.Label `json:"access_groups"`
	Tags         []stageLabel    `json:"tags"`
	Onboarding   *catalog.Label  `json:"onboarding_sequence,omitempty"`
	Retention    *catalog.Label  `json:"retention_sequence,omitempty"`
}

type stageTag struct {
	Stage string
	ID    int64
}

type stageLabel struct {
	Stage string `json:"stage"`
	catalog.Label
}

type settingsView struct {
	Config  []settingRow      `json:"config"`
	Secrets []settingRow      `json:"secrets"`
	Plans   []planSetting     `json:"plans"`
	Checks  []ConnectionCheck `json:"checks,omitempty"`
	Checked bool              `json:"-"`
}

// secretName matches configuration keys whose values are never shown.
var secretName = regexp.MustCompile(`(?i)(secret|token|password|passwd|api_?key|signing|private|credential|webhook|dsn)`)

func (h *Handler) loadSettings() settingsView {
	v := settingsView{Config: []settingRow{}, Plans: []planSetting{}}
	walkConfig(reflect.ValueOf(*h.cfg), "", &v.Config)
	// Each secret by its keyed fingerprint (config.Fingerprint), never by a part of its value.
	for _, f := range h.cfg.Secrets.Fingerprints() {
		v.Secrets = append(v.Secrets, settingRow{f.Env, f.String()})
	}
	for _, p := range h.cfg.Plans {
		ps := planSetting{ID: p.ID, Name: p.Name, Prices: p.Stripe.Prices, Products: p.Stripe.Products, AccessGroups: p.Circle.AccessGroups,
			Onboarding: p.Kit.OnboardingSequence, Retention: p.Kit.RetentionSequence,
			GracePeriod: p.GracePeriod.D().String(), AccessDuration: "lifetime"}
		if p.AccessDuration.D() > 0 {
			ps.AccessDuration = p.AccessDuration.D().String()
		}
		for stage, id := range p.Kit.Tags {
			ps.Tags = append(ps.Tags, fmt.Sprintf("%s: %d", stage, id))
			ps.StageTags = append(ps.StageTags, stageTag{stage, id})
		}
		sort.Strings(ps.Tags)
		sort.Slice(ps.StageTags, func(i, j int) bool { return ps.StageTags[i].Stage < ps.StageTags[j].Stage })
		ps.Names = h.planNames(p, ps.StageTags)
		v.Plans = append(v.Plans, ps)
	}
	return v
}

// planNames labels the ids of plan p through the handler's names.
func (h *Handler) planNames(p config.Plan, tags []stageTag) planNames {
	n := planNames{Prices: []catalog.Label{}, Products: []catalog.Label{}, AccessGroups: []catalog.Label{}, Tags: []stageLabel{}}
	for _, id := range p.Stripe.Prices {
		n.Prices = append(n.Prices, catalog.PriceLabel(h.names, id))
	}
	for _, id := range p.Stripe.Products {
		n.Products = append(n.Products, catalog.ProductLabel(h.names, id))
	}
	for _, id := range p.Circle.AccessGroups {
		n.AccessGroups = append(n.AccessGroups, catalog.AccessGroupLabel(h.names, id))
	}
	for _, t := range tags {
		n.Tags = append(n.Tags, stageLabel{t.Stage, catalog.TagLabel(h.names, t.ID)})
	}
	if id := p.Kit.OnboardingSequence; id != 0 {
		l := catalog.SequenceLabel(h.names, id)
		n.Onboarding = &l
	}
	if id := p.Kit.RetentionSequence; id != 0 {
		l := catalog.SequenceLabel(h.names, id)
		n.Retention = &l
	}
	return n
}

// walkConfig lists every YAML-visible field of the config, masking secrets and URL passwords. The
// plans are shown on their own; fields tagged yaml:"-" (the secrets) are skipped.
func walkConfig(v reflect.Value, prefix string, out *[]settingRow) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || (prefix == "" && name == "plans") {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		walkValue(v.Field(i), key, out)
	}
}

func walkValue(fv reflect.Value, key string, out *[]settingRow) {
	for fv.Kind() == reflect.Pointer || fv.Kind() == reflect.Interface {
		if fv.IsNil() {
			*out = append(*out, settingRow{Key: key, Value: "(none)"})
			return
		}
		fv = fv.Elem()
	}
	switch {
	case fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Time{}):
		walkConfig(fv, key, out)
	case fv.Kind() == reflect.Slice && fv.Len() > 0 && isComposite(fv.Type().Elem()):
		for i := range fv.Len() {
			walkValue(fv.Index(i), fmt.Sprintf("%s[%d]", key, i), out)
		}
	case fv.Kind() == reflect.Map && fv.Len() > 0 && isComposite(fv.Type().Elem()):
		keys := fv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		for _, k := range keys {
			walkValue(fv.MapIndex(k), fmt.Sprintf("%s.%v", key, k), out)
		}
	default:
		*out = append(*out, settingRow{Key: key, Value: showValue(key, fv)})
	}
}

func isComposite(t reflect.Type) bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct || t.Kind() == reflect.Map || t.Kind() == reflect.Slice || t.Kind() == reflect.Interface
}

func showValue(key string, v reflect.Value) string {
	if !v.CanInterface() {
		return "(hidden)"
	}
	if secretName.MatchString(key[strings.LastIndex(key, ".")+1:]) {
		if v.IsZero() {
			return "not set"
		}
		return "•••• (set)"
	}
	if d, ok := v.Interface().(config.Duration); ok {
		return d.D().String()
	}
	if d, ok := v.Interface().(time.Duration); ok {
		return d.String()
	}
	switch v.Kind() {
	case reflect.String:
		s := v.String()
		if s == "" {
			return "(empty)"
		}
		// Any string may be a URL or a DSN with a password or a token in it.
		return config.RedactURL(s)
	case reflect.Slice, reflect.Map:
		if v.Len() == 0 {
			return "(none)"
		}
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String {
		out := make([]string, v.Len())
		for i := range v.Len() {
			out[i] = config.RedactURL(v.Index(i).String())
		}
		return "[" + strings.Join(out, " ") + "]"
	}
	return config.RedactURL(fmt.Sprint(v.Interface()))
}

func (h *Handler) settingsPage(w http.ResponseWriter, r *http.Request, p *principal) error {
	h.render(w, r, p, http.StatusOK, "settings", view{Title: "Settings", Nav: "settings", Data: h.loadSettings()})
	return nil
}

func (h *Handler) apiSettings(w http.ResponseWriter, r *http.Request, p *principal) error {
	writeJSON(w, http.StatusOK, h.loadSettings())
	return nil
}

// runChecks calls each provider once and records that it did.
func (h *Handler) runChecks(ctx context.Context, p *principal) ([]ConnectionCheck, error) {
	if h.check == nil {
		return nil, respond.NewError(http.StatusServiceUnavailable, "unavailable", "Connection checks are not available on this instance.")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	checks := h.check(ctx)
	if err := h.audit(ctx, p, store.AuditEntry{Action: "settings.check_connections", Target: "providers", After: toJSON(checks)}); err != nil {
		return checks, err
	}
	return checks, nil
}

func (h *Handler) checkForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	checks, err := h.runChecks(r.Context(), p)
	if err != nil {
		return err
	}
	v := h.loadSettings()
	v.Checks, v.Checked = checks, true
	h.render(w, r, p, http.StatusOK, "settings", view{Title: "Settings", Nav: "settings", Data: v})
	return nil
}

func (h *Handler) apiCheck(w http.ResponseWriter, r *http.Request, p *principal) error {
	checks, err := h.runChecks(r.Context(), p)
	if err != nil {
		return err
	}
	if checks == nil {
		checks = []ConnectionCheck{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"checks": checks})
	return nil
}
