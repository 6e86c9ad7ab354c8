package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"
)

// report is what one run measured.
type report struct {
	opts     options
	limits   limits
	killNote string

	buyers, events         int
	start                  time.Time
	lastArrival            time.Duration // the last purchase's arrival after the first
	deliveredIn            time.Duration // until every event was acknowledged
	convergedIn            time.Duration // until every buyer converged and nothing was left to sync
	settled                bool
	acked, stored, lost    int
	sends, refused         int64
	ackLatency             []time.Duration
	effects                effects
	stripe, circle, kit    map[int]int // answers by status
	circleDuplicates       int
	kitDuplicates          int
	burstSent, burstFailed int
	burstLatency           []time.Duration
	burstSettled           bool          // the burst's syncs all ran
	burstSettledIn         time.Duration // from the end of the burst
	burstCalls, burst429   [3]int        // Stripe, Circle, Kit calls (and 429s) during the burst and its syncs
	rss                    [][]int
	// launchCPU and burstCPU say who spent the machine's CPU while purchases arrived and during
	// the burst (cpuShare).
	launchCPU, burstCPU string
	logs                []logCount
}

func (r *report) write(w io.Writer) {
	l, o := r.limits, r.opts
	fmt.Fprintf(w, "\nlaunch day: %d purchases over %s, %d instances on PostgreSQL, %s\n", r.buyers, o.arrival, o.instances, r.killNote)
	fmt.Fprintf(w, "scale ×%g: limits Kit %d/min, Circle %d/5 min, Stripe %d/s; membersync configured Kit %d/min, Circle %d/min, Stripe %d/min; latency Stripe %s, Circle %s, Kit %s\n\n",
		o.scale, l.kitPerMin, l.circlePer5Min, l.stripePerS, l.kitRate, l.circleRate, l.stripeRate, stripeLatency, circleLatency, kitLatency)

	circleCalls, circle429 := sum(r.circle)
	kitCalls, kit429 := sum(r.kit)
	stripeCalls, stripe429 := sum(r.stripe)
	n := float64(r.buyers)
	fmt.Fprintln(w, "| measure | figure |")
	fmt.Fprintln(w, "|---|---|")
	row := func(k, format string, a ...any) { fmt.Fprintf(w, "| %s | %s |\n", k, fmt.Sprintf(format, a...)) }
	row("events acknowledged / stored / lost", "%d / %d / %d of %d (%d sends, %d not acknowledged and retried)", r.acked, r.stored, r.lost, r.events, r.sends, r.refused)
	row("calls per purchase: Circle / Kit / Stripe", "%.2f / %.2f / %.2f (%d / %d / %d calls)", float64(circleCalls)/n, float64(kitCalls)/n, float64(stripeCalls)/n, circleCalls, kitCalls, stripeCalls)
	row("429s received during the launch: Kit / Circle / Stripe", "%d / %d / %d", kit429, circle429, stripe429)
	dupCreates, dupAdds := 0, 0
	for _, c := range r.effects.creates {
		if c > 1 {
			dupCreates++
		}
	}
	for _, c := range r.effects.adds {
		if c > 1 {
			dupAdds++
		}
	}
	row("duplicates: Circle members / buyers created twice / added twice; Kit entries", "%d / %d / %d; %d", r.circleDuplicates, dupCreates, dupAdds, r.kitDuplicates)
	circleBound := bound{calls: circleCalls, perMin: l.circlePerMin(), provider: "Circle", lastArrival: r.lastArrival}
	kitBound := bound{calls: kitCalls, perMin: float64(l.kitPerMin), provider: "Kit", lastArrival: r.lastArrival}
	row("last buyer with Circle access", "%s", r.lastOf(r.effects.circleAccess, circleBound))
	row("last Kit onboarding", "%s (onboarding sequence %d/%d, active tag %d/%d)", r.lastOf(r.effects.kitLast, kitBound), r.effects.onboarded, r.buyers, r.effects.tagged, r.buyers)
	row("all events acknowledged / converged and settled", "%s / %s%s", round(r.deliveredIn), round(r.convergedIn), map[bool]string{true: "", false: " (not settled: gave up)"}[r.settled])
	p50, p99, pmax := percentile(r.ackLatency, 50), percentile(r.ackLatency, 99), percentile(r.ackLatency, 100)
	row("webhook ack during the launch, workers running", "p50 %s, p99 %s, max %s (%d acknowledged sends while purchases arrived)", ms(p50), ms(p99), ms(pmax), len(r.ackLatency))
	row("CPU while purchases arrived", "%s", r.launchCPU)
	if r.burstSent > 0 {
		b50, b99, bmax := percentile(r.burstLatency, 50), percentile(r.burstLatency, 99), percentile(r.burstLatency, 100)
		row(fmt.Sprintf("webhook ack, burst of %d/s for %s, workers running", o.burstRate, o.burstFor), "p50 %s, p99 %s, max %s (%d sent, %d not acknowledged; their syncs made %d Stripe, %d Circle, %d Kit calls, of which 429: %d / %d / %d)",
			ms(b50), ms(b99), ms(bmax), r.burstSent, r.burstFailed, r.burstCalls[0], r.burstCalls[1], r.burstCalls[2], r.burst429[0], r.burst429[1], r.burst429[2])
		row("CPU during the burst", "%s", r.burstCPU)
		row("the burst's syncs done", "%s after the burst%s", round(r.burstSettledIn), map[bool]string{true: "", false: " (not settled: gave up)"}[r.burstSettled])
	}
	var rss []string
	for i, ps := range r.rss {
		var parts []string
		for _, kb := range ps {
			parts = append(parts, fmt.Sprintf("%.0f MiB", float64(kb)/1024))
		}
		label := strings.Join(parts, ", then ")
		if len(ps) > 1 {
			label += " (killed and restarted)"
		}
		rss = append(rss, fmt.Sprintf("%d: %s", i+1, label))
	}
	row("peak RSS per instance (VmHWM)", "%s", strings.Join(rss, "; "))
	var logs []string
	for _, lc := range r.logs {
		logs = append(logs, fmt.Sprintf("%d %s %q", lc.n, lc.level, lc.msg))
	}
	if len(logs) > 0 {
		row("warnings and errors logged (all instances)", "%s", strings.Join(logs, "; "))
	}
	fmt.Fprintf(w, "\nanswers by status during the launch (0: the caller went away): Kit %v, Circle %v, Stripe %v\n", r.kit, r.circle, r.stripe)
}

// bound is the lower bound of the time until the last buyer reached a state: the later of the last
// purchase's arrival and the provider calls made divided by the provider's limit.
type bound struct {
	calls       int
	perMin      float64
	provider    string
	lastArrival time.Duration
}

func (b bound) at() time.Duration {
	return max(b.lastArrival, time.Duration(float64(b.calls)/b.perMin*float64(time.Minute)))
}

func (b bound) String() string {
	byRate := time.Duration(float64(b.calls) / b.perMin * float64(time.Minute))
	return fmt.Sprintf("bound %s = max(last purchase at %s, %d %s calls ÷ %g/min = %s)", round(b.at()), round(b.lastArrival), b.calls, b.provider, b.perMin, round(byRate))
}

// lastOf describes when the last buyer reached a state, against the lower bound.
func (r *report) lastOf(at map[string]time.Time, b bound) string {
	var last time.Time
	for _, t := range at {
		if t.After(last) {
			last = t
		}
	}
	if len(at) < r.buyers || last.IsZero() {
		return fmt.Sprintf("not reached: %d/%d buyers; %s", len(at), r.buyers, b)
	}
	took := last.Sub(r.start)
	return fmt.Sprintf("%s after the first purchase, ×%.2f the %s", round(took), took.Seconds()/b.at().Seconds(), b)
}

func sum(m map[int]int) (calls, limited int) {
	for s, n := range m {
		calls += n
		if s == http.StatusTooManyRequests {
			limited += n
		}
	}
	return calls, limited
}

func round(d time.Duration) string { return d.Round(time.Second).String() }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// logCount is how many lines of one level and message the instances logged.
type logCount struct {
	level, msg string
	n          int
}

// logLevels counts the WARN and ERROR lines of the instances' JSON logs by message, most first.
func logLevels(insts []*instance) []logCount {
	counts := map[[2]string]int{}
	for _, in := range insts {
		f, err := os.Open(in.log.Name())
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var line struct {
				Level string `json:"level"`
				Msg   string `json:"msg"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil || (line.Level != "WARN" && line.Level != "ERROR") {
				continue
			}
			counts[[2]string{line.Level, line.Msg}]++
		}
		f.Close()
	}
	var out []logCount
	for k, n := range counts {
		out = append(out, logCount{level: k[0], msg: k[1], n: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n > out[j].n })
	if len(out) > 8 {
		out = out[:8]
	}
	return out
}
