//go:build integration

package irc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestIntegrationQuietStop: a graceful stop is quiet. The bridge carries
// messages both ways between a channel and its portal and a private
// message into a DM; the DM's IRC user, who never spoke in the channel,
// quits; then the bridge stops while IRC messages are still being
// delivered to Matrix (some delivered, their completions waiting for the
// group commit). Nothing is logged at ERROR during the whole run, and no
// outbox item fails; after a restart every IRC message is in the room
// exactly once, and the second run and its stop log nothing at ERROR
// either.
func TestIntegrationQuietStop(t *testing.T) {
	ergo := integration.StartErgo(t)
	logs := &bridgetest.LogRecorder{}
	s := bridgetest.Start(t, bridgetest.Options{Bridges: ircBridges(ergo.Addr(), "", flood100), LogHandler: logs})
	ctx := tctx(t, 3*time.Minute)
	user := s.User(ctx, "quinn")
	talker := dialJoined(t, ergo.Addr(), "talker", []string{"#quiet"})
	lurker := dialJoined(t, ergo.Addr(), "lurker", []string{"#quiet"})
	room, _ := joinPortal(ctx, t, user, "#quiet", talker)

	for i := range 3 {
		text := fmt.Sprintf("from matrix %d", i)
		if _, err := user.SendText(ctx, room, text); err != nil {
			t.Fatal(err)
		}
		if _, err := talker.WaitFor(integration.IsPrivmsg(nickOf(user), "#quiet", text), 30*time.Second); err != nil {
			t.Fatalf("%q never reached IRC: %v", text, err)
		}
		say(ctx, t, talker, "#quiet", fmt.Sprintf("from irc %d", i), user, room)
	}
	// A private message opens a DM (its puppet creates the room), from
	// an IRC user who never speaks in the channel.
	if err := lurker.Privmsg(nickOf(user), "psst"); err != nil {
		t.Fatal(err)
	}
	if _, err := user.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		return ev.Type == matrix.EventMember && ev.StateKey != nil && *ev.StateKey == string(user.UserID) &&
			ev.Sender == puppetOf("lurker") && strings.Contains(string(ev.Content), "invite")
	}); err != nil {
		t.Fatalf("no DM invite for the private message: %v", err)
	}

	// The IRC user of the DM, who never spoke in the channel, quits: the
	// leave of its puppet, which exists but was never in the portal, is
	// done, not a failure (Dendrite refuses it with 400 M_UNKNOWN). It
	// goes before the burst in the room's lane.
	if err := lurker.Quit("bye"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the QUIT reaches the bot before the burst

	// Stop while a stream of IRC messages is being delivered to Matrix:
	// the bridge has read and stored every line (so no line arrives
	// during the stop), some are in Matrix, their completions waiting for
	// the group commit, and others are still pending.
	const burst = 50
	for i := range burst {
		if err := talker.Privmsg("#quiet", fmt.Sprintf("burst %02d", i)); err != nil {
			t.Fatal(err)
		}
	}
	last := fmt.Sprintf("burst %02d", burst-1)
	// A tight loop, not poll.Check: the stop must come while
	// the burst is still being delivered.
	for deadline := time.Now().Add(time.Minute); !queued(t, s, last); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%q never reached the outbox", last)
		}
	}
	if _, err := user.WaitForMessage(ctx, room, "burst 00"); err != nil {
		t.Fatal(err)
	}
	stopAt := time.Now()
	s.StopBridge()
	checkQuiet(t, logs, time.Time{}, stopAt)

	// After the restart the rest is delivered, and nothing delivered
	// before the stop is sent again.
	restartAt := time.Now()
	s.StartBridge()
	if _, err := user.WaitForMessage(ctx, room, last); err != nil {
		t.Fatal(err)
	}
	say(ctx, t, talker, "#quiet", "after the restart", user, room)
	seen := map[string]int{}
	for _, c := range roomMessages(t, ctx, user, room, puppetOf("talker")) {
		seen[c.Body]++
	}
	for i := range burst {
		if b := fmt.Sprintf("burst %02d", i); seen[b] != 1 {
			t.Errorf("%q is in the room %d times, want once", b, seen[b])
		}
	}
	// The second run and its stop are quiet too.
	stopAt = time.Now()
	s.StopBridge()
	checkQuiet(t, logs, restartAt, stopAt)
}

// queued reports whether the bridge's outbox holds a pending message
// whose text is text.
func queued(t *testing.T, s *bridgetest.Stack, text string) bool {
	t.Helper()
	items, err := s.Bridge.Store().PendingOutbox(t.Context(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(text)
	for _, it := range items {
		if bytes.Contains(it.Payload, want) {
			return true
		}
	}
	return false
}

// checkQuiet fails the test for each record at ERROR, and each permanent
// outbox failure, logged since from (zero: since the start), and shows the WARN records logged since stopAt
// (the stop should log none, but some are known and not errors).
func checkQuiet(t *testing.T, logs *bridgetest.LogRecorder, from, stopAt time.Time) {
	t.Helper()
	var warns []string
	for _, r := range logs.Records(slog.LevelWarn) {
		switch {
		case r.Time.Before(from):
		case r.Level >= slog.LevelError:
			t.Errorf("logged at ERROR: %s", r)
		case r.Message == "outbox delivery failed permanently":
			t.Errorf("logged: %s", r)
		case !r.Time.Before(stopAt):
			warns = append(warns, r.String())
		}
	}
	if len(warns) > 0 {
		t.Logf("logged at WARN during the stop:\n%s", strings.Join(warns, "\n"))
	}
}
