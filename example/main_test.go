//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain_GoRunServesTheSignInPage runs the README's first command, go run
// ./example, as a newcomer would (from the module root), and stops it with
// SIGINT.
func TestMain_GoRunServesTheSignInPage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the example with go run")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	root, err := filepath.Abs("..") // this test runs in example/
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goTool, "run", "./example", "-addr", "127.0.0.1:0", "-store", "memory")
	cmd.Dir = root
	// Its own process group, so SIGINT reaches the example and not only the
	// go command (which does not forward signals).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr lockedBuffer // read while the process may still write
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // only the group this test started
			<-exited
		}
	})

	urls := make(chan string, 1)
	listening := regexp.MustCompile(`^deviceauth example listening on (http://localhost:[0-9]+)$`)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if m := listening.FindStringSubmatch(s.Text()); m != nil {
				urls <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
		exited <- cmd.Wait()
	}()

	var base string
	select {
	case base = <-urls:
	case err := <-exited:
		stopped = true
		t.Fatalf("go run ./example exited before listening: %v\nstderr:\n%s", err, stderr.String())
	case <-time.After(4 * time.Minute): // building on a busy machine
		t.Fatalf("go run ./example printed no listening line within 4 minutes")
	}

	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `<form method="post" action="/signin">`) {
		t.Fatalf("GET /: %d, want 200 with the sign-in form; body:\n%s", resp.StatusCode, body)
	}

	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		// The go command itself exits 1 whenever it was interrupted, whatever
		// the program did; the example's own clean exit is its last line.
		stopped = true
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGINT\nstderr:\n%s", stderr.String())
	}
	if got := stderr.String(); !strings.HasSuffix(got, "deviceauth example: shutting down\ndeviceauth example: stopped\n") {
		t.Fatalf("stderr does not end with a clean shutdown:\n%s", got)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A port already in use is named with the flag that changes it.
func TestServe_PortInUseNamesTheAddrFlag(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	err = serve(context.Background(), taken.Addr().String(), "memory", "")
	if err == nil || !strings.HasPrefix(err.Error(), "-addr "+taken.Addr().String()+": the port is already in use") ||
		!strings.Contains(err.Error(), "-addr 127.0.0.1:0") {
		t.Fatalf("serve on a taken port: %v; want an error naming -addr and how to pick a free port", err)
	}
}
