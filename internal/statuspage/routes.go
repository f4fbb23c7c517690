package statuspage

import (
	"fmt"
	"net/http"
	"path"
	"strings"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

// The exporter's own paths, besides the metrics path. Management endpoints
// live under /-/ (the Prometheus convention), so the whole prefix is kept.
const (
	PathLanding = "/"
	PathStatus  = "/status"
	PathHealthy = "/-/healthy"
	PathReady   = "/-/ready"
	adminPrefix = "/-/"
)

// ValidateTelemetryPath checks --web.telemetry-path: an absolute, clean path
// of plain URL characters that none of the exporter's own pages uses. Before
// this check, such a value made http.ServeMux panic at start.
func ValidateTelemetryPath(p string) error {
	return validatePath("--web.telemetry-path", p, "/metrics")
}

// validatePath checks a configurable path (flag names it; def is its
// default, which messages suggest).
func validatePath(flag, p, def string) error {
	switch {
	case p == "":
		return fmt.Errorf("%s must not be empty; the default is %s", flag, def)
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("%s %q must start with \"/\" (for example /%s)", flag, p, strings.TrimLeft(p, "/"))
	case strings.IndexFunc(p, func(r rune) bool { return !isPathRune(r) }) >= 0:
		return fmt.Errorf("%s %q may contain only letters, digits and the characters / - . _ ~", flag, p)
	case path.Clean(p) != p:
		return fmt.Errorf("%s %q is not a clean path (no //, /./, /../ or trailing /); did you mean %s?", flag, p, path.Clean(p))
	case p == PathLanding, p == PathStatus, strings.HasPrefix(p, adminPrefix):
		return fmt.Errorf("%s %q is taken by the exporter's own pages (%s landing page, %s, %s, %s and anything under %s); use another path such as %s",
			flag, p, PathLanding, PathStatus, PathHealthy, PathReady, adminPrefix, def)
	}
	return nil
}

func isPathRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/-._~", r)
}

// allowedMethods is the Allow header of every page: they are all read-only.
const allowedMethods = "GET, HEAD"

// ReadOnly serves h for GET and HEAD; any other method gets 405 Method Not
// Allowed with an Allow header, as HTTP asks (none of the pages changes state).
func ReadOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", allowedMethods)
			http.Error(w, "Method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ReadySource is what /-/ready reads: the scraper.
type ReadySource interface {
	Ready() bool
	Snapshot() *scrape.Snapshot
}

// Readiness serves /-/ready: 200 once src is ready, else 503 with what is
// missing. The scraper decides readiness: ready once it has data worth
// serving (a refresh succeeded, or counters were restored from the store and
// the first refresh was attempted), and never not-ready again afterwards,
// since a restart does not fix a Zoom outage.
func Readiness(src ReadySource) http.Handler {
	return ReadOnly(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if src.Ready() {
			fmt.Fprintln(w, "Ready")
			return
		}
		http.Error(w, notReadyReason(src.Snapshot()), http.StatusServiceUnavailable)
	}))
}

// notReadyReason says what a not-ready exporter is missing, from what the
// snapshot shows: stored data waiting for a first refresh, or no data at all.
func notReadyReason(snap *scrape.Snapshot) string {
	if snap != nil {
		for _, u := range snap.Users {
			if len(u.Counters) > 0 || !u.LastRefresh.IsZero() {
				return "Not ready: counters were restored from the store, but the first refresh has not been attempted yet (see /status)"
			}
		}
	}
	return "Not ready: no refresh has succeeded yet and the store holds no data (see /status)"
}
