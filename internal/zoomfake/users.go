package zoomfake

import (
	"net/http"
	"net/url"
	"time"
)

type apiUser struct {
	ID            string   `json:"id,omitempty"` // Zoom sends none for pending users
	FirstName     string   `json:"first_name"`
	LastName      string   `json:"last_name"`
	DisplayName   string   `json:"display_name"`
	Email         string   `json:"email"`
	Type          int      `json:"type"`
	PMI           int64    `json:"pmi"`
	Timezone      string   `json:"timezone"`
	Verified      int      `json:"verified"`
	Dept          string   `json:"dept"`
	CreatedAt     string   `json:"created_at"`
	LastLoginTime string   `json:"last_login_time,omitempty"` // pending users never logged in
	Language      string   `json:"language"`
	Status        string   `json:"status"`
	RoleID        string   `json:"role_id"`
	GroupIDs      []string `json:"group_ids,omitempty"`
}

type usersPage struct {
	PageSize      int       `json:"page_size"`
	TotalRecords  int       `json:"total_records"`
	PageCount     int       `json:"page_count"`
	PageNumber    int       `json:"page_number"`
	NextPageToken string    `json:"next_page_token"`
	Users         []apiUser `json:"users"`
}

// listUsersLocked serves GET /v2/users.
func (s *Server) listUsersLocked(q url.Values, now time.Time) reply {
	status := q.Get("status")
	switch status {
	case "":
		status = "active"
	case "active", "inactive", "pending":
	default:
		return errorReply(http.StatusBadRequest, 300, "Invalid status: must be active, inactive or pending.")
	}
	var matching []*userRecord
	for _, u := range s.users {
		if u.Status == status {
			matching = append(matching, u)
		}
	}
	p, bad := s.pageLocked(q, "users|"+status, len(matching), now)
	if bad != nil {
		return *bad
	}
	out := usersPage{
		PageSize:      p.size,
		TotalRecords:  len(matching),
		PageCount:     p.count,
		PageNumber:    p.number,
		NextPageToken: p.next,
		Users:         []apiUser{},
	}
	for _, u := range matching[p.start:p.end] {
		au := apiUser{
			ID:          u.ID,
			FirstName:   u.FirstName,
			LastName:    u.LastName,
			DisplayName: u.DisplayName,
			Email:       u.Email,
			Type:        u.Type,
			PMI:         u.PMI,
			Timezone:    u.Timezone,
			Verified:    1,
			Dept:        u.Dept,
			CreatedAt:   isoTime(u.Created),
			Language:    u.Language,
			Status:      u.Status,
			RoleID:      "2", // member
			GroupIDs:    u.GroupIDs,
		}
		if !u.LastLogin.IsZero() {
			au.LastLoginTime = isoTime(u.LastLogin)
		}
		if u.Status == "pending" {
			// Zoom's spec: "The API does not return this value for users
			// with the pending status."
			au.Verified, au.ID = 0, ""
		}
		out.Users = append(out.Users, au)
	}
	return jsonReply(http.StatusOK, out)
}

// isoTime formats like Zoom: UTC, seconds, "Z".
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }
