package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/zoomexporter/zoom_exporter/scrape"
)

// The account collectors (issue 14): licenses and sign-ins, cloud recording
// storage and daily account totals. Each fetches from Zoom on its own
// (scrape/account.go), so each has a zoom_collector_up of its own: its
// failure, or a scope the Zoom app lacks, never touches zoom_up.

const accountNote = " Refreshed in the background, so it may be up to one refresh old."

var (
	collectorUpDesc = prometheus.NewDesc("zoom_collector_up",
		"1 when the account collector's last fetch from Zoom succeeded; 0 when it failed, has not succeeded yet, or is disabled because the Zoom app lacks a scope (its own calls only: zoom_up covers the users' reports). /status says why.",
		[]string{"collector"}, nil)
	accountRefusedDesc = prometheus.NewDesc("zoom_account_values_refused_total",
		"Values of Zoom's answers the account collectors could not read (a storage size in an unknown unit, a negative count, a date that is not one), by field, since the exporter started; the last good value is kept.",
		[]string{"field"}, nil)

	accountUsersDesc = prometheus.NewDesc("zoom_account_users",
		"Users of the Zoom account by license (field type) and status, from GET /users?status=active (every refresh) and ?status=inactive and ?status=pending (hourly); served by shard 0 of a sharded account."+accountNote,
		[]string{"license", "status"}, nil)
	lastLoginDesc = prometheus.NewDesc("zoom_user_last_login_timestamp_seconds",
		"Unix time of the tracked user's last sign-in (GET /users, field last_login_time, which Zoom updates at most once in three days); absent for a user who never signed in."+accountNote,
		[]string{"user"}, nil)

	storageUsedDesc = prometheus.NewDesc("zoom_cloud_recording_storage_used_bytes",
		"Cloud recording storage the account uses, from GET /report/cloud_recording (field usage) of the latest date it reports (yesterday at best); Zoom's units read as powers of 1024. Fetched every 6 hours by shard 0.",
		nil, nil)
	storagePlanDesc = prometheus.NewDesc("zoom_cloud_recording_storage_plan_bytes",
		"Paid cloud recording storage of the account's plan, from GET /report/cloud_recording (field plan_usage); +Inf when Zoom says Unlimited. Fetched every 6 hours by shard 0.",
		nil, nil)
	storageFreeDesc = prometheus.NewDesc("zoom_cloud_recording_storage_free_bytes",
		"Free cloud recording storage that comes with the account's plan, from GET /report/cloud_recording (field free_usage); +Inf when Zoom says Unlimited. Fetched every 6 hours by shard 0.",
		nil, nil)
	storageDateDesc = prometheus.NewDesc("zoom_cloud_recording_storage_date_timestamp_seconds",
		"Date (00:00 UTC, as a Unix time) of the cloud recording report row zoom_cloud_recording_storage_used_bytes comes from.",
		nil, nil)

	accountMonthDescs = dailyDescs("zoom_account_month_",
		"in the current UTC month to date, the whole account (tracked users or not), from GET /report/daily summed over the month's dates; absent after the month turns until its report was read. Resets when the month turns. Fetched every 15 minutes at most by shard 0.",
		nil)
	accountDayDescs = dailyDescs("zoom_account_day_",
		"on one UTC date, the whole account, from GET /report/daily: day=\"today\" grows through the day, day=\"yesterday\" is the whole of the day before (chart it at 1d steps for the daily history). Fetched every 15 minutes at most by shard 0.",
		[]string{"day"})
)

// dailyFigure is one figure of the daily report.
type dailyFigure struct {
	suffix, what string
	value        func(scrape.DayFigures) float64
}

var dailyFigures = []dailyFigure{
	{"meetings", "Meetings (field meetings)", func(d scrape.DayFigures) float64 { return float64(d.Meetings) }},
	{"participants", "Participants (field participants)", func(d scrape.DayFigures) float64 { return float64(d.Participants) }},
	{"meeting_seconds", "Meeting time (field meeting_minutes x 60; Zoom does not say whether it sums meetings' durations or participants' time)", func(d scrape.DayFigures) float64 { return float64(d.MeetingMinutes * 60) }},
	{"new_users", "Users added to the account (field new_users)", func(d scrape.DayFigures) float64 { return float64(d.NewUsers) }},
}

func dailyDescs(prefix, help string, labels []string) []*prometheus.Desc {
	descs := make([]*prometheus.Desc, len(dailyFigures))
	for i, f := range dailyFigures {
		descs[i] = prometheus.NewDesc(prefix+f.suffix, f.what+" "+help, labels, nil)
	}
	return descs
}

// The account subcollectors, listed in subcollectors (metrics.go).
var (
	licensesCollector = subcollector{
		name: scrape.CollectorLicenses, defaultOn: true,
		help: "users by license and status (GET /users, also ?status=inactive and ?status=pending hourly) and each tracked user's last sign-in",
		descs: func(withUser bool) []*prometheus.Desc {
			if withUser {
				return []*prometheus.Desc{accountUsersDesc, lastLoginDesc}
			}
			return []*prometheus.Desc{accountUsersDesc}
		},
		collect: func(e *Exporter, snap *scrape.Snapshot, ch chan<- prometheus.Metric) {
			if snap.Account != nil {
				for _, l := range snap.Account.Licenses {
					ch <- prometheus.MustNewConstMetric(accountUsersDesc, prometheus.GaugeValue, float64(l.Users), l.License, l.Status)
				}
			}
			if e.userLabel == UserLabelNone {
				return
			}
			latest := make(map[string]float64)
			for _, u := range snap.Users {
				if u.Retired || u.LastLogin.IsZero() {
					continue
				}
				label := e.userValue(u)
				latest[label] = max(latest[label], float64(u.LastLogin.Unix()))
			}
			for label, ts := range latest {
				ch <- prometheus.MustNewConstMetric(lastLoginDesc, prometheus.GaugeValue, ts, label)
			}
		},
	}
	cloudRecordingCollector = subcollector{
		name: scrape.CollectorCloudRecording, defaultOn: true,
		help: "cloud recording storage used, plan and free, in bytes (GET /report/cloud_recording, Heavy, 4 calls a day)",
		descs: func(bool) []*prometheus.Desc {
			return []*prometheus.Desc{storageUsedDesc, storagePlanDesc, storageFreeDesc, storageDateDesc}
		},
		collect: func(_ *Exporter, snap *scrape.Snapshot, ch chan<- prometheus.Metric) {
			if snap.Account == nil || snap.Account.Storage == nil {
				return
			}
			st := snap.Account.Storage
			for _, f := range []struct {
				desc *prometheus.Desc
				fig  scrape.StorageFigure
			}{{storageUsedDesc, st.Used}, {storagePlanDesc, st.Plan}, {storageFreeDesc, st.Free}} {
				if f.fig.Known {
					ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, f.fig.Bytes)
				}
			}
			if st.Used.Known {
				ch <- prometheus.MustNewConstMetric(storageDateDesc, prometheus.GaugeValue, float64(st.Used.Date.Unix()))
			}
		},
	}
	dailyCollector = subcollector{
		name: scrape.CollectorDaily, defaultOn: true,
		help: "account-wide meetings, participants, meeting time and new users this month, today and yesterday (GET /report/daily, Heavy, at most every 15 minutes)",
		descs: func(bool) []*prometheus.Desc {
			return append(append([]*prometheus.Desc(nil), accountMonthDescs...), accountDayDescs...)
		},
		collect: func(_ *Exporter, snap *scrape.Snapshot, ch chan<- prometheus.Metric) {
			if snap.Account == nil || snap.Account.Daily == nil {
				return
			}
			d := snap.Account.Daily
			for i, f := range dailyFigures {
				if d.MonthToDate != nil {
					ch <- prometheus.MustNewConstMetric(accountMonthDescs[i], prometheus.GaugeValue, f.value(*d.MonthToDate))
				}
				for _, day := range []struct {
					label   string
					figures *scrape.DayFigures
				}{{"today", d.Today}, {"yesterday", d.Yesterday}} {
					if day.figures != nil {
						ch <- prometheus.MustNewConstMetric(accountDayDescs[i], prometheus.GaugeValue, f.value(*day.figures), day.label)
					}
				}
			}
		},
	}
)

// isAccountCollector: the subcollectors that fetch from Zoom on their own.
func isAccountCollector(name string) bool {
	switch name {
	case scrape.CollectorLicenses, scrape.CollectorCloudRecording, scrape.CollectorDaily:
		return true
	}
	return false
}

// accountEnabled reports whether any account collector is enabled.
func (e *Exporter) accountEnabled() bool {
	for _, c := range e.enabled {
		if isAccountCollector(c.name) {
			return true
		}
	}
	return false
}

// describeAccount sends the descriptors the account collectors share.
func (e *Exporter) describeAccount(ch chan<- *prometheus.Desc) {
	if e.accountEnabled() {
		ch <- collectorUpDesc
		ch <- accountRefusedDesc
	}
}

// collectAccount serves each enabled account collector's health and the
// values refused.
func (e *Exporter) collectAccount(snap *scrape.Snapshot, ch chan<- prometheus.Metric) {
	if snap.Account == nil || !e.accountEnabled() {
		return
	}
	on := make(map[string]bool, len(e.enabled))
	for _, c := range e.enabled {
		on[c.name] = true
	}
	for _, c := range snap.Account.Collectors {
		if !on[c.Name] {
			continue
		}
		up := 0.0
		if c.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(collectorUpDesc, prometheus.GaugeValue, up, c.Name)
	}
	for field, n := range snap.Account.Refused {
		ch <- prometheus.MustNewConstMetric(accountRefusedDesc, prometheus.CounterValue, float64(n), field)
	}
}

// On reports whether the collector name is enabled by o (its default when
// the flag was not registered), for wiring the scraper's fetches.
func (o *Options) On(name string) bool {
	for _, c := range subcollectors {
		if c.name != name {
			continue
		}
		if p, ok := o.Enabled[name]; ok && p != nil {
			return *p
		}
		return c.defaultOn
	}
	return false
}
