package zoom

import "github.com/prometheus/client_golang/prometheus"

// Route templates used as the endpoint label: never a URL with ids in it.
const (
	endpointUserMeetings = "/report/users/{userId}/meetings"
	endpointUsers        = "/users"
	endpointActiveHosts  = "/report/users"
)

// clientMetrics count every call so that users can see, and forecast, what
// the exporter spends of the account's shared quota.
type clientMetrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	rateLimited   *prometheus.CounterVec
	tokenRequests prometheus.Counter
	tokenFailures prometheus.Counter
	// tokenShortLifetime counts tokens Zoom gave with a lifetime under
	// shortTokenLifetime, or none worth the name (negative).
	tokenShortLifetime prometheus.Counter
	quotaRemaining     *prometheus.GaugeVec
	heavyPaused        prometheus.Gauge
	budget             prometheus.Gauge
	budgetUsed         prometheus.Gauge
}

func newClientMetrics(reg prometheus.Registerer) *clientMetrics {
	m := &clientMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zoom_api_requests_total",
			Help: "Requests sent to the Zoom API, by route template and HTTP status code (code=\"error\" when no answer arrived).",
		}, []string{"endpoint", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "zoom_api_request_duration_seconds",
			Help:    "Time taken by Zoom API requests, including reading the body, by route template.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "zoom_api_rate_limited_total",
			Help: "Zoom API answers with HTTP 429, by route template and limit (qps: per-second limit; daily: daily quota).",
		}, []string{"endpoint", "limit"}),
		tokenRequests: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zoom_oauth_token_requests_total",
			Help: "Server-to-Server OAuth access token requests sent to the Zoom token endpoint.",
		}),
		tokenFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zoom_oauth_token_failures_total",
			Help: "Server-to-Server OAuth access token requests that did not return a usable token (error answers, no answer within --zoom.request-timeout, tokens expired on arrival).",
		}),
		tokenShortLifetime: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "zoom_oauth_token_short_lifetime_total",
			Help: "Access tokens whose lifetime (expires_in) was under 2 minutes or not positive; Zoom's live an hour. They are renewed at half their lifetime, at most one token request per 10s.",
		}),
		quotaRemaining: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "zoom_api_daily_quota_remaining",
			Help: "Calls left in the account's daily quota, from Zoom's X-RateLimit-Remaining header on the last answer that reported it, by rate-limit category.",
		}, []string{"category"}),
		heavyPaused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zoom_api_heavy_paused_until_timestamp_seconds",
			Help: "Unix time until which Heavy calls are paused after Zoom's daily 429 (Retry-After); 0 when not paused.",
		}),
		budget: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zoom_api_daily_budget",
			Help: "Heavy calls a day the exporter may spend (--zoom.daily-budget); the rest of the account's quota is left to other apps.",
		}),
		budgetUsed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "zoom_api_daily_budget_used",
			Help: "Heavy calls the exporter sent since 00:00 UTC, when Zoom's daily quota resets.",
		}),
	}
	for _, endpoint := range []string{endpointUserMeetings, endpointUsers, endpointActiveHosts} {
		for _, limit := range []string{"qps", "daily"} {
			m.rateLimited.WithLabelValues(endpoint, limit)
		}
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.duration, m.rateLimited, m.tokenRequests, m.tokenFailures, m.tokenShortLifetime, m.quotaRemaining, m.heavyPaused, m.budget, m.budgetUsed)
	}
	return m
}
