package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/membersync/membersync/internal/admin"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/identity"
	"github.com/membersync/membersync/internal/store"
)

// cliActor names the command line in the audit log.
const cliActor = "cli"

const usersUsage = `Usage: membersync users <subcommand> [flags]

Manage the operators of the admin UI and their API tokens.

Subcommands:
  add EMAIL --role admin|support|viewer   add an operator; prints a generated password (or reads one: --password-stdin)
  list                                    list operators
  disable EMAIL                           disable an operator and end their sessions
  enable EMAIL                            enable a disabled operator
  reset-password EMAIL                    set a new password (generated, or --password-stdin) and end their sessions
  token create EMAIL --name NAME          create an API token (printed once; --role narrows it)
  token list [EMAIL]                      list API tokens
  token revoke ID                         revoke an API token

Roles: viewer reads; support also resyncs people, retries and resolves review items and replays
events; admin also manages users and tokens.

Examples:
  membersync users add founder@example.com --role admin
  printf '%s\n' "$PASSWORD" | membersync users add help@example.com --role support --password-stdin
  membersync users token create ops@example.com --name grafana --role viewer
`

func cmdUsers(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		_, _ = io.WriteString(e.stderr, usersUsage)
		return errUsage
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "help", "-h", "-help", "--help":
		_, _ = io.WriteString(e.stdout, usersUsage)
		return nil
	case "add":
		return usersAdd(ctx, e, rest)
	case "list":
		return usersList(ctx, e, rest)
	case "disable", "enable":
		return usersSetDisabled(ctx, e, rest, sub == "disable")
	case "reset-password":
		return usersResetPassword(ctx, e, rest)
	case "token":
		if len(rest) > 0 {
			switch rest[0] {
			case "create":
				return tokenCreate(ctx, e, rest[1:])
			case "list":
				return tokenList(ctx, e, rest[1:])
			case "revoke":
				return tokenRevoke(ctx, e, rest[1:])
			}
		}
	}
	name := sub
	if sub == "token" && len(rest) > 0 {
		name += " " + rest[0]
	}
	fmt.Fprintf(e.stderr, "membersync users: unknown subcommand %q\n\n", name)
	_, _ = io.WriteString(e.stderr, usersUsage)
	return errUsage
}

// usersFlags is a subcommand's flag set with the --config flag every one has. Every subcommand
// migrates the database it opens: users may be added before the first serve.
func usersFlags(e env, name, synopsis, examples string) (*flag.FlagSet, *string) {
	fs := newFlags(e, "users "+name, synopsis, examples)
	return fs, configFlag(fs)
}

// readPassword reads one line from stdin.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < admin.MinPasswordLength {
		return "", fmt.Errorf("the password on stdin must have at least %d characters", admin.MinPasswordLength)
	}
	return pw, nil
}

func findUser(ctx context.Context, st *store.Store, email string) (store.AdminUser, error) {
	u, err := st.AdminUserByEmail(ctx, identity.NormalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) {
		return u, fmt.Errorf("no user %s (see membersync users list)", email)
	}
	return u, err
}

func signInHint(cfg *config.Config) string {
	if cfg.PublicURL == "" {
		return "Sign in at /login."
	}
	return "Sign in at " + strings.TrimRight(cfg.PublicURL, "/") + "/login."
}

func usersAdd(ctx context.Context, e env, args []string) error {
	fs, cfgPath := usersFlags(e, "add [flags] EMAIL", "Add an operator with a role. The password is generated and printed once, unless\n--password-stdin reads it (one line, at least 12 characters).",
		"  membersync users add founder@example.com --role admin\n  printf '%s\\n' \"$PASSWORD\" | membersync users add help@example.com --role support --password-stdin")
	roleName := fs.String("role", "", "admin, support or viewer (required)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input instead of generating one")
	pos, err := parseInterleaved(fs, args, 1, 1)
	if err != nil {
		return err
	}
	role, err := admin.ParseRole(*roleName)
	if err != nil {
		fmt.Fprintln(e.stderr, "--role:", err)
		return errUsage
	}
	pw := ""
	if *fromStdin {
		if pw, err = readPassword(e.stdin); err != nil {
			return err
		}
	}
	cfg, st, err := openStore(ctx, e, *cfgPath, true)
	if err != nil {
		return err
	}
	defer st.Close()
	u, pw, err := admin.AddUser(ctx, st, cliActor, pos[0], role, pw)
	if err != nil {
		return fmt.Errorf("adding %s: %w", pos[0], err)
	}
	fmt.Fprintf(e.stdout, "added %s (%s)\n", u.Email, u.Role)
	if !*fromStdin {
		fmt.Fprintf(e.stdout, "password: %s\n(shown once: only its hash is stored)\n", pw)
	}
	fmt.Fprintln(e.stdout, signInHint(cfg))
	return nil
}

func usersList(ctx context.Context, e env, args []string) error {
	fs, cfgPath := usersFlags(e, "list [flags]", "List the operators, their roles and API tokens.", "  membersync users list")
	if _, err := parseInterleaved(fs, args, 0, 0); err != nil {
		return err
	}
	_, st, err := openStore(ctx, e, *cfgPath, true)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := st.AdminUsers(ctx)
	if err != nil {
		return err
	}
	if len(users) == 0 {
		fmt.Fprintln(e.stdout, "no users yet: membersync users add EMAIL --role admin")
		return nil
	}
	tokens, err := st.APITokens(ctx, 0)
	if err != nil {
		return err
	}
	active := map[int64]int{}
	for _, t := range tokens {
		if t.RevokedAt.IsZero() {
			active[t.UserID]++
		}
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EMAIL\tROLE\tSTATUS\tLAST SIGN-IN\tTOKENS")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", u.Email, u.Role, status, usersTime(u.LastLoginAt), active[u.ID])
	}
	return tw.Flush()
}

func usersSetDisabled(ctx context.Context, e env, args []string, disabled bool) error {
	verb, what := "enable", "Enable a disabled operator."
	if disabled {
		verb, what = "disable", "Disable an operator: their sessions end and their API tokens stop working."
	}
	fs, cfgPath := usersFlags(e, verb+" [flags] EMAIL", what, "  membersync users "+verb+" help@example.com")
	pos, err := parseInterleaved(fs, args, 1, 1)
	if err != nil {
		return err
	}
	_, st, err := openStore(ctx, e, *cfgPath, true)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := findUser(ctx, st, pos[0])
	if err != nil {
		return err
	}
	if err := admin.SetDisabled(ctx, st, cliActor, u, disabled); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%sd %s\n", verb, u.Email)
	return nil
}

func usersResetPassword(ctx context.Context, e env, args []string) error {
	fs, cfgPath := usersFlags(e, "reset-password [flags] EMAIL", "Give an operator a new password (generated and printed once, or read with --password-stdin)\nand end their sessions.",
		"  membersync users reset-password help@example.com")
	fromStdin := fs.Bool("password-stdin", false, "read the password from standard input instead of generating one")
	pos, err := parseInterleaved(fs, args, 1, 1)
	if err != nil {
		return err
	}
	pw := ""
	if *fromStdin {
		if pw, err = readPassword(e.stdin); err != nil {
			return err
		}
	}
	cfg, st, err := openStore(ctx, e, *cfgPath, true)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := findUser(ctx, st, pos[0])
	if err != nil {
		return err
	}
	if pw, err = admin.ResetPassword(ctx, st, cliActor, u, pw); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "reset the password of %s; their sessions ended\n", u.Email)
	if !*fromStdin {
		fmt.Fprintf(e.stdout, "password: %s\n(shown once: only its hash is stored)\n", pw)
	}
	fmt.Fprintln(e.stdout, signInHint(cfg))
	return nil
}

func tokenCreate(ctx context.Context, e env, args []string) error {
	fs, cfgPath := usersFlags(e, "token create [flags] EMAIL", "Create an API token for the JSON API (Authorization: Bearer TOKEN). It is printed once and\nstored hashed. It acts with the operator's role, or the narrower --role.",
		"  membersync users token create ops@example.com --name grafana --role viewer")
	name := fs.String("name", "", "what uses the token (required)")
	roleName := fs.String("role", "", "narrow the token to admin, support or viewer (default: the operator's role)")
	pos, err := parseInterleaved(fs, args, 1, 1)
	if err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		fmt.Fprintln(e.stderr, "--name is required: say what uses the token")
		return errUsage
	}
	var role admin.Role
	if *roleName != "" {
		if role, err = admin.ParseRole(*roleName); err != nil {
			fmt.Fprintln(e.stderr, "--role:", err)
			return errUsage
		}
	}
	_, st, err := openStore(ctx, e, *cfgPath, true)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := findUser(ctx, st, pos[0])
	if err != nil {
		return err
	}
	if u.Disabled {
		return fmt.Errorf("%s is disabled; enable them first", u.Email)
	}
	token, t, err := admin.IssueToken(ctx, st, cliActor, u, *name, role)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "token %d %q for %s (%s):\n%s\n(shown once: only its hash is stored)\n", t.ID, t.Name, u.Email, t.Role, token)
	return nil
}

func tokenList(ctx context.Context, e env, args []string) error {
	fs, cfgPath := usersFlags(e, "token list [flags] [EMAIL]", "List API tokens, of one operator or of all.", "  membersync users token list")
	pos, err := parseInterleaved(fs, args, 0, 1)
	if err != nil {
		return err
	}
	_, st, err := openStore(ctx, e, *cfgPath, true)
	if err != nil {
		return err
	}
	defer st.Close()
	users, err := st.AdminUsers(ctx)
	if err != nil {
		return err
	}
	emails := map[int64]string{}
	for _, u := range users {
		emails[u.ID] = u.Email
	}
	var userID int64
	if len(pos) == 1 {
		u, err := findUser(ctx, st, pos[0])
		if err != nil {
			return err
		}
		userID = u.ID
	}
	tokens, err := st.APITokens(ctx, userID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tUSER\tNAME\tROLE\tPREFIX\tLAST USED\tSTATUS")
	for _, t := range tokens {
		status := "active"
		if !t.RevokedAt.IsZero() {
			status = "revoked " + usersTime(t.RevokedAt)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s…\t%s\t%s\n", t.ID, emails[t.UserID], t.Name, t.Role, t.Prefix, usersTime(t.LastUsedAt), status)
	}
	return tw.Flush()
}

func tokenRevoke(ctx context.Context, e env, args []string) error {
	fs, cfgPath := usersFlags(e, "token revoke [flags] ID", "Revoke an API token (see membersync users token list for ids).", "  membersync users token revoke 3")
	pos, err := parseInterleaved(fs, args, 1, 1)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil {
		fmt.Fprintf(e.stderr, "%q is not a token id\n", pos[0])
		return errUsage
	}
	_, st, err := openStore(ctx, e, *cfgPath, true)
	if err != nil {
		return err
	}
	defer st.Close()
	t, err := st.RevokeAPIToken(ctx, id, st.Now())
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no active token %d", id)
	}
	if err != nil {
		return err
	}
	before, _ := json.Marshal(map[string]string{"name": t.Name, "role": t.Role, "prefix": t.Prefix})
	if _, err := st.AppendAudit(ctx, store.AuditEntry{Actor: cliActor, Action: "token.revoke", Target: fmt.Sprintf("token:%d", t.ID),
		Before: string(before)}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "revoked token %d %q\n", t.ID, t.Name)
	return nil
}

// usersTime prints an instant in UTC, or "never".
func usersTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
