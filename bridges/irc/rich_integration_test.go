//go:build integration

package irc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// richEnv is a bridge on Dendrite and Ergo with one portal (#rich), a
// Matrix user (mallory) in it and an IRC user (ircop, the channel operator).
type richEnv struct {
	s    *bridgetest.Stack
	ergo *integration.IRCServer
	user *integration.Client
	room matrix.RoomID
	irc  *integration.IRCClient
	ctx  context.Context
}

const richWait = 30 * time.Second

// startRich starts a richEnv whose network has the extra settings
// (indented 8 spaces) and whose bot syncs when ephemeral is set; ircop
// has the message-tags, server-time, echo-message and away-notify caps.
func startRich(t *testing.T, extra string, ephemeral bool) *richEnv {
	t.Helper()
	return startRichEnv(t, richSetup{network: extra, ephemeral: ephemeral,
		ircop: []integration.IRCClientOption{integration.WithCaps("message-tags", "server-time", "echo-message", "away-notify")}})
}

// richSetup says how startRichEnv starts a richEnv.
type richSetup struct {
	network   string                        // extra settings of the network (indented 8 spaces)
	ephemeral bool                          // the bot syncs (bridgetest.Options.EphemeralSync)
	ergo      []integration.ErgoOption      // Ergo's settings
	ircop     []integration.IRCClientOption // how ircop connects
}

func startRichEnv(t *testing.T, setup richSetup) *richEnv {
	t.Helper()
	ergo := integration.StartErgo(t, setup.ergo...)
	s := bridgetest.Start(t, bridgetest.Options{Bridges: ircBridges(ergo.Addr(), "", flood100+setup.network), EphemeralSync: setup.ephemeral})
	ctx := tctx(t, 3*time.Minute)
	irc := dialJoined(t, ergo.Addr(), "ircop", []string{"#rich"}, setup.ircop...)
	user := s.User(ctx, "mallory")
	room, _ := joinPortal(ctx, t, user, "#rich", irc)
	return &richEnv{s: s, ergo: ergo, user: user, room: room, irc: irc, ctx: ctx}
}

// waitLine waits for a line from nick with the given command whose text
// satisfies ok.
func (e *richEnv) waitLine(t *testing.T, nick, command string, ok func(*integration.Line) bool) *integration.Line {
	t.Helper()
	l, err := e.irc.WaitFor(func(l *integration.Line) bool {
		return l.Command == command && strings.EqualFold(l.Nick(), nick) && ok(l)
	}, richWait)
	if err != nil {
		t.Fatalf("IRC: no %s from %s: %v", command, nick, err)
	}
	return l
}

func (e *richEnv) waitPrivmsg(t *testing.T, nick, text string) *integration.Line {
	t.Helper()
	return e.waitLine(t, nick, "PRIVMSG", func(l *integration.Line) bool { return l.Param(1) == text })
}

func (e *richEnv) edit(t *testing.T, target matrix.EventID, body string) {
	t.Helper()
	if _, err := e.user.SendEvent(e.ctx, e.room, matrix.EventMessage, map[string]any{
		"msgtype": "m.text", "body": "* " + body,
		"m.new_content": map[string]any{"msgtype": "m.text", "body": body},
		"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": target},
	}); err != nil {
		t.Fatal(err)
	}
}

func TestIntegrationEditCorrection(t *testing.T) {
	e := startRich(t, "", false)
	ev, err := e.user.SendText(e.ctx, e.room, "the quick brwn fox")
	if err != nil {
		t.Fatal(err)
	}
	e.waitPrivmsg(t, "mallory", "the quick brwn fox")
	e.edit(t, ev, "the quick brown fox")
	e.waitPrivmsg(t, "mallory", "* brown") // one word changed: only that word
	e.edit(t, ev, "a different sentence altogether")
	e.waitPrivmsg(t, "mallory", "* a different sentence altogether")
}

func TestIntegrationEditGraceReplacesOriginal(t *testing.T) {
	e := startRich(t, "        edit_grace: 3s\n", false)
	start := time.Now()
	ev, err := e.user.SendText(e.ctx, e.room, "draft with a typo")
	if err != nil {
		t.Fatal(err)
	}
	e.edit(t, ev, "final text")
	if _, err := e.user.SendText(e.ctx, e.room, "second message"); err != nil {
		t.Fatal(err)
	}
	e.waitPrivmsg(t, "mallory", "final text")
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("message sent after %s, before the 3s grace window ended", d)
	}
	e.waitPrivmsg(t, "mallory", "second message")
	var order []string
	for _, l := range e.irc.Lines() {
		if l.Command == "PRIVMSG" && l.Nick() == "mallory" {
			order = append(order, l.Param(1))
		}
	}
	if want := []string{"final text", "second message"}; strings.Join(order, "|") != strings.Join(want, "|") {
		t.Fatalf("IRC saw %q, want %q (no original, no correction, in order)", order, want)
	}
}

func TestIntegrationRepliesAndReactions(t *testing.T) {
	e := startRich(t, "", false)
	if err := e.irc.Privmsg("#rich", "question from irc"); err != nil {
		t.Fatal(err)
	}
	echo := e.waitPrivmsg(t, "ircop", "question from irc")
	qid, _ := echo.Tag("msgid")
	if qid == "" {
		t.Fatalf("Ergo gave no msgid: %s", echo.Raw)
	}
	q, err := e.user.WaitForMessage(e.ctx, e.room, "question from irc")
	if err != nil {
		t.Fatal(err)
	}

	// Reply from Matrix: "nick: " prefix and +draft/reply.
	reply, err := e.user.SendEvent(e.ctx, e.room, matrix.EventMessage, map[string]any{
		"msgtype": "m.text", "body": "> <@irc_test_ircop:localhost> question from irc\n\nthe answer",
		"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": q.ID}},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := e.waitPrivmsg(t, "mallory", "ircop: the answer")
	if v, _ := l.Tag("+draft/reply"); v != qid {
		t.Errorf("reply tag %q, want %q: %s", v, qid, l.Raw)
	}
	aid, _ := l.Tag("msgid")

	// Reaction from Matrix: TAGMSG with +draft/react.
	if _, err := e.user.SendEvent(e.ctx, e.room, matrix.EventReaction, map[string]any{
		"m.relates_to": map[string]any{"rel_type": "m.annotation", "event_id": q.ID, "key": "👍"},
	}); err != nil {
		t.Fatal(err)
	}
	tl := e.waitLine(t, "mallory", "TAGMSG", func(*integration.Line) bool { return true })
	if v, _ := tl.Tag("+draft/react"); v != "👍" {
		t.Errorf("react tag %q: %s", v, tl.Raw)
	}
	if v, _ := tl.Tag("+draft/reply"); v != qid {
		t.Errorf("reaction reply tag %q, want %q", v, qid)
	}

	// Reaction from IRC to the Matrix reply: m.reaction by the puppet.
	if aid == "" {
		t.Fatalf("no msgid on the bridged reply: %s", l.Raw)
	}
	if err := e.irc.Send("@+draft/react=🎉;+draft/reply=" + aid + " TAGMSG #rich"); err != nil {
		t.Fatal(err)
	}
	ev, err := e.user.WaitForEvent(e.ctx, func(ev *matrix.Event) bool {
		return ev.RoomID == e.room && ev.Type == matrix.EventReaction && ev.Sender != e.user.UserID
	})
	if err != nil {
		t.Fatal(err)
	}
	var rc struct {
		RelatesTo matrix.RelatesTo `json:"m.relates_to"`
	}
	_ = json.Unmarshal(ev.Content, &rc)
	if ev.Sender != "@irc_test_ircop:localhost" || rc.RelatesTo.EventID != reply || rc.RelatesTo.Key != "🎉" || rc.RelatesTo.RelType != "m.annotation" {
		t.Fatalf("reaction %s by %s: %s", ev.ID, ev.Sender, ev.Content)
	}
}

func TestIntegrationKicksAndBans(t *testing.T) {
	e := startRich(t, "", false)
	victim := dialJoined(t, e.ergo.Addr(), "victim", []string{"#rich"})
	puppet := puppetOf("victim")
	say(e.ctx, t, victim, "#rich", "I am about to misbehave", e.user, e.room)
	if err := e.s.Bridge.Client().Bot().SetUserPowerLevel(e.ctx, e.room, e.user.UserID, 100); err != nil {
		t.Fatal(err)
	}

	// Not a channel operator on IRC: a notice says why nothing happened.
	if _, err := e.user.SendState(e.ctx, e.room, matrix.EventMember, string(puppet), map[string]any{"membership": "leave", "reason": "spam"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.user.WaitForEvent(e.ctx, func(ev *matrix.Event) bool {
		var c matrix.MessageContent
		return ev.Type == matrix.EventMessage && json.Unmarshal(ev.Content, &c) == nil &&
			strings.Contains(c.Body, "not a channel operator")
	}); err != nil {
		t.Fatal(err)
	}

	// With ops: the Matrix ban becomes +b and KICK by mallory.
	if err := e.irc.Send("MODE #rich +o mallory"); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "ircop", "MODE", func(l *integration.Line) bool { return l.Param(2) == "mallory" })
	say(e.ctx, t, victim, "#rich", "back again", e.user, e.room)
	time.Sleep(time.Second) // the bot's view of mallory's +o
	if _, err := e.user.SendState(e.ctx, e.room, matrix.EventMember, string(puppet), map[string]any{"membership": "ban", "reason": "enough"}); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "mallory", "MODE", func(l *integration.Line) bool { return l.Param(1) == "+b" && strings.Contains(l.Param(2), "victim") })
	e.waitLine(t, "mallory", "KICK", func(l *integration.Line) bool { return l.Param(1) == "victim" && l.Param(2) == "enough" })

	// IRC → Matrix: a ban matching an IRC user kicks their puppet.
	other := dialJoined(t, e.ergo.Addr(), "other", []string{"#rich"})
	say(e.ctx, t, other, "#rich", "hello", e.user, e.room)
	if err := e.irc.Send("MODE #rich +b other!*@*"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.user.WaitForMembership(e.ctx, e.room, "@irc_test_other:localhost", "leave"); err != nil {
		t.Fatal(err)
	}

	// +i → invite-only room.
	if err := e.irc.Send("MODE #rich +i"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.user.WaitForEvent(e.ctx, func(ev *matrix.Event) bool {
		var c struct {
			JoinRule string `json:"join_rule"`
		}
		return ev.RoomID == e.room && ev.Type == matrix.EventJoinRules && json.Unmarshal(ev.Content, &c) == nil && c.JoinRule == "invite"
	}); err != nil {
		t.Fatal(err)
	}
}

// presence reads or writes a presence over the client-server API.
func presence(ctx context.Context, c *integration.Client, method string, user matrix.UserID, body any) (map[string]any, error) {
	var rd *bytes.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.HomeserverURL+"/_matrix/client/v3/presence/"+url.PathEscape(string(user))+"/status", rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]any{}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil && method == http.MethodGet {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("%s presence: %d %v", method, resp.StatusCode, out)
	}
	return out, nil
}

func TestIntegrationAwayAndPresence(t *testing.T) {
	e := startRich(t, "", true)
	puppet := puppetOf("ircop")
	say(e.ctx, t, e.irc, "#rich", "hi", e.user, e.room)
	waitPresence := func(want, msg string) {
		t.Helper()
		poll.Check(t, fmt.Sprintf("puppet presence %s %q", want, msg), richWait, func() error {
			p, err := presence(e.ctx, e.user, http.MethodGet, puppet, nil)
			if err != nil {
				return err
			}
			if p["presence"] != want || (msg != "" && p["status_msg"] != msg) {
				return fmt.Errorf("presence %v", p)
			}
			return nil
		})
	}
	if err := e.irc.Send("AWAY :out for lunch"); err != nil {
		t.Fatal(err)
	}
	waitPresence("unavailable", "out for lunch")
	if err := e.irc.Send("AWAY"); err != nil {
		t.Fatal(err)
	}
	waitPresence("online", "")

	// Matrix → IRC: mallory going unavailable sets AWAY on her connection.
	if _, err := presence(e.ctx, e.user, http.MethodPut, e.user.UserID, map[string]string{"presence": "unavailable", "status_msg": "brb"}); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "mallory", "AWAY", func(l *integration.Line) bool { return l.Param(0) == "brb" })
	if _, err := presence(e.ctx, e.user, http.MethodPut, e.user.UserID, map[string]string{"presence": "online"}); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "mallory", "AWAY", func(l *integration.Line) bool { return len(l.Params) == 0 })
}

func TestIntegrationIdleDisconnect(t *testing.T) {
	e := startRich(t, "        idle_timeout: 2s\n", false)
	if _, err := e.user.SendText(e.ctx, e.room, "before idling"); err != nil {
		t.Fatal(err)
	}
	e.waitPrivmsg(t, "mallory", "before idling")
	q := e.waitLine(t, "mallory", "QUIT", func(*integration.Line) bool { return true })
	if !strings.Contains(q.Last(), "Idle") {
		t.Errorf("quit reason %q does not say the user was idle", q.Last())
	}
	if _, err := e.user.SendText(e.ctx, e.room, "back from idling"); err != nil {
		t.Fatal(err)
	}
	e.waitLine(t, "mallory", "JOIN", func(*integration.Line) bool { return true })
	e.waitPrivmsg(t, "mallory", "back from idling")
}
