package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The config file is decoded strictly (unknown keys are errors) into these
// mirrors of Config whose leaves keep their YAML node: Load then checks each
// value knowing its field and line, and knowing whether it was given at all,
// so that the file overrides defaults but never an explicit flag.
type fileConfig struct {
	Zoom    fileZoom    `yaml:"zoom"`
	Scrape  fileScrape  `yaml:"scrape"`
	Storage fileStorage `yaml:"storage"`
}

type fileStorage struct {
	Path           fileValue `yaml:"path"`
	DiscardForeign fileValue `yaml:"discard_foreign"`
}

type fileZoom struct {
	AccountID        fileValue `yaml:"account_id"`
	ClientID         fileValue `yaml:"client_id"`
	ClientSecret     fileValue `yaml:"client_secret"`
	ClientSecretFile fileValue `yaml:"client_secret_file"`
	APIURL           fileValue `yaml:"api_url"`
	TokenURL         fileValue `yaml:"token_url"`
	Users            fileValue `yaml:"users"`
	Plan             fileValue `yaml:"plan"`
	RequestTimeout   fileValue `yaml:"request_timeout"`
	MaxRetries       fileValue `yaml:"max_retries"`
	DailyBudget      fileValue `yaml:"daily_budget"`

	EventsWebSocketURL     fileValue `yaml:"events_websocket_url"`
	WebhookSecretToken     fileValue `yaml:"webhook_secret_token"`
	WebhookSecretTokenFile fileValue `yaml:"webhook_secret_token_file"`
}

type fileScrape struct {
	Interval      fileValue `yaml:"interval"`
	GracePeriod   fileValue `yaml:"grace_period"`
	ReportType    fileValue `yaml:"report_type"`
	Concurrency   fileValue `yaml:"concurrency"`
	FullInterval  fileValue `yaml:"full_interval"`
	SweepInterval fileValue `yaml:"sweep_interval"`
}

// fileValue keeps a value's YAML node; nil when the key is absent or null.
type fileValue struct {
	node *yaml.Node
}

func (v *fileValue) UnmarshalYAML(n *yaml.Node) error {
	v.node = n
	return nil
}

// sections maps the Go types of the file's mappings to their place in it.
var sections = map[string]reflect.Type{
	"":        reflect.TypeFor[fileConfig](),
	"zoom":    reflect.TypeFor[fileZoom](),
	"scrape":  reflect.TypeFor[fileScrape](),
	"storage": reflect.TypeFor[fileStorage](),
}

var (
	reUnknownKey = regexp.MustCompile(`^line (\d+): field (.+) not found in type (\S+)$`)
	reNotMapping = regexp.MustCompile(`^line (\d+): cannot unmarshal (\S+).* into (\S+)$`)
	reLine       = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
)

// readFile decodes the config file at path. It returns nil, after recording
// the problem, when the file cannot be used at all; otherwise the values it
// could decode (a file that is empty or holds only comments is valid).
func (l *loader) readFile(path string) *fileConfig {
	data, err := os.ReadFile(path)
	if err != nil {
		l.problemf("config file: %v", err)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	fc := &fileConfig{}
	err = dec.Decode(fc)
	if errors.Is(err, io.EOF) {
		return fc
	}
	if err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			l.problems = append(l.problems, fileProblem(path, err.Error()))
			return nil
		}
		usable := true
		for _, e := range te.Errors {
			msg, ok := l.typeProblem(path, e)
			l.problems = append(l.problems, msg)
			usable = usable && ok
		}
		if !usable {
			return nil
		}
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		l.problems = append(l.problems, fileProblem(path, err.Error()))
	default:
		l.problemf("config file %s line %d: a second YAML document; the file must hold only one", path, extra.Line)
	}
	return fc
}

// typeProblem rewrites one of yaml's type errors. It reports false when the
// error makes a whole section unusable.
func (l *loader) typeProblem(path, e string) (string, bool) {
	if m := reUnknownKey.FindStringSubmatch(e); m != nil {
		section, t := sectionOf(m[3])
		if t != nil {
			where := fmt.Sprintf("config file %s line %s: ", path, m[1])
			if section != "" {
				where += section + ": "
			}
			return fmt.Sprintf("%sunknown key %q (known keys: %s)", where, m[2], strings.Join(keysOf(t), ", ")), true
		}
	}
	if m := reNotMapping.FindStringSubmatch(e); m != nil {
		if section, t := sectionOf(m[3]); t != nil {
			if section == "" {
				return fmt.Sprintf("config file %s line %s: must be a mapping with the keys %s",
					path, m[1], strings.Join(keysOf(t), ", ")), false
			}
			return fmt.Sprintf("config file %s line %s: %s: must be a mapping, not %s",
				path, m[1], section, tagName(m[2])), false
		}
	}
	return fileProblem(path, e), true
}

func fileProblem(path, e string) string {
	if m := reLine.FindStringSubmatch(e); m != nil {
		return fmt.Sprintf("config file %s line %s: %s", path, m[1], m[2])
	}
	return fmt.Sprintf("config file %s: %s", path, strings.TrimPrefix(e, "yaml: "))
}

// sectionOf names the section decoded into the Go type called typeName.
func sectionOf(typeName string) (string, reflect.Type) {
	for name, t := range sections {
		if t.String() == typeName {
			return name, t
		}
	}
	return "", nil
}

func keysOf(t reflect.Type) []string {
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		keys = append(keys, name)
	}
	return keys
}
