package xmpp

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestTopicToSubject: a Matrix member's new topic reaches every
// resource of every occupant at once as a subject from the member's
// nick; the bot's (no nick in the room) comes from the room's bare JID;
// a topic event outside a hosted room's portal is ignored.
func TestTopicToSubject(t *testing.T) {
	ctx := context.Background()
	m, _, h := testGateway(t)
	room, roomJID := nickRoom(t, m.gw)
	empty := ""
	portal := &bridges.Portal{Key: bridges.PortalKey{ID: portalPrefix + string(room)}, Room: room}
	ev := &matrix.Event{RoomID: room, Sender: carol, Type: matrix.EventTopic, StateKey: &empty}
	if err := m.HandleMatrixTopic(ctx, &bridges.Topic{Portal: portal, Event: ev, Topic: "News <b>&</b>"}); err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{"alice@x.org/r1", "alice@x.org/r2", "bob@x.org/r"} {
		waitQueued(t, h, `to="`+to+`"`, `from="`+roomJID+`/Carol"`, `type="groupchat"`, `<subject>News &lt;b&gt;&amp;&lt;/b&gt;</subject>`)
	}
	bot := &matrix.Event{RoomID: room, Sender: h.Matrix().BotUserID(), Type: matrix.EventTopic, StateKey: &empty}
	if err := m.HandleMatrixTopic(ctx, &bridges.Topic{Portal: portal, Event: bot, Topic: "By the bot"}); err != nil {
		t.Fatal(err)
	}
	waitQueued(t, h, `to="bob@x.org/r"`, `from="`+roomJID+`"`, `<subject>By the bot</subject>`)
	other := &bridges.Portal{Key: bridges.PortalKey{ID: "dm:x"}, Room: room}
	if err := m.HandleMatrixTopic(ctx, &bridges.Topic{Portal: other, Event: ev, Topic: "Not here"}); err != nil {
		t.Fatal(err)
	}
	for _, s := range queued(t, h) {
		if strings.Contains(s, "Not here") {
			t.Fatalf("a topic outside a hosted room was sent: %s", s)
		}
	}
}

// TestSubjectFromXMPP: an occupant's subject change (a groupchat
// message with only a subject) sets the Matrix topic through its
// puppet when the puppet's power level allows m.room.topic, and is
// reflected from its nick to every occupant; an occupant below the
// level gets a forbidden error and the topic stays; a non-occupant gets
// not-acceptable; a message with a body and a subject is a message.
func TestSubjectFromXMPP(t *testing.T) {
	_, g, h := testGateway(t)
	room, roomJID := nickRoom(t, g)
	for _, u := range []matrix.UserID{alicePuppet, bobPuppet} {
		h.HS.SetMembership(room, u, "join")
		if err := h.Matrix().Intent(u).EnsureRegistered(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	key := ""
	h.HS.PutEvent(fakehs.Event{Room: room, Sender: carol, Type: "m.room.power_levels", StateKey: &key,
		Content: json.RawMessage(`{"users":{"@carol:localhost":100,"@_xmpp_alice=40x.org:localhost":50},"events":{"m.room.topic":50}}`)})
	send := func(from, id, inner string) {
		t.Helper()
		raw := `<message type='groupchat' id='` + id + `' from='` + from + `' to='` + roomJID + `'>` + inner + `</message>`
		g.Message(parse(t, []byte(raw)), jid.MustParse(from), jid.MustParse(roomJID))
	}
	topics := func() []string {
		var out []string
		for _, r := range h.HS.Requests() {
			if strings.Contains(r.Path, "/state/m.room.topic") && r.Method == "PUT" {
				out = append(out, string(r.User)+" "+string(r.Body))
			}
		}
		return out
	}

	send("bob@x.org/r", "s1", `<subject>Bob's topic</subject>`)
	waitQueued(t, h, `id="s1"`, `to="bob@x.org/r"`, `type="error"`, `<forbidden `, `power level in this room is 0`)
	send("mallory@x.org/m", "s2", `<subject>Mallory's</subject>`)
	waitQueued(t, h, `id="s2"`, `to="mallory@x.org/m"`, `<not-acceptable `)

	send("alice@x.org/r1", "s3", `<subject>Alice &amp; co</subject>`)
	for _, to := range []string{"alice@x.org/r1", "alice@x.org/r2", "bob@x.org/r"} {
		waitQueued(t, h, `to="`+to+`"`, `from="`+roomJID+`/Alice"`, `<subject>Alice &amp; co</subject>`)
	}
	got := topics()
	if len(got) != 1 || !strings.HasPrefix(got[0], string(alicePuppet)+" ") || !strings.Contains(got[0], `"topic":"Alice \u0026 co"`) {
		t.Fatalf("topic requests: %q", got)
	}

	send("alice@x.org/r1", "s4", `<subject>Not a topic</subject><body>hello</body>`)
	poll.Until(t, "the message with a subject and a body", 5*time.Second, func() bool {
		for _, op := range h.Sent.Ops() {
			if op.Sender == alicePuppet && strings.Contains(string(op.Content), "hello") {
				return true
			}
		}
		return false
	})
	if got := topics(); len(got) != 1 {
		t.Fatalf("a message with a body changed the topic: %q", got)
	}
}
