package deploy

import (
	"bufio"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// systemdUnit maps "Section.Key" to its values, in order.
type systemdUnit map[string][]string

func parseSystemdUnit(t *testing.T, p string) systemdUnit {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := systemdUnit{}
	section := ""
	var pending string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending == "" && (line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";")) {
			continue
		}
		if strings.HasSuffix(line, `\`) {
			pending += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		line, pending = pending+line, ""
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.Trim(line, "[]")
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s:%d: not a key=value line in a section: %q", p, n, line)
		}
		k := section + "." + strings.TrimSpace(key)
		u[k] = append(u[k], strings.TrimSpace(value))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u systemdUnit) last(key string) string {
	v := u[key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

var envFileLineRe = regexp.MustCompile(`^#?\s*([A-Z][A-Z0-9_]*)=`)

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	needBinary(t)
	dir := repoPath("examples", "systemd")
	unitPath := filepath.Join(dir, "zoom_exporter.service")
	u := parseSystemdUnit(t, unitPath)

	execStart := u["Service.ExecStart"]
	if len(execStart) != 1 {
		t.Fatalf("%s: %d ExecStart lines, want 1", unitPath, len(execStart))
	}
	argv := strings.Fields(execStart[0])
	if path.Base(argv[0]) != "zoom_exporter" {
		t.Errorf("%s: ExecStart runs %s, want zoom_exporter", unitPath, argv[0])
	}
	values := checkArgs(t, unitPath+" ExecStart", argv[1:])

	// The store is the StateDirectory, which systemd creates for the user.
	state := u.last("Service.StateDirectory")
	if state == "" {
		t.Errorf("%s: no StateDirectory", unitPath)
	} else if got, want := values["storage.path"], "/var/lib/"+state; path.Clean(got) != want {
		t.Errorf("%s: --storage.path=%q, want %s (StateDirectory=%s)", unitPath, got, want, state)
	}

	// Credentials from the environment file, which ships beside the unit.
	var envNames []string
	for _, ef := range u["Service.EnvironmentFile"] {
		ef = strings.TrimPrefix(ef, "-")
		example := filepath.Join(dir, path.Base(ef))
		data, err := os.ReadFile(example)
		if err != nil {
			t.Errorf("%s: EnvironmentFile=%s: no example %s beside the unit: %v", unitPath, ef, path.Base(ef), err)
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if m := envFileLineRe.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
				envNames = append(envNames, m[1])
			}
		}
		checkEnvNames(t, example, envNames, nil)
	}
	for _, want := range []string{"ZOOM_ACCOUNT_ID", "ZOOM_CLIENT_ID", "ZOOM_CLIENT_SECRET"} {
		if !slices.Contains(envNames, want) {
			t.Errorf("%s: the environment file does not set %s", unitPath, want)
		}
	}
	for _, e := range u["Service.Environment"] {
		for _, kv := range strings.Fields(e) {
			name, _, _ := strings.Cut(strings.Trim(kv, `"`), "=")
			checkEnvNames(t, unitPath+" Environment", []string{name}, nil)
		}
	}

	// Hardening.
	if u.last("Service.DynamicUser") != "yes" && u.last("Service.User") == "" {
		t.Errorf("%s: want DynamicUser=yes or a dedicated User=", unitPath)
	}
	for key, want := range map[string]string{
		"NoNewPrivileges":       "yes",
		"ProtectSystem":         "strict",
		"ProtectHome":           "yes",
		"PrivateTmp":            "yes",
		"PrivateDevices":        "yes",
		"ProtectKernelTunables": "yes",
		"ProtectKernelModules":  "yes",
		"ProtectControlGroups":  "yes",
		"RestrictNamespaces":    "yes",
		"LockPersonality":       "yes",
		"CapabilityBoundingSet": "",
	} {
		if v, ok := u["Service."+key]; !ok || u.last("Service."+key) != want {
			t.Errorf("%s: %s=%v, want %q", unitPath, key, v, want)
		}
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the
// unit with ExecStart pointing at the built binary.
func TestSystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	needBinary(t)
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is not installed: the README's test command installs it (Debian package systemd)")
	}
	data, err := os.ReadFile(repoPath("examples", "systemd", "zoom_exporter.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := regexp.MustCompile(`(?m)^ExecStart=\S+`).ReplaceAllLiteralString(string(data), "ExecStart="+binary)
	p := filepath.Join(t.TempDir(), "zoom_exporter.service")
	if err := os.WriteFile(p, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", p).CombinedOutput()
	if err != nil || strings.Contains(string(out), "zoom_exporter.service") {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}
