//go:build integration

package irc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// ircStack is a homeserver, an IRC server and a bridge with one network
// "test" pointing at it.
type ircStack struct {
	*bridgetest.Stack
	IRC *integration.IRCServer
}

// startIRCStack starts the stack; top is extra YAML for the irc section
// (indented 4 spaces), e.g. "    identd: 127.0.0.1:113\n".
func startIRCStack(t *testing.T, srv *integration.IRCServer, top string) *ircStack {
	t.Helper()
	return &ircStack{Stack: startBridge(t, srv, top, stackNetwork), IRC: srv}
}

func tctx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func body(ev *matrix.Event) matrix.MessageContent {
	var c matrix.MessageContent
	_ = json.Unmarshal(ev.Content, &c)
	return c
}

// servers runs f against Ergo (IRCv3-rich), InspIRCd with its IRCv3
// modules, and InspIRCd with none: the core flows must pass on all three.
func servers(t *testing.T, f func(t *testing.T, srv *integration.IRCServer)) {
	t.Run("ergo", func(t *testing.T) { f(t, integration.StartErgo(t)) })
	t.Run("inspircd", func(t *testing.T) { f(t, integration.StartInspIRCd(t)) })
	t.Run("inspircd-no-ircv3", func(t *testing.T) { f(t, integration.StartInspIRCd(t, integration.WithoutIRCv3())) })
}

// TestIntegrationIRCMessagesBothWays: a Matrix user joins a channel portal
// by alias; messages, formatting, actions, notices and long messages cross
// in both directions, Matrix messages come from the user's own connection.
func TestIntegrationIRCMessagesBothWays(t *testing.T) {
	servers(t, func(t *testing.T, srv *integration.IRCServer) {
		s := startIRCStack(t, srv, "")
		ctx := tctx(t, 2*time.Minute)
		user := s.User(ctx, "mallory")
		ircUser := dialJoined(t, srv.Addr(), "ircbob", []string{"#both"})
		// The Matrix user's own connection joins the channel.
		room, _ := joinPortal(ctx, t, user, "#both", ircUser)

		// IRC → Matrix: plain, bold, action, notice.
		for _, line := range []string{"hello from irc", "some \x02bold\x02 text", "\x01ACTION waves\x01"} {
			if err := ircUser.Privmsg("#both", line); err != nil {
				t.Fatal(err)
			}
		}
		if err := ircUser.Send("NOTICE #both :a notice"); err != nil {
			t.Fatal(err)
		}
		// Wait for the last one, then read the room like a client would
		// (several may arrive in one /sync answer).
		if _, err := user.WaitForMessage(ctx, room, "a notice"); err != nil {
			t.Fatal(err)
		}
		got := roomMessages(t, ctx, user, room, "@irc_test_ircbob:localhost")
		if len(got) != 4 {
			t.Fatalf("got %d messages from IRC, want 4: %+v", len(got), got)
		}
		want := []struct{ body, msgtype, html string }{
			{"hello from irc", matrix.MsgText, ""},
			{"some bold text", matrix.MsgText, "<b>bold</b>"},
			{"waves", matrix.MsgEmote, ""},
			{"a notice", matrix.MsgNotice, ""},
		}
		for i, w := range want {
			if got[i].Body != w.body || got[i].MsgType != w.msgtype || !strings.Contains(got[i].FormattedBody, w.html) {
				t.Errorf("message %d = %+v, want %+v", i, got[i], w)
			}
		}

		// Matrix → IRC: plain, HTML bold, emote, multi-line, long.
		send := func(content map[string]any) {
			t.Helper()
			if _, err := user.SendEvent(ctx, room, matrix.EventMessage, content); err != nil {
				t.Fatal(err)
			}
		}
		send(map[string]any{"msgtype": "m.text", "body": "hello from matrix"})
		send(map[string]any{"msgtype": "m.text", "body": "very bold", "format": "org.matrix.custom.html", "formatted_body": "very <b>bold</b>"})
		send(map[string]any{"msgtype": "m.emote", "body": "dances"})
		send(map[string]any{"msgtype": "m.text", "body": "line one\nline two"})
		long := strings.Repeat("0123456789 ", 60) // 660 bytes: two IRC lines
		send(map[string]any{"msgtype": "m.text", "body": long})
		wait := func(pred func(l *integration.Line) bool, what string) *integration.Line {
			t.Helper()
			l, err := ircUser.WaitFor(pred, 30*time.Second)
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			return l
		}
		wait(integration.IsPrivmsg("mallory", "#both", "hello from matrix"), "plain")
		wait(func(l *integration.Line) bool { // a trailing style reset is optional
			return l.Command == "PRIVMSG" && strings.EqualFold(l.Nick(), "mallory") && strings.TrimSuffix(l.Last(), "\x02") == "very \x02bold"
		}, "bold")
		wait(integration.IsPrivmsg("mallory", "#both", "\x01ACTION dances\x01"), "emote")
		wait(integration.IsPrivmsg("mallory", "#both", "line one"), "multi-line 1")
		wait(integration.IsPrivmsg("mallory", "#both", "line two"), "multi-line 2")
		var longGot strings.Builder
		for longGot.Len() < len(strings.TrimSpace(long))-5 {
			l := wait(func(l *integration.Line) bool {
				return l.Command == "PRIVMSG" && strings.EqualFold(l.Nick(), "mallory") && strings.HasPrefix(l.Last(), "0123")
			}, "long message part")
			if len(l.Raw) > 512 {
				t.Fatalf("line over 512 bytes: %d", len(l.Raw))
			}
			longGot.WriteString(l.Last() + " ")
		}
		if strings.Join(strings.Fields(longGot.String()), " ") != strings.Join(strings.Fields(long), " ") {
			t.Fatalf("long message altered:\n%q\n%q", longGot.String(), long)
		}
	})
}

// TestIntegrationIRCBurstOrder: a burst from one IRC client appears in
// Matrix in the order sent, each message once.
func TestIntegrationIRCBurstOrder(t *testing.T) {
	srv := integration.StartErgo(t)
	s := startIRCStack(t, srv, "")
	ctx := tctx(t, 3*time.Minute)
	user := s.User(ctx, "olga")
	talker := dialJoined(t, srv.Addr(), "talker", []string{"#burst"})
	room, err := user.Join(ctx, portalAlias("#burst"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	for i := range n {
		if err := talker.Privmsg("#burst", fmt.Sprintf("burst %04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := user.WaitForMessage(ctx, room, fmt.Sprintf("burst %04d", n-1)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range roomMessages(t, ctx, user, room, "@irc_test_talker:localhost") {
		got = append(got, c.Body)
	}
	if len(got) != n {
		t.Fatalf("got %d messages, want %d", len(got), n)
	}
	for i, b := range got {
		if want := fmt.Sprintf("burst %04d", i); b != want {
			t.Fatalf("message %d = %q, want %q", i, b, want)
		}
	}
}

// TestIntegrationIRCPrivateMessages: PMs both ways through DM rooms, on
// every server.
func TestIntegrationIRCPrivateMessages(t *testing.T) {
	servers(t, func(t *testing.T, srv *integration.IRCServer) {
		s := startIRCStack(t, srv, "")
		ctx := tctx(t, 2*time.Minute)
		user := s.User(ctx, "peggy")
		bob := integration.DialIRC(t, srv.Addr(), "bob")
		// Matrix user opens a DM with an IRC user.
		puppet := matrix.UserID("@irc_test_bob:localhost")
		room := openDM(ctx, t, user, puppet)
		if _, err := user.SendText(ctx, room, "psst bob"); err != nil {
			t.Fatal(err)
		}
		if _, err := bob.WaitFor(integration.IsPrivmsg("peggy", "bob", "psst bob"), 30*time.Second); err != nil {
			t.Fatalf("bob never got the PM: %v", err)
		}
		if err := bob.Privmsg("peggy", "hi peggy"); err != nil {
			t.Fatal(err)
		}
		ev, err := user.WaitForMessage(ctx, room, "hi peggy")
		if err != nil {
			t.Fatalf("reply did not reach the DM: %v", err)
		}
		if ev.Sender != puppet {
			t.Fatalf("sender %s", ev.Sender)
		}
		// An IRC user writing first opens a new DM with an invite.
		carol := integration.DialIRC(t, srv.Addr(), "carol")
		if err := carol.Privmsg("peggy", "hello, it is carol"); err != nil {
			t.Fatal(err)
		}
		inv, err := user.WaitForEvent(ctx, func(ev *matrix.Event) bool {
			return ev.Type == matrix.EventMember && ev.StateKey != nil && *ev.StateKey == string(user.UserID) &&
				ev.Sender == "@irc_test_carol:localhost" && strings.Contains(string(ev.Content), "invite")
		})
		if err != nil {
			t.Fatalf("no DM invite from carol's puppet: %v", err)
		}
		if _, err := user.Join(ctx, string(inv.RoomID)); err != nil {
			t.Fatal(err)
		}
		if _, err := user.WaitForMessage(ctx, inv.RoomID, "hello, it is carol"); err != nil {
			t.Fatal(err)
		}
		// An error numeric shows up in the DM next to the failed message.
		if err := carol.Quit("bye"); err != nil {
			t.Fatal(err)
		}
		select { // the server closes the connection once the QUIT is done
		case <-carol.Done():
		case <-ctx.Done():
			t.Fatal("the server never closed carol's connection after QUIT")
		}
		sent, err := user.SendText(ctx, inv.RoomID, "are you there?")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := user.WaitForEvent(ctx, isNotDelivered(inv.RoomID, sent)); err != nil {
			t.Fatalf("no failure notice for a PM to a gone nick: %v", err)
		}
	})
}

// TestIntegrationIRCServerRestart: the IRC server is killed and started
// again; the bot and the user's connection come back, rejoin, and messages
// flow both ways again, on every server.
func TestIntegrationIRCServerRestart(t *testing.T) {
	servers(t, func(t *testing.T, srv *integration.IRCServer) {
		s := startIRCStack(t, srv, "")
		ctx := tctx(t, 3*time.Minute)
		user := s.User(ctx, "rita")
		room, err := user.Join(ctx, "#irc_test_#restart:localhost")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := user.SendText(ctx, room, "before"); err != nil {
			t.Fatal(err)
		}
		watcher := integration.DialIRC(t, srv.Addr(), "watcher")
		if err := watcher.Join("#restart"); err != nil {
			t.Fatal(err)
		}
		if err := srv.Kill(); err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		watcher = integration.DialIRC(t, srv.Addr(), "watcher2")
		if err := watcher.Join("#restart"); err != nil {
			t.Fatal(err)
		}
		// Both the bot and rita's own connection rejoin (they may have done so
		// before watcher2 joined, so ask NAMES until both are listed).
		poll.Check(t, "the bot and rita rejoined after the restart", 60*time.Second, func() error {
			if err := watcher.Send("NAMES #restart"); err != nil {
				return err
			}
			l, err := watcher.WaitFor(integration.IsCommand("353"), 10*time.Second)
			if err != nil {
				return err
			}
			names := strings.ToLower(" " + strings.NewReplacer("@", "", "+", "").Replace(l.Last()) + " ")
			if !strings.Contains(names, " causeway ") || !strings.Contains(names, " rita ") {
				return fmt.Errorf("NAMES %q", l.Last())
			}
			return nil
		})
		if err := watcher.Privmsg("#restart", "after the restart"); err != nil {
			t.Fatal(err)
		}
		if _, err := user.WaitForMessage(ctx, room, "after the restart"); err != nil {
			t.Fatalf("IRC → Matrix after restart: %v", err)
		}
		if _, err := user.SendText(ctx, room, "matrix after restart"); err != nil {
			t.Fatal(err)
		}
		if _, err := watcher.WaitFor(integration.IsPrivmsg("rita", "#restart", "matrix after restart"), 30*time.Second); err != nil {
			t.Fatalf("Matrix → IRC after restart: %v", err)
		}
	})
}

// TestIntegrationIRCTopicModesKick: topic both ways, +o → power level, and a
// kick on IRC removes the Matrix user from the room, on every server.
func TestIntegrationIRCTopicModesKick(t *testing.T) {
	servers(t, func(t *testing.T, srv *integration.IRCServer) {
		s := startIRCStack(t, srv, "")
		ctx := tctx(t, 2*time.Minute)
		op := dialJoined(t, srv.Addr(), "opper", []string{"#tm"}) // first in: channel operator
		user := s.User(ctx, "sam")
		room, _ := joinPortal(ctx, t, user, "#tm", op)
		if err := op.Send("TOPIC #tm :a topic from irc"); err != nil {
			t.Fatal(err)
		}
		if _, err := user.WaitForEvent(ctx, func(ev *matrix.Event) bool {
			return ev.RoomID == room && ev.Type == matrix.EventTopic && strings.Contains(string(ev.Content), "a topic from irc")
		}); err != nil {
			t.Fatalf("IRC topic not in Matrix: %v", err)
		}
		if err := op.Send("MODE #tm +o sam"); err != nil {
			t.Fatal(err)
		}
		// Opped on IRC → power level 50 in Matrix, so sam may set the topic.
		if _, err := user.WaitForEvent(ctx, hasPowerLevel(room, user.UserID, 50)); err != nil {
			t.Fatalf("+o on IRC did not give the Matrix user power level 50: %v", err)
		}
		if _, err := user.SendState(ctx, room, matrix.EventTopic, "", map[string]string{"topic": "a topic from matrix"}); err != nil {
			t.Fatal(err)
		}
		if _, err := op.WaitFor(func(l *integration.Line) bool {
			return l.Command == "TOPIC" && strings.EqualFold(l.Nick(), "sam") && l.Last() == "a topic from matrix"
		}, 30*time.Second); err != nil {
			t.Fatalf("Matrix topic not on IRC: %v", err)
		}
		// An IRC user given +o gets power level 50.
		voiced := dialJoined(t, srv.Addr(), "helper", []string{"#tm"})
		say(ctx, t, voiced, "#tm", "hi", user, room) // lazy membership: speak to appear
		if err := op.Send("MODE #tm +o helper"); err != nil {
			t.Fatal(err)
		}
		if _, err := user.WaitForEvent(ctx, hasPowerLevel(room, "@irc_test_helper:localhost", 50)); err != nil {
			t.Fatalf("+o did not become power level 50: %v", err)
		}
		// Kicked on IRC → removed from the Matrix room.
		if err := op.Send("KICK #tm sam :behave"); err != nil {
			t.Fatal(err)
		}
		if _, err := user.WaitForMembership(ctx, room, user.UserID, "leave"); err != nil {
			t.Fatalf("IRC kick did not remove the Matrix user: %v", err)
		}
	})
}

// roomMessages reads the m.room.message contents sent by sender in room,
// oldest first, through /messages.
func roomMessages(t *testing.T, ctx context.Context, c *integration.Client, room matrix.RoomID, sender matrix.UserID) []matrix.MessageContent {
	t.Helper()
	evs, err := c.RoomTimeline(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	var out []matrix.MessageContent
	for _, ev := range evs {
		if ev.Sender == sender && ev.Type == matrix.EventMessage {
			out = append(out, body(&ev))
		}
	}
	return out
}
