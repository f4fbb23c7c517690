package scrape

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/zoomexporter/zoom_exporter/internal/sanitize"
	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/zoom"
)

// Documented ceilings of one simulated hour of a hostile upstream (README,
// "Status page and reliability"): 10 users, refreshed every minute (60
// refreshes; the log grows with the number of refreshes, not with what Zoom
// sends), at the default log level.
const (
	hostileUsers = 10
	// maxHostileLogBytesPerHour and maxHostileLogLinesPerHour: the log of
	// the hour at level info.
	maxHostileLogBytesPerHour = 256 << 10
	maxHostileLogLinesPerHour = 800
	// maxLogLineBytes: no log line is longer, at any level (two bounded
	// messages of 512 bytes, a bounded id and the fixed text around them).
	maxLogLineBytes = 2048
	// maxHostileHeapGrowth: live heap after the hour, after GC, over the
	// live heap before it.
	maxHostileHeapGrowth = 8 << 20
	// maxHostilePeakHeap: the most heap in use at any moment of the hour,
	// over the live heap before it (the 16 MiB success-body cap and a
	// runaway listing's pages are the largest transient users).
	maxHostilePeakHeap = 96 << 20
)

// invalidUTF8 marks where hostileZoom writes bytes that are not UTF-8 into
// an otherwise valid JSON answer (json.Marshal would replace them).
const invalidUTF8 = "@@INVALID-UTF8@@"

// ansi is what a hostile name, e-mail or message starts with: terminal
// escapes, a bell, line breaks and separators that would forge log lines.
const ansi = "\x1b[2J\x1b[31;1m\x07\r\n\t\u2028level=error msg=forged "

// marker is in every hostile text, so that a log line holding more of it
// than a bound allows gives it away.
const marker = "EVIL"

// hostileMode is one way a hostile Zoom answers a request.
type hostileMode int

const (
	modePass           hostileMode = iota // the fake's answer, with hostile names, ids and figures in it
	modeBigMessage                        // 400 with an 8 MB message full of control characters
	modeHuge5xx                           // 5xx with a 4 MB body that is not JSON
	modeMalformed                         // 200 with broken JSON
	modeOverflow                          // 200 with a figure of 2^63, which does not fit
	modeEndless                           // a fresh next_page_token on every page, total_records kept
	modeEndlessNoTotal                    // a fresh next_page_token on every page, no total_records
	modeLoop                              // the same next_page_token on every page
	modePageLie                           // page_number 1 of 1,000,000, no token, the same rows on every page
	modeFewerRows                         // total_records well above the rows served
	mode429Storm                          // per-second 429 on every attempt, absurd Retry-After
	modeDaily429                          // daily 429 with absurd Retry-After (Medium only; Heavy gets a 429 storm)
	modeTokenRefused                      // 401/124 on every attempt: the token is renewed, in vain
	numModes
)

var modeNames = [numModes]string{"pass", "8MB message", "huge 5xx", "malformed JSON", "2^63 figure", "endless tokens",
	"endless tokens, no total", "looping token", "page_number lie", "fewer rows than total", "429 storm", "daily 429", "401/124"}

// modeWeights: a little over a third of the answers pass, with hostile
// content in them; runaway listings without total_records (1,000 pages)
// are the rarest, for the test's time. The user listing, read every cycle, never passes: every
// cycle has a failure, so zoom_up must be 0 throughout.
var (
	modeWeights      = [numModes]int{16, 4, 4, 2, 2, 2, 1, 2, 2, 2, 2, 2, 2}
	usersModeWeights = [numModes]int{0, 4, 4, 2, 2, 2, 1, 2, 2, 2, 2, 4, 2}
)

// maxLongRunaways is how many listings of 1,000 pages an hour has.
const maxLongRunaways = 2

// tokenMode is one way the hostile token endpoint answers.
type tokenMode int

const (
	tokenPass       tokenMode = iota
	tokenExpires0             // expires_in 0: the documented hour is assumed
	tokenExpiresNeg           // expires_in -5: expired on arrival
	tokenExpires30            // expires_in 30: renewed at half its lifetime
	tokenError400             // 400 invalid_request with a 1 MB reason
	tokenError500             // 500 with a 1 MB reason
	tokenError429             // 429 with 1 MB that is not JSON
	tokenMalformed            // 200 with broken JSON
	numTokenModes
)

var tokenModeNames = [numTokenModes]string{"pass", "expires_in 0", "expires_in -5", "expires_in 30", "400 1MB reason", "500 1MB reason", "429 1MB body", "malformed"}

// tokenModeWeights: tokens of 30 s mostly, so that one is requested nearly
// every cycle.
var tokenModeWeights = [numTokenModes]int{1, 1, 1, 4, 1, 1, 1, 1}

// How hostile hostileZoom is.
const (
	hostileOff     int32 = iota // the fake as it is
	hostileContent              // hostile names, ids and figures in answers that pass
	hostileFull                 // and every kind of hostile answer
)

// hostileZoom answers like a hostile or badly broken Zoom, in front of the
// fake: each request gets a mode chosen by a hash of the cycle and the
// request (its retries get the same answer), and pagination tricks, once
// started, go on for the pages that follow.
type hostileZoom struct {
	fake    *zoomfake.Server
	level   atomic.Int32
	cycle   atomic.Int64
	endless atomic.Int64
	// longRunaways counts listings of /users and the hosts report sent
	// endless pages without total_records: the client stops them at
	// 1,000 pages.
	longRunaways atomic.Int32

	bigMessage    []byte // 8 MB: {"code":1010,"message":"<escaped control characters>...
	bigRawMessage []byte // 8 MB: the same with raw control characters and bytes that are not UTF-8
	hugeBody      []byte // 4 MB of HTML-ish garbage
	bigReason     []byte // 1 MB: {"error":"invalid_request","reason":"...
	midMessage    []byte // 96 KiB 429 body

	mu         sync.Mutex
	tokenCalls map[int64]int    // cycle -> token requests so far
	issued     map[string]int64 // access token -> cycle it was given in
	served     map[string]int
}

func newHostileZoom(fake *zoomfake.Server) *hostileZoom {
	h := &hostileZoom{fake: fake, tokenCalls: map[int64]int{}, issued: map[string]int64{}, served: map[string]int{}}
	unitEscaped := `\u001b[31m` + marker + `\u0007\r\n\u2028\u0000`
	unitRaw := "\x1b[31m" + marker + "\x07\r\n\xff\xfe\x00"
	h.bigMessage = fill(`{"code":1010,"message":"`, unitEscaped, 8<<20, `"}`)
	h.bigRawMessage = fill(`{"code":1010,"message":"`, unitRaw, 8<<20, `"}`)
	h.hugeBody = fill("<html><body>", "\x1b[5m"+marker+"\xc3\x28<script>\r\n", 4<<20, "</body></html>")
	h.bigReason = fill(`{"error":"invalid_request","reason":"`, unitEscaped, 1<<20, `"}`)
	h.midMessage = fill(`{"code":429,"message":"You have reached the maximum per-second rate limit. `, unitEscaped, 96<<10, `"}`)
	return h
}

// fill is head, then unit repeated to size bytes, then tail.
func fill(head, unit string, size int, tail string) []byte {
	b := make([]byte, 0, size+len(tail)+len(unit))
	b = append(b, head...)
	for len(b) < size {
		b = append(b, unit...)
	}
	return append(b, tail...)
}

func pick(weights []int, key string) int {
	f := fnv.New64a()
	f.Write([]byte(key))
	total := 0
	for _, w := range weights {
		total += w
	}
	n := int(f.Sum64() % uint64(total))
	for i, w := range weights {
		if n < w {
			return i
		}
		n -= w
	}
	return 0
}

func (h *hostileZoom) count(what string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.served[what]++
}

func (h *hostileZoom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch h.level.Load() {
	case hostileOff:
		h.fake.ServeHTTP(w, r)
		return
	case hostileContent:
		if r.URL.Path == "/oauth/token" {
			h.serveToken(w, r, tokenPass)
		} else {
			h.servePage(w, r, modePass)
		}
		return
	}
	cycle := h.cycle.Load()
	if r.URL.Path == "/oauth/token" {
		h.mu.Lock()
		h.tokenCalls[cycle]++
		n := h.tokenCalls[cycle]
		h.mu.Unlock()
		mode := tokenMode(pick(tokenModeWeights[:], fmt.Sprintf("token|%d|%d", cycle, n)))
		h.count("token " + tokenModeNames[mode])
		h.serveToken(w, r, mode)
		return
	}
	// A token lives one cycle: a token request, hostile in its own way,
	// comes with every cycle.
	h.mu.Lock()
	given, known := h.issued[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
	h.mu.Unlock()
	if !known || given < cycle {
		h.count("401/124 stale token")
		writeRaw(w, http.StatusUnauthorized, nil, []byte(`{"code":124,"message":"Invalid access token.\u001b[2J`+marker+`"}`))
		return
	}
	q := r.URL.Query()
	tok := q.Get("next_page_token")
	weights := modeWeights
	if r.URL.Path == "/v2/users" {
		weights = usersModeWeights
	}
	mode := hostileMode(pick(weights[:], fmt.Sprintf("%d|%s|%s", cycle, r.URL.Path, r.URL.RawQuery)))
	switch { // a pagination trick goes on once started
	case strings.HasPrefix(tok, "endless-nt-"):
		mode = modeEndlessNoTotal
	case strings.HasPrefix(tok, "endless-"):
		mode = modeEndless
	case tok == "loop":
		mode = modeLoop
	case q.Has("page_number"):
		mode = modePageLie
	}
	heavy := strings.HasPrefix(r.URL.Path, "/v2/report/")
	if mode == modeDaily429 && heavy {
		mode = mode429Storm // a daily pause would end the hostility for Heavy calls
	}
	if mode == modeEndlessNoTotal && tok == "" && reportUser(r) == "" && h.longRunaways.Add(1) > maxLongRunaways {
		mode = modeEndless // for the test's time: 1,000 pages each
	}
	h.count(modeNames[mode])
	switch mode {
	case modeBigMessage:
		body := h.bigMessage
		if cycle%2 == 1 {
			body = h.bigRawMessage
		}
		writeRaw(w, http.StatusBadRequest, nil, body)
	case modeHuge5xx:
		writeRaw(w, 500+int(cycle%5), http.Header{"Content-Type": {"text/html"}}, h.hugeBody)
	case modeMalformed:
		writeRaw(w, http.StatusOK, nil, fill(`{"users":[{"id":"`, "\x1b]0;"+marker+"\x07\xff\"{[,", 64<<10, ""))
	case mode429Storm:
		writeRaw(w, http.StatusTooManyRequests, http.Header{
			"Retry-After":          {"99999999999999999999" + strings.Repeat("9", 4096)},
			"X-Ratelimit-Type":     {"QPS"},
			"X-Ratelimit-Category": {"Heavy"},
			"X-Zm-Trackingid":      {strings.Repeat("\x7f"+marker, 2048)},
		}, h.midMessage)
	case modeDaily429:
		retryAfter := []string{"Fri, 31 Dec 9999 23:59:59 GMT", "-5", "99999999999", "1970-01-01T00:00:00Z", strings.Repeat(marker, 2048)}[cycle%5]
		writeRaw(w, http.StatusTooManyRequests, http.Header{
			"Retry-After":            {retryAfter},
			"X-Ratelimit-Type":       {"Daily-limit"},
			"X-Ratelimit-Category":   {"Medium"},
			"X-Ratelimit-Remaining":  {"-99999999999999999999"},
			"X-Zm-Trackingid":        {strings.Repeat(marker, 4096)},
			"X-Ratelimit-Limit":      {strings.Repeat("9", 4096)},
			"X-Ratelimit-Extraneous": {strings.Repeat(marker, 4096)},
		}, h.midMessage)
	case modeTokenRefused:
		writeRaw(w, http.StatusUnauthorized, nil, fill(`{"code":124,"message":"Invalid access token. `, `\u001b[0m`+marker, 32<<10, `"}`))
	default:
		h.servePage(w, r, mode)
	}
}

// servePage answers with the fake's page, made hostile.
func (h *hostileZoom) servePage(w http.ResponseWriter, r *http.Request, mode hostileMode) {
	status, header, body, raw := fakeAnswer(h.fake, r, "next_page_token", "page_number")
	if body == nil { // the fake's own error (an expired token): as it is
		writeRaw(w, status, header, raw)
		return
	}
	addHostileContent(r, body, h.cycle.Load(), !r.URL.Query().Has("next_page_token") && !r.URL.Query().Has("page_number"))
	rows := listingRows(body)
	switch mode {
	case modeOverflow:
		if len(rows) > 0 {
			rows[0].(map[string]any)["duration"] = json.Number("9223372036854775808") // 2^63
			rows[0].(map[string]any)["meetings"] = json.Number("18446744073709551616")
		} else {
			body["total_records"] = json.Number("9223372036854775808")
		}
	case modeEndless:
		body["next_page_token"] = "endless-" + strconv.FormatInt(h.endless.Add(1), 10)
	case modeEndlessNoTotal:
		body["next_page_token"] = "endless-nt-" + strconv.FormatInt(h.endless.Add(1), 10)
		delete(body, "total_records")
	case modeLoop:
		body["next_page_token"] = "loop"
	case modePageLie:
		n, _ := strconv.Atoi(r.URL.Query().Get("page_number"))
		body["next_page_token"] = ""
		body["page_number"] = max(n, 1)
		body["page_count"] = 1000000
	case modeFewerRows:
		body["next_page_token"] = ""
		body["total_records"] = len(rows) + 1000
	}
	writeJSON(w, http.StatusOK, header, body)
}

func (h *hostileZoom) serveToken(w http.ResponseWriter, r *http.Request, mode tokenMode) {
	switch mode {
	case tokenError400:
		writeRaw(w, http.StatusBadRequest, nil, h.bigReason)
		return
	case tokenError500:
		writeRaw(w, http.StatusInternalServerError, nil, h.bigReason)
		return
	case tokenError429:
		writeRaw(w, http.StatusTooManyRequests, http.Header{"Content-Type": {"text/plain"}}, h.hugeBody[:1<<20])
		return
	case tokenMalformed:
		writeRaw(w, http.StatusOK, nil, []byte(`{"access_token":"`+"\x1b"+marker+`","expires_in":`))
		return
	}
	status, header, body, raw := fakeAnswer(h.fake, r)
	if body == nil {
		writeRaw(w, status, header, raw)
		return
	}
	switch mode {
	case tokenExpires0:
		body["expires_in"] = 0
	case tokenExpiresNeg:
		body["expires_in"] = -5
	case tokenExpires30:
		body["expires_in"] = 30
	}
	body["scope"] = ansi + marker + invalidUTF8
	if tok, ok := body["access_token"].(string); ok {
		h.mu.Lock()
		if len(h.issued) > 64 {
			clear(h.issued)
		}
		h.issued[tok] = h.cycle.Load()
		h.mu.Unlock()
	}
	writeJSON(w, http.StatusOK, header, body)
}

// fakeAnswer is the fake's answer to r without the query parameters drop:
// its JSON body when it answered 200, its raw answer otherwise.
func fakeAnswer(fake *zoomfake.Server, r *http.Request, drop ...string) (int, http.Header, map[string]any, []byte) {
	r2 := r.Clone(r.Context())
	q := r2.URL.Query()
	for _, k := range drop {
		q.Del(k)
	}
	r2.URL.RawQuery = q.Encode()
	rec := httptest.NewRecorder()
	fake.ServeHTTP(rec, r2)
	if rec.Code != http.StatusOK {
		return rec.Code, rec.Header(), nil, rec.Body.Bytes()
	}
	var body map[string]any
	dec := json.NewDecoder(rec.Body)
	dec.UseNumber()
	if err := dec.Decode(&body); err != nil {
		return http.StatusInternalServerError, nil, nil, []byte(err.Error())
	}
	return rec.Code, rec.Header(), body, nil
}

// listingRows is the array of a listing page: users or meetings.
func listingRows(body map[string]any) []any {
	for _, k := range []string{"users", "meetings"} {
		if rows, ok := body[k].([]any); ok {
			return rows
		}
	}
	return nil
}

// addHostileContent puts in every passing answer what a hostile Zoom would:
// ids and uuids of 64 KiB, figures of 2^63-1, names, e-mails and topics of
// terminal escapes and bytes that are not UTF-8. Always the same, so that a
// user's label and a meeting's figures do not change from one answer to
// the next. The pages after the first of a listing (a runaway listing has
// a thousand) get only a row with a 64 KiB id and 16 KiB names: kept whole,
// they would add up to 128 MB a listing.
func addHostileContent(r *http.Request, body map[string]any, cycle int64, first bool) {
	huge := strings.Repeat(marker, 16<<10) // 64 KiB
	long := strings.Repeat(marker, 4<<10)  // 16 KiB
	garbage := ansi + marker + invalidUTF8 + strings.Repeat("\x1b[0m"+marker, 8<<10)
	switch user := reportUser(r); {
	case !first && user != "":
		addRow(body, "meetings", map[string]any{"uuid": huge, "id": 1, "type": 2, "duration": 30, "participants_count": 2, "user_email": long, "topic": long})
	case !first:
		addRow(body, "users", map[string]any{"id": huge, "email": long, "display_name": long, "dept": long, "type": 2, "status": "active", "meetings": 1})
	case r.URL.Path == "/v2/users":
		rows, _ := body["users"].([]any)
		for i, row := range rows {
			u := row.(map[string]any)
			u["display_name"] = garbage
			u["dept"] = garbage
			if i == 1 {
				u["email"] = ansi + "mallory" + invalidUTF8 + "@example.com" + strings.Repeat("x", 300)
			}
		}
		addRow(body, "users", map[string]any{"id": huge, "email": garbage, "display_name": garbage, "type": 2, "status": "active"})
	case r.URL.Path == "/v2/report/users":
		rows, _ := body["users"].([]any)
		for i, row := range rows {
			u := row.(map[string]any)
			if i == 0 {
				u["meetings"], u["participants"] = int64(math.MaxInt64), int64(math.MaxInt64)
				u["user_name"] = garbage
			}
			// Totals that grow every cycle: every user's report is fetched.
			u["meeting_minutes"] = int64(math.MaxInt64) - 1000 + cycle
		}
		addRow(body, "users", map[string]any{"id": huge, "email": garbage, "meetings": int64(math.MaxInt64)})
	case user != "":
		addRow(body, "meetings", map[string]any{"uuid": huge, "id": 1, "type": 2, "duration": 30, "participants_count": 2, "topic": garbage})
		addRow(body, "meetings", map[string]any{
			"uuid": "hostile/" + user + "==", "id": int64(math.MaxInt64), "type": 2, "topic": garbage, "user_name": garbage,
			"user_email": ansi + invalidUTF8 + "@" + marker, "host_name": garbage,
			"duration": int64(math.MaxInt64), "total_minutes": int64(math.MaxInt64), "participants_count": int64(math.MaxInt64),
		})
	}
}

// writeJSON writes body with the markers of invalidUTF8 turned into bytes
// that are not UTF-8.
func writeJSON(w http.ResponseWriter, status int, header http.Header, body map[string]any) {
	b, err := json.Marshal(body)
	if err != nil {
		b = []byte(err.Error())
	}
	writeRaw(w, status, header, bytes.ReplaceAll(b, []byte(invalidUTF8), []byte("\xff\xfe\xc3\x28")))
}

func writeRaw(w http.ResponseWriter, status int, header http.Header, body []byte) {
	for k, v := range header {
		if k != "Content-Length" {
			w.Header()[k] = v
		}
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client stops reading at its cap and hangs up
}

// logMeter counts what reaches the log and checks every line against the
// bounds: length, control characters (raw, or as logfmt escapes them),
// valid UTF-8, and no more of a hostile text than one bounded message holds.
type logMeter struct {
	mu       sync.Mutex
	bytes    int
	lines    int
	longest  int
	byMsg    map[string]int
	problems []string
}

func (m *logMeter) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bytes += len(p)
	for line := range strings.SplitSeq(strings.TrimSuffix(string(p), "\n"), "\n") {
		m.lines++
		m.longest = max(m.longest, len(line))
		if msg, ok := logfmtValue(line, "msg"); ok {
			m.byMsg[msg]++
		}
		var problem string
		switch {
		case len(line) > maxLogLineBytes:
			problem = fmt.Sprintf("%d bytes long", len(line))
		case !utf8.ValidString(line):
			problem = "not UTF-8"
		case strings.ContainsFunc(line, func(r rune) bool { return r < ' ' || r == 0x7f || r == '\u2028' }):
			problem = "a control character"
		case strings.Contains(line, `\u00`) || strings.Contains(line, `\n`) || strings.Contains(line, `\r`) || strings.Contains(line, `\t`):
			problem = "an escaped control character"
		case strings.Count(line, marker)*len(marker) > 2*sanitize.MaxMessage:
			problem = fmt.Sprintf("%d bytes of hostile text", strings.Count(line, marker)*len(marker))
		case strings.Contains(line, "level=error msg=forged"):
			problem = "a forged log line"
		}
		if problem != "" && len(m.problems) < 5 {
			m.problems = append(m.problems, fmt.Sprintf("%s: %.300q", problem, line))
		}
	}
	return len(p), nil
}

// logfmtValue is the value of key in a logfmt line, unquoted.
func logfmtValue(line, key string) (string, bool) {
	_, rest, ok := strings.Cut(line, " "+key+"=")
	if !ok {
		return "", false
	}
	if strings.HasPrefix(rest, `"`) {
		if v, err := strconv.QuotedPrefix(rest); err == nil {
			s, _ := strconv.Unquote(v)
			return s, true
		}
		return rest, true
	}
	v, _, _ := strings.Cut(rest, " ")
	return v, true
}

// heapSampler records the most heap in use while it runs.
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func startHeapSampler(every time.Duration) *heapSampler {
	s := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			s.sample()
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *heapSampler) sample() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	for {
		old := s.peak.Load()
		if ms.HeapInuse <= old || s.peak.CompareAndSwap(old, ms.HeapInuse) {
			return
		}
	}
}

func (s *heapSampler) finish() uint64 {
	close(s.stop)
	<-s.done
	return s.peak.Load()
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // a second cycle frees what finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// counterState is every counter of a snapshot, by name, for the check
// that none goes down.
func counterState(snap *Snapshot) map[string]float64 {
	out := map[string]float64{
		"clamped_figures":  float64(snap.ClampedFigures),
		"refused_meetings": float64(snap.RefusedMeetings),
		"refused_users":    float64(snap.RefusedUsers),
	}
	for _, u := range snap.Users {
		for typ, t := range u.Counters {
			k := u.Key + "/" + typ + "/"
			out[k+"meetings"] = float64(t.Meetings)
			out[k+"duration"] = float64(t.DurationSeconds)
			out[k+"participant_seconds"] = float64(t.ParticipantSeconds)
			out[k+"participants"] = float64(t.Participants)
			out[k+"recording"] = float64(t.WithRecording)
			out[k+"screen_share"] = float64(t.WithScreenShare)
			out[k+"chat"] = float64(t.WithChat)
		}
	}
	for typ, hist := range snap.Durations {
		out["durations/"+typ+"/count"] = float64(hist.Count)
		out["durations/"+typ+"/sum"] = hist.Sum
	}
	for typ, hist := range snap.Participants {
		out["participants/"+typ+"/count"] = float64(hist.Count)
		out["participants/"+typ+"/sum"] = hist.Sum
	}
	return out
}

// One hour (simulated) of a hostile Zoom, every request of it hostile in
// one of a dozen ways and every passing answer full of hostile names, ids
// and figures: the log stays under its documented size and every line
// under its bound, clean of control characters; memory stays under its
// ceilings; no counter goes down; zoom_up is 0 throughout; and once Zoom is
// well again, zoom_up comes back.
func TestHostileUpstreamHourIsBounded(t *testing.T) {
	// Not parallel: the heap is measured, and other tests would share it.
	for _, tc := range []struct {
		name     string
		level    level.Option
		interval time.Duration
		// Ceilings of the log over the hour; 0: not asserted (only the
		// line bounds are, at debug level).
		maxBytes, maxLines int
	}{
		{name: "info", level: level.AllowInfo(), interval: time.Minute, maxBytes: maxHostileLogBytesPerHour, maxLines: maxHostileLogLinesPerHour},
		// Every line bounded at debug level too; a slower refresh keeps
		// the test's time down.
		{name: "debug", level: level.AllowDebug(), interval: 4 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := testenv.NewClock(testNow)
			fake := zoomfake.New(zoomfake.Options{Seed: 1515, Users: hostileUsers, HeavyUserMeetings: 40, Now: clock.Now})
			hostile := newHostileZoom(fake)
			srv := httptest.NewServer(hostile)
			t.Cleanup(srv.Close)
			meter := &logMeter{byMsg: map[string]int{}}
			logger := level.NewFilter(log.NewLogfmtLogger(meter), tc.level)
			env := newTestEnvFor(t, fake, srv, clock, func(c *zoom.ClientConfig) {
				c.Logger = log.With(logger, "component", "zoom_client")
				c.LogEvery = tc.interval
				// Room for the reports: runaway listings of the hosts
				// report would otherwise spend it all.
				c.DailyBudget = 240000
			})
			s := newTestScraper(t, env, func(c *ScraperConfig) {
				c.Interval = tc.interval
				c.Logger = logger
				c.Store = openStore(t, t.TempDir())
				c.FullInterval = 10 * time.Minute
			})
			ctx := context.Background()

			// A first refresh with hostile names, ids and figures but no
			// failure: they are refused or clamped, and zoom_up is 1.
			hostile.level.Store(hostileContent)
			s.Refresh(ctx)
			snap := s.Snapshot()
			if !snap.Up || snap.RefusedUsers == 0 || snap.RefusedMeetings == 0 || snap.ClampedFigures == 0 {
				t.Fatalf("first refresh: up %v, %d users and %d meetings refused, %d figures clamped; want up and some of each: %+v",
					snap.Up, snap.RefusedUsers, snap.RefusedMeetings, snap.ClampedFigures, snap.Users)
			}
			clock.Advance(tc.interval)
			before := counterState(snap)
			meter.mu.Lock()
			startBytes, startLines := meter.bytes, meter.lines
			meter.mu.Unlock()
			hostile.level.Store(hostileFull)
			base := liveHeap()
			sampler := startHeapSampler(2 * time.Millisecond)
			cycles := int(time.Hour / tc.interval)
			for cycle := range cycles {
				hostile.cycle.Store(int64(cycle))
				s.Refresh(ctx)
				sampler.sample()
				snap := s.Snapshot()
				if snap.Up {
					t.Errorf("cycle %d: zoom_up is 1 while Zoom is hostile", cycle)
				}
				now := counterState(snap)
				for k, v := range before {
					if now[k] < v {
						t.Errorf("cycle %d: counter %s went down from %v to %v", cycle, k, v, now[k])
					}
				}
				before = now
				for _, u := range snap.Users {
					if len(u.LastError) > sanitize.MaxMessage+64 || len(u.Email) > maxEmailBytes+64 || len(u.Key) > MaxIDBytes {
						t.Errorf("cycle %d: user snapshot not bounded: error %d bytes, e-mail %d, key %d", cycle, len(u.LastError), len(u.Email), len(u.Key))
					}
				}
				tokenFailure, apiFailure := env.client.LastFailures()
				for _, f := range []*zoom.Failure{tokenFailure, apiFailure} {
					if f != nil && (len(f.Message) > sanitize.MaxMessage+64 || len(f.TrackingID) > sanitize.MaxField+64 || len(f.Code) > sanitize.MaxField+64) {
						t.Errorf("cycle %d: a last failure for /status is not bounded: message %d bytes, tracking id %d, code %d", cycle, len(f.Message), len(f.TrackingID), len(f.Code))
					}
				}
				clock.Advance(tc.interval)
			}
			peak := sampler.finish()
			end := liveHeap()
			hostile.level.Store(hostileOff)

			meter.mu.Lock()
			logBytes, logLines, longest := meter.bytes-startBytes, meter.lines-startLines, meter.longest
			problems := slices.Clone(meter.problems)
			byMsg := fmt.Sprint(meter.byMsg)
			meter.mu.Unlock()
			hostile.mu.Lock()
			served := fmt.Sprint(hostile.served)
			hostile.mu.Unlock()
			tokenFailures := counterValue(t, env, "zoom_oauth_token_failures_total")
			t.Logf("%d refreshes every %s (%d users): %d log bytes, %d lines, longest %d bytes; heap in use %.1f MiB before, %.1f MiB after (growth %+.1f MiB), peak %.1f MiB (+%.1f MiB); token failures %v",
				cycles, tc.interval, hostileUsers, logBytes, logLines, longest, mib(base), mib(end), mib(end)-mib(base), mib(peak), mib(peak)-mib(base), tokenFailures)
			t.Logf("answers served: %s", served)
			t.Logf("log lines by message: %s", byMsg)

			for _, p := range problems {
				t.Errorf("a log line holds %s", p)
			}
			if tc.maxBytes > 0 && logBytes > tc.maxBytes {
				t.Errorf("%d log bytes in the hour, over the documented %d", logBytes, tc.maxBytes)
			}
			if tc.maxLines > 0 && logLines > tc.maxLines {
				t.Errorf("%d log lines in the hour, over the documented %d", logLines, tc.maxLines)
			}
			if end > base && end-base > maxHostileHeapGrowth {
				t.Errorf("live heap grew by %.1f MiB in the hour, over the documented %.0f MiB", mib(end)-mib(base), mib(maxHostileHeapGrowth))
			}
			if peak > base && peak-base > maxHostilePeakHeap {
				t.Errorf("heap in use peaked %.1f MiB over the start, over the documented %.0f MiB", mib(peak)-mib(base), mib(maxHostilePeakHeap))
			}
			if tokenFailures == 0 {
				t.Error("no token failure counted: the token endpoint was not hostile")
			}
			// Every hostile answer was served at least once: the hour tested them all.
			for _, name := range append(modeNames[:], tokenModeNames[1:]...) {
				key := name
				if slices.Contains(tokenModeNames[1:], name) {
					key = "token " + name
				}
				if !strings.Contains(served, key+":") {
					t.Errorf("the hostile upstream never answered %q in the hour", key)
				}
			}

			// Zoom well again: up within a few refreshes.
			for range 5 {
				s.Refresh(ctx)
				if s.Snapshot().Up {
					break
				}
				clock.Advance(tc.interval)
			}
			if snap := s.Snapshot(); !snap.Up {
				t.Errorf("zoom_up still 0 five refreshes after Zoom is well again: %+v", snap.Users)
			}
		})
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// counterValue is the value of the client's counter name.
func counterValue(t *testing.T, env *testEnv, name string) float64 {
	t.Helper()
	mfs, err := env.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("%s not registered", name)
	return 0
}
