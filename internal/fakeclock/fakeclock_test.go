package fakeclock

import (
	"strings"
	"testing"
	"time"
)

func TestFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, value, apiURL string
		wantErr             string // "" means no error
		wantAt              time.Time
	}{
		{name: "unset is the wall clock", value: "", apiURL: "https://api.zoom.us/v2"},
		{name: "loopback IPv4", value: "2028-02-29T23:59:50Z", apiURL: "http://127.0.0.1:8080/v2", wantAt: time.Date(2028, 2, 29, 23, 59, 50, 0, time.UTC)},
		{name: "loopback IPv6", value: "2026-12-01T00:05:00+01:00", apiURL: "http://[::1]:8080/v2", wantAt: time.Date(2026, 11, 30, 23, 5, 0, 0, time.UTC)},
		{name: "localhost", value: "2026-12-31T23:59:59.5Z", apiURL: "http://localhost:1/v2", wantAt: time.Date(2026, 12, 31, 23, 59, 59, 5e8, time.UTC)},
		{name: "real Zoom refused", value: "2026-12-01T00:05:00Z", apiURL: "https://api.zoom.us/v2?token=abc", wantErr: "not on loopback"},
		{name: "a name that resolves anywhere refused", value: "2026-12-01T00:05:00Z", apiURL: "http://fake.internal/v2", wantErr: "http://fake.internal"},
		{name: "not a time", value: "yesterday", apiURL: "http://127.0.0.1/v2", wantErr: `ZOOM_EXPORTER_FAKE_NOW="yesterday": not an RFC 3339 time`},
		{name: "a date without time", value: "2026-12-01", apiURL: "http://127.0.0.1/v2", wantErr: "RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			now, err := FromEnv(tt.value, tt.apiURL)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "token=abc") {
					t.Errorf("the error repeats the URL's query: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := now()
			if tt.wantAt.IsZero() {
				if d := time.Since(got); d < 0 || d > time.Minute {
					t.Errorf("unset: clock shows %v, not the wall clock", got)
				}
				return
			}
			if d := got.Sub(tt.wantAt); d < 0 || d > time.Minute {
				t.Errorf("clock shows %v, want %v or just after", got, tt.wantAt)
			}
			if later := now(); later.Before(got) {
				t.Errorf("clock went back: %v then %v", got, later)
			}
		})
	}
}
