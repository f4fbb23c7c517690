package zoomfake

import (
	"net/url"
	"regexp"
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
