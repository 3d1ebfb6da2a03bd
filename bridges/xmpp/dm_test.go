package xmpp

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

const (
	carol       = matrix.UserID("@carol:localhost")
	alicePuppet = matrix.UserID("@_xmpp_alice=40x.org:localhost")
)

func carolJID(t *testing.T) string {
	t.Helper()
	j, err := address.UserJID(jid.MustParse("matrix.test"), carol)
	if err != nil {
		t.Fatal(err)
	}
	return j.String()
}

// chat offers a chat from alice@x.org/r to the gateway's chat routes.
func chat(t *testing.T, g *gateway, to, id, text string) bool {
	t.Helper()
	s := parse(t, []byte(`<message xmlns='jabber:client' from='alice@x.org/r' to='`+to+`' type='chat' id='`+id+`'><body>`+text+`</body></message>`))
	return g.Chat(s, jid.MustParse(s.Attr("from")), jid.MustParse(s.Attr("to")))
}

// messages returns the message ops in the outbox.
func messages(h *bridgetest.Host) []intent.Op {
	var out []intent.Op
	for _, op := range h.Sent.Ops() {
		if op.Kind == intent.OpMessage {
			out = append(out, op)
		}
	}
	return out
}

// waitOps waits until the outbox holds n message ops.
func waitOps(t *testing.T, h *bridgetest.Host, n int) {
	t.Helper()
	poll.Until(t, "messages in the outbox", 5*time.Second, func() bool { return len(messages(h)) >= n })
	if got := len(messages(h)); got != n {
		t.Fatalf("%d messages, want %d: %+v", got, n, messages(h))
	}
}

// named reports whether the outbox named puppet p name, in room.
func named(h *bridgetest.Host, room matrix.RoomID, p matrix.UserID, name string) bool {
	for _, op := range h.Sent.Ops() {
		if op.Kind == intent.OpProfile && op.Room == room && op.Sender == p && strings.Contains(string(op.Content), `"displayname":"`+name+`"`) {
			return true
		}
	}
	return false
}

// TestDirectChatFromXMPP: a chat to a Matrix user's JID opens a direct
// chat created by the puppet (invite, is_direct, trusted_private_chat),
// stored as a per-user portal, and the message is posted by the puppet;
// the next one reuses the room; after the Matrix user left it is invited
// back into the same room; once banned, a new room replaces the portal,
// and so it does once the puppet cannot join back.
// The Matrix user's answer goes to the bare JID as a chat.
func TestDirectChatFromXMPP(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	h.HS.SetProfile(carol, "displayname", "Carol")
	cj := carolJID(t)
	if !chat(t, g, cj, "m1", "hello carol") {
		t.Fatal("the chat route did not take a chat to a Matrix user's JID")
	}
	waitOps(t, h, 1)
	op := messages(h)[0]
	if op.Sender != alicePuppet || !strings.Contains(string(op.Content), `"body":"hello carol"`) || op.Link == nil {
		t.Fatalf("op: %+v %s", op, op.Content)
	}
	room := op.Room
	if !named(h, room, alicePuppet, "alice@x.org") {
		t.Fatalf("the puppet was not named after its JID: %+v", h.Sent.Ops())
	}
	p, err := h.Portals().ByKey(ctx, bridges.PortalKey{ID: "dm:alice@x.org", Receiver: carol})
	if err != nil || p.Room != room {
		t.Fatalf("portal: %+v %v (room %s)", p, err, room)
	}
	creates := h.HS.CreateRoomBodies()
	if len(creates) != 1 {
		t.Fatalf("%d rooms created", len(creates))
	}
	var cr struct {
		Invite   []string `json:"invite"`
		IsDirect bool     `json:"is_direct"`
		Preset   string   `json:"preset"`
	}
	if err := json.Unmarshal(creates[0], &cr); err != nil || !cr.IsDirect || cr.Preset != "trusted_private_chat" ||
		len(cr.Invite) != 1 || cr.Invite[0] != string(carol) {
		t.Fatalf("createRoom: %s", creates[0])
	}
	creator := ""
	for _, r := range h.HS.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/createRoom") {
			creator = string(r.User)
		}
	}
	if creator != string(alicePuppet) {
		t.Fatalf("room created by %s, want the puppet", creator)
	}

	h.HS.SetMembership(room, carol, "join")
	chat(t, g, cj, "m2", "again")
	waitOps(t, h, 2)
	if r := messages(h)[1].Room; r != room || len(h.HS.CreateRoomBodies()) != 1 {
		t.Fatalf("second chat went to %s (%d rooms), want %s", r, len(h.HS.CreateRoomBodies()), room)
	}

	h.HS.SetMembership(room, carol, "leave")
	chat(t, g, cj, "m3", "are you there?")
	waitOps(t, h, 3)
	if r := messages(h)[2].Room; r != room || h.HS.Membership(room, carol) != "invite" {
		t.Fatalf("after carol left: sent to %s, carol %q; want invited back into %s", r, h.HS.Membership(room, carol), room)
	}

	h.HS.SetMembership(room, carol, "ban")
	chat(t, g, cj, "m4", "new room?")
	waitOps(t, h, 4)
	room2 := messages(h)[3].Room
	if room2 == room || len(h.HS.CreateRoomBodies()) != 2 {
		t.Fatalf("after a ban: sent to %s, %d rooms", room2, len(h.HS.CreateRoomBodies()))
	}
	if p, err := h.Portals().ByKey(ctx, bridges.PortalKey{ID: "dm:alice@x.org", Receiver: carol}); err != nil || p.Room != room2 {
		t.Fatalf("portal after a ban: %+v %v", p, err)
	}

	// The puppet removed for good (it cannot join back): a new room.
	h.HS.SetMembership(room2, carol, "join")
	h.HS.SetMembership(room2, alicePuppet, "ban")
	chat(t, g, cj, "m5", "puppet gone")
	waitOps(t, h, 5)
	room3 := messages(h)[4].Room
	if room3 == room2 || room3 == room || len(h.HS.CreateRoomBodies()) != 3 {
		t.Fatalf("after the puppet was banned: sent to %s, %d rooms", room3, len(h.HS.CreateRoomBodies()))
	}

	// Matrix → XMPP.
	p, _ = h.Portals().ByRoom(ctx, room3)
	msg := &bridges.Message{Portal: p, Event: &matrix.Event{ID: "$ans", Sender: carol, RoomID: room3},
		Content: matrix.MessageContent{MsgType: matrix.MsgText, Body: "hi <alice> & co"}}
	if err := m.HandleMatrixMessage(ctx, msg); err != nil {
		t.Fatal(err)
	}
	q := queued(t, h)
	if len(q) != 1 {
		t.Fatalf("queued: %q", q)
	}
	for _, want := range []string{`from="` + cj + `"`, `to="alice@x.org"`, `type="chat"`, `id="$ans"`, `hi &lt;alice&gt; &amp; co`,
		`<stanza-id xmlns="urn:xmpp:sid:0" id="$ans" by="` + cj + `">`} {
		if !strings.Contains(q[0], want) {
			t.Errorf("chat to XMPP lacks %s: %s", want, q[0])
		}
	}
}

// TestDirectChatRefusals: chats to the bridge's own users, to unknown
// Matrix users and private messages to room occupants from someone not
// in the room get errors; a chat to the domain is left to the component.
func TestDirectChatRefusals(t *testing.T) {
	_, g, h := testGateway(t)
	pj, err := address.UserJID(jid.MustParse("matrix.test"), alicePuppet)
	if err != nil {
		t.Fatal(err)
	}
	if !chat(t, g, pj.String(), "p1", "loop?") {
		t.Fatal("a chat to a puppet's JID was not taken")
	}
	rj, _ := address.AliasJID(jid.MustParse("matrix.test"), "#room:localhost")
	if !chat(t, g, rj.String()+"/Carol", "p2", "psst") {
		t.Fatal("a private message to an occupant was not taken")
	}
	if chat(t, g, "matrix.test", "p3", "hi service") {
		t.Fatal("a chat to the domain was taken")
	}
	chat(t, g, carolJID(t), "p4", "anyone?") // carol has no profile: unknown
	poll.Until(t, "three errors", 5*time.Second, func() bool { return len(queued(t, h)) == 3 })
	q := strings.Join(queued(t, h), "\n")
	// The private message's sender is not in the room (mucpm.go); the
	// answers come from different lanes, in any order.
	for i, want := range []string{"not-allowed", "not-acceptable", "item-not-found"} {
		if strings.Count(q, "<"+want+" ") != 1 || strings.Count(q, `type="error"`) != 3 {
			t.Errorf("error %d: want %s once: %s", i, want, q)
		}
	}
	if len(messages(h)) != 0 {
		t.Fatalf("messages: %+v", messages(h))
	}
}

// TestDirectChatFromMatrix: a Matrix user inviting a puppet into a
// direct chat has the puppet join, and the room becomes their portal,
// replacing an older one; the puppet of an anonymous MUC occupant
// declines.
func TestDirectChatFromMatrix(t *testing.T) {
	ctx := context.Background()
	m, _, h := testGateway(t)
	for _, room := range []matrix.RoomID{"!dm1:localhost", "!dm2:localhost"} {
		h.HS.SetMembership(room, carol, "join")
		ev := &matrix.Event{RoomID: room, Sender: carol, Type: matrix.EventMember}
		if err := m.HandleMatrixMembership(ctx, &bridges.Membership{Event: ev, Target: alicePuppet,
			Content: matrix.MemberContent{Membership: "invite", IsDirect: true}}); err != nil {
			t.Fatal(err)
		}
		poll.Until(t, "the portal", 5*time.Second, func() bool {
			p, err := h.Portals().ByKey(ctx, bridges.PortalKey{ID: "dm:alice@x.org", Receiver: carol})
			return err == nil && p.Room == room
		})
		if h.HS.Membership(room, alicePuppet) != "join" {
			t.Fatalf("the puppet did not join %s", room)
		}
		if room == "!dm1:localhost" && !named(h, room, alicePuppet, "alice@x.org") {
			t.Fatalf("the puppet was not named: %+v", h.Sent.Ops())
		}
	}
	if _, err := h.Portals().ByRoom(ctx, "!dm1:localhost"); err == nil {
		t.Fatal("the older direct chat is still a portal")
	}

	// The puppet of an anonymous MUC's occupant has no account to chat
	// with: it declines.
	occ, err := m.users.Format(puppet.Values{"name": "lounge@conference.x.org/Eve"})
	if err != nil {
		t.Fatal(err)
	}
	const room3 = matrix.RoomID("!dm3:localhost")
	h.HS.SetMembership(room3, carol, "join")
	h.HS.SetMembership(room3, occ, "invite")
	ev := &matrix.Event{RoomID: room3, Sender: carol, Type: matrix.EventMember}
	if err := m.HandleMatrixMembership(ctx, &bridges.Membership{Event: ev, Target: occ,
		Content: matrix.MemberContent{Membership: "invite", IsDirect: true}}); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the decline", 5*time.Second, func() bool { return h.HS.Membership(room3, occ) == "leave" })
	if _, err := h.Portals().ByRoom(ctx, room3); err == nil {
		t.Fatal("a direct chat with an anonymous occupant became a portal")
	}
}

// TestDirectChatNotFromReverseMUC: a private message from an occupant of
// an existing MUC bridged the other way (reverse.go) to a Matrix user's
// occupant JID is refused (the reverse portals' route comes before the
// 1:1 chat route), not taken as a 1:1 chat with the MUC.
func TestDirectChatNotFromReverseMUC(t *testing.T) {
	m, g, h := testGateway(t)
	m.rev = newReverse(m, g)
	m.rev.add("!portal:localhost", testMUC)
	to := carolJID(t) + "/Carol"
	s := parse(t, []byte(`<message xmlns='jabber:client' from='`+testMUC+`/Eve' to='`+to+`' type='chat' id='pm1'><body>psst</body></message>`))
	if !g.Chat(s, jid.MustParse(s.Attr("from")), jid.MustParse(s.Attr("to"))) {
		t.Fatal("the private message was not taken")
	}
	q := queued(t, h)
	if len(q) != 1 || !strings.Contains(q[0], "service-unavailable") || !strings.Contains(q[0], `to="`+testMUC+`/Eve"`) {
		t.Fatalf("answer: %q", q)
	}
	if len(messages(h)) != 0 || len(h.HS.CreateRoomBodies()) != 0 {
		t.Fatal("a private message from a MUC opened a direct chat")
	}
}

// TestDirectChatBounce: a chat from a Matrix user that the XMPP side
// bounces becomes a notice from the puppet in the direct chat, in reply
// to the message, with the error's condition and text.
func TestDirectChatBounce(t *testing.T) {
	_, g, h := testGateway(t)
	h.HS.SetProfile(carol, "displayname", "Carol")
	cj := carolJID(t)
	chat(t, g, cj, "m1", "hello")
	waitOps(t, h, 1)
	room := messages(h)[0].Room
	s := parse(t, []byte(`<message xmlns='jabber:client' from='alice@x.org' to='`+cj+`' type='error' id='$ev1'>`+
		`<error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>`+
		`<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no such user</text></error></message>`))
	g.Message(s, jid.MustParse(s.Attr("from")), jid.MustParse(s.Attr("to")))
	waitOps(t, h, 2)
	op := messages(h)[1]
	var c matrix.MessageContent
	if err := json.Unmarshal(op.Content, &c); err != nil {
		t.Fatal(err)
	}
	if op.Room != room || op.Sender != alicePuppet || c.MsgType != matrix.MsgNotice ||
		c.Body != "Not delivered to alice@x.org on XMPP (service-unavailable: no such user)" ||
		c.RelatesTo == nil || c.RelatesTo.InReplyTo == nil || c.RelatesTo.InReplyTo.EventID != "$ev1" {
		t.Fatalf("notice: %+v %s", op, op.Content)
	}
}
