package zoomfake

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strconv"
	"testing"
)

func TestUsersPaging(t *testing.T) {
	e := newEnv(t, Options{Users: 25})
	tok := e.token()
	want := e.fake.Users()
	if len(want) != 25 {
		t.Fatalf("Users() = %d", len(want))
	}
	var got []apiUser
	q := url.Values{"page_size": {"10"}}
	pages := 0
	for {
		var p usersPage
		e.getJSON(tok, "/users?"+q.Encode(), 200, &p)
		pages++
		if p.TotalRecords != 25 || p.PageCount != 3 || p.PageSize != 10 {
			t.Errorf("page %d: total %d count %d size %d", pages, p.TotalRecords, p.PageCount, p.PageSize)
		}
		got = append(got, p.Users...)
		if p.NextPageToken == "" {
			break
		}
		q.Set("next_page_token", p.NextPageToken)
	}
	if pages != 3 || len(got) != 25 {
		t.Fatalf("%d pages, %d users", pages, len(got))
	}
	idRE := regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)
	types := map[int]int{}
	for i, u := range got {
		if u.ID != want[i].ID || u.Email != want[i].Email || u.Status != "active" {
			t.Errorf("user %d: %+v vs %+v", i, u, want[i])
		}
		if !idRE.MatchString(u.ID) || u.DisplayName == "" || u.Timezone == "" || u.LastLoginTime == "" {
			t.Errorf("user %d fields: %+v", i, u)
		}
		types[u.Type]++
	}
	if want[0].Email != "user01@example.com" {
		t.Errorf("first e-mail %q", want[0].Email)
	}
	if types[1] == 0 || types[2] <= types[1] {
		t.Errorf("license mix %v: want mostly licensed, some basic", types)
	}
}

func TestUsersStatusAndPageSize(t *testing.T) {
	e := newEnv(t, Options{Users: 310})
	tok := e.token()
	tests := []struct {
		query         string
		wantPageSize  int
		wantOnPage    int
		wantTotal     int
		wantNextToken bool
	}{
		{"", 30, 30, 310, true},
		{"page_size=1000", 300, 300, 310, true},
		{"status=inactive", 30, 2, 2, false},
		{"status=pending", 30, 1, 1, false},
		{"status=active&page_size=300", 300, 300, 310, true},
	}
	for _, tc := range tests {
		var p usersPage
		e.getJSON(tok, "/users?"+tc.query, 200, &p)
		if p.PageSize != tc.wantPageSize || len(p.Users) != tc.wantOnPage || p.TotalRecords != tc.wantTotal ||
			(p.NextPageToken != "") != tc.wantNextToken {
			t.Errorf("%q: size %d, %d users, total %d, next %q", tc.query, p.PageSize, len(p.Users), p.TotalRecords, p.NextPageToken)
		}
	}
	e.wantError(tok, "/users?status=bogus", 400, 300, "status")
	e.wantError(tok, "/users?next_page_token=garbage", 400, 300, "The next page token is invalid or expired.")
}

// TestPageNumberPaging: with Options.PageNumberPaging every listing pages by
// page_number and page_count with no next_page_token, as real answers were
// recorded doing (zoom/testdata/zoomspec/report_users_page_number.json);
// in the default mode every page still says its page_number.
func TestPageNumberPaging(t *testing.T) {
	t.Parallel()
	for _, numbered := range []bool{true, false} {
		e := newEnv(t, Options{Users: 25, PageNumberPaging: numbered})
		tok := e.token()
		paths := map[string]string{
			"users":        "/users?status=active&page_size=10",
			"hosts report": "/report/users?type=active&from=2026-11-01&to=2026-11-24&page_size=10",
			"user report":  meetingsPath(e.fake.Users()[0].ID, monthQuery("2026-11-01", "2026-11-24", "page_size", "300")),
		}
		for name, path := range paths {
			type listing struct {
				PageNumber    int               `json:"page_number"`
				PageCount     int               `json:"page_count"`
				TotalRecords  int               `json:"total_records"`
				NextPageToken *string           `json:"next_page_token"`
				Users         []json.RawMessage `json:"users"`
				Meetings      []json.RawMessage `json:"meetings"`
			}
			var first listing
			e.getJSON(tok, path, 200, &first)
			if first.PageNumber != 1 || first.PageCount < 2 {
				t.Fatalf("numbered=%v %s: page_number %d of page_count %d; want page 1 of several", numbered, name, first.PageNumber, first.PageCount)
			}
			if hasToken := first.NextPageToken != nil && *first.NextPageToken != ""; hasToken == numbered {
				t.Errorf("numbered=%v %s: next_page_token %v", numbered, name, first.NextPageToken)
			}
			rows := 0
			for n := 1; n <= first.PageCount; n++ {
				var p listing
				e.getJSON(tok, path+"&page_number="+strconv.Itoa(n), 200, &p)
				if p.PageNumber != n || p.PageCount != first.PageCount || p.TotalRecords != first.TotalRecords {
					t.Errorf("numbered=%v %s page %d: says page %d of %d, %d records", numbered, name, n, p.PageNumber, p.PageCount, p.TotalRecords)
				}
				rows += len(p.Users) + len(p.Meetings)
			}
			if rows != first.TotalRecords {
				t.Errorf("numbered=%v %s: %d rows over %d pages, total_records %d", numbered, name, rows, first.PageCount, first.TotalRecords)
			}
			e.wantError(tok, path+"&page_number=0", 400, 300, "page_number")
		}
	}
}
