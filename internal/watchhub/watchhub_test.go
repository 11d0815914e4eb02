package watchhub

import (
	"context"
	"testing"
)

func TestHub(t *testing.T) {
	var h Hub
	ctx, cancel := context.WithCancel(context.Background())
	a, _, ok := h.Watch(ctx, "a")
	b, unwatchB, _ := h.Watch(context.Background(), "b")
	if !ok {
		t.Fatal("Watch refused")
	}
	h.Wake("a")
	h.Wake("a") // never blocks: the buffer already holds a wake-up
	if _, open := <-a; !open {
		t.Fatal("a was closed, want woken")
	}
	select {
	case <-b:
		t.Fatal("b woken by a's change")
	default:
	}
	h.WakeAll()
	if _, open := <-b; !open {
		t.Fatal("b not woken by WakeAll")
	}
	<-a // WakeAll woke a too
	cancel()
	if _, open := <-a; open {
		t.Fatal("a still open after its context ended")
	}
	unwatchB()
	if _, open := <-b; open {
		t.Fatal("b still open after unwatch")
	}
	if n := h.Len(); n != 0 {
		t.Fatalf("%d IDs watched after both left, want 0", n)
	}
	c, _, _ := h.Watch(context.Background(), "c")
	h.Close()
	h.Close()
	if _, open := <-c; open {
		t.Fatal("c still open after Close")
	}
	if _, _, ok := h.Watch(context.Background(), "d"); ok {
		t.Fatal("Watch after Close succeeded")
	}
	h.Wake("c") // after Close: nothing to wake, no panic
}

// TestHub_Idle: Idle runs when the last waiter leaves, before that waiter's
// channel closes, and may call the hub; not while waiters are left, nor at
// Close. IDs lists the watched IDs.
func TestHub_Idle(t *testing.T) {
	var h Hub
	var (
		lens       []int // Len seen by each run of Idle
		lastClosed bool  // whether the last waiter's channel was closed when Idle ran
		last       <-chan struct{}
	)
	h.Idle = func() {
		lens = append(lens, h.Len())
		select {
		case _, open := <-last:
			lastClosed = !open
		default:
		}
	}
	a1, unwatchA1, _ := h.Watch(context.Background(), "a")
	ctx, cancel := context.WithCancel(context.Background())
	b, _, _ := h.Watch(ctx, "b")
	if ids := h.IDs(); len(ids) != 2 || !(ids[0] == "a" && ids[1] == "b" || ids[0] == "b" && ids[1] == "a") {
		t.Fatalf("IDs = %v, want a and b", ids)
	}
	unwatchA1()
	<-a1
	if len(lens) != 0 {
		t.Fatalf("Idle ran while a waiter is left: %v", lens)
	}
	last = b
	cancel()
	if _, open := <-b; open {
		t.Fatal("b still open after its context ended")
	}
	if len(lens) != 1 || lens[0] != 0 || lastClosed {
		t.Fatalf("Idle ran %d times (Len %v; the last channel closed first: %v), want once with no waiters, before the channel closed",
			len(lens), lens, lastClosed)
	}
	if ids := h.IDs(); len(ids) != 0 {
		t.Fatalf("IDs = %v after every waiter left", ids)
	}
	h.Watch(context.Background(), "c")
	h.Close()
	if len(lens) != 1 {
		t.Fatalf("Idle ran at Close: %v", lens)
	}
}
