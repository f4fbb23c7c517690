// Package e2e proves the example dashboards, recording rules and alerts
// against the real thing: the exporter binary scraping our fake Zoom server,
// a real Prometheus (Debian package prometheus) loading the example
// configuration, and a real Alertmanager (package prometheus-alertmanager).
// The tests fail, never skip, when those programs are missing: the README
// test command installs them.
package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

// requireProgram returns the path of an external program the tests need, and
// fails the test (never skips it) when it is not installed.
func requireProgram(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed (Debian package %s); the README test command installs it: %v", name, debianPackage, err)
	}
	return path
}

// moduleRoot is the repository root: the tests run in e2e/.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root %s has no go.mod: %v", root, err)
	}
	return root
}

var freeAddress = testenv.FreeAddress

// process is a program started by a test, stopped when the test ends.
type process struct {
	name   string
	base   string // http://host:port
	output *testenv.SyncBuffer
}

// startProcess runs path with args in dir, kills it when the test ends
// (printing its output if the test failed), and waits until GET
// base+readyPath answers 200.
func startProcess(t *testing.T, name, dir, addr, readyPath string, env []string, path string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
	p := &process{name: name, base: "http://" + addr, output: out}
	waitFor(t, 60*time.Second, name+" to be ready", func() (bool, string) {
		select {
		case err := <-done:
			done <- err
			return false, fmt.Sprintf("%s exited: %v\n%s", name, err, out.String())
		default:
		}
		resp, err := http.Get(p.base + readyPath)
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return p
}

// waitFor polls cond until it holds or the timeout passes; cond's message
// says why it does not hold yet and is reported on timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(250 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// getJSON GETs url and decodes the JSON answer into v.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %v", url, err)
	}
	return nil
}

// run runs a program in dir and fails the test with its output when it
// exits non-zero.
func run(t *testing.T, dir, path string, args ...string) string {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(path), strings.Join(args, " "), err, out)
	}
	return string(out)
}
