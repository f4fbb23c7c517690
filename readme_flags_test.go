package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// helpFlag is one flag as --help shows it.
type helpFlag struct {
	name    string
	boolean bool   // shown as --[no-]name
	def     string // the default shown, "" when none (a placeholder is not one)
	env     string // its environment variable, "" when none
	text    string // the help text on one line, without the variable
}

// readmeFlag is one row of the README's flags tables.
type readmeFlag struct {
	group string // the #### heading above the table
	name  string // the first --flag of the row, without its dashes
	env   string // the first code span of the environment column
	def   string // the default column as written
	row   string
}

var (
	// A flag's line starts two columns in (six without -x, ), its help text
	// goes on, wrapped, 33 columns in.
	helpFlagLineRe  = regexp.MustCompile(`^  (?:-\w, |    )?--(\[no-\])?([a-z0-9][a-z0-9._-]*)(?:=(\S+))?(?: \.\.\.)?(?:\s+(.*))?$`)
	helpEnvSuffixRe = regexp.MustCompile(`\s*\(\$([A-Z][A-Z0-9_]*)\)$`)
	placeholderRe   = regexp.MustCompile(`^[A-Z][A-Z0-9_.-]*$`)
	codeSpanRe      = regexp.MustCompile("`([^`]*)`")
	docFlagRe       = regexp.MustCompile(`--([a-z0-9][a-z0-9._-]*[a-z0-9])`)
	snakeNameRe     = regexp.MustCompile(`^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$`)
	kebabNameRe     = regexp.MustCompile(`^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$`)
)

// runBinary runs the exporter with args in dir and an environment of PATH
// only, and returns its output and exit code.
func runBinary(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	return runBinaryEnv(t, dir, nil, args...)
}

// runBinaryEnv is runBinary with env added to the environment.
func runBinaryEnv(t *testing.T, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("%s %q: %v", binary, args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// readHelp returns the flags of --help, in its order.
func readHelp(t *testing.T) []helpFlag {
	t.Helper()
	out, code := runBinary(t, "", "--help")
	if code != 0 {
		t.Fatalf("--help exited %d:\n%s", code, out)
	}
	var flags []helpFlag
	for _, line := range strings.Split(out, "\n") {
		if m := helpFlagLineRe.FindStringSubmatch(line); m != nil {
			flags = append(flags, helpFlag{name: m[2], boolean: m[1] != "", def: shownDefault(m[3]), text: m[4]})
		} else if len(flags) > 0 && strings.HasPrefix(line, "      ") {
			flags[len(flags)-1].text += " " + line
		}
	}
	for i := range flags {
		text := strings.Join(strings.Fields(flags[i].text), " ")
		if m := helpEnvSuffixRe.FindStringSubmatch(text); m != nil {
			flags[i].env = m[1]
			text = strings.TrimSuffix(text, m[0])
		}
		flags[i].text = text
	}
	if len(flags) < 20 {
		t.Fatalf("read only %d flags from --help:\n%s", len(flags), out)
	}
	return flags
}

// shownDefault turns what kingpin prints after "=" into the default: a
// quoted string, a bare value, or nothing for a placeholder or "".
func shownDefault(v string) string {
	if u, err := strconv.Unquote(v); err == nil {
		return u
	}
	if placeholderRe.MatchString(v) {
		return ""
	}
	return v
}

// readmeSection returns the README's text under a heading, up to the next
// heading of its level or above (outside code blocks).
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	level := strings.Index(heading, " ")
	var out []string
	in, fence := false, false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			fence = !fence
		}
		if !fence {
			if marks, _, ok := strings.Cut(line, " "); ok && marks != "" && strings.Trim(marks, "#") == "" {
				if line == heading {
					in = true
					continue
				}
				if in && len(marks) <= level {
					break
				}
			}
		}
		if in {
			out = append(out, line)
		}
	}
	if !in {
		t.Fatalf("README.md has no %q heading", heading)
	}
	return strings.Join(out, "\n")
}

// tableCells splits a Markdown table row, leaving | inside code spans alone.
func tableCells(row string) []string {
	var cells []string
	var cell strings.Builder
	inCode := false
	for _, r := range strings.Trim(strings.TrimSpace(row), "|") {
		switch {
		case r == '`':
			inCode = !inCode
		case r == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cell.String()))
			cell.Reset()
			continue
		}
		cell.WriteRune(r)
	}
	return append(cells, strings.TrimSpace(cell.String()))
}

func firstCodeSpan(s string) string {
	if m := codeSpanRe.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// readmeFlags returns the rows of the README's flags tables, in order.
func readmeFlags(t *testing.T) []readmeFlag {
	t.Helper()
	var rows []readmeFlag
	group := ""
	for _, line := range strings.Split(readmeSection(t, "### Flags"), "\n") {
		if h, ok := strings.CutPrefix(line, "#### "); ok {
			group = h
			continue
		}
		if !strings.HasPrefix(line, "| ") {
			continue
		}
		cells := tableCells(line)
		if len(cells) != 4 {
			t.Errorf("README flags row has %d cells, want 4: %s", len(cells), line)
			continue
		}
		if cells[0] == "flag" {
			continue
		}
		r := readmeFlag{group: group, env: firstCodeSpan(cells[1]), def: cells[2], row: line}
		for _, m := range codeSpanRe.FindAllStringSubmatch(cells[0], -1) {
			if name, ok := strings.CutPrefix(m[1], "--"); ok {
				r.name = name
				break
			}
		}
		if r.name == "" || group == "" {
			t.Errorf("README flags row names no --flag, or is under no #### group heading: %s", line)
			continue
		}
		rows = append(rows, r)
	}
	if len(rows) < 20 {
		t.Fatalf("read only %d rows from the README's flags tables", len(rows))
	}
	return rows
}

// onlyOnOtherOS reports whether a README row is for a flag this system's
// binary does not have (exporter-toolkit registers --web.systemd-socket on
// Linux only).
func onlyOnOtherOS(r readmeFlag) bool {
	return runtime.GOOS != "linux" && strings.Contains(r.row, "Linux only")
}

// TestREADMEFlagsTableFollowsHelp: --help lists the flags in the order and
// groups of the README's flags tables, with the environment variables and
// the defaults the README gives; a value flag with a default shows it
// (--zoom.api-url and --zoom.token-url showed a placeholder instead), a
// boolean flag that is on by default says so.
func TestREADMEFlagsTableFollowsHelp(t *testing.T) {
	t.Parallel()
	help := readHelp(t)
	rows := readmeFlags(t)

	var helpNames, readmeNames []string
	byName := map[string]helpFlag{}
	for _, h := range help {
		helpNames = append(helpNames, h.name)
		byName[h.name] = h
	}
	groupOf := map[string]string{}
	for _, r := range rows {
		if !onlyOnOtherOS(r) {
			readmeNames = append(readmeNames, r.name)
		}
		if g, ok := groupOf[r.name]; ok {
			t.Errorf("README lists --%s twice (%s, %s)", r.name, g, r.group)
		}
		groupOf[r.name] = r.group
	}
	if !slices.Equal(helpNames, readmeNames) {
		t.Errorf("--help and the README's flags tables list different flags or orders:\n--help: %s\nREADME: %s",
			strings.Join(helpNames, " "), strings.Join(readmeNames, " "))
	}
	// Each group is one run of --help: a group split in two means a flag
	// registered away from its topic.
	var groups []string
	for _, name := range helpNames {
		g := groupOf[name]
		if len(groups) == 0 || groups[len(groups)-1] != g {
			if slices.Contains(groups, g) {
				t.Errorf("--help lists group %q in two places (again at --%s)", g, name)
			}
			groups = append(groups, g)
		}
	}

	for _, r := range rows {
		h, ok := byName[r.name]
		if !ok {
			continue // reported above
		}
		if h.env != r.env {
			t.Errorf("--%s: --help says environment variable %q, the README %q", r.name, h.env, r.env)
		}
		if h.boolean {
			on := strings.Contains(h.text, "(default: enabled)")
			switch r.def {
			case "on":
				if !on {
					t.Errorf("--%s: the README says on by default, --help does not say \"(default: enabled)\": %s", r.name, h.text)
				}
			case "off", "":
				if on {
					t.Errorf("--%s: --help says enabled by default, the README %q", r.name, r.def)
				}
			default:
				t.Errorf("--%s is a boolean: write its README default as on or off, not %q", r.name, r.def)
			}
			continue
		}
		if want := firstCodeSpan(r.def); h.def != want {
			t.Errorf("--%s: --help shows default %q, the README %q (%s)", r.name, h.def, want, r.def)
		}
	}
}

// TestCommandLineCollectorFlagNames holds the collector flags to
// node_exporter's spelling: a collector's switch is its name in snake_case
// (user_info, as zoom_user_info; node_exporter's meminfo_numa), an option
// of every collector is kebab-case (user-label; node_exporter's
// disable-defaults). Every collector environment variable is
// ZOOM_EXPORTER_COLLECTOR_<NAME>.
func TestCommandLineCollectorFlagNames(t *testing.T) {
	t.Parallel()
	n := 0
	for _, h := range readHelp(t) {
		name, ok := strings.CutPrefix(h.name, "collector.")
		if !ok {
			continue
		}
		n++
		if h.boolean {
			if !snakeNameRe.MatchString(name) || !strings.HasPrefix(h.text, "Enable the "+name+" collector") {
				t.Errorf("--%s: a collector switch is named as its collector, in snake_case: %s", h.name, h.text)
			}
		} else if !kebabNameRe.MatchString(name) || strings.HasPrefix(h.text, "Enable the ") {
			t.Errorf("--%s: an option of the collectors is kebab-case", h.name)
		}
		wantEnv := "ZOOM_EXPORTER_COLLECTOR_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(name))
		if h.env != wantEnv {
			t.Errorf("--%s: environment variable %q, want %q", h.name, h.env, wantEnv)
		}
	}
	if n < 5 {
		t.Errorf("--help lists %d --collector.* flags, want at least 5", n)
	}
}

// configExample is one key of the README's config file example.
type configExample struct {
	path  []string // e.g. zoom, account_id
	flag  string   // the flag its comment names, without dashes
	value *yaml.Node
}

func (c configExample) key() string { return strings.Join(c.path, ".") }

// readmeConfigExample returns the README's config file example and its keys.
func readmeConfigExample(t *testing.T) (string, []configExample) {
	t.Helper()
	section := readmeSection(t, "### Config file")
	_, rest, ok := strings.Cut(section, "```yaml\n")
	if !ok {
		t.Fatal("the README's Config file section has no yaml example")
	}
	example, _, _ := strings.Cut(rest, "```")
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(example), &doc); err != nil {
		t.Fatalf("README config example: %v", err)
	}
	var keys []configExample
	var walk func(n *yaml.Node, path []string)
	walk = func(n *yaml.Node, path []string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := append(slices.Clone(path), k.Value)
			if v.Kind == yaml.MappingNode {
				walk(v, p)
				continue
			}
			c := configExample{path: p, value: v}
			if m := docFlagRe.FindStringSubmatch(k.LineComment + " " + v.LineComment); m != nil {
				c.flag = m[1]
			} else {
				t.Errorf("README config example: key %s has no comment naming its flag", c.key())
			}
			keys = append(keys, c)
		}
	}
	walk(doc.Content[0], nil)
	return example, keys
}

// TestREADMEConfigFileCoversFlags: every flag of --help either has a key in
// the config file, shown in the README's example with its flag, or is in
// the README's list of flags without one. The example is a valid
// configuration, and each key is the flag's: the key with a wrong value is
// an error naming it, which the flag, given, overrides.
func TestREADMEConfigFileCoversFlags(t *testing.T) {
	t.Parallel()
	help := readHelp(t)
	example, keys := readmeConfigExample(t)

	section := readmeSection(t, "### Config file")
	_, list, ok := strings.Cut(section, "have no key")
	if !ok {
		t.Fatal(`the README's Config file section does not list the flags that "have no key" in the file`)
	}
	noKey := map[string]bool{}
	for _, m := range codeSpanRe.FindAllStringSubmatch(list, -1) {
		if name, ok := strings.CutPrefix(m[1], "--"); ok {
			noKey[name] = true
		}
	}
	keyed := map[string]string{}
	for _, k := range keys {
		keyed[k.flag] = k.key()
	}

	isFlag := map[string]helpFlag{}
	for _, h := range help {
		isFlag[h.name] = h
		_, hasKey := keyed[h.name]
		switch {
		case hasKey && noKey[h.name]:
			t.Errorf("--%s has the key %s in the README's example, and is listed as having none", h.name, keyed[h.name])
		case !hasKey && !noKey[h.name]:
			t.Errorf("--%s has no config file key in the README's example, and is not in its list of flags without one", h.name)
		}
	}
	for name := range noKey {
		if _, ok := isFlag[name]; !ok && !(name == "web.systemd-socket" && runtime.GOOS != "linux") {
			t.Errorf("the README lists --%s as having no config file key, but there is no such flag", name)
		}
	}
	for name, key := range keyed {
		if _, ok := isFlag[name]; !ok {
			t.Errorf("the README's example names --%s for %s, but there is no such flag", name, key)
		}
	}

	// The example as written is valid (its secret files next to it).
	dir := t.TempDir()
	for _, name := range []string{"secret.txt", "webhook-secret.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not-a-real-secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig("example.yml", example)
	if out, code := runBinary(t, dir, "--config.check", "--config.file=example.yml"); code != 0 {
		t.Fatalf("the README's config file example is not valid (exit %d):\n%s", code, out)
	}

	for i, k := range keys {
		h, ok := isFlag[k.flag]
		if !ok {
			continue // reported above
		}
		t.Run(k.key(), func(t *testing.T) {
			t.Parallel()
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(example), &doc); err != nil {
				t.Fatal(err)
			}
			n := doc.Content[0]
			for _, p := range k.path {
				for j := 0; j+1 < len(n.Content); j += 2 {
					if n.Content[j].Value == p {
						n = n.Content[j+1]
						break
					}
				}
			}
			// A mapping is a wrong value for every key.
			*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: "wrong"}, {Kind: yaml.ScalarNode, Tag: "!!int", Value: "1"}}}
			bad, err := yaml.Marshal(&doc)
			if err != nil {
				t.Fatal(err)
			}
			name := "bad" + strconv.Itoa(i) + ".yml"
			writeConfig(name, string(bad))
			out, code := runBinary(t, dir, "--config.check", "--config.file="+name)
			if code != 1 || !strings.Contains(out, k.key()) {
				t.Errorf("a mapping as %s: exit %d, want 1 and a message naming the key:\n%s", k.key(), code, out)
			}

			var args []string
			switch {
			case k.value.Kind == yaml.SequenceNode:
				for _, item := range k.value.Content {
					args = append(args, "--"+k.flag+"="+item.Value)
				}
			case h.boolean && k.value.Value == "false":
				args = []string{"--no-" + k.flag}
			case h.boolean:
				args = []string{"--" + k.flag}
			default:
				args = []string{"--" + k.flag + "=" + k.value.Value}
			}
			out, code = runBinary(t, dir, append([]string{"--config.check", "--config.file=" + name}, args...)...)
			if code != 0 {
				t.Errorf("%s is not the key of --%s: %q does not override the wrong value (exit %d):\n%s", k.key(), k.flag, args, code, out)
			}
		})
	}
}

// TestCommandLineWebEnv: exporter-toolkit's flags read the environment
// variables --help and the README give them.
func TestCommandLineWebEnv(t *testing.T) {
	t.Parallel()
	creds := []string{"ZOOM_ACCOUNT_ID=a", "ZOOM_CLIENT_ID=b", "ZOOM_CLIENT_SECRET=c"}
	out, code := runBinaryEnv(t, "", append(creds, "ZOOM_EXPORTER_WEB_CONFIG_FILE=/does/not/exist.yml"), "--config.check")
	if code != 1 || !strings.Contains(out, "--web.config.file /does/not/exist.yml") {
		t.Errorf("ZOOM_EXPORTER_WEB_CONFIG_FILE=/does/not/exist.yml: exit %d, want 1 naming the file:\n%s", code, out)
	}
	// A taken address is the exporter's last word: the variable was read.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	out, code = runBinaryEnv(t, "", []string{"ZOOM_EXPORTER_DEMO=true", "ZOOM_EXPORTER_WEB_LISTEN_ADDRESS=" + l.Addr().String()})
	if code != 1 || !strings.Contains(out, l.Addr().String()) {
		t.Errorf("ZOOM_EXPORTER_WEB_LISTEN_ADDRESS=%s (taken): exit %d, want 1 naming the address:\n%s", l.Addr(), code, out)
	}
}
