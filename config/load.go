package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// loader merges the sources of one Load and collects its problems.
type loader struct {
	f         *Flags
	lookupEnv func(string) (string, bool)
	path      string      // config file, "" if none
	file      *fileConfig // never nil: empty when there is no usable file
	// unusable is set when the config file could not be read or parsed:
	// values it may hold are then not reported as missing.
	unusable bool
	problems []string
}

func (l *loader) problemf(format string, args ...any) {
	l.problems = append(l.problems, fmt.Sprintf(format, args...))
}

func (f *Flags) load(lookupEnv func(string) (string, bool)) (*Config, error) {
	l := &loader{f: f, lookupEnv: lookupEnv, path: f.configFilePath(lookupEnv), file: &fileConfig{}}
	if l.path != "" {
		if fc := l.readFile(l.path); fc != nil {
			l.file = fc
		} else {
			l.unusable = true
		}
	}

	def := Default()
	cfg := &Config{}
	cfg.Demo = l.demo()
	z, fz := &cfg.Zoom, &l.file.Zoom
	z.AccountID = l.required(sAccountID, &f.accountID, fz.AccountID, cfg.Demo)
	z.ClientID = l.required(sClientID, &f.clientID, fz.ClientID, cfg.Demo)
	z.ClientSecret, z.ClientSecretFile = l.secret(cfg.Demo)
	z.APIURL = strings.TrimRight(l.url(sAPIURL, &f.apiURL, fz.APIURL, def.Zoom.APIURL), "/")
	z.TokenURL = l.url(sTokenURL, &f.tokenURL, fz.TokenURL, def.Zoom.TokenURL)
	z.Users = l.users()
	z.Plan = l.oneOf(sPlan, &f.plan, fz.Plan, def.Zoom.Plan, plans)
	z.RequestTimeout = l.duration(sRequestTimeout, &f.requestTimeout, fz.RequestTimeout, def.Zoom.RequestTimeout, minRequestTimeout)
	z.MaxRetries = l.integer(sMaxRetries, &f.maxRetries, fz.MaxRetries, def.Zoom.MaxRetries, 0, maxMaxRetries)
	z.DailyBudget = l.integer(sDailyBudget, &f.dailyBudget, fz.DailyBudget, def.Zoom.DailyBudget, 0, maxDailyBudget)
	if quota := planDailyQuota[z.Plan]; quota > 0 && z.DailyBudget > quota {
		l.problemf("%s: %d: more than the %s plan's daily quota of %d Heavy calls", sDailyBudget.key, z.DailyBudget, z.Plan, quota)
	}
	z.EventsWebSocketURL = l.webSocketURL()
	z.WebhookSecretToken, z.WebhookSecretTokenFile, _ = l.secretFrom(sWebhookToken, sWebhookTokenFile,
		&f.webhookTokenFile, fz.WebhookSecretToken, fz.WebhookSecretTokenFile)

	s, fs := &cfg.Scrape, &l.file.Scrape
	intervalDefault := def.Scrape.Interval
	if cfg.Demo {
		// The simulated account changes every few seconds: show it.
		intervalDefault = DemoInterval
	}
	s.Interval = l.duration(sInterval, &f.interval, fs.Interval, intervalDefault, minInterval)
	s.GracePeriod = l.duration(sGracePeriod, &f.gracePeriod, fs.GracePeriod, def.Scrape.GracePeriod, 0)
	s.ReportType = l.oneOf(sReportType, &f.reportType, fs.ReportType, def.Scrape.ReportType, reportTypes)
	s.Concurrency = l.integer(sConcurrency, &f.concurrency, fs.Concurrency, def.Scrape.Concurrency, minConcurrency, maxConcurrency)
	s.FullInterval = l.duration(sFullInterval, &f.fullInterval, fs.FullInterval, def.Scrape.FullInterval, s.Interval)
	sweepDefault := max(def.Scrape.SweepInterval, s.Interval) // a default never conflicts with a long interval
	if cfg.Demo {
		sweepDefault = max(DemoSweepInterval, s.Interval)
	}
	s.SweepInterval = l.duration(sSweepInterval, &f.sweepInterval, fs.SweepInterval, sweepDefault, s.Interval)

	cfg.Storage.Path = def.Storage.Path
	if cfg.Demo {
		cfg.Storage.Path = "" // a temporary store: the demo's data is made up
	}
	if r, ok := l.pick(sStoragePath, &f.storagePath, l.file.Storage.Path); ok {
		cfg.Storage.Path, _ = l.scalar(sStoragePath, r, "a directory")
	}
	cfg.Storage.DiscardForeign = l.boolean(sDiscardForeign, l.f.discardForeignSet, l.f.discardForeign, l.file.Storage.DiscardForeign)

	if len(l.problems) > 0 {
		return nil, &Error{Problems: l.problems}
	}
	return cfg, nil
}

// raw is the value that won for one field, before it is checked.
type raw struct {
	text string     // the value when it came from a flag or the environment
	node *yaml.Node // the value when it came from the config file
	from string     // where it came from, for messages
}

// pick returns the value of a field from its first source that gives one:
// the command line, the environment, the config file. An empty value counts
// as not given, as kingpin does for environment variables.
func (l *loader) pick(s setting, fl *stringFlag, fv fileValue) (raw, bool) {
	if fl != nil && fl.set {
		if v := strings.TrimSpace(fl.value); v != "" {
			return raw{text: v, from: "--" + s.flag}, true
		}
	}
	if v, ok := l.env(s); ok {
		return raw{text: v, from: s.env}, true
	}
	if n := fv.node; n != nil && (n.Kind != yaml.ScalarNode || strings.TrimSpace(n.Value) != "") {
		return raw{node: n, from: l.at(n)}, true
	}
	return raw{}, false
}

// env returns the field's environment variable, trimmed, if it is not empty.
func (l *loader) env(s setting) (string, bool) {
	if s.env == "" {
		return "", false
	}
	v, ok := l.lookupEnv(s.env)
	v = strings.TrimSpace(v)
	return v, ok && v != ""
}

func (l *loader) at(n *yaml.Node) string {
	return fmt.Sprintf("config file %s line %d", l.path, n.Line)
}

// scalar returns r as text, recording a problem if the config file gave a
// list or a mapping. The message never shows the value.
func (l *loader) scalar(s setting, r raw, want string) (string, bool) {
	if r.node == nil {
		return r.text, true
	}
	if r.node.Kind != yaml.ScalarNode {
		l.problemf("%s: must be %s, not %s (from %s)", s.key, want, kindName(r.node), r.from)
		return "", false
	}
	return strings.TrimSpace(r.node.Value), true
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return tagName(n.ShortTag())
}

// tagName describes a YAML scalar tag in words.
func tagName(tag string) string {
	switch tag {
	case "!!str":
		return "a string"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	case "!!bool":
		return "a boolean"
	case "!!null":
		return "empty"
	case "!!seq":
		return "a list"
	case "!!map":
		return "a mapping"
	}
	return "a " + strings.TrimPrefix(tag, "!!")
}

// required returns a field that must be set, except in demo mode.
func (l *loader) required(s setting, fl *stringFlag, fv fileValue, demo bool) string {
	r, ok := l.pick(s, fl, fv)
	if !ok {
		if !demo && !l.unusable {
			l.problemf("%s: missing: set --%s, %s or %s in the config file", s.key, s.flag, s.env, s.key)
		}
		return ""
	}
	v, _ := l.scalar(s, r, "a string")
	return v
}

func (l *loader) url(s setting, fl *stringFlag, fv fileValue, def string) string {
	r, ok := l.pick(s, fl, fv)
	if !ok {
		return def
	}
	v, ok := l.scalar(s, r, "a URL")
	if !ok {
		return ""
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		// Not the value: an unparseable URL cannot be redacted, and it may hold a password.
		var ue *url.Error
		reason := err
		if errors.As(err, &ue) {
			reason = ue.Err
		}
		l.problemf("%s: not a valid URL: %v (from %s)", s.key, reason, r.from)
	case u.Scheme != "http" && u.Scheme != "https":
		l.problemf("%s: %q: must be an http or https URL (from %s)", s.key, u.Redacted(), r.from)
	case u.Host == "":
		l.problemf("%s: %q: must include a host (from %s)", s.key, u.Redacted(), r.from)
	}
	return v
}

func (l *loader) oneOf(s setting, fl *stringFlag, fv fileValue, def string, options []string) string {
	r, ok := l.pick(s, fl, fv)
	if !ok {
		return def
	}
	v, ok := l.scalar(s, r, "one of "+strings.Join(options, ", "))
	if ok && !slices.Contains(options, v) {
		l.problemf("%s: %q: must be one of %s (from %s)", s.key, v, strings.Join(options, ", "), r.from)
	}
	return v
}

func (l *loader) duration(s setting, fl *stringFlag, fv fileValue, def, minimum model.Duration) model.Duration {
	r, ok := l.pick(s, fl, fv)
	if !ok {
		return def
	}
	v, ok := l.scalar(s, r, "a duration")
	if !ok {
		return 0
	}
	d, err := model.ParseDuration(v)
	switch {
	case err != nil:
		l.problemf("%s: %q: not a valid duration; write it like 30s, 5m, 48h or 1d (from %s)", s.key, v, r.from)
	case d < minimum:
		l.problemf("%s: %q: must be at least %s (from %s)", s.key, v, minimum, r.from)
	}
	return d
}

func (l *loader) integer(s setting, fl *stringFlag, fv fileValue, def, minimum, maximum int) int {
	r, ok := l.pick(s, fl, fv)
	if !ok {
		return def
	}
	v, ok := l.scalar(s, r, "an integer")
	if !ok {
		return 0
	}
	var n int
	var err error
	if r.node != nil {
		// YAML's own integer syntax, and no quoted strings.
		if r.node.ShortTag() == "!!int" {
			err = r.node.Decode(&n)
		} else {
			err = strconv.ErrSyntax
		}
	} else {
		n, err = strconv.Atoi(v)
	}
	switch {
	case err != nil:
		l.problemf("%s: %q: must be an integer (from %s)", s.key, v, r.from)
	case n < minimum || n > maximum:
		l.problemf("%s: %d: must be between %d and %d (from %s)", s.key, n, minimum, maximum, r.from)
	}
	return n
}

func (l *loader) demo() bool {
	if l.f.demoSet {
		return l.f.demo
	}
	v, ok := l.env(sDemo)
	if !ok {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		l.problemf("%s: %q: must be true or false (from %s)", sDemo.key, v, sDemo.env)
	}
	return b
}

// boolean returns a true/false setting from the command line, the
// environment or the config file (a YAML boolean, not a string), or false.
func (l *loader) boolean(s setting, set, flagValue bool, fv fileValue) bool {
	if set {
		return flagValue
	}
	if v, ok := l.env(s); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			l.problemf("%s: %q: must be true or false (from %s)", s.key, v, s.env)
		}
		return b
	}
	r, ok := l.pick(s, nil, fv)
	if !ok {
		return false
	}
	v, ok := l.scalar(s, r, "true or false")
	if !ok {
		return false
	}
	var b bool
	if r.node.ShortTag() != "!!bool" || r.node.Decode(&b) != nil {
		l.problemf("%s: %q: must be true or false (from %s)", s.key, v, r.from)
	}
	return b
}

// secret resolves the client secret, given either as a value or as a file,
// and returns it with the file it was read from, if any.
func (l *loader) secret(demo bool) (Secret, string) {
	v, path, given := l.secretFrom(sClientSecret, sClientSecretFile, &l.f.clientSecretFile, l.file.Zoom.ClientSecret, l.file.Zoom.ClientSecretFile)
	if !given && !demo && !l.unusable {
		l.problemf("%s: missing: set %s, --%s, %s, or %s or %s in the config file",
			sClientSecret.key, sClientSecret.env, sClientSecretFile.flag, sClientSecretFile.env,
			sClientSecret.key, sClientSecretFile.key)
	}
	return v, path
}

// secretFrom resolves a secret given either as a value (its environment
// variable or the config file; never a flag) or as a file (flag,
// environment or config file), and returns it with the file it was read
// from, if any, and whether either was given. Messages never show it.
func (l *loader) secretFrom(val, file setting, fileFlag *stringFlag, fileVal, fileFile fileValue) (Secret, string, bool) {
	v, haveVal := l.pick(val, nil, fileVal)
	f, haveFile := l.pick(file, fileFlag, fileFile)
	switch {
	case haveVal && haveFile:
		l.problemf("%s and %s: both given, by %s and %s; use one", val.key, file.key, v.from, f.from)
		return "", "", true
	case haveVal:
		s, _ := l.scalar(val, v, "a string")
		return Secret(s), "", true
	case haveFile:
		path, ok := l.scalar(file, f, "a path")
		if !ok {
			return "", "", true
		}
		if f.node != nil && !filepath.IsAbs(path) {
			// Like Prometheus: relative to the config file.
			path = filepath.Join(filepath.Dir(l.path), path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			l.problemf("%s: %v (from %s)", file.key, err, f.from)
			return "", path, true
		}
		s := strings.TrimSpace(string(data))
		if s == "" {
			l.problemf("%s: %s is empty (from %s)", file.key, path, f.from)
		}
		return Secret(s), path, true
	}
	return "", "", false
}

// webSocketURL returns the event subscription's WebSocket URL, "" when none
// is given. Zoom's endpoint is wss://; ws:// is for a fake on loopback. The
// URL is shown in messages without its query, which could hold a token.
func (l *loader) webSocketURL() string {
	s := sWebSocketURL
	r, ok := l.pick(s, &l.f.webSocketURL, l.file.Zoom.EventsWebSocketURL)
	if !ok {
		return ""
	}
	v, ok := l.scalar(s, r, "a URL")
	if !ok {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		var ue *url.Error
		reason := err
		if errors.As(err, &ue) {
			reason = ue.Err
		}
		l.problemf("%s: not a valid URL: %v (from %s)", s.key, reason, r.from)
		return v
	}
	shown := (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	if u.RawQuery != "" {
		shown += "?..."
	}
	q, qerr := url.ParseQuery(u.RawQuery)
	switch {
	case u.Scheme != "wss" && u.Scheme != "ws":
		l.problemf("%s: %q: must be a wss:// URL, such as wss://ws.zoom.us/ws?subscriptionId=... from the app's event subscription (from %s)", s.key, shown, r.from)
	case u.Host == "" || u.Hostname() == "":
		l.problemf("%s: %q: must include a host (from %s)", s.key, shown, r.from)
	case u.Scheme == "ws" && !loopbackHost(u.Hostname()):
		l.problemf("%s: %q: ws:// (unencrypted) is allowed only on a loopback host; Zoom's endpoint is wss:// (from %s)", s.key, shown, r.from)
	case u.User != nil:
		l.problemf("%s: %q: must not carry user information (from %s)", s.key, shown, r.from)
	case qerr != nil:
		l.problemf("%s: %q: the query is not valid: %v (from %s)", s.key, shown, qerr, r.from)
	case q.Has("access_token"):
		l.problemf("%s: %q: must not carry an access_token: the exporter appends a fresh one; give the URL from the app's event subscription as it is (from %s)", s.key, shown, r.from)
	}
	return v
}

// loopbackHost reports whether host is localhost or a loopback address.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// users returns the users to track, without duplicates (e-mails compared
// without case), in the order given. Empty entries are errors, except
// trailing or doubled separators in the environment variable.
func (l *loader) users() []string {
	type user struct{ name, from, bad string }
	var list []user
	switch {
	case l.f.usersSet:
		for _, u := range l.f.users {
			list = append(list, user{name: strings.TrimSpace(u), from: "--" + sUsers.flag})
		}
	default:
		if v, ok := l.env(sUsers); ok {
			for u := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
				if u = strings.TrimSpace(u); u != "" {
					list = append(list, user{name: u, from: sUsers.env})
				}
			}
			break
		}
		n := l.file.Zoom.Users.node
		if n == nil {
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			l.problemf("%s: must be a list of user ids or e-mails, not %s (from %s)", sUsers.key, kindName(n), l.at(n))
			return nil
		}
		for _, item := range n.Content {
			u := user{name: strings.TrimSpace(item.Value), from: l.at(item)}
			if item.Kind != yaml.ScalarNode || item.ShortTag() == "!!null" {
				u.bad = "must be a user id or e-mail, not " + kindName(item)
			}
			list = append(list, u)
		}
	}

	var users []string
	seen := map[string]bool{}
	for i, u := range list {
		switch {
		case u.bad != "":
		case u.name == "":
			u.bad = "empty; give a user id or e-mail"
		case !utf8.ValidString(u.name):
			u.bad = "not valid UTF-8; give a user id or e-mail" // it would become a label value
		}
		if u.bad != "" {
			l.problemf("%s[%d]: %s (from %s)", sUsers.key, i, u.bad, u.from)
			continue
		}
		key := u.name
		if strings.Contains(key, "@") {
			key = strings.ToLower(key)
		}
		if !seen[key] {
			seen[key] = true
			users = append(users, u.name)
		}
	}
	return users
}
