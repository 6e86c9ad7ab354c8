package config

import (
	"fmt"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// located is one problem of the config file: the line it is on (0: none known), the key path it
// names ("" when none) and what is wrong, itself starting with the key path as Problems do.
type located struct {
	line int
	path string
	msg  string
}

// fileCheck walks a config file's YAML tree against Config's yaml tags, so that every unknown key
// and every value of the wrong type is reported at once, with its line, instead of the decoder's
// first error; and it remembers the line of each key path for the validation's problems.
type fileCheck struct {
	name    string          // the file name for the messages; "" for YAML given in memory
	lines   map[string]int  // key path → line of its key, or of the list item
	flagged map[string]bool // key paths already reported (unknown, wrong type, secret)
	probs   []located
	budget  int // nodes left to visit: aliases can make a small file a huge tree
}

// maxNodes bounds the nodes one walk visits (a config has a few hundred).
const maxNodes = 100_000

func newFileCheck(name string) *fileCheck {
	return &fileCheck{name: name, lines: map[string]int{}, flagged: map[string]bool{}, budget: maxNodes}
}

// report records a problem at path on line.
func (fc *fileCheck) report(line int, path, format string, args ...any) {
	fc.flagged[path] = true
	fc.probs = append(fc.probs, located{line: line, path: path, msg: fmt.Sprintf(format, args...)})
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	linePrefix      = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)
)

// walk checks n, the value at path, against t, the Go type it decodes into. A node with a problem
// is replaced by a null, so that decoding the tree afterwards fills the rest and only the rest.
func (fc *fileCheck) walk(n *yaml.Node, t reflect.Type, path string) {
	if fc.budget--; fc.budget < 0 {
		return
	}
	if n.Kind == 0 {
		return // an empty file
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			fc.walk(c, t, path)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value: the default
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	what := func() string {
		if path == "" {
			return "the file"
		}
		return path
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		if n.Kind != yaml.ScalarNode {
			fc.bad(n, path, "%s: want %s, got %s", what(), describeType(t), describeNode(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			fc.bad(n, path, "%s: %s", what(), linePrefix.ReplaceAllString(err.Error(), ""))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			fc.bad(n, path, "%s: want a mapping of keys (%s), got %s", what(), strings.Join(fieldNames(t, 4), ", ")+", …", describeNode(n))
			return
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if _, seen := fc.lines[p]; !seen {
				fc.lines[p] = k.Line
			}
			f, ok := fields[k.Value]
			if !ok {
				if !fc.flagged[p] { // a secret written under its own key is reported as such
					known := fieldNames(t, 0)
					fc.report(k.Line, p, "%s: unknown key%s", p, suggestion(k.Value, known))
					// The key it misspells is then missing: validation need not say so too.
					if near := nearest(k.Value, known); near != "" && !hasKey(n, near) {
						fc.flagged[join(path, near)] = true
					}
				}
				continue
			}
			fc.walk(v, f.Type, p)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			fc.bad(n, path, "%s: want a list (- item lines or [a, b]), got %s", what(), describeNode(n))
			return
		}
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			fc.lines[p] = c.Line
			fc.walk(c, t.Elem(), p)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			fc.bad(n, path, "%s: want a mapping (key: value lines), got %s", what(), describeNode(n))
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if _, seen := fc.lines[p]; !seen {
				fc.lines[p] = k.Line
			}
			fc.walk(v, t.Elem(), p)
		}
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode {
			fc.bad(n, path, "%s: want %s, got %s", what(), describeType(t), describeNode(n))
			return
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			fc.bad(n, path, "%s: %s is not %s", what(), strconv.Quote(n.Value), describeType(t))
		}
	}
}

// bad reports the problem of n, at path, and replaces n by a null so that decoding skips it.
func (fc *fileCheck) bad(n *yaml.Node, path, format string, args ...any) {
	line := n.Line
	if l, ok := fc.lines[path]; ok {
		line = l
	}
	fc.report(line, path, format, args...)
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

// hasKey reports whether the mapping n has the key.
func hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// yamlFields maps each yaml key of struct t to its field.
func yamlFields(t reflect.Type) map[string]reflect.StructField {
	out := map[string]reflect.StructField{}
	for i := range t.NumField() {
		f := t.Field(i)
		if name := yamlName(f); name != "" {
			out[name] = f
		}
	}
	return out
}

// fieldNames lists the yaml keys of struct t, in their order, at most max of them when max > 0.
func fieldNames(t reflect.Type, max int) []string {
	var out []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			out = append(out, name)
		}
		if max > 0 && len(out) == max {
			break
		}
	}
	return out
}

func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name)
	}
	return name
}

// suggestion words the nearest of known to key, " (did you mean access_groups?)", or lists the
// keys allowed here when none is near.
func suggestion(key string, known []string) string {
	if best := nearest(key, known); best != "" {
		return " (did you mean " + best + "?)"
	}
	if len(known) == 0 {
		return ""
	}
	return "; the keys here are " + strings.Join(known, ", ")
}

// nearest returns the one of known that key is most likely a misspelling of, or "" when none is
// within a few edits.
func nearest(key string, known []string) string {
	best, bestD := "", -1
	for _, k := range known {
		d := editDistance(strings.ToLower(key), k)
		if bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if bestD >= 0 && (bestD <= 2 || bestD <= len(key)/3) {
		return best
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, counted in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func describeType(t reflect.Type) string {
	if t == reflect.TypeFor[Duration]() {
		return "a duration (72h, 30d or lifetime)"
	}
	switch t.Kind() {
	case reflect.String:
		return "text"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "a single value"
}

func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "something else"
}

// problemPath is the key path a validation problem starts with ("plans[0].id" of
// `plans[0].id: "Pro!" must be …`), or "".
var problemPath = regexp.MustCompile(`^([A-Za-z0-9_\-]+(?:\[\d+\]|\.[A-Za-z0-9_\-]+)*): `)

// lineOf returns the line of path or, when the file does not have it, of its nearest ancestor.
func (fc *fileCheck) lineOf(path string) int {
	for path != "" {
		if l, ok := fc.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return 0
		}
		path = path[:i]
	}
	return 0
}

// underFlagged reports whether path, one of its ancestors or one of its descendants was already
// reported: a value that was unknown, of the wrong type or a secret decodes to its default (a list
// item to nothing), which validation would otherwise report a second time.
func (fc *fileCheck) underFlagged(path string) bool {
	for p := range fc.flagged {
		if strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			return true
		}
	}
	for path != "" {
		if fc.flagged[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return false
		}
		path = path[:i]
	}
	return false
}

// addValidation records the validation's problems, each with the line of its key path, leaving
// out those about a value already reported.
func (fc *fileCheck) addValidation(probs Problems) {
	for _, msg := range probs {
		path := ""
		if m := problemPath.FindStringSubmatch(msg); m != nil {
			path = m[1]
		}
		if path != "" && fc.underFlagged(path) {
			continue
		}
		fc.probs = append(fc.probs, located{line: fc.lineOf(path), path: path, msg: msg})
	}
}

// problems words every problem as `file.yaml:12: plans[0].id: …` (`line 12: …` without a file
// name), in the order of the file; problems without a line (a key the file lacks, an environment
// variable) come last.
func (fc *fileCheck) problems() Problems {
	sort.SliceStable(fc.probs, func(i, j int) bool {
		li, lj := fc.probs[i].line, fc.probs[j].line
		if li == 0 || lj == 0 {
			return lj == 0 && li != 0
		}
		return li < lj
	})
	top := yamlFields(reflect.TypeFor[Config]())
	out := make(Problems, 0, len(fc.probs))
	for _, p := range fc.probs {
		first, _, _ := strings.Cut(p.path, ".")
		first, _, _ = strings.Cut(first, "[")
		_, inFile := top[first]
		switch {
		case p.line > 0 && fc.name != "":
			out = append(out, fmt.Sprintf("%s:%d: %s", fc.name, p.line, p.msg))
		case p.line > 0:
			out = append(out, fmt.Sprintf("line %d: %s", p.line, p.msg))
		case fc.name != "" && inFile:
			out = append(out, fmt.Sprintf("%s: %s", fc.name, p.msg))
		default:
			out = append(out, p.msg)
		}
	}
	return out
}
