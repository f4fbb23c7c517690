package config

// Fuzz targets for config loading. `go test` runs their seed corpora
// (testdata/fuzz/<target>/, which holds every fixture of testdata/ too); to
// fuzz for longer:
//
//	go test -run '^$' -fuzz '^FuzzLoadConfigFile$' -fuzztime 10m ./config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/alecthomas/kingpin/v2"
	"go.yaml.in/yaml/v3"
)

// Canaries planted where a secret lives: no message may show them.
const (
	envSecretCanary  = "ENV-canary-5ecret-7d1f0a9b"
	fileSecretCanary = "FILE-canary-5ecret-3c8e2b6d"
)

// loadFuzz loads with args on a fresh application and env as the whole
// environment, as Load does.
func loadFuzz(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	app := kingpin.New("zoom_exporter", "fuzz")
	f := AddFlags(app)
	if _, err := app.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return f.load(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

// printouts is every way a configuration may end up in a log or a page.
func printouts(cfg *Config) string {
	y, _ := yaml.Marshal(cfg)
	j, _ := json.Marshal(cfg)
	return fmt.Sprintf("%v\n%+v\n%#v\n%s\n%q\n%s\n%s", cfg, cfg, cfg, cfg.Zoom.ClientSecret, cfg.Zoom.ClientSecret, y, j)
}

// FuzzLoadConfigFile loads arbitrary bytes as the config file, with a
// secret planted in the environment and another in a secret file beside it:
// loading never panics, fails only with a *config.Error, and neither the
// errors nor any printout of the result show a planted secret.
func FuzzLoadConfigFile(f *testing.F) {
	f.Add([]byte("zoom:\n  account_id: a\n  client_id: b\n"))
	f.Add([]byte("zoom:\n  account_id: a\n  client_id: b\n  client_secret_file: secret.txt\nscrape:\n  interval: 1m\n"))
	f.Add([]byte("zoom: [1, 2]\nscrape: {interval: soon}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte(fileSecretCanary+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, env := range []map[string]string{
			{},
			{"ZOOM_CLIENT_SECRET": envSecretCanary},
		} {
			cfg, err := loadFuzz(t, []string{"--config.file=" + path}, env)
			var shown string
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T is not a *config.Error: %v", err, err)
				}
				if cfg != nil {
					t.Fatalf("a failed load returned a config")
				}
				shown = err.Error()
			} else {
				if cfg == nil {
					t.Fatal("no error and no config")
				}
				if v := env["ZOOM_CLIENT_SECRET"]; v != "" && string(cfg.Zoom.ClientSecret) != v {
					t.Fatalf("secret %q, want the environment's", cfg.Zoom.ClientSecret)
				}
				shown = printouts(cfg)
			}
			for _, canary := range []string{envSecretCanary, fileSecretCanary} {
				if strings.Contains(shown, canary) && !strings.Contains(string(data), canary) {
					t.Fatalf("a secret shows:\n%s", shown)
				}
			}
		}
	})
}

// FuzzConfigSecretNeverEchoed gives an arbitrary secret by each way a secret
// can be given (in the config file, in the environment, in a secret file),
// next to other problems, and checks that what is shown (error messages, or
// every printout of the loaded configuration) does not depend on the
// secret's value at all: it is the same as with a harmless stand-in.
func FuzzConfigSecretNeverEchoed(f *testing.F) {
	f.Add("s3cr3t-DO-NOT-PRINT")
	f.Add("multi\nline")
	f.Fuzz(func(t *testing.T, secret string) {
		if !utf8.ValidString(secret) || strings.TrimSpace(secret) == "" || strings.ContainsRune(secret, 0) {
			return // not a secret anyone can write in YAML, a file or the environment
		}
		const standIn = "stand-in"
		for _, tc := range []struct {
			name  string
			files func(secret string) (config, secretFile string, env map[string]string)
		}{
			{"in the config file, with other problems", func(s string) (string, string, map[string]string) {
				return configWithSecret(t, "gold", "client_secret", s), "", nil
			}},
			{"in the config file, valid", func(s string) (string, string, map[string]string) {
				return configWithSecret(t, "pro", "client_secret", s), "", nil
			}},
			{"in the environment and the config file", func(s string) (string, string, map[string]string) {
				return configWithSecret(t, "gold", "client_secret", "other"), "", map[string]string{"ZOOM_CLIENT_SECRET": s}
			}},
			{"in the environment, valid", func(s string) (string, string, map[string]string) {
				return configWithSecret(t, "pro", "", ""), "", map[string]string{"ZOOM_CLIENT_SECRET": s}
			}},
			{"in a secret file, with other problems", func(s string) (string, string, map[string]string) {
				return configWithSecret(t, "gold", "client_secret_file", "secret.txt"), s, nil
			}},
			{"in a secret file, valid", func(s string) (string, string, map[string]string) {
				return configWithSecret(t, "pro", "client_secret_file", "secret.txt"), s, nil
			}},
		} {
			show := func(s string) string {
				config, secretFile, env := tc.files(s)
				dir := t.TempDir()
				path := filepath.Join(dir, "config.yml")
				if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte(secretFile), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg, err := loadFuzz(t, []string{"--config.file=" + path}, env)
				if valid := strings.HasSuffix(tc.name, "valid"); valid && err != nil {
					t.Fatalf("%s: secret %q: %v", tc.name, s, err)
				} else if valid && string(cfg.Zoom.ClientSecret) != strings.TrimSpace(s) {
					t.Fatalf("%s: loaded secret %q, want %q", tc.name, string(cfg.Zoom.ClientSecret), strings.TrimSpace(s))
				}
				out := strings.ReplaceAll(func() string {
					if err != nil {
						return "error: " + err.Error()
					}
					return printouts(cfg)
				}(), dir, "DIR")
				return out
			}
			got, want := show(secret), show(standIn)
			if got != want {
				t.Fatalf("%s: what is shown depends on the secret %q:\n%s\nwith a stand-in:\n%s", tc.name, secret, got, want)
			}
		}
	})
}

// configWithSecret writes a config file with plan and, when key is set,
// key: value (client_secret or client_secret_file) as its last line, so the
// secret's length moves no other line.
func configWithSecret(t *testing.T, plan, key, value string) string {
	t.Helper()
	doc := "zoom:\n  account_id: a\n  client_id: b\n  plan: " + plan + "\n"
	if key != "" {
		// Double-quoted: one line whatever the value holds.
		v, err := yaml.Marshal(&yaml.Node{Kind: yaml.ScalarNode, Style: yaml.DoubleQuotedStyle, Tag: "!!str", Value: value})
		if err != nil {
			t.Fatal(err)
		}
		doc += "  " + key + ": " + strings.TrimSuffix(string(v), "\n") + "\n"
	}
	return doc
}
