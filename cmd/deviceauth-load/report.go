package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// stats are a run's counts. The counters cover every cycle, warm-up
// included; the latencies and measured count only the measured window.
type stats struct {
	cycles   atomic.Int64 // cycles finished, failed or not
	approved atomic.Int64 // challenges the device approved
	once     atomic.Int64 // of those, validated once and refused on replay
	replays  atomic.Int64 // replays that validated: exactly-once violations

	mu       sync.Mutex
	errors   map[string]int64
	samples  map[string]string // the first error of each kind
	latency  histogram
	measured int64
}

func (s *stats) init() {
	s.errors = make(map[string]int64)
	s.samples = make(map[string]string)
}

// fail counts err by its kind.
func (s *stats) fail(err error) {
	k := errorKind(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.errors[k] == 0 {
		s.samples[k] = err.Error()
	}
	s.errors[k]++
}

func (s *stats) errorCount() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for _, c := range s.errors {
		n += c
	}
	return n
}

// merge adds a worker's measured latencies.
func (s *stats) merge(h *histogram, measured int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency.addAll(h)
	s.measured += measured
}

// histogram counts durations in buckets 1% wide (log scale from 1 ns to
// over 100 s): quantiles within 1%, in fixed memory whatever the run's
// length.
type histogram struct {
	counts [histBuckets]int64
	n      int64
}

const histBuckets = 2600

var histStep = math.Log(1.01)

func (h *histogram) add(d time.Duration) {
	b := 0
	if d > 1 {
		b = min(int(math.Log(float64(d))/histStep), histBuckets-1)
	}
	h.counts[b]++
	h.n++
}

func (h *histogram) addAll(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the q-quantile (0 < q ≤ 1): the middle of the bucket
// holding the ⌈q·n⌉-th duration; 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for b, c := range h.counts {
		seen += c
		if c > 0 && seen >= rank {
			return time.Duration(math.Exp((float64(b) + 0.5) * histStep))
		}
	}
	return 0
}

// Report is what a run measured.
type Report struct {
	Store     string `json:"store"`
	Kind      string `json:"kind"`
	Method    string `json:"method"`
	Algorithm string `json:"algorithm"`
	Instances int    `json:"instances"`
	// Devices and Concurrency are the run's -devices and -c.
	Devices     int `json:"devices"`
	Concurrency int `json:"concurrency"`
	// Cycles are the cycles begun in the measured window that succeeded;
	// Elapsed is the window plus the time the last of them took to end.
	Cycles          int64         `json:"cycles"`
	Elapsed         time.Duration `json:"elapsedNs"`
	CyclesPerSecond float64       `json:"cyclesPerSecond"`
	// P50 and P99 are the quantiles of a cycle's latency, Track to the
	// first Validate's answer.
	P50 time.Duration `json:"p50Ns"`
	P99 time.Duration `json:"p99Ns"`
	// Errors count the failed cycles by step and kind, warm-up included
	// (cycles cut short by an interrupt are not counted at all);
	// ErrorSamples hold the first message of each kind.
	Errors       map[string]int64  `json:"errors"`
	ErrorSamples map[string]string `json:"errorSamples,omitempty"`
	// Approved challenges, of which ValidatedOnce were valid once and then
	// refused on the other instance; ValidatedTwice counts violations
	// (also counted in Errors). Warm-up included.
	Approved       int64 `json:"approved"`
	ValidatedOnce  int64 `json:"validatedOnce"`
	ValidatedTwice int64 `json:"validatedTwice"`
	// Notified counts the push notifications the Services sent (one per
	// approved challenge, unless a cycle failed or was interrupted after
	// its Track).
	Notified int64 `json:"notified"`
	// Signatures is the device signatures per cycle.
	Signatures int `json:"signaturesPerCycle"`
	// Ceiling is the ES256 sign+verify pairs per second with GOMAXPROCS
	// goroutines, measured before and after the run (before only, when
	// interrupted): all pairs over all the time. CeilingCores is the CPU
	// the process had meanwhile, which is below GOMAXPROCS on a machine
	// shared with other work; PairCPU is the CPU time of one pair.
	Ceiling       float64       `json:"ceilingPairsPerSecond"`
	CeilingBefore float64       `json:"ceilingBefore"`
	CeilingAfter  float64       `json:"ceilingAfter"`
	CeilingCores  float64       `json:"ceilingCores"`
	PairCPU       time.Duration `json:"pairCpuNs"`
	GOMAXPROCS    int           `json:"gomaxprocs"`
	// Ratio is CyclesPerSecond over the ceiling for a cycle of Signatures
	// signatures (Ceiling / Signatures).
	Ratio float64 `json:"ratioToCeiling"`
	// Cores is the CPU the process (both instances and every device, not
	// the store's server) kept busy on average during the window, and
	// CPUPerCycle its CPU time per measured cycle; CryptoShare is the part
	// of CPUPerCycle the cycle's signatures and verifications take
	// (Signatures × PairCPU): the cycle's CPU efficiency, which the load of
	// other processes on the machine does not change. All 0 where the
	// platform does not report CPU time.
	Cores float64 `json:"processCores"`
	// RoundTrips is the store's round trips per cycle, all cycles counted
	// (the replay's Validate is one of them); 0 where not counted
	// (memstore, SQLite).
	RoundTrips  float64       `json:"storeRoundTripsPerCycle"`
	CPUPerCycle time.Duration `json:"cpuPerCycleNs"`
	CryptoShare float64       `json:"cryptoShareOfCPU"`
}

// ErrorCount is the number of failed cycles.
func (r *Report) ErrorCount() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

func (r *runner) report(store string, elapsed, cpu time.Duration, before, after ceilingRun) *Report {
	s := &r.stats
	s.mu.Lock()
	defer s.mu.Unlock()
	rep := &Report{
		Store: store, Kind: r.cfg.Kind, Method: string(r.kind.validated(r.cfg)), Algorithm: r.cfg.Algorithm, Instances: len(r.inst),
		Devices: r.cfg.Devices, Concurrency: r.cfg.Concurrency,
		Cycles: s.measured, Elapsed: elapsed,
		P50: s.latency.quantile(0.5), P99: s.latency.quantile(0.99),
		Errors: maps.Clone(s.errors), ErrorSamples: maps.Clone(s.samples),
		Approved: s.approved.Load(), ValidatedOnce: s.once.Load(), ValidatedTwice: s.replays.Load(),
		Notified: r.notified.Load(), RoundTrips: r.tripsPerCycle,
		Signatures:    r.kind.signatures,
		CeilingBefore: before.rate(), CeilingAfter: after.rate(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	if elapsed > 0 {
		rep.CyclesPerSecond = float64(s.measured) / elapsed.Seconds()
	}
	both := ceilingRun{pairs: before.pairs + after.pairs, elapsed: before.elapsed + after.elapsed, cpu: before.cpu + after.cpu}
	rep.Ceiling = both.rate()
	if rep.Ceiling > 0 {
		rep.Ratio = rep.CyclesPerSecond / (rep.Ceiling / float64(rep.Signatures))
	}
	if both.cpu > 0 && both.pairs > 0 {
		rep.CeilingCores = both.cpu.Seconds() / both.elapsed.Seconds()
		rep.PairCPU = both.cpu / time.Duration(both.pairs)
	}
	if cpu > 0 && elapsed > 0 && s.measured > 0 {
		rep.Cores = cpu.Seconds() / elapsed.Seconds()
		rep.CPUPerCycle = cpu / time.Duration(s.measured)
		rep.CryptoShare = float64(time.Duration(rep.Signatures)*rep.PairCPU) / float64(rep.CPUPerCycle)
	}
	return rep
}

// Write prints the report for a person.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintf(w, "deviceauth-load: %s cycle tracked for %s, %s devices, store %s, %d instances\n", r.Kind, r.Method, r.Algorithm, r.Store, r.Instances)
	fmt.Fprintf(w, "devices        %d, concurrency %d\n", r.Devices, r.Concurrency)
	fmt.Fprintf(w, "cycles         %d in %.2fs: %.1f cycles/s\n", r.Cycles, r.Elapsed.Seconds(), r.CyclesPerSecond)
	fmt.Fprintf(w, "latency        p50 %v, p99 %v (Track to the first Validate)\n", roundDuration(r.P50), roundDuration(r.P99))
	fmt.Fprintf(w, "errors         %d\n", r.ErrorCount())
	for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
		fmt.Fprintf(w, "  %-28s %d  (first: %s)\n", k, r.Errors[k], r.ErrorSamples[k])
	}
	fmt.Fprintf(w, "exactly once   %d approved, %d validated once, %d validated twice (warm-up included)\n",
		r.Approved, r.ValidatedOnce, r.ValidatedTwice)
	if r.RoundTrips > 0 {
		fmt.Fprintf(w, "store          %.2f round trips per cycle (the replay's Validate is one of them)\n", r.RoundTrips)
	}
	if r.Notified > 0 {
		fmt.Fprintf(w, "notified       %d\n", r.Notified)
	}
	fmt.Fprintf(w, "crypto ceiling %.0f ES256 sign+verify pairs/s on %d cores (%.0f before, %.0f after)\n",
		r.Ceiling, r.GOMAXPROCS, r.CeilingBefore, r.CeilingAfter)
	if r.CeilingCores > 0 {
		fmt.Fprintf(w, "               the process had %.2f cores meanwhile; %v of CPU per pair\n", r.CeilingCores, roundDuration(r.PairCPU))
	}
	fmt.Fprintf(w, "ratio          %.3f of the ceiling for a %d-signature cycle (%.1f cycles/s)\n",
		r.Ratio, r.Signatures, r.Ceiling/float64(r.Signatures))
	if r.Cores > 0 {
		fmt.Fprintf(w, "process CPU    %.2f cores busy (instances and devices, not the store's server); %v per cycle, of which the cycle's crypto %.0f%%\n",
			r.Cores, roundDuration(r.CPUPerCycle), 100*r.CryptoShare)
	}
}

// roundDuration rounds d to three significant digits for printing.
func roundDuration(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d
}
