package scrape

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/zoomexporter/zoom_exporter/internal/testenv"
	"github.com/zoomexporter/zoom_exporter/internal/zoomfake"
	"github.com/zoomexporter/zoom_exporter/store"
)

// seriesByLabel sums counters by e-mail label and type, as /metrics does
// with --collector.user-label=email.
func seriesByLabel(snap *Snapshot) map[string]Totals {
	out := make(map[string]Totals)
	for _, u := range snap.Users {
		for typ, t := range u.Counters {
			k := u.Email + " " + typ
			s := out[k]
			s.Add(t)
			out[k] = s
		}
	}
	return out
}

// neverDecrease fails when a series of before is missing or smaller in after.
func neverDecrease(t *testing.T, when string, before, after map[string]Totals) {
	t.Helper()
	for k, b := range before {
		a, ok := after[k]
		if !ok || a.Meetings < b.Meetings || a.DurationSeconds < b.DurationSeconds || a.ParticipantSeconds < b.ParticipantSeconds ||
			a.Participants < b.Participants || a.WithRecording < b.WithRecording || a.WithScreenShare < b.WithScreenShare || a.WithChat < b.WithChat {
			t.Errorf("%s: series %s went from %+v to %+v", when, k, b, a)
		}
	}
}

// The user label comes from the user directory, never from a meeting row: a
// report whose rows carry another user's e-mail neither moves a user's
// series nor makes a series go down (issue 15: 4 -> 8 -> 4).
func TestLabelComesFromTheDirectory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		configured bool // users given by --zoom.user (their ids)
	}{
		{name: "discovered users"},
		{name: "configured users", configured: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := testenv.NewClock(testNow)
			env, z := newRewritingEnv(t, clock, zoomfake.Options{Seed: 61, Users: 5, HeavyUserMeetings: 20}, nil)
			users := env.fake.Users()
			a, b := users[1], users[2]
			s := newTestScraper(t, env, func(c *ScraperConfig) {
				if tc.configured {
					for _, u := range users {
						c.Users = append(c.Users, u.ID)
					}
				}
			})
			ctx := context.Background()
			s.Refresh(ctx)
			prev := seriesByLabel(s.Snapshot())

			for i, misplaced := range []bool{true, false, true, false} {
				// A new meeting makes a fetch of a's report; in some cycles
				// its rows carry b's e-mail.
				addTestMeeting(env.fake, a, "label/"+string(rune('a'+i))+"==", clock.Now())
				if misplaced {
					z.set(func(r *http.Request, body map[string]any) {
						if reportUser(r) != a.ID {
							return
						}
						rows, _ := body["meetings"].([]any)
						for _, row := range rows {
							row.(map[string]any)["user_email"] = b.Email
						}
					})
				} else {
					z.set(nil)
				}
				clock.Advance(5 * time.Minute)
				s.Refresh(ctx)
				snap := s.Snapshot()
				if got := userByKey(t, snap, a.ID).Email; got != a.Email {
					t.Errorf("cycle %d: user %s labelled %q, want the directory's %q", i, a.ID, got, a.Email)
				}
				if got := userByKey(t, snap, b.ID).Email; got != b.Email {
					t.Errorf("cycle %d: user %s labelled %q, want %q", i, b.ID, got, b.Email)
				}
				next := seriesByLabel(snap)
				neverDecrease(t, "cycle "+string(rune('0'+i)), prev, next)
				prev = next
			}
		})
	}
}

// An e-mail stored by an older version (taken from a meeting row) is served
// until the directory lists the user, then the directory's is served and
// stored.
func TestStoredEmailGivesWayToTheDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env := newTestEnv(t, zoomfake.Options{Seed: 62, Users: 4, HeavyUserMeetings: 20}, nil)
	user := env.fake.Users()[1]
	st, err := store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	counters, _ := json.Marshal(map[string]Totals{"scheduled": {Meetings: 4}})
	if err := st.Commit(store.Change{User: user.ID, Email: "someone.else@example.com", Counters: counters}); err != nil {
		t.Fatal(err)
	}
	s := newTestScraper(t, env, func(c *ScraperConfig) { c.Store = st })
	if got := userByKey(t, s.Snapshot(), user.ID).Email; got != "someone.else@example.com" {
		t.Errorf("restored label %q, want the stored e-mail until the directory is read", got)
	}
	s.Refresh(context.Background())
	if got := userByKey(t, s.Snapshot(), user.ID).Email; got != user.Email {
		t.Errorf("label %q after the directory was read, want %q", got, user.Email)
	}
	st.Close()
	st, err = store.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, _, err := st.Load(func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	if got := stored[user.ID].Email; got != user.Email {
		t.Errorf("stored e-mail %q, want the directory's %q", got, user.Email)
	}
}
