package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// The example Alertmanager configuration, in a real Alertmanager: while the
// exporter is down or cannot authenticate, the alerts that only repeat that
// cause (the event stream cannot connect without a token either) are
// inhibited, for the same job and instance only.
func TestAlertmanagerInhibitsAlertsThatRepeatACause(t *testing.T) {
	t.Parallel()
	alertmanager := requireProgram(t, "prometheus-alertmanager", "prometheus-alertmanager")
	root := moduleRoot(t)
	tmp := t.TempDir()
	addr := freeAddress(t)
	am := startProcess(t, "alertmanager", tmp, addr, "/-/ready", nil, alertmanager,
		"--config.file="+filepath.Join(root, alertmanagerConfig),
		"--storage.path="+filepath.Join(tmp, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=",
	)

	cases := []struct {
		instance        string // each case alone on its instance
		source, target  string // source "": the target fires alone
		sourceOnOther   bool   // the source fires on another instance
		wantInhibitedBy bool
	}{
		{"auth-stream", "ZoomAuthFailing", "ZoomEventStreamDown", false, true},
		{"auth-stale", "ZoomAuthFailing", "ZoomDataStale", false, true},
		{"down-stream", "ZoomExporterDown", "ZoomEventStreamDown", false, true},
		{"down-quota", "ZoomExporterDown", "ZoomDailyQuotaNearlySpent", false, true},
		{"stream-alone", "", "ZoomEventStreamDown", false, false},
		{"auth-elsewhere", "ZoomAuthFailing", "ZoomEventStreamDown", true, false},
		{"auth-storage", "ZoomAuthFailing", "ZoomStorageFailing", false, false}, // a cause of its own
	}
	type postAlert struct {
		Labels   map[string]string `json:"labels"`
		StartsAt time.Time         `json:"startsAt"`
		EndsAt   time.Time         `json:"endsAt"`
	}
	now := time.Now().UTC()
	alert := func(name, instance string) postAlert {
		return postAlert{Labels: map[string]string{"alertname": name, "job": "zoom", "instance": instance, "severity": "warning"},
			StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour)}
	}
	var posted []postAlert
	for _, c := range cases {
		posted = append(posted, alert(c.target, c.instance))
		if c.source != "" {
			where := c.instance
			if c.sourceOnOther {
				where = c.instance + "-other"
			}
			posted = append(posted, alert(c.source, where))
		}
	}
	body, err := json.Marshal(posted)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(am.base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("posting alerts: %s", resp.Status)
	}

	type gotAlert struct {
		Labels map[string]string `json:"labels"`
		Status struct {
			State       string   `json:"state"`
			InhibitedBy []string `json:"inhibitedBy"`
		} `json:"status"`
	}
	var got []gotAlert
	waitFor(t, 30*time.Second, "every posted alert in Alertmanager", func() (bool, string) {
		got = nil
		if err := getJSON(am.base+"/api/v2/alerts", &got); err != nil {
			return false, err.Error()
		}
		return len(got) == len(posted), ""
	})
	for _, c := range cases {
		found := false
		for _, a := range got {
			if a.Labels["alertname"] != c.target || a.Labels["instance"] != c.instance {
				continue
			}
			found = true
			if inhibited := len(a.Status.InhibitedBy) > 0; inhibited != c.wantInhibitedBy {
				t.Errorf("%s on %s beside %q (other instance: %v): inhibited %v (state %s), want %v",
					c.target, c.instance, c.source, c.sourceOnOther, inhibited, a.Status.State, c.wantInhibitedBy)
			}
		}
		if !found {
			t.Errorf("%s on %s is not in Alertmanager", c.target, c.instance)
		}
	}
}
