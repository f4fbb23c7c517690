// Package logging sets up the go-kit logger from --log.level and
// --log.format, with the names, values and defaults Prometheus uses.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	sloggokit "github.com/tjhop/slog-gokit"
)

// Config holds the logging flags.
type Config struct {
	Level  string
	Format string
}

// AddFlags registers --log.level and --log.format on app.
func AddFlags(app *kingpin.Application) *Config {
	c := &Config{}
	app.Flag("log.level", "Only log messages with the given severity or above. One of: [debug, info, warn, error]").
		Envar("ZOOM_EXPORTER_LOG_LEVEL").Default("info").
		SetValue(&oneOf{flag: "--log.level", target: &c.Level, allowed: []string{"debug", "info", "warn", "error"}})
	app.Flag("log.format", "Output format of log messages. One of: [logfmt, json]").
		Envar("ZOOM_EXPORTER_LOG_FORMAT").Default("logfmt").
		SetValue(&oneOf{flag: "--log.format", target: &c.Format, allowed: []string{"logfmt", "json"}})
	return c
}

// oneOf is an enum flag whose error names the flag, which kingpin's own
// enum error does not.
type oneOf struct {
	flag    string
	target  *string
	allowed []string
}

func (o *oneOf) Set(v string) error {
	if !slices.Contains(o.allowed, v) {
		return fmt.Errorf("%s: %q is not one of %s", o.flag, v, strings.Join(o.allowed, ", "))
	}
	*o.target = v
	return nil
}

func (o *oneOf) String() string { return *o.target }

// New returns the go-kit logger for c, writing to stderr.
func New(c *Config) log.Logger { return NewTo(os.Stderr, c) }

// NewTo returns the go-kit logger for c, writing to w, with ts and caller keys.
func NewTo(w io.Writer, c *Config) log.Logger {
	logger := newBase(w, c)
	return log.With(logger, "ts", log.DefaultTimestampUTC, "caller", log.DefaultCaller)
}

// Slog bridges the go-kit logger to *slog.Logger for libraries that want one
// (exporter-toolkit). slog-gokit adds its own caller and time keys, so it
// gets a go-kit logger with neither.
func Slog(w io.Writer, c *Config) *slog.Logger {
	return slog.New(sloggokit.NewGoKitHandler(newBase(w, c), slogLevel(c.Level)))
}

func newBase(w io.Writer, c *Config) log.Logger {
	sw := log.NewSyncWriter(w)
	var logger log.Logger
	if c.Format == "json" {
		logger = log.NewJSONLogger(sw)
	} else {
		logger = log.NewLogfmtLogger(sw)
	}
	return level.NewFilter(logger, levelOption(c.Level))
}

func levelOption(l string) level.Option {
	switch l {
	case "debug":
		return level.AllowDebug()
	case "warn":
		return level.AllowWarn()
	case "error":
		return level.AllowError()
	}
	return level.AllowInfo()
}

func slogLevel(l string) slog.Level {
	switch l {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
