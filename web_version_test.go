package main

import (
	"context"
	"debug/buildinfo"
	"os"
	"os/exec"
	"regexp"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/version"
)

// TestCommandLineVersion: --version of a binary built without -ldflags (go
// build, go run, go install) used to print "version  (branch: ,
// revision: )". It now tells what the toolchain stamped in the binary.
func TestCommandLineVersion(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "--version")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("--version: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`zoom_exporter, version (\S*) \(branch: [^,]*, revision: (\S*)\)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("no version line in:\n%s", out)
	}
	gotVersion, gotRevision := m[1], m[2]
	if gotVersion == "" {
		t.Errorf("empty version:\n%s", out)
	}
	// What the toolchain stamped, read from the binary itself.
	bi, err := buildinfo.ReadFile(binary)
	if err != nil {
		t.Fatal(err)
	}
	if v := bi.Main.Version; v != "" && gotVersion != v {
		t.Errorf("version %q, want the module version %q the binary carries", gotVersion, v)
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && !strings.HasPrefix(gotRevision, s.Value) {
			t.Errorf("revision %q, want the VCS revision %q the binary carries", gotRevision, s.Value)
		}
	}
	t.Logf("%s", out)
}

// TestVersionFromBuildInfo: the fallback fills only what -ldflags left
// empty. It sets prometheus/common/version's globals: not parallel.
func TestVersionFromBuildInfo(t *testing.T) {
	saved := [3]string{version.Version, version.Revision, version.BuildDate}
	t.Cleanup(func() { version.Version, version.Revision, version.BuildDate = saved[0], saved[1], saved[2] })
	stamped := &debug.BuildInfo{
		Main: debug.Module{Path: "github.com/zoomexporter/zoom_exporter", Version: "v0.3.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.time", Value: "2026-11-24T20:00:00Z"}, {Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name    string
		ldflags [3]string // Version, Revision, BuildDate set by -ldflags -X
		bi      *debug.BuildInfo
		want    [3]string
	}{
		{"go install of a tag, modified checkout", [3]string{}, stamped, [3]string{"v0.3.0", "0123abcd-modified", "2026-11-24T20:00:00Z"}},
		{"release build keeps its ldflags", [3]string{"1.0.0", "feedbeef", "20261124-20:00:00"}, stamped, [3]string{"1.0.0", "feedbeef", "20261124-20:00:00"}},
		{"no VCS, no module version", [3]string{}, &debug.BuildInfo{}, [3]string{"(devel)", "", ""}},
		{"clean checkout", [3]string{}, &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123abcd"}, {Key: "vcs.modified", Value: "false"}}},
			[3]string{"(devel)", "0123abcd", ""}},
	}
	for _, tt := range tests {
		version.Version, version.Revision, version.BuildDate = tt.ldflags[0], tt.ldflags[1], tt.ldflags[2]
		versionFromBuildInfo(tt.bi)
		if got := [3]string{version.Version, version.Revision, version.BuildDate}; got != tt.want {
			t.Errorf("%s: version, revision, date = %q, want %q", tt.name, got, tt.want)
		}
	}
}
