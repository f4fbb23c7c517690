package deploy

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
)

var update = flag.Bool("update", false, "regenerate examples/kubernetes/prometheusrule.yaml from examples/prometheus/")

// Build values the tests give the Dockerfile's build arguments; the running
// binary must report them in zoom_exporter_build_info.
const (
	testVersion   = "9.8.7-deploytest"
	testRevision  = "0123456789abcdef0123456789abcdef01234567"
	testBranch    = "deploy-test"
	testBuildUser = "deploy@test"
	testBuildDate = "20260102-03:04:05"
)

// envTestOnly are environment variables the exporter reads that are for
// tests, not operators: --help does not name them (the README does).
var envTestOnly = map[string]bool{"ZOOM_EXPORTER_FAKE_NOW": true}

var (
	root     string // the module's root directory
	binary   string // zoom_exporter, built as the Dockerfile builds it
	buildErr error
	cli      *cliInfo
)

func TestMain(m *testing.M) {
	flag.Parse()
	var err error
	if root, err = filepath.Abs(".."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "zoom_exporter_deploy")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "zoom_exporter")
	if buildErr = buildAsDockerfile(binary); buildErr == nil {
		cli, buildErr = readCLI(binary)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needBinary stops a test that needs the binary when it could not be built.
func needBinary(t *testing.T) {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("zoom_exporter could not be built as the Dockerfile builds it: %v", buildErr)
	}
}

// repoPath returns a path inside the repository.
func repoPath(parts ...string) string {
	return filepath.Join(append([]string{root}, parts...)...)
}

// cliInfo is what the binary's --help-long says about its command line.
type cliInfo struct {
	flags       map[string]bool   // flag name (no dashes) -> boolean (has a --no- form)
	defaults    map[string]string // flag name -> default shown in the help
	envs        map[string]bool   // environment variables --help names: a flag's, or one read without a flag
	flagEnvs    map[string]bool   // environment variables of flags, "($NAME)" in --help
	listenPort  string            // port of the default --web.listen-address
	metricsPath string            // default --web.telemetry-path
}

var (
	helpFlagRe    = regexp.MustCompile(`(?m)^\s+(?:-\w, )?--(\[no-\])?([a-z0-9][a-z0-9._-]*)(?:=("[^"]*"|\S+))?`)
	helpEnvRe     = regexp.MustCompile(`\(\$([A-Z][A-Z0-9_]*)\)`)
	envNameRe     = regexp.MustCompile(`\bZOOM_[A-Z0-9_]*[A-Z0-9]\b`)
	envLiteralRe  = regexp.MustCompile(`"(ZOOM_[A-Z0-9_]*[A-Z0-9])"`)
	listenPortRe  = regexp.MustCompile(`:(\d+)$`)
	unquoteDefRe  = regexp.MustCompile(`^"(.*)"$`)
	varSubstRe    = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	composeVarRe  = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-(.*))?\}$`)
	ldflagsXRe    = regexp.MustCompile(`-X\s+(github\.com/prometheus/common/version\.\w+)=(\S+?)["']?(?:\s|$)`)
	versionFields = []string{"Version", "Revision", "Branch", "BuildUser", "BuildDate"}
)

func readCLI(bin string) (*cliInfo, error) {
	out, err := exec.Command(bin, "--help-long").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("%s --help-long: %v\n%s", bin, err, out)
	}
	info := &cliInfo{flags: map[string]bool{}, defaults: map[string]string{}, envs: map[string]bool{}, flagEnvs: map[string]bool{}}
	for _, m := range helpFlagRe.FindAllStringSubmatch(string(out), -1) {
		info.flags[m[2]] = m[1] != ""
		if m[3] != "" {
			info.defaults[m[2]] = unquoteDefRe.ReplaceAllString(m[3], "$1")
		}
	}
	for _, m := range helpEnvRe.FindAllStringSubmatch(string(out), -1) {
		info.flagEnvs[m[1]] = true
	}
	// Variables read without a flag (ZOOM_CLIENT_SECRET,
	// ZOOM_EXPORTER_USER_HASH_SALT) are named in a flag's help text.
	for _, name := range envNameRe.FindAllString(string(out), -1) {
		info.envs[name] = true
	}
	if m := listenPortRe.FindStringSubmatch(info.defaults["web.listen-address"]); m != nil {
		info.listenPort = m[1]
	}
	info.metricsPath = info.defaults["web.telemetry-path"]
	if len(info.flags) < 10 || len(info.envs) < 10 || info.listenPort == "" || info.metricsPath == "" {
		return nil, fmt.Errorf("could not read flags, environment variables, port and metrics path from --help-long:\n%s", out)
	}
	return info, nil
}

// TestEnvVarsInHelp: every environment variable the exporter's code reads
// is named by --help (an operator finds ZOOM_EXPORTER_USER_HASH_SALT there,
// never its value), but the test-only ones; and every variable --help names
// outside a flag's "($NAME)" is read by the code.
func TestEnvVarsInHelp(t *testing.T) {
	t.Parallel()
	needBinary(t)
	read := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "deploy" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			for _, m := range envLiteralRe.FindAllSubmatch(b, -1) {
				read[string(m[1])] = true
			}
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(read) < 10 {
		t.Fatalf("found only %d environment variable names in the Go code: %v", len(read), sortedKeys(read))
	}
	for _, name := range sortedKeys(read) {
		if !cli.envs[name] && !envTestOnly[name] {
			t.Errorf("the exporter reads %s, but --help does not name it", name)
		}
		if cli.envs[name] && envTestOnly[name] {
			t.Errorf("%s is for tests, but --help names it", name)
		}
	}
	for _, name := range sortedKeys(cli.envs) {
		if !cli.flagEnvs[name] && !read[name] {
			t.Errorf("--help names %s, but no flag has it and no Go file reads it", name)
		}
	}

	// Naming the salt must never show it.
	const salt = "pepper-DO-NOT-PRINT"
	cmd := exec.Command(binary, "--help")
	cmd.Env = []string{"ZOOM_EXPORTER_USER_HASH_SALT=" + salt, "ZOOM_CLIENT_SECRET=" + salt}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("--help: %v\n%s", err, out)
	}
	if strings.Contains(string(out), salt) {
		t.Errorf("--help shows the value of an environment variable:\n%s", out)
	}
}

// checkArgs fails the test for every --flag in args that the binary does not
// have, and returns the values of those given as --name=value.
func checkArgs(t *testing.T, where string, args []string) map[string]string {
	t.Helper()
	needBinary(t)
	values := map[string]string{}
	for _, a := range args {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		_, known := cli.flags[name]
		if !known && strings.HasPrefix(name, "no-") {
			known = cli.flags[strings.TrimPrefix(name, "no-")]
		}
		if !known {
			t.Errorf("%s: flag --%s: zoom_exporter has no such flag", where, name)
			continue
		}
		if hasValue {
			values[name] = value
		}
	}
	return values
}

// checkEnvNames fails the test for every name the binary does not read,
// except those in allowed.
func checkEnvNames(t *testing.T, where string, names []string, allowed map[string]bool) {
	t.Helper()
	needBinary(t)
	for _, name := range names {
		if !cli.envs[name] && !allowed[name] {
			t.Errorf("%s: environment variable %s: zoom_exporter does not read it", where, name)
		}
	}
}

// yamlDocs decodes every document of a YAML file.
func yamlDocs(t *testing.T, path string) []*yaml.Node {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []*yaml.Node
	dec := yaml.NewDecoder(f)
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err == io.EOF {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, &n)
	}
}

// decodeYAMLFile decodes a one-document YAML file into v.
func decodeYAMLFile(t *testing.T, path string, v any) {
	t.Helper()
	docs := yamlDocs(t, path)
	if len(docs) != 1 {
		t.Fatalf("%s: %d YAML documents, want 1", path, len(docs))
	}
	if err := docs[0].Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var freeAddress = testenv.FreeAddress

// process is a running zoom_exporter.
type process struct {
	base   string
	output *testenv.SyncBuffer
	done   chan error
}

// startBinary runs the binary with args and env until the test ends; the
// caller gives --web.listen-address=addr among args.
func startBinary(t *testing.T, addr string, env []string, args ...string) *process {
	t.Helper()
	needBinary(t)
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	p := &process{base: "http://" + addr, output: &testenv.SyncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.output, p.output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// get fetches path from the process; it fails the test if the process ended.
func (p *process) get(t *testing.T, path string) (int, string) {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		t.Fatalf("zoom_exporter exited (%v):\n%s", err, p.output.String())
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitFor polls path until ok accepts the answer, for up to a minute.
func (p *process) waitFor(t *testing.T, path string, ok func(code int, body string) bool) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, body := p.get(t, path)
		if ok(code, body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: still %d after a minute:\n%s\n--- output:\n%s", path, code, body, p.output.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// hostIsLinux tells whether the built binary is an ELF file.
func hostIsLinux() bool { return runtime.GOOS == "linux" }
