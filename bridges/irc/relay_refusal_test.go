package irc

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// relayModeNetwork returns a network on srv with a connection cap of one,
// whose user @a:localhost is in relay mode (the cap disconnected them for
// @b:localhost), and whose bot is in #chan (a channel operator when op).
func relayModeNetwork(t *testing.T, srv *deliveryServer, op bool) *network {
	t.Helper()
	n := newDeliveryModule(t, srv.addr, nil, func(c *Config) { c.Networks["test"].MaxConnections = 1 })
	ctx := t.Context()
	startBot(t, n)
	poll.Until(t, "the bot in #chan", 15*time.Second, func() bool { _, ok := n.state.Member("#chan", "causeway"); return ok })
	if op {
		if _, err := n.state.Mode("#chan", "srv", "+o", []string{"causeway"}); err != nil {
			t.Fatal(err)
		}
	}
	a := n.userConnFor("@a:localhost", "")
	if _, err := a.connect(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := n.userConnFor("@b:localhost", "").connect(ctx); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "a disconnected by the cap", 15*time.Second, func() bool { c, _ := a.state(); return c == nil })
	if !n.capRelayed("@a:localhost") {
		t.Fatal("a is not in relay mode")
	}
	return n
}

// botMarker has the bot send PING marker and waits until the server has
// it: every line the bot wrote before was handled by the server, and every
// answer the server wrote before its answer to the marker is on its way.
func botMarker(t *testing.T, n *network, srv *deliveryServer, marker string) []string {
	t.Helper()
	bot, err := n.botConn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := bot.Send(t.Context(), nil, "PING", marker); err != nil {
		t.Fatal(err)
	}
	return srv.until(t, "causeway: PING "+marker)
}

// TestRelayRefusedLateIsReported: on a server without echo-message and
// labeled-response the bot's "<nick> text" relay is only written; when the
// server refuses it afterwards (404: the bot lost its voice in a +m
// channel) the Matrix sender gets the same "Not delivered" notice,
// replying to the message, as a refusal of their own connection's
// message. Each refused relay is reported once, to its own sender; a relay
// the server took gets no notice, nor does a 404 answering nothing the bot
// relayed.
func TestRelayRefusedLateIsReported(t *testing.T) {
	srv := startDeliveryServer(t, "", func(nick, line string) ([]string, bool) {
		f := strings.Fields(line)
		switch {
		case nick == "causeway" && len(f) >= 3 && f[0] == "PRIVMSG" && f[1] == "#chan" && strings.Contains(line, "muted"):
			return []string{":srv 404 causeway #chan :Cannot send to channel (+m)"}, false
		case nick == "causeway" && len(f) >= 2 && f[0] == "PING" && f[1] == "stray":
			return []string{":srv 404 causeway #chan :Cannot send to channel (+m)"}, false
		}
		return nil, false
	})
	n := relayModeNetwork(t, srv, false)
	ctx := t.Context()

	ok := &matrix.Event{ID: "$ok", RoomID: "!chan", Sender: "@a:localhost"}
	if err := n.deliver(ctx, ok, "#chan", "PRIVMSG", []string{"heard"}, true); err != nil {
		t.Fatal(err)
	}
	botMarker(t, n, srv, "after-ok")
	for i, id := range []matrix.EventID{"$muted1", "$muted2"} {
		evt := &matrix.Event{ID: id, RoomID: "!chan", Sender: "@a:localhost"}
		lines := []string{fmt.Sprint("muted line ", i), fmt.Sprint("muted again ", i)} // two lines, two 404s
		if err := n.deliver(ctx, evt, "#chan", "PRIVMSG", lines, true); err != nil {
			t.Fatal(err)
		}
		if p := noticeFor(t, n, "!chan", id); !strings.Contains(p, "Not delivered to IRC: Cannot send to channel (+m).") {
			t.Fatalf("notice %s", p)
		}
	}
	// The server's answer to "stray" is a 404 that answers no relay: the
	// last relay's refusal was reported already.
	botMarker(t, n, srv, "stray")
	botMarker(t, n, srv, "end")
	got := queued(t, n, "!chan")
	if len(got) != 2 {
		t.Fatalf("%d notices, want one for each of the 2 refused relays: %q", len(got), got)
	}
	for _, p := range got {
		if strings.Contains(p, "$ok") {
			t.Errorf("the relay the server took got a notice: %s", p)
		}
	}
}

// TestRelayUnconfirmedWithEchoIsReported: where the server offers
// echo-message, a refusal answering the bot's relay at once is the relay's
// failure (a notice); a relay whose echo did not come in time is not taken
// as delivered for good: a refusal arriving afterwards still reaches the
// sender.
func TestRelayUnconfirmedWithEchoIsReported(t *testing.T) {
	srv := startDeliveryServer(t, "echo-message", func(nick, line string) ([]string, bool) {
		f := strings.Fields(line)
		switch {
		case nick != "causeway" || len(f) < 2:
		case f[0] == "PRIVMSG" && strings.Contains(line, "at once"):
			return []string{":srv 404 causeway #chan :Cannot send to channel"}, false
		case f[0] == "PRIVMSG" && strings.Contains(line, "slow"):
			return []string{}, false // no echo, no answer yet
		case f[0] == "PRIVMSG":
			return []string{":causeway!u@h " + line}, false // the echo
		case f[0] == "PING" && f[1] == "late":
			return []string{":srv 404 causeway #chan :Cannot send to channel (late)"}, false
		}
		return nil, false
	})
	n := relayModeNetwork(t, srv, false)
	ctx := t.Context()

	now := &matrix.Event{ID: "$now", RoomID: "!chan", Sender: "@a:localhost"}
	if err := n.deliver(ctx, now, "#chan", "PRIVMSG", []string{"refused at once"}, true); err != nil {
		t.Fatal(err)
	}
	if p := noticeFor(t, n, "!chan", "$now"); !strings.Contains(p, "Not delivered to IRC: Cannot send to channel") {
		t.Fatalf("notice %s", p)
	}
	echoed := &matrix.Event{ID: "$echoed", RoomID: "!chan", Sender: "@a:localhost"}
	if err := n.deliver(ctx, echoed, "#chan", "PRIVMSG", []string{"fine"}, true); err != nil {
		t.Fatal(err)
	}
	// The echo's wait ends with the context: the relay is unconfirmed.
	sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	slow := &matrix.Event{ID: "$slow", RoomID: "!chan", Sender: "@a:localhost"}
	if err := n.deliver(sctx, slow, "#chan", "PRIVMSG", []string{"slow one"}, true); err != nil {
		t.Fatal(err)
	}
	botMarker(t, n, srv, "late") // answered with the late 404
	if p := noticeFor(t, n, "!chan", "$slow"); !strings.Contains(p, "Not delivered to IRC: Cannot send to channel (late).") {
		t.Fatalf("notice %s", p)
	}
	for _, p := range queued(t, n, "!chan") {
		if strings.Contains(p, "$echoed") {
			t.Errorf("the echoed relay got a notice: %s", p)
		}
	}
}

// TestRelaymsgRefusedIsReported: servers never confirm RELAYMSG; when they
// refuse it (FAIL RELAYMSG, e.g. the relayed nick is banned from the
// channel) the sender gets the not-delivered notice with the server's
// reason.
func TestRelaymsgRefusedIsReported(t *testing.T) {
	srv := startDeliveryServer(t, "draft/relaymsg=/", func(nick, line string) ([]string, bool) {
		if nick == "causeway" && strings.HasPrefix(line, "RELAYMSG ") {
			return []string{":srv FAIL RELAYMSG BANNED :a/m is banned from relaying to the channel"}, false
		}
		return nil, false
	})
	n := relayModeNetwork(t, srv, true)
	evt := &matrix.Event{ID: "$relayed", RoomID: "!chan", Sender: "@a:localhost"}
	if err := n.deliver(t.Context(), evt, "#chan", "PRIVMSG", []string{"hello"}, true); err != nil {
		t.Fatal(err)
	}
	if p := noticeFor(t, n, "!chan", "$relayed"); !strings.Contains(p, "Not delivered to IRC: a/m is banned from relaying to the channel.") {
		t.Fatalf("notice %s", p)
	}
}
