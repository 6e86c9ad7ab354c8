package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// cpuSample is where the machine's CPU time had gone at one instant, in clock ticks (USER_HZ):
// busy and total time of the whole machine, and the time of each group of processes the run
// involves. A difference of two samples says who spent the CPU between them: the burst's latency
// on a small machine is mostly a matter of who else is running.
type cpuSample struct {
	busy, total uint64
	// groups: "membersync" (the serve instances), "postgres", "launchday" (this process: the load
	// generator and the fakes).
	groups map[string]uint64
}

// sampleCPU reads /proc. pids are the serve instances' processes.
func sampleCPU(pids []int) (cpuSample, error) {
	s := cpuSample{groups: map[string]uint64{}}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line)) // cpu user nice system idle iowait irq softirq steal …
	if len(f) < 8 || f[0] != "cpu" {
		return s, fmt.Errorf("unexpected /proc/stat: %q", line)
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		if i >= 8 {
			break // guest time is already counted in user
		}
		s.total += n
		if i != 3 && i != 4 { // idle, iowait
			s.busy += n
		}
	}
	for _, pid := range pids {
		s.groups["membersync"] += procTicks(pid)
	}
	s.groups["launchday"] = procTicks(os.Getpid())
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		s.groups["postgres"] += procTicks(pid)
	}
	return s, nil
}

// procTicks is a process's user and system time (/proc/PID/stat fields 14 and 15); 0 when it is gone.
func procTicks(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces: the fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:])) // state ppid … utime is the 12th after the name
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return u + st
}

// cpuShare words the CPU spent between two samples: how busy the machine was, and who spent it,
// each as a share of the machine's time (100 % is every core busy).
func cpuShare(a, b cpuSample) string {
	total := float64(b.total - a.total)
	if total <= 0 {
		return "not measured"
	}
	pct := func(d uint64) float64 { return 100 * float64(d) / total }
	busy := b.busy - a.busy
	var named uint64
	parts := []string{}
	for _, g := range []string{"membersync", "postgres", "launchday"} {
		d := b.groups[g] - a.groups[g]
		if b.groups[g] < a.groups[g] {
			d = 0 // a process ended between the samples
		}
		named += d
		parts = append(parts, fmt.Sprintf("%s %.0f %%", g, pct(d)))
	}
	other := uint64(0)
	if busy > named {
		other = busy - named
	}
	parts = append(parts, fmt.Sprintf("other processes %.0f %%", pct(other)))
	return fmt.Sprintf("machine %.0f %% busy: %s", pct(busy), strings.Join(parts, ", "))
}
