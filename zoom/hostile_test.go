package zoom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"
)

// Every string of a listing row (ids, e-mails, names) is cut to maxRowText
// as the page is read, on a character boundary: a hostile listing of long
// names is not kept whole, page after page (3 GB in the hostile hour of
// ./scrape before the cut).
func TestListingRowTextCutAsRead(t *testing.T) {
	t.Parallel()
	// One byte, then two-byte characters: a cut at maxRowText falls inside one.
	long := "a" + strings.Repeat("é", 32<<10)
	tests := []struct {
		name    string
		array   string
		row     map[string]any
		call    func(*Client) ([]string, error) // the strings of the one row read
		wantAll int                             // how many of them were long
	}{
		{name: "users", array: "users",
			row: map[string]any{"id": long, "email": long, "display_name": long, "dept": long, "status": long, "type": 2},
			call: func(c *Client) ([]string, error) {
				users, err := c.ActiveUsers(context.Background())
				if err != nil || len(users) != 1 {
					return nil, fmt.Errorf("%d users, %w", len(users), err)
				}
				u := users[0]
				return []string{u.ID, u.Email, u.DisplayName, u.Dept, u.Status}, nil
			}, wantAll: 5},
		{name: "hosts report", array: "users",
			row: map[string]any{"id": long, "email": long, "meetings": 3},
			call: func(c *Client) ([]string, error) {
				from, to := monthWindow(testNow)
				hosts, err := c.ActiveHosts(context.Background(), from, to)
				if err != nil || len(hosts) != 1 {
					return nil, fmt.Errorf("%d hosts, %w", len(hosts), err)
				}
				if hosts[0].Meetings != 3 {
					return nil, fmt.Errorf("meetings %d, want 3", hosts[0].Meetings)
				}
				return []string{hosts[0].ID, hosts[0].Email}, nil
			}, wantAll: 2},
		{name: "user report", array: "meetings",
			row: map[string]any{"uuid": long, "user_email": long, "duration": 30, "type": 2},
			call: func(c *Client) ([]string, error) {
				from, to := monthWindow(testNow)
				ms, err := c.UserMeetings(context.Background(), "someone@example.com", from, to, ReportPast)
				if err != nil || len(ms) != 1 {
					return nil, fmt.Errorf("%d meetings, %w", len(ms), err)
				}
				if ms[0].Duration != 30 {
					return nil, fmt.Errorf("duration %d, want 30", ms[0].Duration)
				}
				return []string{ms[0].UUID, ms[0].UserEmail}, nil
			}, wantAll: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := apiOverride(t, nil, func(w http.ResponseWriter, r *http.Request) {
				json.NewEncoder(w).Encode(map[string]any{"page_size": 300, "total_records": 1, tt.array: []any{tt.row}})
			})
			got, err := tt.call(env.client)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.wantAll {
				t.Fatalf("%d strings, want %d", len(got), tt.wantAll)
			}
			for i, s := range got {
				if len(s) > maxRowText || len(s) < maxRowText-utf8.UTFMax || !utf8.ValidString(s) || !strings.HasPrefix(long, s) {
					t.Errorf("string %d: %d bytes (valid UTF-8 %v), want the first %d bytes or a little less, cut between characters",
						i, len(s), utf8.ValidString(s), maxRowText)
				}
			}
		})
	}
}

// A listing that would keep more than maxListingBytes of rows stops there,
// before its page cap: full pages of rows whose every string is just under
// maxRowText (the cut does not shrink them) and a fresh page token each
// time, without total_records. Before the bound, /users read 1,000 such
// pages: 1.5 GB kept.
func TestRunawayListingBoundedInMemory(t *testing.T) {
	t.Parallel()
	text := strings.Repeat("x", maxRowText-24)
	tests := []struct {
		name     string
		row      map[string]any
		rowBytes int // what bound counts for one row
		call     func(*Client) error
	}{
		{name: "users", row: map[string]any{"id": text, "email": text, "display_name": text, "dept": text, "status": text},
			rowBytes: rowOverhead + 5*len(text),
			call: func(c *Client) error {
				_, err := c.ActiveUsers(context.Background())
				return err
			}},
		{name: "hosts report", row: map[string]any{"id": text, "email": text, "meetings": 1},
			rowBytes: rowOverhead + 2*len(text),
			call: func(c *Client) error {
				from, to := monthWindow(testNow)
				_, err := c.ActiveHosts(context.Background(), from, to)
				return err
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows := make([]any, PageSize)
			for i := range rows {
				rows[i] = tt.row
			}
			// One page, encoded once; only its token changes.
			body, err := json.Marshal(map[string]any{"page_size": PageSize, "users": rows, "next_page_token": "TOKEN"})
			if err != nil {
				t.Fatal(err)
			}
			head, tail, _ := strings.Cut(string(body), "TOKEN")
			var calls atomic.Int64
			env := apiOverride(t, func(c *ClientConfig) { c.DailyBudget = 10000 }, func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "%st%d%s", head, calls.Add(1), tail)
			})
			err = tt.call(env.client)
			var runaway *RunawayListingError
			if !errors.As(err, &runaway) || !strings.Contains(err.Error(), "MiB of rows") {
				t.Fatalf("want a RunawayListingError for the MiB kept, got %.300v", err)
			}
			perPage := PageSize * tt.rowBytes
			if want := maxListingBytes/perPage + 1; int(calls.Load()) != want || runaway.Pages != want {
				t.Errorf("stopped after %d calls (%d pages), want %d: the first page past %d MiB of rows",
					calls.Load(), runaway.Pages, want, maxListingBytes>>20)
			}
		})
	}
}
