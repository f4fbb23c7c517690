package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

const refreshNote = " Refreshed in the background every --scrape.interval, so it may be up to one refresh old."

// usageFigure is one figure of scrape.Totals with its two metric names.
type usageFigure struct {
	monthName, monthHelp     string
	counterName, counterHelp string
	value                    func(scrape.Totals) int64
}

var usageFigures = []usageFigure{
	{"zoom_month_meetings", "Meetings in the current UTC month's report (GET /report/users/{userId}/meetings), by host user and meeting type.",
		"zoom_meetings_total", "Meeting instances (by uuid) counted from GET /report/users/{userId}/meetings, by host user and meeting type; each counted once.",
		func(t scrape.Totals) int64 { return t.Meetings }},
	{"zoom_month_meeting_duration_seconds", "Sum of meeting duration (field duration, minutes x 60) in the current UTC month's report, by user and meeting type.",
		"zoom_meeting_duration_seconds_total", "Meeting duration (field duration, minutes x 60) of counted meetings; growth of a meeting already counted is added.",
		func(t scrape.Totals) int64 { return t.DurationSeconds }},
	{"zoom_month_participant_seconds", "Sum of all participants' time (field total_minutes x 60) in the current UTC month's report, by user and meeting type.",
		"zoom_meeting_participant_seconds_total", "All participants' time (field total_minutes x 60) of counted meetings; growth of a meeting already counted is added.",
		func(t scrape.Totals) int64 { return t.ParticipantSeconds }},
	{"zoom_month_participants", "Sum of participants (field participants_count) in the current UTC month's report, by user and meeting type.",
		"zoom_meeting_participants_total", "Participants (field participants_count) of counted meetings; growth of a meeting already counted is added.",
		func(t scrape.Totals) int64 { return t.Participants }},
	{"zoom_month_meetings_with_recording", "Meetings in the current UTC month's report in which the user recorded (field has_recording, which Zoom reports per attendee: the queried user, the host with type=past; not whether anyone recorded), by user and meeting type.",
		"zoom_meetings_with_recording_total", "Counted meetings in which the user recorded (field has_recording, per attendee: the host with type=past).",
		func(t scrape.Totals) int64 { return t.WithRecording }},
	{"zoom_month_meetings_with_screen_share", "Meetings in the current UTC month's report in which the user shared a screen (field has_screen_share, per attendee: the host with type=past; not whether anyone shared), by user and meeting type.",
		"zoom_meetings_with_screen_share_total", "Counted meetings in which the user shared a screen (field has_screen_share, per attendee: the host with type=past).",
		func(t scrape.Totals) int64 { return t.WithScreenShare }},
	{"zoom_month_meetings_with_chat", "Meetings in the current UTC month's report in which the user chatted (field has_chat, per attendee: the host with type=past; not whether anyone chatted), by user and meeting type.",
		"zoom_meetings_with_chat_total", "Counted meetings in which the user chatted (field has_chat, per attendee: the host with type=past).",
		func(t scrape.Totals) int64 { return t.WithChat }},
}

// figureDescs builds one descriptor per figure; a fresh set for each label mode.
func figureDescs(withUser bool, counter bool) []*prometheus.Desc {
	descs := make([]*prometheus.Desc, len(usageFigures))
	for i, f := range usageFigures {
		name, help := f.monthName, f.monthHelp+" Resets when the month turns."
		if counter {
			name, help = f.counterName, f.counterHelp
		}
		descs[i] = prometheus.NewDesc(name, help+refreshNote, userTypeLabels(withUser), nil)
	}
	return descs
}

var (
	// Not zoom_meeting_duration_seconds: in OpenMetrics that is the family
	// name of the counter zoom_meeting_duration_seconds_total.
	durationHistogramDesc = prometheus.NewDesc("zoom_meeting_duration_distribution_seconds",
		"Distribution of meeting duration (field duration, minutes x 60) of counted meetings, by meeting type; a meeting is observed once, when first counted."+refreshNote,
		[]string{"type"}, nil)
	sizeHistogramDesc = prometheus.NewDesc("zoom_meeting_size_participants",
		"Distribution of participants per meeting (field participants_count) of counted meetings, by meeting type; a meeting is observed once, when first counted."+refreshNote,
		[]string{"type"}, nil)
	userInfoDesc = prometheus.NewDesc("zoom_user_info",
		"Tracked Zoom users, value 1, with license (field type) and department (field dept) from GET /users."+refreshNote,
		[]string{"user", "license", "dept"}, nil)

	upDesc = prometheus.NewDesc("zoom_up",
		"1 when the last refresh had no failure and every tracked user has data from Zoom that is not overdue, else 0.", nil, nil)
	lastSuccessDesc = prometheus.NewDesc("zoom_last_refresh_success_timestamp_seconds",
		"Unix time when the last fully successful refresh started; absent until one succeeds.", nil, nil)
	refreshDurationDesc = prometheus.NewDesc("zoom_refresh_duration_seconds",
		"How long the last refresh of every tracked user took.", nil, nil)
	usersTrackedDesc = prometheus.NewDesc("zoom_users_tracked",
		"Users whose reports the exporter refreshes.", nil, nil)
	effectiveIntervalDesc = prometheus.NewDesc("zoom_refresh_effective_interval_seconds",
		"How often a change to a user's meetings can currently be seen: --scrape.interval, stretched when --zoom.daily-budget cannot keep up.", nil, nil)
	usersPendingDesc = prometheus.NewDesc("zoom_users_pending",
		"Users whose reports need a refresh that the daily budget has not allowed yet.", nil, nil)
	clampedDesc = prometheus.NewDesc("zoom_report_figures_clamped_total",
		"Figures of Zoom's reports beyond their sane bound (duration over a week, participants over 100,000), clamped to it, since the exporter started.", nil, nil)
	refusedDesc = prometheus.NewDesc("zoom_report_items_refused_total",
		"Meetings and users refused since the exporter started because their uuid or id is longer than the bound (kind: meeting or user); they are never stored or counted.",
		[]string{"kind"}, nil)
	liveKnownDesc = prometheus.NewDesc("zoom_events_live_known",
		"1 while Zoom events flow and zoom_meetings_in_progress and zoom_meeting_participants_in_progress are served; 0 while they are unknown (event stream disconnected, no recent webhook, just restarted). Served only when an event transport is configured.", nil, nil)
	meetingsInProgressDesc = prometheus.NewDesc("zoom_meetings_in_progress",
		"Meetings in progress now hosted by tracked users, by meeting type, from Zoom's meeting and webinar started/ended events (not the reports). Served only while zoom_events_live_known is 1; leaves out meetings that started before the event stream last (re)connected, and drops one whose end was missed 30 h after its start.",
		[]string{"type"}, nil)
	participantsInProgressDesc = prometheus.NewDesc("zoom_meeting_participants_in_progress",
		"Participants now in meetings in progress hosted by tracked users (each connection once), by meeting type, from Zoom's participant_joined/participant_left events. Served only while zoom_events_live_known is 1, with the gaps of zoom_meetings_in_progress.",
		[]string{"type"}, nil)
	userLastRefreshDesc = prometheus.NewDesc("zoom_user_last_refresh_timestamp_seconds",
		"Unix time when the user's reports were last refreshed successfully; stops advancing while the user's refresh fails.",
		[]string{"user"}, nil)
)

// liveDescs are the live gauges, from Zoom events.
var liveDescs = []*prometheus.Desc{liveKnownDesc, meetingsInProgressDesc, participantsInProgressDesc}

// monthDescs and counterDescs are indexed like usageFigures, per label mode.
var (
	monthDescs   = map[bool][]*prometheus.Desc{true: figureDescs(true, false), false: figureDescs(false, false)}
	counterDescs = map[bool][]*prometheus.Desc{true: figureDescs(true, true), false: figureDescs(false, true)}
)

// subcollectors are the switchable metric groups, in exposition order.
var subcollectors = []subcollector{
	{
		name: "month", help: "month-to-date gauges by user and meeting type", defaultOn: true,
		descs: func(u bool) []*prometheus.Desc { return monthDescs[u] },
		collect: func(e *Exporter, snap *scrape.Snapshot, ch chan<- prometheus.Metric) {
			e.collectFigures(snap, ch, prometheus.GaugeValue, monthDescs[e.userLabel != UserLabelNone],
				func(u scrape.UserSnapshot) map[string]scrape.Totals { return u.Month })
		},
	},
	{
		name: "meetings", help: "cumulative meeting counters by user and meeting type", defaultOn: true,
		descs: func(u bool) []*prometheus.Desc { return counterDescs[u] },
		collect: func(e *Exporter, snap *scrape.Snapshot, ch chan<- prometheus.Metric) {
			e.collectFigures(snap, ch, prometheus.CounterValue, counterDescs[e.userLabel != UserLabelNone],
				func(u scrape.UserSnapshot) map[string]scrape.Totals { return u.Counters })
		},
	},
	{
		name: "distribution", help: "histograms of meeting duration and size by meeting type", defaultOn: true,
		descs: func(bool) []*prometheus.Desc { return []*prometheus.Desc{durationHistogramDesc, sizeHistogramDesc} },
		collect: func(e *Exporter, snap *scrape.Snapshot, ch chan<- prometheus.Metric) {
			collectHistograms(ch, durationHistogramDesc, snap.Durations)
			collectHistograms(ch, sizeHistogramDesc, snap.Participants)
		},
	},
	{
		name: "user_info", help: "zoom_user_info with license and department from GET /users", defaultOn: true, perUserOnly: true,
		descs: func(bool) []*prometheus.Desc { return []*prometheus.Desc{userInfoDesc} },
		collect: func(e *Exporter, snap *scrape.Snapshot, ch chan<- prometheus.Metric) {
			seen := make(map[string]bool, len(snap.Users))
			for _, u := range snap.Users {
				if u.Retired {
					continue
				}
				label := e.userValue(u)
				if seen[label] {
					continue // two tracked entries for one user: one info series
				}
				seen[label] = true
				ch <- prometheus.MustNewConstMetric(userInfoDesc, prometheus.GaugeValue, 1, label, u.License, u.Dept)
			}
		},
	},
	// The account collectors (account.go).
	licensesCollector,
	cloudRecordingCollector,
	dailyCollector,
}

// healthDescs are always served: an operator must see whether data is fresh.
func (e *Exporter) healthDescs() []*prometheus.Desc {
	descs := []*prometheus.Desc{upDesc, lastSuccessDesc, refreshDurationDesc, usersTrackedDesc, effectiveIntervalDesc, usersPendingDesc, clampedDesc, refusedDesc}
	if !e.separateLive {
		descs = append(descs, liveDescs...)
	}
	if e.userLabel != UserLabelNone {
		descs = append(descs, userLastRefreshDesc)
	}
	return descs
}

func (e *Exporter) collectHealth(snap *scrape.Snapshot, ch chan<- prometheus.Metric) {
	up := 0.0
	if snap.Up {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	if !snap.LastSuccess.IsZero() {
		ch <- prometheus.MustNewConstMetric(lastSuccessDesc, prometheus.GaugeValue, float64(snap.LastSuccess.Unix()))
	}
	ch <- prometheus.MustNewConstMetric(refreshDurationDesc, prometheus.GaugeValue, snap.RefreshDuration.Seconds())
	tracked := 0
	for _, u := range snap.Users {
		if !u.Retired {
			tracked++
		}
	}
	ch <- prometheus.MustNewConstMetric(usersTrackedDesc, prometheus.GaugeValue, float64(tracked))
	ch <- prometheus.MustNewConstMetric(effectiveIntervalDesc, prometheus.GaugeValue, snap.EffectiveInterval.Seconds())
	ch <- prometheus.MustNewConstMetric(usersPendingDesc, prometheus.GaugeValue, float64(snap.PendingUsers))
	ch <- prometheus.MustNewConstMetric(clampedDesc, prometheus.CounterValue, float64(snap.ClampedFigures))
	ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(snap.RefusedMeetings), "meeting")
	ch <- prometheus.MustNewConstMetric(refusedDesc, prometheus.CounterValue, float64(snap.RefusedUsers), "user")
	if !e.separateLive {
		collectLive(snap.Live, ch)
	}
	if e.userLabel == UserLabelNone {
		return
	}
	latest := make(map[string]float64, len(snap.Users))
	for _, u := range snap.Users {
		if u.LastRefresh.IsZero() || u.Retired {
			continue
		}
		label := e.userValue(u)
		latest[label] = max(latest[label], float64(u.LastRefresh.Unix()))
	}
	for label, ts := range latest {
		ch <- prometheus.MustNewConstMetric(userLastRefreshDesc, prometheus.GaugeValue, ts, label)
	}
}

func (e *Exporter) collectFigures(snap *scrape.Snapshot, ch chan<- prometheus.Metric, vt prometheus.ValueType, descs []*prometheus.Desc, pick func(scrape.UserSnapshot) map[string]scrape.Totals) {
	for _, r := range e.byUserAndType(snap.Users, pick) {
		labels := e.labels(r)
		for i, f := range usageFigures {
			ch <- prometheus.MustNewConstMetric(descs[i], vt, float64(f.value(r.totals)), labels...)
		}
	}
}

func collectHistograms(ch chan<- prometheus.Metric, desc *prometheus.Desc, byType map[string]scrape.Histogram) {
	for typ, h := range byType {
		ch <- prometheus.MustNewConstHistogram(desc, h.Count, h.Sum, h.Buckets, typ)
	}
}

// collectLive serves the live gauges only while they are known: stale live
// numbers are never served as current.
func collectLive(live scrape.LiveSnapshot, ch chan<- prometheus.Metric) {
	if !live.Enabled {
		return
	}
	known := 0.0
	if live.Known {
		known = 1
	}
	ch <- prometheus.MustNewConstMetric(liveKnownDesc, prometheus.GaugeValue, known)
	if !live.Known {
		return
	}
	for typ, n := range live.Meetings {
		ch <- prometheus.MustNewConstMetric(meetingsInProgressDesc, prometheus.GaugeValue, float64(n), typ)
	}
	for typ, n := range live.Participants {
		ch <- prometheus.MustNewConstMetric(participantsInProgressDesc, prometheus.GaugeValue, float64(n), typ)
	}
}
