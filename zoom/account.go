package zoom

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
)

// Account-wide calls of the account collectors (issue 14): users of every
// status, the cloud recording usage report and the daily usage report.
// Each goes through the same pacing, budget, retries and failure book as
// the per-user reports.

// Route templates of the account reports (the endpoint label).
const (
	EndpointCloudRecording = "/report/cloud_recording"
	EndpointDailyUsage     = "/report/daily"
)

// User statuses of GET /users?status= (zoom-api.md section 3): Zoom lists
// active users when no status is asked for.
const (
	StatusActive   = "active"
	StatusInactive = "inactive" // deactivated
	StatusPending  = "pending"  // invited, not yet activated; Zoom sends no id
)

// UsersWithStatus returns every user of the account with status (active,
// inactive or pending), all pages; Medium, like ActiveUsers.
func (c *Client) UsersWithStatus(ctx context.Context, status string) ([]User, error) {
	switch status {
	case StatusActive, StatusInactive, StatusPending:
	default:
		return nil, fmt.Errorf("zoom API %s: unknown user status %q (want active, inactive or pending)", endpointUsers, status)
	}
	req := request{
		endpoint: endpointUsers,
		path:     "/users",
		query:    url.Values{"status": {status}},
		category: categoryMedium,
	}
	pages, err := listAll[usersPage](ctx, c, req)
	if err != nil {
		return nil, fmt.Errorf("listing %s users: %w", status, err)
	}
	var users []User
	for _, p := range pages {
		users = append(users, p.Users...)
	}
	return users, nil
}

// CloudRecordingDay is one row of GET /report/cloud_recording: the
// account's cloud recording storage on a date, in Zoom's human units
// ("3 MB", "1.5 GB", "Unlimited"; see ParseStorageSize).
type CloudRecordingDay struct {
	Date      string `json:"date"`       // yyyy-mm-dd
	Usage     string `json:"usage"`      // storage used on the date
	PlanUsage string `json:"plan_usage"` // paid storage of the plan
	FreeUsage string `json:"free_usage"` // free storage that comes with the plan
}

type cloudRecordingReport struct {
	From    string              `json:"from"`
	To      string              `json:"to"`
	Storage []CloudRecordingDay `json:"cloud_recording_storage"`
}

// maxReportRows bounds the rows kept of one account report: a month has 31
// days; more rows than that are not Zoom's.
const maxReportRows = 62

// CloudRecordingUsage returns the cloud recording usage report between the
// UTC dates of from and to, inclusive (Heavy). Zoom serves dates up to the
// day before today, at most 30 days at a time, within the past six months.
func (c *Client) CloudRecordingUsage(ctx context.Context, from, to time.Time) ([]CloudRecordingDay, error) {
	req := request{
		endpoint: EndpointCloudRecording,
		path:     EndpointCloudRecording,
		query:    url.Values{"from": {date(from)}, "to": {date(to)}},
		category: categoryHeavy,
	}
	var out cloudRecordingReport
	if err := c.getOnce(ctx, req, &out); err != nil {
		return nil, fmt.Errorf("cloud recording report: %w", err)
	}
	rows := out.Storage[:min(len(out.Storage), maxReportRows)]
	for i := range rows {
		r := &rows[i]
		r.Date, r.Usage, r.PlanUsage, r.FreeUsage = cutRowText(r.Date), cutRowText(r.Usage), cutRowText(r.PlanUsage), cutRowText(r.FreeUsage)
	}
	return rows, nil
}

// DailyUsage is one date of GET /report/daily: account-wide figures of the
// day, every user included (tracked or not).
type DailyUsage struct {
	Date           string `json:"date"` // yyyy-mm-dd
	NewUsers       int64  `json:"new_users"`
	Meetings       int64  `json:"meetings"`
	Participants   int64  `json:"participants"`
	MeetingMinutes int64  `json:"meeting_minutes"`
}

type dailyReport struct {
	Year  int          `json:"year"`
	Month int          `json:"month"`
	Dates []DailyUsage `json:"dates"`
}

// DailyUsageReport returns the daily usage report of one calendar month
// (Heavy): one row per date, account-wide.
func (c *Client) DailyUsageReport(ctx context.Context, year int, month time.Month) ([]DailyUsage, error) {
	req := request{
		endpoint: EndpointDailyUsage,
		path:     EndpointDailyUsage,
		query:    url.Values{"year": {strconv.Itoa(year)}, "month": {strconv.Itoa(int(month))}},
		category: categoryHeavy,
	}
	var out dailyReport
	if err := c.getOnce(ctx, req, &out); err != nil {
		return nil, fmt.Errorf("daily usage report of %04d-%02d: %w", year, int(month), err)
	}
	rows := out.Dates[:min(len(out.Dates), maxReportRows)]
	for i := range rows {
		rows[i].Date = cutRowText(rows[i].Date)
	}
	return rows, nil
}

// getOnce is get for an answer that is not a listing, with its outcome
// kept for LastFailures as listAll keeps a listing's.
func (c *Client) getOnce(ctx context.Context, req request, out any) error {
	if err := c.get(ctx, req, out); err != nil {
		now := c.now()
		if f := apiFailure(req.endpoint, err, now); f != nil {
			c.failures.recordAPI(f, now)
		}
		return err
	}
	c.failures.clearAPI(req.endpoint)
	return nil
}

// MissingScope reports whether err is Zoom's answer to a token that lacks a
// scope (code 4711, "Invalid access token, does not contain scopes:[...]"),
// and the scope it names, when it names one.
func MissingScope(err error) (scope string, missing bool) {
	var apiErr *APIError
	if !errors.As(err, &apiErr) {
		return "", false
	}
	if apiErr.Code != 4711 && !strings.Contains(strings.ToLower(apiErr.Message), "does not contain scopes") {
		return "", false
	}
	if _, rest, ok := strings.Cut(apiErr.Message, "scopes:["); ok {
		scope, _, _ = strings.Cut(rest, "]")
	}
	return sanitize.Field(scope), true
}

// Storage sizes. Zoom writes its cloud recording storage in human units
// ("3 MB", "1.5 GB", "3 TB", "Unlimited", and "0" with no unit in its plan
// usage answers). Zoom does not say whether a GB is 10^9 or 2^30 bytes:
// the exporter reads KB, MB, GB, TB and PB as powers of 1024, our choice
// (KiB ... PiB are read the same). Used/plan ratios do not depend on it.
var storageUnits = map[string]int{
	"b": 0, "byte": 0, "bytes": 0,
	"kb": 1, "kib": 1,
	"mb": 2, "mib": 2,
	"gb": 3, "gib": 3,
	"tb": 4, "tib": 4,
	"pb": 5, "pib": 5,
}

// storageSize: digits, optionally grouped by commas in threes, an optional
// fraction, optional spaces, a unit of letters.
var storageSize = regexp.MustCompile(`^([0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.([0-9]+))?[ \t]*([A-Za-z]*)$`)

// maxStorageBytes bounds a parsed size: 2^63-1 bytes (8 EiB), far beyond
// any plan, still exact in an int64.
var maxStorageBytes = new(big.Int).SetUint64(1<<63 - 1)

// StorageSizeError is a storage value that cannot be read as a size.
type StorageSizeError struct {
	Value  string // as Zoom sent it, bounded and cleaned
	Reason string
}

func (e *StorageSizeError) Error() string {
	return fmt.Sprintf("storage value %q: %s", e.Value, e.Reason)
}

// ParseStorageSize reads one of Zoom's storage values. It returns the size
// in bytes, exactly (the decimal fraction is computed in integers and
// rounded to the nearest byte, halves up), or unlimited for "Unlimited".
// Anything else — an unknown unit, a negative or empty value, a number
// without a unit (but 0), an exponent, a size over 2^63-1 bytes — is an
// error naming the value and what is wrong.
func ParseStorageSize(s string) (bytes int64, unlimited bool, err error) {
	value := strings.TrimSpace(s)
	bad := func(reason string) (int64, bool, error) {
		return 0, false, &StorageSizeError{Value: sanitize.Field(value), Reason: reason}
	}
	if strings.EqualFold(value, "unlimited") {
		return 0, true, nil
	}
	if value == "" {
		return bad("empty")
	}
	m := storageSize.FindStringSubmatch(value)
	if m == nil {
		if strings.HasPrefix(value, "-") {
			return bad("negative")
		}
		return bad("not a number followed by a unit (such as 1.5 GB)")
	}
	whole, frac, unit := strings.ReplaceAll(m[1], ",", ""), m[2], strings.ToLower(m[3])
	if len(whole)+len(frac) > 40 {
		return bad("too many digits")
	}
	power, known := storageUnits[unit]
	switch {
	case unit == "":
		if strings.Trim(whole+frac, "0") != "" {
			return bad("no unit (want B, KB, MB, GB, TB or PB)")
		}
		return 0, false, nil
	case !known:
		return bad(fmt.Sprintf("unknown unit %q (want B, KB, MB, GB, TB or PB)", sanitize.Field(m[3])))
	}
	// value = (whole * 10^len(frac) + frac) * 1024^power / 10^len(frac)
	num, ok := new(big.Int).SetString(whole+frac, 10)
	if !ok {
		return bad("not a number")
	}
	num.Mul(num, new(big.Int).Lsh(big.NewInt(1), uint(10*power)))
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	// Round half up: (2*num + den) / (2*den).
	num.Mul(num, big.NewInt(2)).Add(num, den)
	num.Quo(num, den.Mul(den, big.NewInt(2)))
	if num.Cmp(maxStorageBytes) > 0 {
		return bad("larger than 2^63-1 bytes")
	}
	return num.Int64(), false, nil
}
