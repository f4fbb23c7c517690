package scrape

import (
	"encoding/json"
	"testing"

	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Fuzz targets for what the scraper counts from Zoom's report pages: any
// decoded page gives figures, records and growth that never go negative or
// shrink. `go test` runs their seed corpora (testdata/fuzz/<target>/ and the
// f.Add seeds); to fuzz one for longer:
//
//	go test -run '^$' -fuzz '^FuzzDecodeMeetingsPage$' -fuzztime 10m ./scrape

// checkFigures asserts what the counters rely on for any decoded meeting:
// figures, records and growth are never negative, a meeting's growth over
// its own record is nothing, and growth never shrinks a record.
func checkFigures(t *testing.T, ms []zoom.Meeting) {
	t.Helper()
	nonNegative := func(what string, x Totals) {
		t.Helper()
		if x.Meetings < 0 || x.DurationSeconds < 0 || x.ParticipantSeconds < 0 || x.Participants < 0 ||
			x.WithRecording < 0 || x.WithScreenShare < 0 || x.WithChat < 0 {
			t.Fatalf("%s has a negative figure: %+v", what, x)
		}
	}
	for i, m := range ms {
		f := figures(m)
		nonNegative("figures", f)
		if f.Meetings != 1 {
			t.Fatalf("figures(%+v).Meetings = %d, want 1", m, f.Meetings)
		}
		r := record(m)
		if r.Duration < 0 || r.TotalMinutes < 0 || r.Participants < 0 {
			t.Fatalf("record(%+v) = %+v: negative", m, r)
		}
		if TypeName(int(r.Type)) != TypeName(m.Type) {
			t.Fatalf("record type %d (%s) for type %d", r.Type, TypeName(int(r.Type)), m.Type)
		}
		if add, next := growth(r, m); add != (Totals{}) || next != r {
			t.Fatalf("growth of a meeting over its own record = %+v, %+v", add, next)
		}
		// Any later report of the "same" meeting: growth adds only what grew.
		for _, later := range ms[i:min(i+4, len(ms))] {
			add, next := growth(r, later)
			nonNegative("growth", add)
			if next.Duration < r.Duration || next.TotalMinutes < r.TotalMinutes || next.Participants < r.Participants || next.Flags&r.Flags != r.Flags {
				t.Fatalf("growth shrank the record %+v to %+v", r, next)
			}
		}
	}
}

func FuzzDecodeMeetingsPage(f *testing.F) {
	f.Add([]byte(`{"from":"2026-11-01","to":"2026-11-20","page_size":300,"total_records":1,"next_page_token":"","meetings":[{"uuid":"a/b+c==","id":81234567890,"type":8,"topic":"t","start_time":"2026-11-03T14:05:09Z","end_time":"2026-11-03T15:05:09Z","duration":60,"total_minutes":180,"participants_count":3,"has_recording":true,"has_screen_share":false,"has_chat":true,"user_email":"a@example.com"}]}`))
	f.Add([]byte(`{"meetings":[{"uuid":"","type":99,"start_time":"","end_time":null,"duration":-5}]}`))
	f.Add([]byte(`{"page_size":300,"total_records":3,"meetings":[{"uuid":"<html><body>502 Bad Gateway</body></html>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var p struct{ Meetings []zoom.Meeting }
		if err := json.Unmarshal(data, &p); err != nil {
			return
		}
		checkFigures(t, p.Meetings)
	})
}

func FuzzDecodeUsersPage(f *testing.F) {
	f.Add([]byte(`{"page_size":300,"total_records":2,"next_page_token":"","users":[{"id":"KDcuGIm1QgePTO8WbOqwIQ","email":"a@example.com","display_name":"A","type":2,"dept":"R&D","status":"active"},{"id":"x","type":99}]}`))
	f.Add([]byte(`{"users":[{"id":"h","email":"h@example.com","user_name":"H","meetings":3,"participants":9,"meeting_minutes":120}],"total_meetings":3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var users struct{ Users []zoom.User }
		if json.Unmarshal(data, &users) == nil {
			for _, u := range users.Users {
				if LicenseName(u.Type) == "" {
					t.Fatalf("empty license label for type %d", u.Type)
				}
			}
		}
		var hosts struct{ Users []zoom.HostActivity }
		_ = json.Unmarshal(data, &hosts)
	})
}
