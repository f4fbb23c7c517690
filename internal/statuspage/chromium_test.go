package statuspage

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// chromium finds a headless-capable Chromium. The README's test command
// installs Debian's chromium when it is missing; a test never installs.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("no chromium on PATH: install it (Debian: apt-get install chromium), as the README's test command does")
	return ""
}

// TestStatusPageInChromium loads the page in a real headless Chromium and
// checks what the browser made of it: the DOM it built, and that it refused
// nothing under the page's Content-Security-Policy.
func TestStatusPageInChromium(t *testing.T) {
	t.Parallel()
	browser := chromium(t)
	srv := httptest.NewServer(newTestHandler(sampleSource(), 5*time.Minute))
	t.Cleanup(srv.Close)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--enable-logging=stderr", "--v=0",
		"--user-data-dir="+t.TempDir(), "--dump-dom", srv.URL+"/status")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "Content Security Policy") {
		t.Errorf("chromium blocked part of the page under its Content-Security-Policy:\n%s", stderr.String())
	}

	doc := parse(t, &stdout)
	if titles := findAll(doc, tag("title")); len(titles) != 1 || text(titles[0]) != "Zoom Exporter status" {
		t.Errorf("title: %v", titles)
	}
	rows := userRows(t, doc)
	if len(rows) != 4 {
		t.Fatalf("chromium shows %d user rows, want 4: %q", len(rows), rows)
	}
	first := rows[0]
	for _, want := range []string{hostileEmail, "failed", "HTTP 404 Not Found", "Zoom code 1001", hostileMessage, "Tracking id " + trackingID} {
		if !strings.Contains(first[1], want) {
			t.Errorf("chromium's first row lacks %q: %s", want, first[1])
		}
	}
	if first[0] != "failed" || rows[3][0] != "ok" {
		t.Errorf("row order: %q", rows)
	}
	for _, el := range []string{"script", "img"} {
		if n := findAll(doc, tag(el)); len(n) > 0 {
			t.Errorf("chromium built %d <%s> elements from escaped values", len(n), el)
		}
	}
	for id, want := range map[string]string{"quota-used": "1234", "quota-budget": "15000", "quota-remaining": "13766", "token-state": "valid"} {
		if got := text(byID(t, doc, id)); got != want {
			t.Errorf("#%s shows %q, want %q", id, got, want)
		}
	}
}
