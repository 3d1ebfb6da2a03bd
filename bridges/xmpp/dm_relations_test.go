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
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestChatRelStanza: relations in 1:1 chats are type='chat' from the
// Matrix user's JID, whose JID gave the stanza-id; a reply names its
// author by JID; a new message is markable; text is escaped.
func TestChatRelStanza(t *testing.T) {
	body := "> Alice: hi\n</body><evil/>"
	for i, tc := range []struct {
		m          relOut
		want, none []string
	}{
		0: {m: relOut{ID: "$e", Body: &body, StanzaID: "$e", ReplyID: "m1", ReplyJID: "alice@x.org", ReplyQuote: 12, Markable: true},
			want: []string{`type="chat"`, `from="c@m.test"`, `to="alice@x.org"`, `<reply xmlns="urn:xmpp:reply:0" to="alice@x.org" id="m1">`,
				`start="0" end="12"`, `<stanza-id xmlns="urn:xmpp:sid:0" id="$e" by="c@m.test">`, "markable", "&lt;/body&gt;&lt;evil/&gt;"},
			none: []string{"<evil/>", "groupchat"}},
		1: {m: relOut{ID: "$r", HasReactions: true, ReactionsTo: "m1", Reactions: []string{"👍"}},
			want: []string{`type="chat"`, `<reactions xmlns="urn:xmpp:reactions:0" id="m1">`, "<store"},
			none: []string{"markable", "<body"}},
		2: {m: relOut{ID: "$d", Retract: "$c1", StanzaID: "$d"},
			want: []string{`<retract xmlns="urn:xmpp:message-retract:1" id="$c1">`, "<body>", "<store"},
			none: []string{"moderated", "markable"}},
		3: {m: relOut{ID: "$x", Body: &body, Replace: "$c1"},
			want: []string{`<replace xmlns="urn:xmpp:message-correct:0" id="$c1">`}},
	} {
		s := string(chatRelStanza("c@m.test", "alice@x.org", tc.m))
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("%d: lacks %s: %s", i, w, s)
			}
		}
		for _, n := range tc.none {
			if strings.Contains(s, n) {
				t.Errorf("%d: has %s: %s", i, n, s)
			}
		}
	}
	// In a room the reply still names the occupant JID.
	if s := string(relStanza("r@m.test/Carol", "a@x.org/r", "r@m.test", relOut{ID: "$e", Body: &body, ReplyID: "$o", ReplyNick: "Alice"})); !strings.Contains(s, `to="r@m.test/Alice"`) ||
		!strings.Contains(s, `type="groupchat"`) {
		t.Errorf("groupchat reply: %s", s)
	}
}

// TestDMMessageID: a chat is named by its id attribute, else its
// origin-id; an id the bridge made up is not the client's.
func TestDMMessageID(t *testing.T) {
	for i, tc := range []struct{ id, origin, want string }{
		0: {"m1", "o1", "m1"},
		1: {"", "o1", "o1"},
		2: {"m1", "", "m1"},
		3: {randomID(), "o1", "o1"},
		4: {"", "", ""},
	} {
		if got := dmMessageID(tc.id, tc.origin); got != tc.want {
			t.Errorf("%d: dmMessageID(%q, %q) = %q, want %q", i, tc.id, tc.origin, got, tc.want)
		}
	}
}

// TestParseMsgLink: the author and id come back from a message link,
// escaping and all; other remote IDs are not message links.
func TestParseMsgLink(t *testing.T) {
	real, id, ok := parseMsgLink(msgRemoteID("!dm:x", "a@b.org", "m/1 2"))
	if !ok || real != "a@b.org" || id != "m/1 2" {
		t.Fatalf("parseMsgLink: %q %q %v", real, id, ok)
	}
	for _, s := range []string{dmKey("a@b.org", "@c:x", "m1", ""), reactionRemoteID("$e", "@c:x", "👍"), "x/a/b", "x/a/b/c/d"} {
		if _, _, ok := parseMsgLink(s); ok {
			t.Errorf("parseMsgLink(%q) is a message link", s)
		}
	}
}

// TestDMJIDOf: a direct chat portal names its XMPP user (from its
// metadata, else its key); other portals are not direct chats.
func TestDMJIDOf(t *testing.T) {
	p := &bridges.Portal{Key: dmPortalKey("a@b.org", "@c:x")}
	if real, ok := dmJIDOf(p); !ok || real != "a@b.org" {
		t.Fatalf("dmJIDOf by key: %q %v", real, ok)
	}
	if err := bridges.SetPortalMeta(p, dmMeta{JID: "meta@b.org"}); err != nil {
		t.Fatal(err)
	}
	if real, ok := dmJIDOf(p); !ok || real != "meta@b.org" {
		t.Fatalf("dmJIDOf by meta: %q %v", real, ok)
	}
	for _, q := range []*bridges.Portal{nil, {Key: bridges.PortalKey{ID: portalPrefix + "!r:x"}}} {
		if _, ok := dmJIDOf(q); ok {
			t.Errorf("dmJIDOf(%+v) is a direct chat", q)
		}
	}
}

// TestDirectChatRelationsFromXMPP: in a 1:1 chat, a chat is linked by
// its origin-id and, once on Matrix, by its id too; a correction naming
// the id is an m.replace of its event from the puppet, a retraction
// naming the origin-id redacts it, a reaction set becomes m.reaction;
// a chat state makes the puppet type in the direct chat; the id the
// bridge names the chat by toward XMPP is its id attribute.
func TestDirectChatRelationsFromXMPP(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	h.HS.SetProfile(carol, "displayname", "Carol")
	cj := carolJID(t)
	offer := func(inner string) {
		t.Helper()
		s := parse(t, []byte(`<message xmlns='jabber:client' from='alice@x.org/r' to='`+cj+`' type='chat'`+inner+`</message>`))
		if !g.Chat(s, jid.MustParse(s.Attr("from")), jid.MustParse(s.Attr("to"))) {
			t.Fatal("the chat route did not take a chat to a Matrix user's JID")
		}
	}
	ops := func(n int) []intent.Op {
		t.Helper()
		poll.Until(t, "ops in the outbox", 5*time.Second, func() bool {
			k := 0
			for _, op := range h.Sent.Ops() {
				if op.Kind != intent.OpProfile {
					k++
				}
			}
			return k >= n
		})
		var out []intent.Op
		for _, op := range h.Sent.Ops() {
			if op.Kind != intent.OpProfile {
				out = append(out, op)
			}
		}
		return out
	}
	offer(` id='m1'><body>helo</body><origin-id xmlns='urn:xmpp:sid:0' id='o1'/>`)
	op1 := ops(1)[0]
	room := op1.Room
	if op1.Link == nil || op1.Link.RemoteID != msgRemoteID(room, "alice@x.org", "o1") {
		t.Fatalf("the chat's link: %+v", op1.Link)
	}
	if err := h.Links().Put(ctx, bridges.Link{Remote: bridges.MessageID{ID: op1.Link.RemoteID}, Room: room, Event: "$m1"}); err != nil {
		t.Fatal(err)
	}
	m.OnOutboxSent(ctx, op1, "$m1")
	if id, author := g.xmppIDOf(ctx, room, "$m1"); id != "m1" || author != "alice@x.org" {
		t.Fatalf("xmppIDOf: %q %q", id, author)
	}

	offer(` id='m2'><body>hello</body><replace xmlns='urn:xmpp:message-correct:0' id='m1'/>`)
	op2 := ops(2)[1]
	var c matrix.MessageContent
	if err := json.Unmarshal(op2.Content, &c); err != nil || op2.Room != room || op2.Sender != alicePuppet || c.RelatesTo == nil ||
		c.RelatesTo.RelType != "m.replace" || c.RelatesTo.EventID != "$m1" || c.NewContent == nil || c.NewContent.Body != "hello" {
		t.Fatalf("correction: %+v %s", op2, op2.Content)
	}

	offer(` id='x1'><reactions xmlns='urn:xmpp:reactions:0' id='m1'><reaction>👍</reaction></reactions>`)
	op3 := ops(3)[2]
	if op3.Type != matrix.EventReaction || op3.Room != room || !strings.Contains(string(op3.Content), `"event_id":"$m1"`) {
		t.Fatalf("reaction: %+v %s", op3, op3.Content)
	}

	offer(` id='d1'><retract xmlns='urn:xmpp:message-retract:1' id='o1'/>`)
	op4 := ops(4)[3]
	if op4.Kind != intent.OpRedaction || op4.Redacts != "$m1" || op4.Room != room || op4.Sender != alicePuppet {
		t.Fatalf("retraction: %+v", op4)
	}

	// The bot was brought into the chat once, not per message.
	offer(` id='m3'><body>again</body>`)
	ops(5)
	botJoins := 0
	for _, r := range h.HS.Requests() {
		if r.Method == http.MethodPost && strings.Contains(r.Path, "/join/") && !strings.Contains(string(r.User), "_xmpp_") {
			botJoins++
		}
	}
	if botJoins == 0 || botJoins > 2 {
		t.Errorf("the bot asked %d times to join the direct chat", botJoins)
	}

	offer(`><composing xmlns='http://jabber.org/protocol/chatstates'/>`)
	poll.Until(t, "the puppet typing", 5*time.Second, func() bool {
		for _, r := range h.HS.Requests() {
			if r.Method == http.MethodPut && strings.Contains(r.Path, "/typing/") && r.User == alicePuppet && strings.Contains(r.Path, string(room)) {
				return true
			}
		}
		return false
	})
}

// TestDirectChatRelationsToXMPP: in a 1:1 chat, the Matrix user's
// reaction to the XMPP user's message goes as its whole set by the
// message's XMPP id, and shrinks when redacted; its typing is composing
// then active; its read receipt of that message a displayed marker of
// that id; all type='chat' from its JID to the bare JID. Someone else
// in the room is not bridged.
func TestDirectChatRelationsToXMPP(t *testing.T) {
	ctx := context.Background()
	m, _, h := testGateway(t)
	const room = matrix.RoomID("!dm:localhost")
	p := &bridges.Portal{Key: dmPortalKey("alice@x.org", carol), Room: room}
	if err := bridges.SetPortalMeta(p, dmMeta{JID: "alice@x.org"}); err != nil {
		t.Fatal(err)
	}
	if err := h.Portals().Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := h.Links().Put(ctx, bridges.Link{Remote: bridges.MessageID{ID: msgRemoteID(room, "alice@x.org", "m1")}, Room: room, Event: "$a1"}); err != nil {
		t.Fatal(err)
	}
	cj := carolJID(t)
	last := func(what string, want ...string) {
		t.Helper()
		q := queued(t, h)
		if len(q) == 0 {
			t.Fatalf("%s: nothing queued", what)
		}
		s := q[len(q)-1]
		for _, w := range append([]string{`type="chat"`, `from="` + cj + `"`, `to="alice@x.org"`}, want...) {
			if !strings.Contains(s, w) {
				t.Fatalf("%s lacks %s: %s", what, w, s)
			}
		}
	}
	ev := func(id matrix.EventID, sender matrix.UserID) *matrix.Event {
		return &matrix.Event{ID: id, Sender: sender, RoomID: room}
	}
	if err := m.HandleMatrixReaction(ctx, &bridges.Reaction{Portal: p, Event: ev("$r1", carol), Target: "$a1", Key: "👍"}); err != nil {
		t.Fatal(err)
	}
	last("the reaction", `<reactions xmlns="urn:xmpp:reactions:0" id="m1"><reaction xmlns="urn:xmpp:reactions:0">👍</reaction></reactions>`)
	n := len(queued(t, h))
	if err := m.HandleMatrixReaction(ctx, &bridges.Reaction{Portal: p, Event: ev("$r2", "@dave:localhost"), Target: "$a1", Key: "👎"}); err != nil {
		t.Fatal(err)
	}
	if len(queued(t, h)) != n {
		t.Fatalf("someone else's reaction crossed: %q", queued(t, h)[n:])
	}
	rl, err := h.Links().ByEvent(ctx, "$r1")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleMatrixRedaction(ctx, &bridges.Redaction{Portal: p, Event: ev("$x1", carol), Target: "$r1", TargetRemote: &rl}); err != nil {
		t.Fatal(err)
	}
	last("the redacted reaction", `<reactions xmlns="urn:xmpp:reactions:0" id="m1"></reactions>`)
	m.HandleMatrixTyping(ctx, &bridges.Typing{RoomID: room, UserIDs: []matrix.UserID{carol}})
	last("typing", `<composing xmlns="http://jabber.org/protocol/chatstates">`)
	m.HandleMatrixTyping(ctx, &bridges.Typing{RoomID: room})
	last("stopped typing", `<active xmlns="http://jabber.org/protocol/chatstates">`)
	m.HandleMatrixReceipt(ctx, &bridges.Receipt{RoomID: room, UserID: carol, EventID: "$a1"})
	last("the receipt", `<displayed xmlns="urn:xmpp:chat-markers:0" id="m1">`)
}
