package drift_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/membersync/membersync/internal/circle"
	"github.com/membersync/membersync/internal/config"
	"github.com/membersync/membersync/internal/drift"
	"github.com/membersync/membersync/internal/kit"
	"github.com/membersync/membersync/internal/store/storetest"
)

// instant serves the two list endpoints a sweep reads, in Circle's and Kit's shapes, straight from
// slices: each page costs only its own records. (circletest and kittest rebuild and sort whole
// lists per page and seed members one linear search at a time, so at 100,000 people they would
// measure themselves rather than the sweep.)
type instant struct {
	groups map[int64][]int64 // access group → community member ids
	tags   map[int64][]int64 // tag → subscriber ids
	emails map[int64]string  // subscriber id → email
	circle atomic.Int64
	kit    atomic.Int64
}

func (f *instant) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/admin/v2/access_groups/{id}/community_members", func(w http.ResponseWriter, r *http.Request) {
		f.circle.Add(1)
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		all := f.groups[id]
		lo := min((page-1)*per, len(all))
		hi := min(lo+per, len(all))
		type rec struct {
			ID                int64  `json:"id"`
			AccessGroupID     int64  `json:"access_group_id"`
			CommunityMemberID int64  `json:"community_member_id"`
			CreatedAt         string `json:"created_at"`
		}
		recs := make([]rec, 0, hi-lo)
		for i, m := range all[lo:hi] {
			recs = append(recs, rec{ID: int64(lo + i + 1), AccessGroupID: id, CommunityMemberID: m, CreatedAt: "2026-01-01T00:00:00.000Z"})
		}
		writeJSON(w, map[string]any{"page": page, "per_page": per, "has_next_page": hi < len(all), "count": len(all),
			"page_count": (len(all) + per - 1) / per, "records": recs})
	})
	mux.HandleFunc("GET /v4/tags/{tag_id}/subscribers", func(w http.ResponseWriter, r *http.Request) {
		f.kit.Add(1)
		id, _ := strconv.ParseInt(r.PathValue("tag_id"), 10, 64)
		per, _ := strconv.Atoi(r.URL.Query().Get("per_page"))
		lo := 0
		if c := r.URL.Query().Get("after"); c != "" {
			b, _ := base64.StdEncoding.DecodeString(c)
			lo, _ = strconv.Atoi(string(b))
		}
		all := f.tags[id]
		lo = min(lo, len(all))
		hi := min(lo+per, len(all))
		type sub struct {
			ID    int64  `json:"id"`
			Email string `json:"email_address"`
			State string `json:"state"`
		}
		subs := make([]sub, 0, hi-lo)
		for _, s := range all[lo:hi] {
			subs = append(subs, sub{ID: s, Email: f.emails[s], State: "active"})
		}
		var end *string
		if hi > lo {
			c := base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(hi)))
			end = &c
		}
		writeJSON(w, map[string]any{"subscribers": subs, "pagination": map[string]any{
			"has_previous_page": lo > 0, "has_next_page": hi < len(all), "start_cursor": nil, "end_cursor": end, "per_page": per}})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// peak samples the heap in use until stopped.
type peak struct {
	stop chan struct{}
	done sync.WaitGroup
	max  uint64
}

func watchHeap() *peak {
	p := &peak{stop: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		var ms runtime.MemStats
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			p.max = max(p.max, ms.HeapInuse)
			select {
			case <-p.stop:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *peak) end() uint64 {
	close(p.stop)
	p.done.Wait()
	return p.max
}

// BenchmarkSweep100k sweeps 100,000 people (one access group and one tag each, 0.1% drifted)
// against instant fakes over loopback HTTP, with the production clients unthrottled. It reports
// the calls made and the peak heap in use during the sweep.
func BenchmarkSweep100k(b *testing.B) {
	const n = 100_000
	for _, dialect := range storetest.Dialects() {
		b.Run(dialect, func(b *testing.B) {
			const group, other, tag, otherTag = 11, 12, 2001, 2002
			f := &instant{groups: map[int64][]int64{}, tags: map[int64][]int64{}, emails: map[int64]string{}}
			people := make([]seeded, n)
			for i := range people {
				email := fmt.Sprintf("member%06d@example.com", i)
				mid, sid := int64(1_000_000+i), int64(5_000_000+i)
				people[i] = seeded{email: email, memberID: mid, subID: sid, groups: []int64{group}, tags: []int64{tag}}
				f.emails[sid] = email
				if i%1000 == 7 {
					continue
				}
				f.groups[group] = append(f.groups[group], mid)
				f.tags[tag] = append(f.tags[tag], sid)
			}
			st := storetest.Open(b, dialect)
			seedPeople(b, st, people)
			srv := httptest.NewServer(f.handler())
			defer srv.Close()
			plans := []config.Plan{
				{ID: "pro", Circle: config.PlanCircle{AccessGroups: []int64{group}}, Kit: config.PlanKit{Tags: map[string]int64{"active": tag}}},
				{ID: "course", Circle: config.PlanCircle{AccessGroups: []int64{other}}, Kit: config.PlanKit{Tags: map[string]int64{"active": otherTag}}},
			}
			sw := &drift.Sweeper{Store: st, Plans: plans, Log: slog.New(slog.DiscardHandler),
				Circle: circle.New(circle.Config{BaseURL: srv.URL, Token: "t", RequestsPerMinute: 6_000_000}),
				Kit:    kit.New(kit.Config{BaseURL: srv.URL, APIKey: "k", RequestsPerMinute: 6_000_000})}

			runtime.GC()
			var base runtime.MemStats
			runtime.ReadMemStats(&base)
			f.circle.Store(0)
			f.kit.Store(0)
			p := watchHeap()
			var rep drift.Report
			for b.Loop() {
				var err error
				if rep, err = sw.Run(b.Context(), drift.Options{}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			top := p.end()
			if rep.People != n || rep.Drifted != n/1000 {
				b.Fatalf("people %d drifted %d, want %d %d", rep.People, rep.Drifted, n, n/1000)
			}
			b.ReportMetric(float64(f.circle.Load())/float64(b.N), "circle-calls/op")
			b.ReportMetric(float64(f.kit.Load())/float64(b.N), "kit-calls/op")
			b.ReportMetric(float64(top)/(1<<20), "peak-heap-MB")
			b.ReportMetric(float64(base.HeapInuse)/(1<<20), "base-heap-MB")
		})
	}
}
