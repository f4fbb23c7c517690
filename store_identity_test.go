package main

import (
	"bytes"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
	"github.com/zoomexporter/zoom_exporter/store"
)

// runToExit runs the binary with args until it exits by itself, and
// returns its exit code and output.
func runToExit(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	p := launchExporter(t, "http", env, args...)
	select {
	case err := <-p.done:
		p.done <- err // for launchExporter's cleanup
		return p.cmd.ProcessState.ExitCode(), p.output.String()
	case <-time.After(60 * time.Second):
		t.Fatalf("the exporter still runs after 60s; output:\n%s", p.output.String())
	}
	return 0, ""
}

// stopExporter stops p with SIGTERM and waits for a clean exit.
func stopExporter(t *testing.T, p *exporterProcess) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", err, p.output.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no exit within 30s of SIGTERM")
	}
}

// accountArgs are zoomArgs with another account id.
func accountArgs(base, accountID string) []string {
	args := zoomArgs(base)
	for i, a := range args {
		if strings.HasPrefix(a, "--zoom.account-id=") {
			args[i] = "--zoom.account-id=" + accountID
		}
	}
	return args
}

// flipEvery changes one byte in the middle of every copy of marker in the
// file (bbolt keeps stale copies of rewritten pages; the live one is among
// them) and reports how many it changed.
func flipEvery(t *testing.T, path, marker string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := 0; ; {
		j := bytes.Index(data[i:], []byte(marker))
		if j < 0 {
			break
		}
		data[i+j+len(marker)/2] ^= 0x04
		i += j + len(marker)
		n++
	}
	if n == 0 {
		t.Fatalf("%q is not in %s", marker, path)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestStoreDamageRefused: a zero-byte store, a store cut to half its size
// and a flipped byte inside a stored value each stop the binary with exit
// code 1 and the usual message (the file, what is wrong, what to do), never
// a Go crash, and the file is left as it was.
func TestStoreDamageRefused(t *testing.T) {
	t.Parallel()
	fake, clock := pinnedFake(zoomfake.Options{Seed: 15, Users: 30, HeavyUserMeetings: 600})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	args := append(zoomArgs(srv.URL), "--scrape.interval=10s")

	// A healthy store, written by the exporter itself.
	healthy := t.TempDir()
	p := startExporter(t, fakeEnv(clock, zoomfake.DefaultClientSecret), append(args, "--storage.path="+healthy)...)
	stopExporter(t, p)
	data, err := os.ReadFile(filepath.Join(healthy, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	email := fake.Users()[3].Email

	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   string
	}{
		{"zero bytes", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, "is empty (0 bytes)"},
		{"truncated to half", func(t *testing.T, path string) {
			if err := os.Truncate(path, int64(len(data)/2)); err != nil {
				t.Fatal(err)
			}
		}, "is cut short"},
		{"flipped byte inside a value", func(t *testing.T, path string) { flipEvery(t, path, email) },
			"/email fails its checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, store.FileName)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, path)
			before, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			code, out := runToExit(t, fakeEnv(clock, zoomfake.DefaultClientSecret), append(args, "--storage.path="+dir)...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			for _, w := range []string{"Cannot open the store", path, "is corrupt", tt.want, "restore it from a backup", "move it aside"} {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine ") {
				t.Errorf("a Go crash:\n%s", out)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Errorf("the refused store was changed: %d bytes, now %d", len(before), len(after))
			}
		})
	}
}

// TestStoreBelongsToOneAccount: the demo's store is refused by a real
// account, taken over with --storage.discard-foreign (whose counters then
// start from zero: nothing of the demo's is merged), and kept by the same
// account and layout across a restart; the demo refuses the real store.
func TestStoreBelongsToOneAccount(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, store.FileName)

	demo := startExporter(t, nil, "--demo", "--storage.path="+dir)
	stopExporter(t, demo)

	const account = "e2e-second-account"
	fake, clock := pinnedFake(zoomfake.Options{Seed: 12, Users: 10, HeavyUserMeetings: 300, AccountID: account})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	args := append(accountArgs(srv.URL, account), "--scrape.interval=10s", "--storage.path="+dir)
	env := func() []string { return fakeEnv(clock, zoomfake.DefaultClientSecret) }

	// Another account on the demo's store: refused.
	code, out := runToExit(t, env(), args...)
	if code != 1 {
		t.Errorf("exit code %d on the demo's store, want 1", code)
	}
	for _, w := range []string{"Cannot open the store", path, "belongs to the built-in demo account", zoomfake.DefaultAccountID, account,
		"new --storage.path", "--storage.discard-foreign"} {
		if !strings.Contains(out, w) {
			t.Errorf("refusal lacks %q:\n%s", w, out)
		}
	}

	// Taken over: exactly the new account's counts, none of the demo's.
	p := startExporter(t, env(), append(args, "--storage.discard-foreign")...)
	if !strings.Contains(p.output.String(), "DISCARDED the store") {
		t.Errorf("the discard is not logged:\n%s", p.output.String())
	}
	before := scrapeMetrics(t, p.base)
	// The counters: what merging the demo's counts would have inflated.
	truth := expected{}
	for name, v := range counterFamilies(groundTruth(fake, clock.Now())) {
		if strings.HasSuffix(name, "_total") {
			truth[name] = v
		}
	}
	if n := compareFamilies(t, before, truth); n > 0 {
		t.Fatalf("%d counter series differ from the new account's ground truth after the discard", n)
	}
	stopExporter(t, p)

	// While it is stopped, a meeting's figure shrinks at Zoom: counting
	// afresh would now give less; a kept store gives what it served.
	host := fake.Users()[2]
	now := clock.Now()
	m := firstMeeting(t, fake, host, time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC), now)
	if m.TotalMinutes < 2 {
		t.Fatalf("meeting %s has %d participant minutes: the test needs 2 or more", m.UUID, m.TotalMinutes)
	}
	fake.UpdateMeeting(m.UUID, func(m *zoomfake.Meeting) { m.TotalMinutes /= 2 })
	key := "type=" + scrape.TypeName(m.Type) + ",user=" + host.Email
	const family = "zoom_meeting_participant_seconds_total"
	if fresh := groundTruth(fake, clock.Now())[family][key]; fresh >= series(before[family])[key] {
		t.Fatalf("counting afresh gives %v, not less than the %v served: the test proves nothing", fresh, series(before[family])[key])
	}

	// The same account and layout, without the flag: its counters kept.
	p = startExporter(t, env(), args...)
	after := scrapeMetrics(t, p.base)
	for name := range truth {
		b, a := series(before[name]), series(after[name])
		for k, v := range b {
			if a[k] != v {
				t.Errorf("%s{%s} = %v after the restart, want the %v kept in the store", name, k, a[k], v)
			}
		}
		if len(a) != len(b) {
			t.Errorf("%s: %d series after the restart, %d before", name, len(a), len(b))
		}
	}
	if strings.Contains(p.output.String(), "DISCARDED") {
		t.Error("the store was discarded again without the flag")
	}
	stopExporter(t, p)

	// The demo never takes over the real account's store, flag or not.
	for _, extra := range [][]string{nil, {"--storage.discard-foreign"}} {
		code, out := runToExit(t, nil, append([]string{"--demo", "--storage.path=" + dir}, extra...)...)
		if code != 1 || !strings.Contains(out, "--demo never writes into a real account's store") || !strings.Contains(out, path) {
			t.Errorf("--demo %v on the real store: exit %d, output:\n%s", extra, code, out)
		}
	}
}
