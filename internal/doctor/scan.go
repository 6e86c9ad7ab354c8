package doctor

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The secret rules follow gitleaks' approach (a pattern, a capture group holding the secret, and a
// minimum Shannon entropy to drop placeholders), written here for the keys membersync handles: no small
// Go module ships gitleaks' rules without its CLI's dependencies, and none knows Circle or Kit keys.

// secretRule recognises one kind of credential.
type secretRule struct {
	ID   string
	Desc string
	Re   *regexp.Regexp
	// Prefix is the fixed start of the secret kept when masking ("sk_live_"); empty for keyword rules.
	Prefix string
	// MinEntropy is the Shannon entropy (bits per character) the secret part must reach.
	MinEntropy float64
	// Severity is fail for live credentials and warn for test-mode keys.
	Severity Status
}

// secretRules returns the rules, compiled. The secret is capture group 1.
func secretRules() []secretRule {
	// assignment matches NAME = value, NAME: value, "NAME": "value" for names containing the words.
	assignment := func(names, kinds string) *regexp.Regexp {
		return regexp.MustCompile(`(?i)(?:^|[^a-z0-9])(?:` + names + `)[a-z0-9_.-]*(?:` + kinds + `)[a-z0-9_-]*["']?\s*[:=]\s*["']?([0-9A-Za-z_.\-]{20,200})`)
	}
	return []secretRule{
		{ID: "stripe-live-key", Desc: "Stripe live secret/restricted key", Re: regexp.MustCompile(`\b((?:sk|rk)_live_[0-9A-Za-z]{20,247})\b`), Prefix: "_live_", MinEntropy: 3, Severity: StatusFail},
		{ID: "stripe-test-key", Desc: "Stripe test secret/restricted key", Re: regexp.MustCompile(`\b((?:sk|rk)_test_[0-9A-Za-z]{20,247})\b`), Prefix: "_test_", MinEntropy: 3, Severity: StatusWarn},
		{ID: "stripe-webhook-secret", Desc: "Stripe webhook signing secret", Re: regexp.MustCompile(`\b(whsec_[0-9A-Za-z+/=]{20,100})`), Prefix: "whsec_", MinEntropy: 3, Severity: StatusFail},
		{ID: "kit-api-key", Desc: "Kit v4 API key", Re: regexp.MustCompile(`\b(kit_[0-9A-Za-z]{20,100})\b`), Prefix: "kit_", MinEntropy: 3, Severity: StatusFail},
		{ID: "kit-credential", Desc: "Kit/ConvertKit API key or secret", Re: assignment(`convert_?kit|kit`, `api_?key|api_?secret|secret|token`), MinEntropy: 3.5, Severity: StatusFail},
		{ID: "circle-token", Desc: "Circle API token", Re: assignment(`circle`, `token|key|secret`), MinEntropy: 3.5, Severity: StatusFail},
	}
}

// placeholders are lowercase fragments that mark an example value, not a secret.
var placeholders = []string{"your", "example", "placeholder", "changeme", "xxxx", "dummy", "redacted", "replace", "insert", "sample", "0000", "1234"}

// entropy returns the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	if s == "" {
		return 0
	}
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h
}

// secretHit is one credential found at a location.
type secretHit struct {
	Rule   secretRule
	Secret string // kept in memory for deduplication only; never rendered
	Path   string
	Line   int
	Commit string // empty for the working tree
}

// masked returns the secret's type prefix and two characters, then an ellipsis.
func (h secretHit) masked() string {
	s := h.Secret
	keep := 2
	if h.Rule.Prefix != "" {
		if i := strings.Index(s, h.Rule.Prefix); i >= 0 {
			keep = i + len(h.Rule.Prefix) + 2
		}
	}
	if keep >= len(s)-4 {
		keep = min(2, len(s)/4)
	}
	return s[:keep] + "…"
}

// line describes the hit for Detail, never including the secret.
func (h secretHit) line() string {
	loc := h.Path + ":" + strconv.Itoa(h.Line)
	if h.Commit != "" {
		c := h.Commit
		if len(c) > 10 {
			c = c[:10]
		}
		loc = c + " " + loc
	}
	return fmt.Sprintf("%s %s (%s)", loc, h.masked(), h.Rule.Desc)
}

// scanLine returns the credentials on one line of text.
func scanLine(rules []secretRule, text string) []secretHit {
	var hits []secretHit
	for _, r := range rules {
		for _, m := range r.Re.FindAllStringSubmatch(text, -1) {
			s := m[1]
			body := s
			if r.Prefix != "" {
				if i := strings.Index(s, r.Prefix); i >= 0 {
					body = s[i+len(r.Prefix):]
				}
			}
			low := strings.ToLower(body)
			if slices.ContainsFunc(placeholders, func(p string) bool { return strings.Contains(low, p) }) {
				continue
			}
			if entropy(body) < r.MinEntropy {
				continue
			}
			if r.ID == "kit-api-key" && !strings.ContainsAny(body, "0123456789") {
				continue // an identifier such as kit_SubscriberTagsForCustomer
			}
			if slices.ContainsFunc(hits, func(h secretHit) bool { return strings.Contains(h.Secret, s) || strings.Contains(s, h.Secret) }) {
				continue // already found by a more specific rule
			}
			hits = append(hits, secretHit{Rule: r, Secret: s})
		}
	}
	return hits
}

// maxLine bounds how much of one line is scanned (minified files have megabyte lines).
const maxLine = 1 << 20

// readLine reads one line, keeping at most maxLine bytes of it.
func readLine(r *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, isPrefix, err := r.ReadLine()
		if err != nil {
			if len(b) > 0 && errors.Is(err, io.EOF) {
				return string(b), nil
			}
			return string(b), err
		}
		if len(b) < maxLine {
			b = append(b, chunk[:min(len(chunk), maxLine-len(b))]...)
		}
		if !isPrefix {
			return string(b), nil
		}
	}
}

// scanFile scans one file of the working tree, skipping binaries and large files.
func scanFile(rules []secretRule, root, rel string) []secretHit {
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		return nil
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > 4<<20 {
		return nil
	}
	br := bufio.NewReader(f)
	if head, _ := br.Peek(8000); bytes.IndexByte(head, 0) >= 0 {
		return nil
	}
	var hits []secretHit
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err != nil {
			break
		}
		for _, h := range scanLine(rules, line) {
			h.Path, h.Line = filepath.ToSlash(rel), n
			hits = append(hits, h)
		}
	}
	return hits
}

// git runs git in dir and returns its output.
func (a *auditor) git(ctx context.Context, dir string, args ...string) *exec.Cmd {
	bin := a.opts.GitPath
	if bin == "" {
		bin = "git"
	}
	all := append([]string{"--no-pager", "-c", "safe.directory=*", "-c", "core.quotepath=off", "-C", dir}, args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	return cmd
}

// checkRepo scans RepoDir's working tree and, when it is a git repository, its whole history.
func (a *auditor) checkRepo(ctx context.Context) []Finding {
	dir := a.opts.RepoDir
	if dir == "" {
		return []Finding{finding(GroupSecrets, "committed secrets", StatusUnknown, "no repository given: committed secrets were not searched",
			"Give doctor the source repository to scan its files and history.")}
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return []Finding{finding(GroupSecrets, "committed secrets", StatusUnknown, "cannot read repository "+dir, "")}
	}
	ctx, cancel := context.WithTimeout(ctx, max(6*a.timeout, time.Minute))
	defer cancel()
	rules := secretRules()

	isGit := false
	if out, err := a.git(ctx, dir, "rev-parse", "--is-inside-work-tree").Output(); err == nil && strings.TrimSpace(string(out)) == "true" {
		isGit = true
	}
	var files []string
	if isGit {
		// Tracked files and untracked ones git would add: an ignored .env is not a leak.
		out, err := a.git(ctx, dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
		if err == nil {
			for _, f := range strings.Split(string(out), "\x00") {
				if f != "" {
					files = append(files, f)
				}
			}
		}
	} else {
		_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if d.Type().IsRegular() {
				rel, _ := filepath.Rel(dir, p)
				files = append(files, rel)
			}
			return nil
		})
	}
	slices.Sort(files)
	var tree []secretHit
	for _, f := range files {
		tree = append(tree, scanFile(rules, dir, f)...)
	}
	out := []Finding{hitsFinding("secrets in working tree", tree, fmt.Sprintf("%d files scanned, no Stripe, Circle or Kit credential found", len(files)),
		"Remove the credentials from the files, load them from the environment, rotate every live one (it has been shared with everyone who has the code).")}

	const hcheck = "secrets in git history"
	if !isGit {
		return append(out, finding(GroupSecrets, hcheck, StatusUnknown, dir+" is not a git repository (or git is not installed): history not scanned", ""))
	}
	hist, commits, err := a.scanHistory(ctx, dir, rules)
	if err != nil {
		return append(out, finding(GroupSecrets, hcheck, StatusUnknown, "could not read the git history: "+err.Error(), "", hitLines(hist)...))
	}
	return append(out, hitsFinding(hcheck, hist, fmt.Sprintf("%d commits scanned, no Stripe, Circle or Kit credential found", commits),
		"Rotate each credential listed now (deleting the file does not remove it from history), then purge it with git filter-repo if the repository is shared."))
}

// hitLines renders hits, capped so a noisy repository does not flood the report.
func hitLines(hits []secretHit) []string {
	const maxLines = 50
	var out []string
	for i, h := range hits {
		if i == maxLines {
			out = append(out, fmt.Sprintf("… and %d more", len(hits)-maxLines))
			break
		}
		out = append(out, h.line())
	}
	return out
}

// hitsFinding turns hits into one finding: fail for live credentials, warn for test keys only.
func hitsFinding(check string, hits []secretHit, clean, fix string) Finding {
	if len(hits) == 0 {
		return finding(GroupSecrets, check, StatusPass, clean, "")
	}
	status := StatusPass
	for _, h := range hits {
		status = worst(status, h.Rule.Severity)
	}
	msg := fmt.Sprintf("%d committed credential(s) found", len(hits))
	if status == StatusWarn {
		msg = fmt.Sprintf("%d committed Stripe test-mode key(s) found", len(hits))
	}
	return finding(GroupSecrets, check, status, msg, fix, hitLines(hits)...)
}

// scanHistory reads `git log -p --all` and scans every added line. A credential committed several
// times is reported once per file, at the oldest commit that added it.
func (a *auditor) scanHistory(ctx context.Context, dir string, rules []secretRule) ([]secretHit, int, error) {
	cmd := a.git(ctx, dir, "log", "-p", "--all", "--no-color", "--no-ext-diff", "--no-textconv", "-U0", "--format=commit %H")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	type key struct{ rule, secret, path string }
	found := map[key]int{}
	var hits []secretHit
	var commit, path string
	commits, newLine := 0, 0
	inHunk := false
	br := bufio.NewReaderSize(stdout, 64<<10)
	for {
		line, err := readLine(br)
		if err != nil {
			break
		}
		switch {
		case strings.HasPrefix(line, "commit "):
			// Hunk lines start with '+', '-', ' ' or '\', so this is always a commit header.
			commit, inHunk = strings.TrimPrefix(line, "commit "), false
			commits++
		case strings.HasPrefix(line, "diff --git "):
			inHunk, path = false, ""
		case !inHunk && strings.HasPrefix(line, "+++ "):
			path = strings.TrimPrefix(strings.TrimPrefix(line, "+++ "), "b/")
		case strings.HasPrefix(line, "@@ "):
			inHunk = true
			newLine = hunkStart(line)
		case inHunk && strings.HasPrefix(line, "+"):
			for _, h := range scanLine(rules, line[1:]) {
				h.Path, h.Line, h.Commit = path, newLine, commit
				k := key{h.Rule.ID, h.Secret, path}
				if i, ok := found[k]; ok {
					hits[i] = h // git log lists newest first: keep the oldest
				} else {
					found[k] = len(hits)
					hits = append(hits, h)
				}
			}
			newLine++
		case inHunk && strings.HasPrefix(line, " "):
			newLine++
		}
	}
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return hits, commits, fmt.Errorf("stopped after %d commits: %w", commits, ctx.Err())
		}
		return hits, commits, fmt.Errorf("git log: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return hits, commits, nil
}

// hunkStart returns the first new-file line number of a hunk header "@@ -a,b +c,d @@".
func hunkStart(h string) int {
	f := strings.Fields(h)
	if len(f) < 3 || !strings.HasPrefix(f[2], "+") {
		return 0
	}
	n, _ := strconv.Atoi(strings.SplitN(f[2][1:], ",", 2)[0])
	return n
}
