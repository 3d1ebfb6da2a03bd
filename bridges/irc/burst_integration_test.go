//go:build integration

package irc_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// numbered returns n message bodies "<prefix> 0000" ... in sending order.
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s %04d", prefix, i)
	}
	return out
}

// checkSequence waits until last is in room, or wait passes, and then until
// the room is quiet; then it compares the messages of sender the room
// shows with sent (see integration.CheckSequence) and returns the check
// and the room's complete timeline.
func checkSequence(ctx context.Context, t *testing.T, c *integration.Client, room matrix.RoomID, sender matrix.UserID, sent []string, last string, wait time.Duration) (integration.SequenceCheck, []matrix.Event, []matrix.Event) {
	t.Helper()
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	if _, err := c.WaitForMessage(waitCtx, room, last); err != nil {
		t.Logf("%q did not arrive: %v", last, err)
	}
	cancel()
	if err := c.WaitQuiet(ctx, room, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	merged, err := c.RoomTimeline(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	ordered, err := c.ReadTimeline(ctx, room, 100)
	if err != nil {
		t.Fatal(err)
	}
	check := integration.CheckSequence(sent, integration.MessageBodies(merged, sender), integration.MessageBodies(ordered, sender))
	return check, merged, ordered
}

// TestIntegrationIRCBurstKeepsBot (issue 8): one IRC client sends 5,000
// lines into a bridged channel as fast as its socket takes them, on an
// Ergo with its default send queue (96k: the harness raises it to 1M) and
// no fakelag. The bridge's bot must read them as fast as they come, so
// Ergo never drops it ("SendQ exceeded"): a raw client in the channel sees
// no QUIT and no new JOIN of the bot, nor of the Matrix user's own
// connection (it gets the burst too), Ergo logs no SendQ overflow, and the
// Matrix room shows 5,000 of 5,000 in order, none twice.
func TestIntegrationIRCBurstKeepsBot(t *testing.T) {
	t.Parallel()
	srv := integration.StartErgo(t, integration.WithErgoSetting("server.max-sendq", "96k"))
	s := startBridge(t, srv, "", flood100)
	ctx := tctx(t, 12*time.Minute)
	talker := dialJoined(t, srv.Addr(), "talker", []string{"#flood"})
	user := s.User(ctx, "olga")
	room, _ := joinPortal(ctx, t, user, "#flood", talker)
	waitIRC(t, talker, joined("causeway"), "the bot joining #flood")
	say(ctx, t, talker, "#flood", "ready", user, room)

	before := len(talker.Lines())
	sent := numbered("flood", 5000)
	start := time.Now()
	for _, b := range sent {
		if err := talker.Privmsg("#flood", b); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("5,000 lines written in %s", time.Since(start).Round(time.Millisecond))
	check, merged, _ := checkSequence(ctx, t, user, room, "@irc_test_talker:localhost", sent, sent[len(sent)-1], 6*time.Minute)
	t.Logf("the room shows %s after %s", check, time.Since(start).Round(time.Second))

	// What the channel saw of the bridge's connections during the burst:
	// the bot's, and olga's own (which receives the burst too).
	for _, nick := range []string{"causeway", "olga"} {
		var drops []string
		for _, l := range talker.Lines()[before:] {
			if (l.Command == "QUIT" || l.Command == "JOIN" || l.Command == "PART") && strings.EqualFold(l.Nick(), nick) {
				drops = append(drops, l.Raw)
			}
		}
		if len(drops) > 0 {
			t.Errorf("%s left or rejoined #flood during the burst:\n%s", nick, strings.Join(drops, "\n"))
		}
	}
	if log, err := os.ReadFile(srv.LogPath()); err != nil {
		t.Error(err)
	} else if strings.Contains(strings.ToLower(string(log)), "sendq") {
		var lines []string
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(strings.ToLower(l), "sendq") {
				lines = append(lines, l)
			}
		}
		t.Errorf("Ergo's log mentions a send queue overflow:\n%s", strings.Join(lines[:min(10, len(lines))], "\n"))
	}
	if !check.OK() {
		t.Errorf("the room shows %s", check)
	}
	// Every message is there: a notice saying some are not is false.
	if notices := integration.Notices(merged, "were not bridged", "The bridge was away"); len(check.Missing) == 0 && len(notices) > 0 {
		t.Errorf("all 5,000 messages are in the room, yet it tells the user some are missing: %q", notices)
	}
	if other := integration.OtherMessages(merged, "@irc_test_", "@irc_test_talker:localhost"); len(other) > 0 {
		t.Errorf("the room shows %d messages from IRC users other than talker (only talker spoke): %q", len(other), other[:min(5, len(other))])
	}
}
