package deploy

import (
	"fmt"
	"net/http/httptest"
	"regexp"
	"sort"
	"strconv"
	"testing"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/scrape"
)

var (
	userRefreshRe = regexp.MustCompile(`(?m)^zoom_user_last_refresh_timestamp_seconds\{user="([^"]+)"\} `)
	dailyBudgetRe = regexp.MustCompile(`(?m)^zoom_api_daily_budget (\S+)$`)
)

// TestShardsSplitTheAccount runs the binary as the StatefulSet runs its pods,
// --shard=i --total-shards=3, against one fake Zoom account: every user is
// refreshed by exactly one shard, the one scrape.ShardOf gives for its Zoom
// id, and the shards' daily budgets add up to one unsharded exporter's.
func TestShardsSplitTheAccount(t *testing.T) {
	t.Parallel()
	needBinary(t)
	clock := testenv.NewRunningClock(testenv.MidMonth)
	fake := zoomfake.New(zoomfake.Options{Seed: 7, Users: 40, HeavyUserMeetings: 30, Now: clock.Now})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)

	run := func(shard, total int) (users []string, budget int) {
		addr := freeAddress(t)
		p := startBinary(t, addr, []string{"ZOOM_CLIENT_SECRET=" + zoomfake.DefaultClientSecret, testenv.FakeNowEnv(clock)},
			"--web.listen-address="+addr,
			"--storage.path="+t.TempDir(),
			"--zoom.api-url="+srv.URL+"/v2",
			"--zoom.token-url="+srv.URL+"/oauth/token",
			"--zoom.account-id="+zoomfake.DefaultAccountID,
			"--zoom.client-id="+zoomfake.DefaultClientID,
			"--collector.user-label=id",
			fmt.Sprintf("--shard=%d", shard),
			fmt.Sprintf("--total-shards=%d", total),
		)
		p.waitFor(t, "/-/ready", func(code int, _ string) bool { return code == 200 })
		metrics := p.waitFor(t, cli.metricsPath, func(code int, body string) bool {
			return code == 200 && dailyBudgetRe.MatchString(body)
		})
		for _, m := range userRefreshRe.FindAllStringSubmatch(metrics, -1) {
			users = append(users, m[1])
		}
		b, err := strconv.ParseFloat(dailyBudgetRe.FindStringSubmatch(metrics)[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return users, int(b)
	}

	all := map[string]bool{}
	for _, u := range fake.Users() {
		all[u.ID] = true
	}
	_, wholeBudget := run(0, 1)

	const total = 3
	owner := map[string]int{}
	budgets := 0
	for shard := range total {
		users, budget := run(shard, total)
		budgets += budget
		for _, id := range users {
			if prev, dup := owner[id]; dup {
				t.Errorf("user %s is refreshed by shards %d and %d", id, prev, shard)
			}
			owner[id] = shard
			if want := scrape.ShardOf(id, total); want != shard {
				t.Errorf("user %s is refreshed by shard %d, scrape.ShardOf gives %d", id, shard, want)
			}
		}
	}
	var missing []string
	for id := range all {
		if _, ok := owner[id]; !ok {
			missing = append(missing, id)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("users refreshed by no shard: %v", missing)
	}
	if len(owner) != len(all) {
		t.Errorf("the shards refresh %d users, the account has %d active users", len(owner), len(all))
	}
	if budgets != wholeBudget {
		t.Errorf("the shards' daily budgets add up to %d, an unsharded exporter's is %d", budgets, wholeBudget)
	}
}
