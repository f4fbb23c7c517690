package deploy

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// dockerInstruction is one Dockerfile instruction, continuation lines joined.
type dockerInstruction struct {
	cmd  string // upper case: FROM, RUN, ...
	args string
	line int
}

// dockerStage is one FROM and the instructions after it.
type dockerStage struct {
	from, name   string
	instructions []dockerInstruction
}

func (s *dockerStage) all(cmd string) []dockerInstruction {
	var out []dockerInstruction
	for _, in := range s.instructions {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// args returns the stage's ARG names and their defaults.
func (s *dockerStage) argDefaults() map[string]string {
	args := map[string]string{}
	for _, in := range s.all("ARG") {
		for _, a := range strings.Fields(in.args) {
			name, def, _ := strings.Cut(a, "=")
			args[name] = strings.Trim(def, `"`)
		}
	}
	return args
}

func parseDockerfile(p string) ([]*dockerStage, error) {
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var stages []*dockerStage
	var pending strings.Builder
	start := 0
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && pending.Len() == 0) {
			continue
		}
		if pending.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, `\`) {
			pending.WriteString(strings.TrimSuffix(trimmed, `\`) + " ")
			continue
		}
		pending.WriteString(trimmed)
		text := pending.String()
		pending.Reset()
		cmd, args, _ := strings.Cut(text, " ")
		in := dockerInstruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args), line: start}
		if in.cmd == "FROM" {
			st := &dockerStage{}
			f := strings.Fields(in.args)
			for len(f) > 0 && strings.HasPrefix(f[0], "--") {
				f = f[1:]
			}
			if len(f) == 0 {
				return nil, fmt.Errorf("%s:%d: FROM without an image", p, start)
			}
			st.from = f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if in.cmd == "ARG" {
				continue
			}
			return nil, fmt.Errorf("%s:%d: %s before FROM", p, start, in.cmd)
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, in)
	}
	if len(stages) < 2 {
		return nil, fmt.Errorf("%s: %d stages, want a builder and a runtime stage", p, len(stages))
	}
	return stages, nil
}

// execForm decodes an exec-form (JSON array) ENTRYPOINT or CMD.
func execForm(in dockerInstruction) ([]string, error) {
	var args []string
	if err := json.Unmarshal([]byte(in.args), &args); err != nil {
		return nil, fmt.Errorf("Dockerfile line %d: %s %s: want the exec (JSON array) form: %v", in.line, in.cmd, in.args, err)
	}
	return args, nil
}

var outputFlagRe = regexp.MustCompile(`(\s-o\s+)(\S+)`)

// dockerBuild is the build step of the Dockerfile's builder stage.
type dockerBuild struct {
	builder *dockerStage
	run     dockerInstruction
	output  string // the -o path
}

func findDockerBuild(stages []*dockerStage) (*dockerBuild, error) {
	for _, st := range stages[:len(stages)-1] {
		for _, in := range st.all("RUN") {
			if !strings.Contains(in.args, "go build") {
				continue
			}
			m := outputFlagRe.FindStringSubmatch(in.args)
			if m == nil {
				return nil, fmt.Errorf("Dockerfile line %d: the go build has no -o", in.line)
			}
			return &dockerBuild{builder: st, run: in, output: m[2]}, nil
		}
	}
	return nil, fmt.Errorf("Dockerfile: no RUN ... go build in a builder stage")
}

// buildAsDockerfile runs the Dockerfile's go build line, as it is written,
// with the tests' build arguments and the host's platform, writing the
// binary to out.
func buildAsDockerfile(out string) error {
	stages, err := parseDockerfile(repoPath("Dockerfile"))
	if err != nil {
		return err
	}
	b, err := findDockerBuild(stages)
	if err != nil {
		return err
	}
	args := b.builder.argDefaults()
	for k, v := range map[string]string{
		"VERSION": testVersion, "REVISION": testRevision, "BRANCH": testBranch,
		"BUILD_USER": testBuildUser, "BUILD_DATE": testBuildDate,
		"TARGETOS": runtime.GOOS, "TARGETARCH": runtime.GOARCH,
	} {
		if _, ok := args[k]; ok {
			args[k] = v
		}
	}
	env := os.Environ()
	for _, in := range b.builder.all("ENV") {
		k, v, _ := strings.Cut(in.args, "=")
		env = append(env, strings.TrimSpace(k)+"="+strings.Trim(strings.TrimSpace(v), `"`))
	}
	for k, v := range args {
		env = append(env, k+"="+v)
	}
	script := outputFlagRe.ReplaceAllLiteralString(b.run.args, " -o "+shellQuote(out))
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = root
	cmd.Env = env
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("Dockerfile line %d: %s: %v\n%s", b.run.line, script, err, output)
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func TestDockerfile(t *testing.T) {
	t.Parallel()
	needBinary(t)
	stages, err := parseDockerfile(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := findDockerBuild(stages)
	if err != nil {
		t.Fatal(err)
	}
	final := stages[len(stages)-1]

	if !strings.HasPrefix(b.builder.from, "golang:") {
		t.Errorf("builder stage FROM %s, want a golang image", b.builder.from)
	}
	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && !strings.HasPrefix(final.from, "busybox") {
		t.Errorf("runtime stage FROM %s, want distroless static or busybox", final.from)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-ldflags"} {
		if !strings.Contains(b.run.args, want) {
			t.Errorf("Dockerfile line %d: the go build lacks %s", b.run.line, want)
		}
	}
	ldflags := versionLDFlags(b.run.args)
	args := b.builder.argDefaults()
	for _, field := range versionFields {
		value, ok := ldflags[field]
		if !ok {
			t.Errorf("Dockerfile line %d: no -X github.com/prometheus/common/version.%s", b.run.line, field)
			continue
		}
		m := regexp.MustCompile(`^\$\{?(\w+)\}?$`).FindStringSubmatch(value)
		if m == nil {
			t.Errorf("Dockerfile: version.%s=%s: want a build argument", field, value)
		} else if _, ok := args[m[1]]; !ok {
			t.Errorf("Dockerfile: version.%s=%s: no ARG %s in the builder stage", field, value, m[1])
		}
	}

	// The binary built at -o is the one the runtime stage copies and runs.
	var entrypoint, command []string
	if in := final.all("ENTRYPOINT"); len(in) == 1 {
		if entrypoint, err = execForm(in[0]); err != nil {
			t.Fatal(err)
		}
	} else {
		t.Fatalf("runtime stage: %d ENTRYPOINT instructions, want 1", len(in))
	}
	if in := final.all("CMD"); len(in) == 1 {
		if command, err = execForm(in[0]); err != nil {
			t.Fatal(err)
		}
	}
	copied := false
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		if len(f) >= 3 && slicesContainsPrefix(f, "--from=") && f[len(f)-2] == b.output {
			copied = true
			if f[len(f)-1] != entrypoint[0] {
				t.Errorf("Dockerfile line %d: copies the binary to %s, but ENTRYPOINT runs %s", in.line, f[len(f)-1], entrypoint[0])
			}
		}
	}
	if !copied {
		t.Errorf("runtime stage does not COPY --from the builder's %s", b.output)
	}

	// Flags, port, volume and user agree with the binary.
	values := checkArgs(t, "Dockerfile ENTRYPOINT/CMD", append(entrypoint[1:], command...))
	storage, ok := values["storage.path"]
	if !ok {
		t.Errorf("Dockerfile CMD has no --storage.path")
	}
	var volumes []string
	for _, in := range final.all("VOLUME") {
		if strings.HasPrefix(in.args, "[") {
			var v []string
			if err := json.Unmarshal([]byte(in.args), &v); err != nil {
				t.Fatal(err)
			}
			volumes = append(volumes, v...)
		} else {
			volumes = append(volumes, strings.Fields(in.args)...)
		}
	}
	if ok && !slices.Contains(volumes, path.Clean(storage)) {
		t.Errorf("--storage.path=%s is not a VOLUME (volumes %v)", storage, volumes)
	}
	var exposed []string
	for _, in := range final.all("EXPOSE") {
		for _, p := range strings.Fields(in.args) {
			exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
		}
	}
	if !slices.Contains(exposed, cli.listenPort) {
		t.Errorf("EXPOSE %v, want the exporter's port %s", exposed, cli.listenPort)
	}
	if in := final.all("USER"); len(in) != 1 || strings.Split(in[0].args, ":")[0] != dockerUID {
		t.Errorf("runtime stage USER %v, want %s (non-root)", in, dockerUID)
	}

	labels := strings.Join(func() []string {
		var s []string
		for _, in := range final.all("LABEL") {
			s = append(s, in.args)
		}
		return s
	}(), " ")
	for _, key := range []string{"title", "description", "source", "version", "revision", "created"} {
		if !strings.Contains(labels, "org.opencontainers.image."+key+"=") {
			t.Errorf("no LABEL org.opencontainers.image.%s", key)
		}
	}
}

// dockerUID is the non-root user of the image (distroless "nonroot"); the
// Kubernetes example runs as the same.
const dockerUID = "65532"

// TestDockerfileBinaryIsStatic: CGO_ENABLED=0 gives a binary with no
// dynamic loader and no shared libraries, as distroless/static needs.
func TestDockerfileBinaryIsStatic(t *testing.T) {
	t.Parallel()
	needBinary(t)
	if !hostIsLinux() {
		t.Skip("the ELF check runs on Linux")
	}
	f, err := elf.Open(binary)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a PT_INTERP program header: dynamically linked", binary)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil {
		t.Fatal(err)
	} else if len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", binary, libs)
	}
}

// TestDockerfileBinaryServes runs the binary as the image runs it (its
// ENTRYPOINT and CMD, the store in a temporary directory instead of /data)
// on the demo account, and checks it serves metrics with the version given
// at build time.
func TestDockerfileBinaryServes(t *testing.T) {
	t.Parallel()
	needBinary(t)
	stages, err := parseDockerfile(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	final := stages[len(stages)-1]
	var args []string
	if in := final.all("CMD"); len(in) == 1 {
		if args, err = execForm(in[0]); err != nil {
			t.Fatal(err)
		}
	}
	storage := t.TempDir()
	for i, a := range args {
		if strings.HasPrefix(a, "--storage.path=") {
			args[i] = "--storage.path=" + storage
		}
	}
	addr := freeAddress(t)
	args = append(args, "--demo", "--web.listen-address="+addr)
	p := startBinary(t, addr, nil, args...)

	metrics := p.waitFor(t, cli.metricsPath, func(code int, body string) bool {
		return code == 200 && regexp.MustCompile(`(?m)^zoom_up 1$`).MatchString(body)
	})
	info := regexp.MustCompile(`(?m)^zoom_exporter_build_info\{([^}]*)\} 1$`).FindStringSubmatch(metrics)
	if info == nil {
		t.Fatalf("no zoom_exporter_build_info in %s", cli.metricsPath)
	}
	for label, want := range map[string]string{"version": testVersion, "revision": testRevision, "branch": testBranch} {
		if !strings.Contains(info[1], label+`="`+want+`"`) {
			t.Errorf("zoom_exporter_build_info{%s}: want %s=%q", info[1], label, want)
		}
	}
	// Every path the Kubernetes probes and ServiceMonitor use is served.
	for _, path := range kubernetesHTTPPaths(t) {
		p.waitFor(t, path, func(code int, _ string) bool { return code == 200 })
	}

	entries, err := os.ReadDir(storage)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Errorf("--storage.path=%s: the exporter stored nothing there", storage)
	}
	out, err := exec.Command(binary, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), testVersion) {
		t.Errorf("--version: %v\n%s\nwant version %s", err, out, testVersion)
	}
}

// TestBinaryServesShard runs two flags the Kubernetes example relies on and
// checks the shard gauges.
func TestBinaryServesShard(t *testing.T) {
	t.Parallel()
	needBinary(t)
	addr := freeAddress(t)
	p := startBinary(t, addr, nil, "--demo", "--web.listen-address="+addr,
		"--storage.path="+t.TempDir(), "--shard=1", "--total-shards=3")
	metrics := p.waitFor(t, cli.metricsPath, func(code int, body string) bool {
		return code == 200 && strings.Contains(body, "\nzoom_up ")
	})
	for _, want := range []string{"zoom_exporter_shard_ordinal 1", "zoom_exporter_total_shards 3"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).MatchString(metrics) {
			t.Errorf("%s does not serve %q", cli.metricsPath, want)
		}
	}
}

func slicesContainsPrefix(list []string, prefix string) bool {
	for _, x := range list {
		if strings.HasPrefix(x, prefix) {
			return true
		}
	}
	return false
}

// versionLDFlags returns the -X github.com/prometheus/common/version.Field
// values in a command line, by field.
func versionLDFlags(s string) map[string]string {
	out := map[string]string{}
	for _, m := range ldflagsXRe.FindAllStringSubmatch(s, -1) {
		out[strings.TrimPrefix(m[1], "github.com/prometheus/common/version.")] = m[2]
	}
	return out
}

// TestDockerignoreKeepsTheBuild: no file that go build needs is left out of
// the build context.
func TestDockerignoreKeepsTheBuild(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(repoPath(".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore: exceptions (%s) are not supported by this test", line)
		}
		patterns = append(patterns, strings.Trim(line, "/"))
	}
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if .Module}}{{if .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}{{end}}`, ".")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepathRel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, rel)
	}
	if len(needed) < 5 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, f := range needed {
		for _, p := range patterns {
			excluded := f == p || strings.HasPrefix(f, p+"/")
			if m, _ := path.Match(p, f); m {
				excluded = true
			}
			if m, _ := path.Match(p, path.Base(f)); m && !strings.Contains(p, "/") && strings.HasPrefix(p, "*") {
				excluded = true
			}
			if excluded {
				t.Errorf(".dockerignore pattern %q leaves out %s, which go build needs", p, f)
			}
		}
	}
}

func filepathRel(base, target string) (string, error) {
	rel, err := filepath.Rel(base, target)
	return filepath.ToSlash(rel), err
}
