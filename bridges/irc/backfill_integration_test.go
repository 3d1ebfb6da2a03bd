//go:build integration

package irc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationBackfillNewPortal: what was said in a channel before its
// portal existed shows up in the new room, once each, with the IRC
// timestamps.
func TestIntegrationBackfillNewPortal(t *testing.T) {
	ergo, s, ctx := startCoverage(t, "        backfill: 50\n")
	talker := dialJoined(t, ergo.Addr(), "early", []string{"#fresh"}, integration.WithCaps("server-time", "echo-message", "message-tags"))
	said := []string{"said before any portal", "second early line", "third early line"}
	stamps := map[string]int64{} // body → server-time in ms
	for _, m := range said {
		if err := talker.Privmsg("#fresh", m); err != nil {
			t.Fatal(err)
		}
		echo, err := talker.WaitFor(integration.IsPrivmsg("early", "#fresh", m), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := echo.Tag("time")
		ts, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			t.Fatalf("echo without server-time: %s", echo.Raw)
		}
		stamps[m] = ts.UnixMilli()
	}
	user := s.User(ctx, "nora")
	room, err := user.Join(ctx, portalAlias("#fresh"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForMessage(ctx, room, said[len(said)-1]); err != nil {
		t.Fatalf("history of the new portal not backfilled: %v", err)
	}
	// A live line after the history: the room must show history then it.
	waitIRC(t, talker, joined("nora"), "nora joining #fresh")
	say(ctx, t, talker, "#fresh", "live after the join", user, room)
	evs, err := user.RoomTimeline(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		if ev.Sender != "@irc_test_early:localhost" || ev.Type != matrix.EventMessage {
			continue
		}
		b := body(&ev).Body
		got = append(got, b)
		if want, ok := stamps[b]; ok && ev.OriginServerTS != want {
			t.Errorf("%q has origin_server_ts %d, want its IRC time %d", b, ev.OriginServerTS, want)
		}
	}
	if want := append(append([]string{}, said...), "live after the join"); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("room shows %q, want %q (each once, in order)", got, want)
	}
}
