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
