package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// ceilingRun is one measurement of the crypto ceiling.
type ceilingRun struct {
	pairs   int64
	elapsed time.Duration
	cpu     time.Duration // the process's CPU time meanwhile; 0 where unknown
}

// rate is the pairs per second.
func (c ceilingRun) rate() float64 {
	if c.elapsed <= 0 {
		return 0
	}
	return float64(c.pairs) / c.elapsed.Seconds()
}

// measureCeiling runs GOMAXPROCS goroutines of ES256 sign+verify pairs
// (one ecdsa.Sign and one ecdsa.Verify over SHA-256, as
// BenchmarkBaselineSignVerify) for d: the machine's crypto ceiling with
// all cores busy.
func measureCeiling(ctx context.Context, d time.Duration) ceilingRun {
	n := runtime.GOMAXPROCS(0)
	var pairs atomic.Int64
	var wg sync.WaitGroup
	cpu := processCPU()
	start := time.Now()
	deadline := start.Add(d)
	for range n {
		wg.Go(func() { pairs.Add(signVerifyUntil(ctx, deadline)) })
	}
	wg.Wait()
	return ceilingRun{pairs: pairs.Load(), elapsed: time.Since(start), cpu: processCPU() - cpu}
}

// signVerifyUntil signs and verifies with ES256 until deadline (or ctx's
// end) and returns the pairs done.
func signVerifyUntil(ctx context.Context, deadline time.Time) int64 {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	msg := make([]byte, 256)
	var n int64
	for ; time.Now().Before(deadline) && ctx.Err() == nil; n++ {
		h := sha256.Sum256(msg)
		sig, err := ecdsa.SignASN1(rand.Reader, key, h[:])
		if err != nil {
			panic(err)
		}
		h2 := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(&key.PublicKey, h2[:], sig) {
			panic("deviceauth-load: a signature did not verify")
		}
	}
	return n
}
