package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// buildMembersync builds the membersync binary into dir (go build ./cmd/membersync, from the
// module's root, which must be the working directory).
func buildMembersync(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "membersync")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/membersync")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building membersync (run launchday from the repository's root): %w", err)
	}
	return bin, nil
}

// newSchema creates a fresh schema on the PostgreSQL server of base and returns a database URL that
// uses it, and a function that drops it.
func newSchema(ctx context.Context, base string) (string, func(), error) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	schema := "launchday_" + hex.EncodeToString(b)
	admin := withoutPoolParams(base)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to --database-url: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return "", nil, fmt.Errorf("creating schema %s: %w", schema, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	drop := func() {
		conn, err := pgx.Connect(context.Background(), admin)
		if err != nil {
			return
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	}
	return u.String(), drop, nil
}

// withoutPoolParams drops pgxpool's parameters (pool_max_conns, …) from a database URL, which a
// single connection refuses.
func withoutPoolParams(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return dsn
	}
	q := u.Query()
	for k := range q {
		if strings.HasPrefix(k, "pool_") {
			q.Del(k)
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// instance is one `membersync serve` process; restart starts it again on the same address.
type instance struct {
	n       int
	bin     string
	cfgPath string
	addr    string
	env     []string
	log     *os.File

	cmd *exec.Cmd
	// peakRSS holds VmHWM of each process that ran as this instance (KiB), read before it stopped.
	peakRSS []int
}

func (in *instance) url() string { return "http://" + in.addr }

// start runs serve and waits until /readyz answers 200.
func (in *instance) start(ctx context.Context) error {
	cmd := exec.Command(in.bin, "serve", "--config", in.cfgPath, "--listen", in.addr)
	cmd.Env = in.env
	cmd.Stdout, cmd.Stderr = in.log, in.log
	if err := cmd.Start(); err != nil {
		return err
	}
	in.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("instance %d exited at start (%v); see %s", in.n, err, in.log.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		resp, err := http.Get(in.url() + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// Keep reaping the process in the background.
				go func() { <-exited }()
				return nil
			}
		}
	}
	_ = cmd.Process.Kill()
	return fmt.Errorf("instance %d not ready after 60 s; see %s", in.n, in.log.Name())
}

// kill SIGKILLs the process after reading its peak RSS.
func (in *instance) kill() {
	in.peakRSS = append(in.peakRSS, vmHWM(in.cmd.Process.Pid))
	_ = in.cmd.Process.Signal(syscall.SIGKILL)
	for range 100 {
		if in.cmd.Process.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop reads the peak RSS and stops the process gracefully (SIGTERM), killing it after 30 s.
func (in *instance) stop() {
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	in.peakRSS = append(in.peakRSS, vmHWM(in.cmd.Process.Pid))
	p := in.cmd.Process
	in.cmd = nil
	_ = p.Signal(syscall.SIGTERM)
	for range 1500 {
		if p.Signal(syscall.Signal(0)) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = p.Kill()
}

// vmHWM reads a process's peak resident set size (VmHWM in /proc/PID/status) in KiB; 0 when it
// cannot be read.
func vmHWM(pid int) int {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return n
		}
	}
	return 0
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// migrate runs `membersync migrate` once, before the instances start together.
func migrate(ctx context.Context, bin, cfgPath string, env []string) error {
	cmd := exec.CommandContext(ctx, bin, "migrate", "--config", cfgPath)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New("membersync migrate: " + strings.TrimSpace(string(out)))
	}
	return nil
}
