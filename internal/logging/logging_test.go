package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log/level"
)

func TestFlagsAndOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantDebug  bool
		wantInfo   bool
		wantFormat string
	}{
		{name: "defaults", args: nil, wantInfo: true, wantFormat: "logfmt"},
		{name: "debug json", args: []string{"--log.level=debug", "--log.format=json"}, wantDebug: true, wantInfo: true, wantFormat: "json"},
		{name: "warn hides info", args: []string{"--log.level=warn"}, wantFormat: "logfmt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			app := kingpin.New("test", "")
			c := AddFlags(app)
			if _, err := app.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			logger := NewTo(&buf, c)
			level.Debug(logger).Log("msg", "debug line")
			level.Info(logger).Log("msg", "info line")
			out := buf.String()
			if got := strings.Contains(out, "debug line"); got != tt.wantDebug {
				t.Errorf("debug logged = %v, want %v; output %q", got, tt.wantDebug, out)
			}
			if got := strings.Contains(out, "info line"); got != tt.wantInfo {
				t.Errorf("info logged = %v, want %v; output %q", got, tt.wantInfo, out)
			}
			if !tt.wantInfo {
				return
			}
			firstLine := strings.SplitN(out, "\n", 2)[0]
			if tt.wantFormat == "json" {
				var m map[string]any
				if err := json.Unmarshal([]byte(firstLine), &m); err != nil {
					t.Fatalf("json format: %v in %q", err, firstLine)
				}
				for _, key := range []string{"ts", "caller", "level", "msg"} {
					if _, ok := m[key]; !ok {
						t.Errorf("json line lacks %q: %q", key, firstLine)
					}
				}
			} else if !strings.Contains(firstLine, "ts=") || !strings.Contains(firstLine, "caller=logging_test.go") {
				t.Errorf("logfmt line lacks ts or caller: %q", firstLine)
			}
		})
	}
}

func TestBadLevelRejected(t *testing.T) {
	t.Parallel()
	app := kingpin.New("test", "")
	AddFlags(app)
	if _, err := app.Parse([]string{"--log.level=verbose"}); err == nil || !strings.Contains(err.Error(), "log.level") {
		t.Fatalf("want an error naming --log.level, got %v", err)
	}
}

func TestSlogBridge(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := Slog(&buf, &Config{Level: "info", Format: "logfmt"})
	logger.Debug("hidden")
	logger.Info("Listening on", "address", "[::]:9865")
	out := buf.String()
	if strings.Contains(out, "hidden") {
		t.Errorf("debug message passed an info filter: %q", out)
	}
	if !strings.Contains(out, `msg="Listening on"`) || !strings.Contains(out, "address=[::]:9865") || !strings.Contains(out, "level=info") {
		t.Errorf("bridged line = %q", out)
	}
}
