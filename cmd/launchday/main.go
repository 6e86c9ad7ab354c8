// Command launchday is membersync's launch-day benchmark, run by hand (CI does not): it builds
// membersync, migrates a fresh schema on a PostgreSQL server, and runs three `membersync serve`
// processes on it against fake Stripe, Circle and Kit served by this process over real HTTP, with
// the providers' latency (Stripe 150 ms, Circle 200 ms, Kit 150 ms) and rate limits answered as the
// providers answer them (Kit: 120 requests per 60 s per key, 429 "Retry later" without
// Retry-After; Circle: 2,000 per 5 min, 429 without Retry-After; Stripe: 25 per second, 429
// rate_limit). It plays a launch: purchases through Checkout arriving evenly over two minutes, every
// event delivered twice and each send to an instance drawn at random, one instance SIGKILLed in the
// middle and restarted. Then it sends a separate burst of 1,000 new events a second, and prints a
// table: events acknowledged, stored and lost; provider calls per purchase; 429s received; the
// time until the last buyer had Circle access and until the last Kit onboarding, each beside its
// lower bound (calls ÷ the provider's limit); webhook acknowledgement latency; peak RSS per instance.
//
// At Kit's real limit 2,000 purchases take about 50 minutes of Kit calls, so --scale multiplies
// every limit alike, the fakes' and membersync's configured rates (which config accepts above the
// providers' limits only for loopback fakes), and the bounds are at the same scale:
//
//	go run ./cmd/launchday --database-url 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable'
//	go run ./cmd/launchday --database-url '…' --scale 1 --purchases 300   # the real limits
//
// Run it from the repository's root (it runs go build ./cmd/membersync), or give --membersync.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/membersync/membersync/internal/billing/stripetest"
	"github.com/membersync/membersync/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "launchday:", err)
		os.Exit(1)
	}
}

// options are the benchmark's flags.
type options struct {
	databaseURL string
	scale       float64
	purchases   int
	arrival     time.Duration
	instances   int
	kill        bool
	down        time.Duration
	binary      string
	burstRate   int
	burstFor    time.Duration
	timeout     time.Duration
	keep        bool
	seed        uint64
}

func parse(args []string, getenv func(string) string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("launchday", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.databaseURL, "database-url", getenv("TEST_DATABASE_URL"), "PostgreSQL server to run on (a fresh schema is created and dropped); default $TEST_DATABASE_URL")
	fs.Float64Var(&o.scale, "scale", 6, "multiply every rate limit, the fakes' and membersync's configured rates, by this factor")
	fs.IntVar(&o.purchases, "purchases", 2000, "purchases in the launch")
	fs.DurationVar(&o.arrival, "arrival", 2*time.Minute, "the purchases arrive evenly over this time")
	fs.IntVar(&o.instances, "instances", 3, "membersync serve processes")
	fs.BoolVar(&o.kill, "kill", true, "SIGKILL the second instance halfway through the arrivals and restart it")
	fs.DurationVar(&o.down, "down", 5*time.Second, "how long the killed instance stays down")
	fs.StringVar(&o.binary, "membersync", "", "a membersync binary to run instead of building ./cmd/membersync")
	fs.IntVar(&o.burstRate, "burst-rate", 1000, "events a second in the separate ingest burst after the launch (0: none)")
	fs.DurationVar(&o.burstFor, "burst-for", 5*time.Second, "length of the ingest burst")
	fs.DurationVar(&o.timeout, "timeout", 45*time.Minute, "give up waiting for convergence after this long, and report how far it got")
	fs.BoolVar(&o.keep, "keep", false, "keep the schema, the config and the instances' logs")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the delivery order")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.databaseURL == "":
		return o, errors.New("--database-url (or TEST_DATABASE_URL) must name a PostgreSQL server, such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	case o.scale <= 0 || o.purchases <= 0 || o.instances < 1 || o.arrival <= 0:
		return o, errors.New("--scale, --purchases, --instances and --arrival must be positive")
	case o.kill && o.instances < 2:
		return o, errors.New("--kill needs at least two instances")
	}
	return o, nil
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	say := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	l := scaled(o.scale)
	dir, err := os.MkdirTemp("", "launchday-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	bin := o.binary
	if bin == "" {
		say("building membersync…")
		if bin, err = buildMembersync(ctx, dir); err != nil {
			return err
		}
	}
	dbURL, drop, err := newSchema(ctx, o.databaseURL)
	if err != nil {
		return err
	}
	if !o.keep {
		defer drop()
	}
	f := startFakes(l)
	defer f.close()
	yml, err := f.config(dbURL, l)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(dir, "membersync.yaml")
	if err := os.WriteFile(cfgPath, []byte(yml), 0o600); err != nil {
		return err
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range f.Env("", "launchday-signing-key-0123456789abcdef") {
		env = append(env, k+"="+v)
	}
	if err := migrate(ctx, bin, cfgPath, env); err != nil {
		return err
	}
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()

	say("creating %d purchases in the fake Stripe…", o.purchases)
	buyers, events := f.purchases(o.purchases)
	buyerSet := make(map[string]bool, len(buyers))
	for _, b := range buyers {
		buyerSet[b] = true
	}
	insts := make([]*instance, o.instances)
	for i := range insts {
		addr, err := freeAddr()
		if err != nil {
			return err
		}
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("instance-%d.log", i+1)))
		if err != nil {
			return err
		}
		defer logf.Close()
		insts[i] = &instance{n: i + 1, bin: bin, cfgPath: cfgPath, addr: addr, env: env, log: logf}
		if err := insts[i].start(ctx); err != nil {
			return err
		}
		defer insts[i].stop()
	}
	urls := make([]string, len(insts))
	for i, in := range insts {
		urls[i] = in.url()
	}

	rng := rand.New(rand.NewPCG(o.seed, o.seed^0x5eed))
	lt := &launchTraffic{poster: newPoster(f.Stripe.WebhookSecret()), instances: func() []string { return urls },
		rng: rng, senders: 64, ackUntil: o.arrival}
	sends, nEvents := lt.plan(events, o.arrival)
	say("launch: %d purchases, %d events, %d sends over %s to %d instances; scale ×%g", o.purchases, nEvents, len(sends), o.arrival, o.instances, o.scale)
	pids := func() []int {
		var out []int
		for _, in := range insts {
			if in.cmd != nil && in.cmd.Process != nil {
				out = append(out, in.cmd.Process.Pid)
			}
		}
		return out
	}
	cpuStart, _ := sampleCPU(pids())
	start := time.Now()
	runCtx, cancelRun := context.WithTimeout(ctx, o.timeout)
	defer cancelRun()

	killNote := "none"
	if o.kill {
		victim := insts[1]
		go func() {
			select {
			case <-time.After(o.arrival / 2):
			case <-runCtx.Done():
				return
			}
			say("%s: SIGKILL instance %d", since(start), victim.n)
			victim.kill()
			time.Sleep(o.down)
			if err := victim.start(runCtx); err != nil {
				say("restarting instance %d: %v", victim.n, err)
				return
			}
			say("%s: instance %d restarted", since(start), victim.n)
		}()
		killNote = fmt.Sprintf("instance %d SIGKILLed at %s, restarted %s later", victim.n, o.arrival/2, o.down)
	}
	progress := func() string {
		c, k := f.converged(buyerSet)
		_, k429 := f.kit.total()
		_, c429 := f.circle.total()
		_, s429 := f.stripe.total()
		return fmt.Sprintf("%s: %d/%d events acknowledged (%d sends, %d refused); Circle access %d/%d, Kit tagged %d/%d; 429s Kit %d Circle %d Stripe %d",
			since(start), lt.acknowledged(), nEvents, lt.sent.Load(), lt.refused.Load(), c, len(buyers), k, len(buyers), k429, c429, s429)
	}
	tick := time.NewTicker(15 * time.Second)
	defer tick.Stop()
	go func() {
		for {
			select {
			case <-tick.C:
				say("%s", progress())
			case <-runCtx.Done():
				return
			}
		}
	}()

	lt.run(runCtx, start, sends, nEvents)
	delivered := time.Since(start)
	cpuDelivered, _ := sampleCPU(pids())
	say("%s: every event acknowledged", since(start))
	settled := waitConverged(runCtx, f, st, buyerSet)
	converged := time.Since(start)
	say("%s", progress())
	if !settled {
		say("gave up waiting after %s (--timeout): reporting how far it got", o.timeout)
	}

	r := report{opts: o, limits: l, killNote: killNote, buyers: len(buyers), events: nEvents,
		lastArrival: time.Duration(int64(o.arrival) * int64(len(buyers)-1) / int64(len(buyers))),
		deliveredIn: delivered, convergedIn: converged, settled: settled, launchCPU: cpuShare(cpuStart, cpuDelivered)}
	r.acked = lt.acknowledged()
	r.sends, r.refused = lt.sent.Load(), lt.refused.Load()
	r.ackLatency = lt.latencies
	r.stored, r.lost, err = storedAndLost(ctx, st, events, lt)
	if err != nil {
		return err
	}
	r.effects = f.effects(buyers)
	r.start = start
	r.stripe, r.circle, r.kit = f.stripe.counts(), f.circle.counts(), f.kit.counts()
	r.circleDuplicates, r.kitDuplicates = len(f.Circle.DuplicateMembers()), len(f.Kit.DuplicateEntries())

	if o.burstRate > 0 && ctx.Err() == nil {
		var bodies [][]byte
		for _, evs := range events {
			for _, e := range evs {
				bodies = append(bodies, e.JSON)
			}
		}
		// Many customers at once, as on a busy day: not one customer's events back to back.
		rng.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })
		n := int(o.burstFor.Seconds() * float64(o.burstRate))
		renamedBodies, err := renamed(bodies, n)
		if err != nil {
			return err
		}
		say("burst: %d new events at %d/s…", n, o.burstRate)
		before := [3]map[int]int{f.stripe.counts(), f.circle.counts(), f.kit.counts()}
		cpuBefore, _ := sampleCPU(pids())
		r.burstLatency, r.burstFailed = burst(ctx, lt.poster, urls, renamedBodies, o.burstRate, o.burstFor)
		cpuAfter, _ := sampleCPU(pids())
		r.burstCPU = cpuShare(cpuBefore, cpuAfter)
		r.burstSent = n
		bctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		began := time.Now()
		r.burstSettled = waitSettled(bctx, st)
		r.burstSettledIn = time.Since(began)
		cancel()
		for i, m := range []*meter{f.stripe, f.circle, f.kit} {
			r.burstCalls[i], r.burst429[i] = since429(before[i], m.counts())
		}
	}
	for _, in := range insts {
		in.stop()
		r.rss = append(r.rss, in.peakRSS)
	}
	r.logs = logLevels(insts)
	r.write(stdout)
	if o.keep {
		say("kept: %s (config, logs), database %s", dir, dbURL)
	}
	return nil
}

// waitConverged waits until every buyer has Circle access and the active Kit tag and membersync has
// no sync left to run, or ctx ends (false).
func waitConverged(ctx context.Context, f *fakes, st *store.Store, buyers map[string]bool) bool {
	for {
		c, k := f.converged(buyers)
		if c == len(buyers) && k == len(buyers) {
			if ok, _, err := st.Settled(ctx); err == nil && ok {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitSettled waits until membersync has no sync left to run, or ctx ends.
func waitSettled(ctx context.Context, st *store.Store) bool {
	for {
		if ok, _, err := st.Settled(ctx); err == nil && ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func since(t time.Time) string { return time.Since(t).Round(time.Second).String() }

// since429 returns the calls answered between two snapshots of a meter's counts, and the 429s.
func since429(before, after map[int]int) (calls, limited int) {
	for status, n := range after {
		calls += n - before[status]
		if status == http.StatusTooManyRequests {
			limited += n - before[status]
		}
	}
	return calls, limited
}

// storedAndLost counts the launch's events stored in the database, and the acknowledged ones that
// are not (lost).
func storedAndLost(ctx context.Context, st *store.Store, events [][]stripetest.Event, lt *launchTraffic) (stored, lost int, err error) {
	ids, err := st.EventIDs(ctx)
	if err != nil {
		return 0, 0, err
	}
	have := make(map[string]bool, len(ids))
	for _, id := range ids {
		have[id] = true
	}
	i := 0
	for _, evs := range events {
		for _, e := range evs {
			if have[e.ID] {
				stored++
			} else if lt.acked[i].Load() {
				lost++
			}
			i++
		}
	}
	return stored, lost, nil
}
