package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// writeYAML writes v as YAML to p.
func writeYAML(t *testing.T, p string, v any) {
	t.Helper()
	data, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// dockerfileVersionFields returns the version fields the Dockerfile's build
// sets, the reference for the Makefile and the release configuration.
func dockerfileVersionFields(t *testing.T) []string {
	t.Helper()
	stages, err := parseDockerfile(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := findDockerBuild(stages)
	if err != nil {
		t.Fatal(err)
	}
	return sortedKeys(versionLDFlags(b.run.args))
}

func TestMakefile(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(repoPath("Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, target := range []string{"build", "test", "lint", "docker"} {
		if !regexp.MustCompile(`(?m)^` + target + `:`).MatchString(text) {
			t.Errorf("Makefile: no %s target", target)
		}
	}
	// make test runs what CI runs: the README's test command, through .ci/run.
	if !regexp.MustCompile(`(?m)^test:.*\n\t.*\.ci/run`).MatchString(text) {
		t.Errorf("Makefile: the test target does not run .ci/run")
	}
	// The same version variables as the Dockerfile.
	pkg := regexp.MustCompile(`(?m)^VERSION_PKG\s*:?=\s*(\S+)`).FindStringSubmatch(text)
	if pkg == nil || pkg[1] != "github.com/prometheus/common/version" {
		t.Fatalf("Makefile: VERSION_PKG is not github.com/prometheus/common/version")
	}
	expanded := strings.ReplaceAll(text, "$(VERSION_PKG)", pkg[1])
	if got, want := sortedKeys(versionLDFlags(expanded)), dockerfileVersionFields(t); !slices.Equal(got, want) {
		t.Errorf("Makefile sets version fields %v, the Dockerfile %v", got, want)
	}
	build := regexp.MustCompile(`(?m)^build:.*\n\t(.*)`).FindStringSubmatch(text)
	if build == nil || !strings.Contains(build[1], "CGO_ENABLED=0") || !strings.Contains(build[1], "-trimpath") {
		t.Errorf("Makefile: build does not build as the Dockerfile does (CGO_ENABLED=0, -trimpath)")
	}
}

// goreleaserConfig is the part of .goreleaser.yml the tests read.
type goreleaserConfig struct {
	Version int      `yaml:"version"`
	Env     []string `yaml:"env"`
	Builds  []struct {
		Main    string   `yaml:"main"`
		Binary  string   `yaml:"binary"`
		Env     []string `yaml:"env"`
		GOOS    []string `yaml:"goos"`
		GOARCH  []string `yaml:"goarch"`
		Flags   []string `yaml:"flags"`
		LDFlags []string `yaml:"ldflags"`
	} `yaml:"builds"`
	Archives []struct {
		Files []any `yaml:"files"` // a glob, or {src: glob, ...}
	} `yaml:"archives"`
}

func TestGoreleaser(t *testing.T) {
	t.Parallel()
	var cfg goreleaserConfig
	decodeYAMLFile(t, repoPath(".goreleaser.yml"), &cfg)
	if cfg.Version != 2 || len(cfg.Builds) != 1 {
		t.Fatalf(".goreleaser.yml: want version: 2 and one build")
	}
	b := cfg.Builds[0]
	for _, goos := range []string{"linux", "darwin", "windows"} {
		if !slices.Contains(b.GOOS, goos) {
			t.Errorf(".goreleaser.yml: goos %v lacks %s", b.GOOS, goos)
		}
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if !slices.Contains(b.GOARCH, arch) {
			t.Errorf(".goreleaser.yml: goarch %v lacks %s", b.GOARCH, arch)
		}
	}
	if !slices.Contains(b.Env, "CGO_ENABLED=0") || !slices.Contains(b.Flags, "-trimpath") {
		t.Errorf(".goreleaser.yml: want env CGO_ENABLED=0 and flag -trimpath, as the Dockerfile")
	}
	if b.Binary != "zoom_exporter" {
		t.Errorf(".goreleaser.yml: binary %q, want zoom_exporter", b.Binary)
	}
	if got, want := sortedKeys(versionLDFlags(strings.Join(b.LDFlags, " "))), dockerfileVersionFields(t); !slices.Equal(got, want) {
		t.Errorf(".goreleaser.yml sets version fields %v, the Dockerfile %v", got, want)
	}
}

// archiveGlobs returns the source globs of an archive's files list.
func archiveGlobs(t *testing.T, files []any) []string {
	t.Helper()
	var globs []string
	for _, f := range files {
		switch v := f.(type) {
		case string:
			globs = append(globs, v)
		case map[string]any:
			src, _ := v["src"].(string)
			if src == "" {
				t.Errorf(".goreleaser.yml: archive file %v has no src", v)
			}
			globs = append(globs, src)
		default:
			t.Errorf(".goreleaser.yml: archive file %v: want a glob or {src: glob}", f)
		}
	}
	return globs
}

// releaseArchiveContents are what every release archive must carry besides
// the binary: the licence, the docs, every dashboard, every file of
// examples/prometheus/ (the rules and alerts that prometheus.yml loads,
// with their promtool tests), the Alertmanager routing the alerts are
// written for, and the systemd unit.
func releaseArchiveContents(t *testing.T) []string {
	t.Helper()
	want := []string{"LICENSE", "README.md", "CHANGELOG.md"}
	for _, dir := range []string{"dashboards", "examples/prometheus", "examples/alertmanager", "examples/systemd"} {
		entries, err := os.ReadDir(repoPath(dir))
		if err != nil {
			t.Fatal(err)
		}
		n := len(want)
		for _, e := range entries {
			if e.Type().IsRegular() {
				want = append(want, dir+"/"+e.Name())
			}
		}
		if len(want) == n {
			t.Fatalf("%s: no files", dir)
		}
	}
	var cfg prometheusConfig
	decodeYAMLFile(t, repoPath("examples", "prometheus", "prometheus.yml"), &cfg)
	if len(cfg.RuleFiles) == 0 {
		t.Fatalf("examples/prometheus/prometheus.yml: no rule_files")
	}
	for _, f := range cfg.RuleFiles {
		if p := "examples/prometheus/" + f; !slices.Contains(want, p) {
			t.Fatalf("examples/prometheus/prometheus.yml loads %s, which is not a file there", f)
		}
	}
	return want
}

// TestGoreleaserArchives: the archives ship the licence, the dashboards and
// the Prometheus rules and alerts, not just the binary and the README.
func TestGoreleaserArchives(t *testing.T) {
	t.Parallel()
	var cfg goreleaserConfig
	decodeYAMLFile(t, repoPath(".goreleaser.yml"), &cfg)
	if len(cfg.Archives) == 0 {
		t.Fatalf(".goreleaser.yml: no archives")
	}
	want := releaseArchiveContents(t)
	for i, a := range cfg.Archives {
		shipped := map[string]bool{}
		for _, g := range archiveGlobs(t, a.Files) {
			matches, err := filepath.Glob(repoPath(filepath.FromSlash(g)))
			if err != nil {
				t.Errorf(".goreleaser.yml archive %d: glob %q: %v", i, g, err)
			}
			if len(matches) == 0 {
				t.Errorf(".goreleaser.yml archive %d: glob %q matches no file", i, g)
			}
			for _, m := range matches {
				rel, err := filepathRel(root, m)
				if err != nil {
					t.Fatal(err)
				}
				shipped[rel] = true
			}
		}
		var missing []string
		for _, f := range want {
			if !shipped[f] {
				missing = append(missing, f)
			}
		}
		if len(missing) > 0 {
			t.Errorf(".goreleaser.yml archive %d does not ship %v (it ships %v)", i, missing, sortedKeys(shipped))
		}
	}
}

// minReleaseGo is the oldest Go a release may be built with: go1.26.9 fixes
// eleven standard library vulnerabilities that govulncheck finds reached by
// this code (net/http, crypto/tls, html/template, mime/multipart), and
// go1.26.10 GO-2026-6809 (crypto/x509). Raise it with the next such fix.
const minReleaseGo = "1.26.10"

var goVersionRe = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`)

// goVersion parses a Go release version such as 1.26.10.
func goVersion(v string) ([3]int, error) {
	var out [3]int
	m := goVersionRe.FindStringSubmatch(v)
	if m == nil {
		return out, fmt.Errorf("%q is not a Go release version such as %s", v, minReleaseGo)
	}
	for i := range out {
		out[i], _ = strconv.Atoi(m[i+1])
	}
	return out, nil
}

func goVersionLess(a, b [3]int) bool { return slices.Compare(a[:], b[:]) < 0 }

func TestGoVersionLess(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		less bool
	}{
		{"1.26.8", "1.26.10", true},
		{"1.26.9", "1.26.10", true},
		{"1.26.10", "1.26.10", false},
		{"1.26.11", "1.26.10", false},
		{"1.27.0", "1.26.10", false},
		{"1.25.12", "1.26.0", true},
	} {
		a, err := goVersion(tc.a)
		if err != nil {
			t.Fatal(err)
		}
		b, err := goVersion(tc.b)
		if err != nil {
			t.Fatal(err)
		}
		if got := goVersionLess(a, b); got != tc.less {
			t.Errorf("goVersionLess(%s, %s) = %v, want %v", tc.a, tc.b, got, tc.less)
		}
	}
	for _, bad := range []string{"1.26", "go1.26.10", "1.26.10rc1", "latest", ""} {
		if _, err := goVersion(bad); err == nil {
			t.Errorf("goVersion(%q): no error", bad)
		}
	}
}

// TestReleaseGoVersion: the container image and the release archives are
// built with one Go patch release, no older than minReleaseGo, and the
// README names it.
func TestReleaseGoVersion(t *testing.T) {
	t.Parallel()
	stages, err := parseDockerfile(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := findDockerBuild(stages)
	if err != nil {
		t.Fatal(err)
	}
	// golang:1.26.10, golang:1.26.10-bookworm, golang:1.26.10@sha256:...
	image, _, _ := strings.Cut(b.builder.from, "@")
	tag, ok := strings.CutPrefix(image, "golang:")
	if !ok {
		t.Fatalf("Dockerfile: builder FROM %s, want golang:<version>", b.builder.from)
	}
	dockerGo, _, _ := strings.Cut(tag, "-")

	var cfg goreleaserConfig
	decodeYAMLFile(t, repoPath(".goreleaser.yml"), &cfg)
	envs := slices.Clone(cfg.Env)
	for _, b := range cfg.Builds {
		envs = append(envs, b.Env...)
	}
	var releaseGo []string
	for _, e := range envs {
		if v, ok := strings.CutPrefix(e, "GOTOOLCHAIN="); ok {
			releaseGo = append(releaseGo, v)
		}
	}
	if len(releaseGo) != 1 || !strings.HasPrefix(releaseGo[0], "go") {
		t.Fatalf(".goreleaser.yml: GOTOOLCHAIN %v: want one env GOTOOLCHAIN=go<version>, so releases do not take whatever Go the release machine has", releaseGo)
	}
	goreleaserGo := strings.TrimPrefix(releaseGo[0], "go")

	floor, err := goVersion(minReleaseGo)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ where, v string }{
		{"Dockerfile builder image golang:" + tag, dockerGo},
		{".goreleaser.yml GOTOOLCHAIN=" + releaseGo[0], goreleaserGo},
	} {
		v, err := goVersion(c.v)
		if err != nil {
			t.Errorf("%s: %v: name a patch release, so a rebuild cannot pick an older one", c.where, err)
			continue
		}
		if goVersionLess(v, floor) {
			t.Errorf("%s: Go %s has known vulnerabilities this code reaches, want %s or newer", c.where, c.v, minReleaseGo)
		}
	}
	if dockerGo != goreleaserGo {
		t.Errorf("the Dockerfile builds with Go %s, the release archives with Go %s: want one", dockerGo, goreleaserGo)
	}

	// The go line of go.mod must not ask for more than the releases use.
	gomod, err := os.ReadFile(repoPath("go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`).FindSubmatch(gomod); m == nil {
		t.Errorf("go.mod: no go line")
	} else if v, err := goVersion(string(m[1])); err == nil {
		if r, err := goVersion(goreleaserGo); err == nil && goVersionLess(r, v) {
			t.Errorf("go.mod says go %s, newer than the release Go %s", m[1], goreleaserGo)
		}
	}

	readme, err := os.ReadFile(repoPath("README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "Go "+goreleaserGo) {
		t.Errorf("README.md does not say the releases are built with Go %s", goreleaserGo)
	}
}

// TestLicense: LICENSE is the full Apache License 2.0, word for word the
// copy the Prometheus libraries ship, with its copyright line filled in.
func TestLicense(t *testing.T) {
	t.Parallel()
	got, err := os.ReadFile(repoPath("LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/prometheus/client_golang")
	cmd.Dir = root
	dir, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(dir)) == "" {
		t.Fatalf("go list -m github.com/prometheus/client_golang: %v (run go mod download)", err)
	}
	want, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(dir)), "LICENSE"))
	if err != nil {
		t.Fatal(err)
	}
	const placeholder = "   Copyright [yyyy] [name of copyright owner]"
	if !strings.Contains(string(want), placeholder) || !strings.Contains(string(want), "Version 2.0, January 2004") {
		t.Fatalf("client_golang's LICENSE is not the Apache License 2.0 with its placeholder line")
	}
	copyright := regexp.MustCompile(`(?m)^   Copyright \d{4}(-\d{4})? The zoom_exporter Authors$`)
	line := copyright.Find(got)
	if line == nil {
		t.Fatalf("LICENSE: no line matching %s in the appendix", copyright)
	}
	if string(got) != strings.Replace(string(want), placeholder, string(line), 1) {
		t.Errorf("LICENSE differs from the Apache License 2.0 text (github.com/prometheus/client_golang's LICENSE) beyond the copyright line")
	}
}

func TestChangelog(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(repoPath("CHANGELOG.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !regexp.MustCompile(`(?m)^## (Unreleased|\[?\d+\.\d+\.\d+)`).MatchString(text) {
		t.Errorf("CHANGELOG.md: no release section")
	}
	entry := regexp.MustCompile(`^\* \[(FEATURE|ENHANCEMENT|BUGFIX|CHANGE|SECURITY)\] `)
	n := 0
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "* ") {
			n++
			if !entry.MatchString(line) {
				t.Errorf("CHANGELOG.md: entry %q: want * [FEATURE|ENHANCEMENT|BUGFIX|CHANGE|SECURITY] ...", line)
			}
		}
	}
	if n == 0 {
		t.Errorf("CHANGELOG.md: no entries")
	}
}
