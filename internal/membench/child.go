package membench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoomexporter/zoom_exporter/collector"
	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/store"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// A binary started by Measure becomes the scraper before its own main
// runs: the measure must hold nothing but the scraper.
func init() {
	if url := os.Getenv(childEnv); url != "" {
		os.Exit(runChild(url, os.Getenv(childEnv+"_STORE")))
	}
}

// runChild is the scraper's side: it answers each command on stdin with one
// JSON line on stdout.
func runChild(url, storeDir string) int {
	if os.Getenv(childEnv+"_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 4096 // fine enough to tell what holds the heap
	}
	out := json.NewEncoder(os.Stdout)
	fail := func(err error) int {
		out.Encode(childReport{Err: err.Error()})
		return 1
	}
	clock := testenv.NewClock(start)
	var st *store.Store
	var s *scrape.Scraper
	var reg *prometheus.Registry
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		fields := strings.Fields(in.Text())
		if len(fields) == 0 {
			continue
		}
		var rep childReport
		switch fields[0] {
		case "baseline":
		case "refresh":
			if len(fields) != 3 {
				return fail(fmt.Errorf("bad command %q", in.Text()))
			}
			at, err := time.Parse(time.RFC3339Nano, fields[1])
			if err != nil {
				return fail(err)
			}
			scrapes, err := strconv.Atoi(fields[2])
			if err != nil {
				return fail(err)
			}
			clock.Set(at)
			if s == nil {
				if storeDir != "" {
					if st, err = store.Open(storeDir, nil); err != nil {
						return fail(err)
					}
					defer st.Close()
				}
				if s, reg, err = newScraper(url, st, clock); err != nil {
					return fail(err)
				}
			}
			began := time.Now()
			s.Refresh(context.Background())
			rep.Took = time.Since(began)
			for range scrapes {
				if _, err := reg.Gather(); err != nil {
					return fail(err)
				}
			}
			for _, u := range s.Snapshot().Users {
				for _, t := range u.Counters {
					rep.Counted += t.Meetings
				}
			}
		default:
			return fail(fmt.Errorf("bad command %q", in.Text()))
		}
		sample, hwm, err := measure()
		if err != nil {
			return fail(err)
		}
		if path := os.Getenv(childEnv + "_HEAPPROFILE"); path != "" && fields[0] == "refresh" {
			if err := writeHeapProfile(path); err != nil {
				return fail(err)
			}
		}
		counted := rep.Counted
		rep.Sample, rep.Peak = sample, hwm
		rep.Counted = counted
		if st != nil {
			rep.StoreBytes = st.Size()
		}
		if err := out.Encode(rep); err != nil {
			return 1
		}
	}
	return 0
}

// writeHeapProfile writes the live heap, for a look at what holds it.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("heap").WriteTo(f, 0)
}

// newScraper is the exporter's scraper with pacing off: limits far above
// what the fake and the machine can do, a budget that defers nothing.
func newScraper(url string, st *store.Store, clock *testenv.Clock) (*scrape.Scraper, *prometheus.Registry, error) {
	client, err := zoom.NewClient(zoom.ClientConfig{
		APIURL: url + "/v2", TokenURL: url + "/oauth/token",
		AccountID: zoomfake.DefaultAccountID, ClientID: zoomfake.DefaultClientID, ClientSecret: zoomfake.DefaultClientSecret,
		Limits:      zoom.Limits{HeavyPerSecond: 1e6, MediumPerSecond: 1e6, HeavyPerDay: 10_000_000},
		DailyBudget: 10_000_000,
		Now:         clock.Now,
	})
	if err != nil {
		return nil, nil, err
	}
	s, err := scrape.NewScraper(scrape.ScraperConfig{Client: client, Interval: 5 * time.Minute, GracePeriod: time.Hour,
		Concurrency: 4, Now: clock.Now, Store: st})
	if err != nil {
		return nil, nil, err
	}
	e, err := collector.New(s, collector.Options{})
	if err != nil {
		return nil, nil, err
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(e); err != nil {
		return nil, nil, err
	}
	return s, reg, nil
}
