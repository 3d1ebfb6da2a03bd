package xmpp

import (
	"context"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// pm sends a private message from from to room/nick through the chat
// routes and reports whether one took it.
func pm(t *testing.T, g *gateway, from, to, id, text string) bool {
	t.Helper()
	s := parse(t, []byte(`<message xmlns='jabber:client' from='`+from+`' to='`+to+`' type='chat' id='`+id+`'><body>`+text+`</body></message>`))
	return g.Chat(s, jid.MustParse(from), jid.MustParse(to))
}

// waitQueued waits until a queued stanza contains every of want and
// returns it.
func waitQueued(t *testing.T, h *bridgetest.Host, want ...string) string {
	t.Helper()
	var found string
	poll.Until(t, strings.Join(want, " "), 5*time.Second, func() bool {
		for _, s := range queued(t, h) {
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(s, w)
			}
			if ok {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// TestPrivateMessages: XEP-0045 §7.5 in a hosted room. A private message
// to a Matrix member's nick is posted by the sender's puppet in its
// direct chat with the member, after a notice naming the room (once per
// room context); the member's reply there comes back as a private
// message from its nick to every resource of the sender; a chat to the
// member's own JID ends that context (replies come from the JID again).
// A private message to an XMPP occupant is relayed from the sender's
// nick; to a nick nobody has, item-not-found; from someone not in the
// room, not-acceptable.
func TestPrivateMessages(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	_, roomJID := nickRoom(t, g)
	h.HS.SetProfile(carol, "displayname", "Carol")
	const alice = "alice@x.org/r1"

	if !pm(t, g, alice, roomJID+"/Carol", "p1", "psst") {
		t.Fatal("a private message was not taken")
	}
	waitOps(t, h, 2)
	notice, msg := messages(h)[0], messages(h)[1]
	if notice.Sender != alicePuppet || !strings.Contains(string(notice.Content), `"msgtype":"m.notice"`) ||
		!strings.Contains(string(notice.Content), "Private messages from Alice in !r:localhost") {
		t.Fatalf("notice: %+v %s", notice, notice.Content)
	}
	if msg.Sender != alicePuppet || msg.Room != notice.Room || !strings.Contains(string(msg.Content), `"body":"psst"`) {
		t.Fatalf("message: %+v %s", msg, msg.Content)
	}
	dm, err := h.Portals().ByKey(ctx, bridges.PortalKey{ID: "dm:alice@x.org", Receiver: carol})
	if err != nil || dm.Room != msg.Room {
		t.Fatalf("the direct chat: %+v %v (message in %s)", dm, err, msg.Room)
	}
	h.HS.SetMembership(dm.Room, carol, "join")
	pm(t, g, alice, roomJID+"/Carol", "p2", "again")
	waitOps(t, h, 3) // no second notice

	// The reply goes back through the room, to both of alice's resources.
	reply := &bridges.Message{Portal: dm, Event: &matrix.Event{ID: "$re", Sender: carol, RoomID: dm.Room},
		Content: matrix.MessageContent{MsgType: matrix.MsgText, Body: "yes?"}}
	if err := m.HandleMatrixMessage(ctx, reply); err != nil {
		t.Fatal(err)
	}
	for _, res := range []string{"alice@x.org/r1", "alice@x.org/r2"} {
		waitQueued(t, h, `from="`+roomJID+`/Carol"`, `to="`+res+`"`, `type="chat"`, "yes?", `<x xmlns="`+nsMUCUser+`">`)
	}

	// To another XMPP occupant: relayed from alice's nick.
	pm(t, g, alice, roomJID+"/Bob", "p3", "hi bob")
	waitQueued(t, h, `from="`+roomJID+`/Alice"`, `to="bob@x.org/r"`, `type="chat"`, "hi bob", nsMUCUser)
	// To nobody, and from a stranger.
	pm(t, g, alice, roomJID+"/Nobody", "p4", "hello?")
	waitQueued(t, h, `id="p4"`, "item-not-found", `to="alice@x.org/r1"`)
	pm(t, g, "mallory@x.org/m", roomJID+"/Carol", "p5", "hi")
	waitQueued(t, h, `id="p5"`, "not-acceptable", `to="mallory@x.org/m"`)
	if n := len(messages(h)); n != 3 {
		t.Fatalf("%d messages reached Matrix, want 3", n)
	}

	// A chat to carol's own JID: her replies come from her JID again.
	chatTo := parse(t, []byte(`<message xmlns='jabber:client' from='`+alice+`' to='`+carolJID(t)+`' type='chat' id='c1'><body>direct</body></message>`))
	g.Chat(chatTo, jid.MustParse(alice), jid.MustParse(carolJID(t)))
	waitOps(t, h, 4)
	reply.Event.ID = "$re2"
	reply.Content.Body = "direct answer"
	if err := m.HandleMatrixMessage(ctx, reply); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, h, `from="`+carolJID(t)+`"`, `to="alice@x.org"`, "direct answer")
	// And a private message again announces the room.
	pm(t, g, alice, roomJID+"/Carol", "p6", "back here")
	waitOps(t, h, 6)
	if c := string(messages(h)[4].Content); !strings.Contains(c, "m.notice") {
		t.Fatalf("no notice when the room context came back: %s", c)
	}
}
