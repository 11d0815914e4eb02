// Command deviceauth-load sizes a deployment: it starts two Service
// instances over one store, each serving its device handler on a loopback
// port, and drives simulated devices through challenge cycles in a closed
// loop for a bounded time. Each cycle is tracked and validated on one
// instance while the device talks to the other (they alternate), and each
// approved challenge must validate exactly once: a replay of its token on
// the other instance that validates counts as an error.
//
// It prints cycles per second, the p50 and p99 latency of a cycle, errors
// by kind, and the ratio to the machine's crypto ceiling measured in the
// same run: ES256 sign+verify pairs per second with every core busy,
// divided by the signatures a cycle makes (its device signs and the server
// verifies each). A progress line goes to standard error once a second.
//
//	go run ./cmd/deviceauth-load -store memstore -c 16 -d 10s
//	go run ./cmd/deviceauth-load -kind inapp -alg EdDSA
//	go run ./cmd/deviceauth-load -store sqlite -fast-commits
//	go run ./cmd/deviceauth-load -store redis://127.0.0.1:6379/0
//	go run ./cmd/deviceauth-load -store cluster:127.0.0.1:7100,127.0.0.1:7101,127.0.0.1:7102
//	go run ./cmd/deviceauth-load -store 'postgres://postgres@127.0.0.1:5432/test?sslmode=disable&pool_max_conns=16'
//
// It never touches existing data: SQLite gets a new file (sqlite:PATH must
// not exist), Redis a fresh key prefix, PostgreSQL a new schema; all are
// removed at the end, also after an interrupt. Rate limits are off (every
// simulated device answers far more often than a person). docs/benchmarks.md
// ("Sizing a deployment") has figures and how to read them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/deviceauth/deviceauth"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, runs the load and prints the report to stdout
// (progress to stderr); it returns the exit status: 0, 1 when the run
// failed, had errors or was interrupted, 2 for flags it refuses.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("deviceauth-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := Config{Progress: stderr}
	method := "push"
	fs.StringVar(&cfg.Store, "store", "memstore", "the store: memstore, sqlite (a temporary file), sqlite:PATH (a new file), redis://…, cluster:HOST:PORT,… or postgres://…")
	fs.BoolVar(&cfg.FastCommits, "fast-commits", false, "SQLite: synchronous=NORMAL (sqlitestore.WithFastCommits) instead of FULL")
	fs.StringVar(&cfg.Kind, "kind", "push", "the cycle: push (Track, signed fetch, signed answer, Validate: 2 signatures) or inapp (Track for in-app verification, signed answer, Validate: 1 signature)")
	fs.StringVar(&method, "method", "push", "push cycle: the method the challenge offers: push (superseding, notification) or device")
	fs.StringVar(&cfg.Algorithm, "alg", "ES256", "the devices' keys: ES256 or EdDSA")
	fs.IntVar(&cfg.Devices, "devices", 1000, "simulated devices, one user each (at least -c)")
	fs.IntVar(&cfg.Concurrency, "c", 16, "cycles in flight at once")
	fs.DurationVar(&cfg.Duration, "d", 10*time.Second, "the measured window")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "cycles before the window: checked, not measured")
	fs.DurationVar(&cfg.Ceiling, "ceiling", 2*time.Second, "how long the crypto ceiling is measured (half before, half after the run)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1", "the loopback address the instances listen on")
	fs.DurationVar(&cfg.CycleTimeout, "cycle-timeout", 30*time.Second, "a cycle taking longer fails with a timeout")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	answer := fs.String("answer", "other", "where the device answers: other (the instance that did not track the challenge) or same (the one that did: an in-app answer is then one store call)")
	quiet := fs.Bool("q", false, "no progress lines")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (instances, devices and ceiling alike) to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "deviceauth-load: unexpected arguments %q\n", fs.Args())
		return 2
	}
	switch method {
	case "push":
		cfg.Method = deviceauth.MethodPush
	case "device":
		cfg.Method = deviceauth.MethodDevice
	default:
		fmt.Fprintf(stderr, "deviceauth-load: -method %q: want push or device\n", method)
		return 2
	}
	switch *answer {
	case "other":
	case "same":
		cfg.AnswerSame = true
	default:
		fmt.Fprintf(stderr, "deviceauth-load: -answer %q: want other or same\n", *answer)
		return 2
	}
	if *quiet {
		cfg.Progress = nil
	}
	if _, _, _, err := cfg.check(); err != nil {
		fmt.Fprintf(stderr, "deviceauth-load: %v\n", err)
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "deviceauth-load: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "deviceauth-load: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		if *asJSON {
			b, _ := json.MarshalIndent(rep, "", "  ")
			fmt.Fprintf(stdout, "%s\n", b)
		} else {
			rep.Write(stdout)
		}
	}
	switch {
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		fmt.Fprintln(stderr, "deviceauth-load: interrupted; the report covers the cycles finished before")
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "deviceauth-load: %v\n", err)
		return 1
	case rep.ErrorCount() > 0:
		return 1
	}
	return 0
}
