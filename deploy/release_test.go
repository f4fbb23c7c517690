package deploy

import (
	"os"
	"regexp"
	"slices"
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

func TestGoreleaser(t *testing.T) {
	t.Parallel()
	var cfg struct {
		Version int `yaml:"version"`
		Builds  []struct {
			Main    string   `yaml:"main"`
			Binary  string   `yaml:"binary"`
			Env     []string `yaml:"env"`
			GOOS    []string `yaml:"goos"`
			GOARCH  []string `yaml:"goarch"`
			Flags   []string `yaml:"flags"`
			LDFlags []string `yaml:"ldflags"`
		} `yaml:"builds"`
	}
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
