package main

import (
	"context"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
)

// TestWebAddressInUse: with the listen address taken, the exporter exits 1
// at once, the error naming the address as its last log line, having spent
// no Zoom call. The scraper used to start first: a refresh's token and API
// calls, then ~25 "Refreshing user failed" lines after the error.
func TestWebAddressInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	addr := taken.Addr().String()

	fake, clock := pinnedFake(zoomfake.Options{Seed: 3, Users: 25})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)

	// The deadline only stops a hung exporter; the exit must come first.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args := append([]string{"--web.listen-address=" + addr, "--storage.path=" + t.TempDir()}, zoomArgs(srv.URL)...)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = append(os.Environ(), fakeEnv(clock, zoomfake.DefaultClientSecret)...)
	start := time.Now()
	out, _ := cmd.CombinedOutput()
	t.Logf("exited after %v", time.Since(start).Round(time.Millisecond))
	if ctx.Err() != nil {
		t.Fatalf("still running 20s after start with %s taken:\n%s", addr, out)
	}
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, addr) || !strings.Contains(last, "address already in use") || !strings.Contains(last, "level=error") {
		t.Errorf("last log line %q does not name the taken address %s:\n%s", last, addr, out)
	}
	calls := fake.TokenRequests()
	for _, n := range fake.Calls() {
		calls += n
	}
	if calls != 0 {
		t.Errorf("%d calls to Zoom by an exporter that could not listen (%v)", calls, fake.Calls())
	}
}
