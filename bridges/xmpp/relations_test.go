package xmpp

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

const (
	relRoom   = matrix.RoomID("!r:localhost")
	alicePup  = matrix.UserID("@_xmpp_alice=40x.org:localhost")
	bobPup    = matrix.UserID("@_xmpp_bob=40x.org:localhost")
	relMUC    = "room@matrix.test"
	aliceFull = "alice@x.org/r"
)

// relGateway is a test gateway whose room has two XMPP occupants, Alice
// and Bob, and one Matrix member, Carol; the fake homeserver has them
// all in the room.
func relGateway(t *testing.T) (*Module, *gateway, *bridgetest.Host) {
	t.Helper()
	m, g, h := testGateway(t)
	r := g.room(relRoom)
	r.loaded = true
	r.members = map[matrix.UserID]*member{"@carol:localhost": {nick: "Carol", level: 100}}
	r.announced = map[matrix.UserID]bool{"@carol:localhost": true}
	for _, o := range []*occupant{
		{RoomJID: relMUC, Nick: "Alice", Real: "alice@x.org", Resources: newResourceSet(aliceFull), Puppet: alicePup},
		{RoomJID: relMUC, Nick: "Bob", Real: "bob@x.org", Resources: newResourceSet("bob@x.org/r"), Puppet: bobPup},
	} {
		r.occupants[o.Real] = o
	}
	for _, u := range []matrix.UserID{alicePup, bobPup, "@carol:localhost"} {
		if err := h.Matrix().Intent(u).EnsureRegistered(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.HS.SetMembership(relRoom, u, "join")
	}
	return m, g, h
}

// sent does what the outbox does once Matrix took op as event ev: it
// stores op's link and tells the module.
func sent(t *testing.T, m *Module, h *bridgetest.Host, op intent.Op, ev matrix.EventID) {
	t.Helper()
	if op.Link != nil {
		if err := h.Links().Put(context.Background(), bridges.Link{Remote: bridges.ParseMessageID(op.Link.RemoteID), Room: op.Room, Event: ev}); err != nil {
			t.Fatal(err)
		}
	}
	m.OnOutboxSent(context.Background(), op, ev)
}

// aliceSays is Alice's actor for a stanza with id and origin-id.
func aliceSays(t *testing.T, g *gateway, id, origin string) actor {
	t.Helper()
	s, ok := g.occupantOf(jid.MustParse(aliceFull), jid.MustParse(relMUC))
	if !ok {
		t.Fatal("alice is no occupant")
	}
	s.id, s.origin = id, origin
	return s
}

// lastOp returns the newest op queued.
func lastOp(t *testing.T, h *bridgetest.Host) intent.Op {
	t.Helper()
	ops := h.Sent.Ops()
	if len(ops) == 0 {
		t.Fatal("no op queued")
	}
	return ops[len(ops)-1]
}

// TestCorrectionToMatrix: Alice's message, sent with an id and a
// different origin-id, is linked by both; her correction naming either
// is an m.replace of its event from her puppet, reflected once Matrix
// has it with her ids, the replace element and the edit's stanza-id. A
// correction of a message the bridge does not know is a new message.
func TestCorrectionToMatrix(t *testing.T) {
	ctx := context.Background()
	m, g, h := relGateway(t)
	g.say(ctx, jid.MustParse(aliceFull), jid.MustParse(relMUC), "m1", "o1", inbound{text: "helo"})
	sent(t, m, h, lastOp(t, h), "$orig")
	for _, id := range []string{"m1", "o1"} {
		if l, err := h.Links().ByRemote(ctx, bridges.MessageID{ID: msgRemoteID(relRoom, "alice@x.org", id)}); err != nil || l.Event != "$orig" {
			t.Fatalf("link of %s: %+v %v", id, l, err)
		}
	}
	before := len(queued(t, h))

	g.correct(ctx, aliceSays(t, g, "m2", ""), parseExt(innerOf(
		`<message><replace xmlns='urn:xmpp:message-correct:0' id='m1'/></message>`)), "hello")
	op := lastOp(t, h)
	var c matrix.MessageContent
	if err := json.Unmarshal(op.Content, &c); err != nil {
		t.Fatal(err)
	}
	if op.Sender != alicePup || c.RelatesTo == nil || c.RelatesTo.RelType != "m.replace" || c.RelatesTo.EventID != "$orig" ||
		c.NewContent == nil || c.NewContent.Body != "hello" || c.Body != "* hello" || !strings.HasPrefix(op.Key, relKeyPrefix) {
		t.Fatalf("correction op: %+v %s", op, op.Content)
	}
	if len(queued(t, h)) != before {
		t.Fatal("reflected before Matrix took it")
	}
	sent(t, m, h, op, "$edit")
	q := queued(t, h)[before:]
	if len(q) != 2 {
		t.Fatalf("reflections: %q", q)
	}
	for _, want := range []string{`from="room@matrix.test/Alice"`, `id="m2"`, `<body>hello</body>`,
		`<replace xmlns="urn:xmpp:message-correct:0" id="m1">`, `<stanza-id xmlns="urn:xmpp:sid:0" id="$edit"`} {
		if !strings.Contains(q[0], want) {
			t.Errorf("reflection lacks %s: %s", want, q[0])
		}
	}
	if _, err := h.KV().Get(ctx, reflKeyPrefix+op.Key); !bridges.IsNotFound(err) {
		t.Errorf("the reflection stays stored: %v", err)
	}

	// A second correction naming the first correction still edits the
	// original.
	g.correct(ctx, aliceSays(t, g, "m3", ""), parseExt(innerOf(
		`<message><replace xmlns='urn:xmpp:message-correct:0' id='m2'/></message>`)), "hello!")
	if op := lastOp(t, h); !strings.Contains(string(op.Content), `"event_id":"$orig"`) {
		t.Fatalf("second correction: %s", op.Content)
	}
	// Unknown target: a new message.
	g.correct(ctx, aliceSays(t, g, "m4", ""), parseExt(innerOf(
		`<message><replace xmlns='urn:xmpp:message-correct:0' id='nope'/></message>`)), "fresh")
	if op := lastOp(t, h); strings.Contains(string(op.Content), "m.replace") || !strings.HasPrefix(op.Key, sentKeyPrefix) {
		t.Fatalf("a correction of an unknown message: %+v %s", op, op.Content)
	}
}

// TestRetractionToMatrix: Alice retracting her message by its stanza-id
// (the event ID) redacts it as her puppet, and the retraction is
// reflected; retracting Carol's message is forbidden.
func TestRetractionToMatrix(t *testing.T) {
	ctx := context.Background()
	m, g, h := relGateway(t)
	g.say(ctx, jid.MustParse(aliceFull), jid.MustParse(relMUC), "m1", "", inbound{text: "oops"})
	sent(t, m, h, lastOp(t, h), "$orig")
	before := len(queued(t, h))
	g.retract(ctx, aliceSays(t, g, "r1", ""), "$orig")
	op := lastOp(t, h)
	if op.Kind != intent.OpRedaction || op.Redacts != "$orig" || op.Sender != alicePup {
		t.Fatalf("retraction op: %+v", op)
	}
	sent(t, m, h, op, "$red")
	q := queued(t, h)[before:]
	if len(q) != 2 || !strings.Contains(q[0], `<retract xmlns="urn:xmpp:message-retract:1" id="$orig">`) ||
		!strings.Contains(q[0], `from="room@matrix.test/Alice"`) {
		t.Fatalf("reflection: %q", q)
	}

	carols := h.HS.PutEvent(fakehs.Event{Room: relRoom, Sender: "@carol:localhost", Type: matrix.EventMessage,
		Content: json.RawMessage(`{"msgtype":"m.text","body":"mine"}`)})
	n := len(h.Sent.Ops())
	g.retract(ctx, aliceSays(t, g, "r2", ""), string(carols))
	if len(h.Sent.Ops()) != n {
		t.Fatal("Alice redacted Carol's message")
	}
	if q := queued(t, h); !strings.Contains(q[len(q)-1], "forbidden") {
		t.Fatalf("no error: %s", q[len(q)-1])
	}
}

// TestReactionsToMatrix: Alice's reaction set becomes one m.reaction per
// key; a later set without one of them redacts its event; the empty
// set redacts the rest. Each stanza is reflected to the occupants.
func TestReactionsToMatrix(t *testing.T) {
	ctx := context.Background()
	_, g, h := relGateway(t)
	carols := h.HS.PutEvent(fakehs.Event{Room: relRoom, Sender: "@carol:localhost", Type: matrix.EventMessage,
		Content: json.RawMessage(`{"msgtype":"m.text","body":"vote"}`)})
	react := func(id string, keys ...string) {
		t.Helper()
		raw := `<message><reactions xmlns='urn:xmpp:reactions:0' id='` + string(carols) + `'>`
		for _, k := range keys {
			raw += `<reaction>` + k + `</reaction>`
		}
		g.react(ctx, aliceSays(t, g, id, ""), parseExt(innerOf(raw+`</reactions></message>`)))
	}
	react("x1", "👍", "🎉")
	ops := h.Sent.Ops()
	if len(ops) != 2 {
		t.Fatalf("ops: %+v", ops)
	}
	for i, key := range []string{"👍", "🎉"} {
		if ops[i].Type != matrix.EventReaction || ops[i].Sender != alicePup ||
			!strings.Contains(string(ops[i].Content), `"key":"`+key+`"`) || !strings.Contains(string(ops[i].Content), string(carols)) ||
			ops[i].Link == nil || ops[i].Link.RemoteID != reactionRemoteID(carols, alicePup, key) {
			t.Fatalf("op %d: %+v %s", i, ops[i], ops[i].Content)
		}
	}
	set, err := g.reactionSet(ctx, relRoom, carols, alicePup)
	if err != nil || len(set) != 2 || set[0].Event != "$sent1" {
		t.Fatalf("set: %+v %v", set, err)
	}
	if q := queued(t, h); len(q) != 2 || !strings.Contains(q[0], `>👍</reaction><reaction xmlns="urn:xmpp:reactions:0">🎉</reaction>`) {
		t.Fatalf("reflection: %q", q)
	}

	react("x2", "🎉")
	ops = h.Sent.Ops()
	if len(ops) != 3 || ops[2].Kind != intent.OpRedaction || ops[2].Redacts != "$sent1" || ops[2].Sender != alicePup {
		t.Fatalf("removal: %+v", ops)
	}
	react("x3")
	ops = h.Sent.Ops()
	if len(ops) != 4 || ops[3].Redacts != "$sent2" {
		t.Fatalf("removing all: %+v", ops)
	}
	if set, _ := g.reactionSet(ctx, relRoom, carols, alicePup); len(set) != 0 {
		t.Fatalf("set after removing all: %+v", set)
	}
}

// TestReplyToMatrix: Alice's reply to Carol's message reaches Matrix with
// m.in_reply_to and without the XMPP quote; the reflection keeps it.
func TestReplyToMatrix(t *testing.T) {
	ctx := context.Background()
	m, g, h := relGateway(t)
	carols := h.HS.PutEvent(fakehs.Event{Room: relRoom, Sender: "@carol:localhost", Type: matrix.EventMessage,
		Content: json.RawMessage(`{"msgtype":"m.text","body":"question?"}`)})
	text := "> Carol: question?\nanswer"
	ext := parseExt(innerOf(`<message><reply xmlns='urn:xmpp:reply:0' to='room@matrix.test/Carol' id='` + string(carols) +
		`'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='19'/></fallback></message>`))
	g.reply(ctx, aliceSays(t, g, "m1", ""), ext, text)
	op := lastOp(t, h)
	var c matrix.MessageContent
	if err := json.Unmarshal(op.Content, &c); err != nil {
		t.Fatal(err)
	}
	if c.Body != "answer" || c.RelatesTo == nil || c.RelatesTo.InReplyTo == nil || c.RelatesTo.InReplyTo.EventID != carols ||
		op.Link == nil || op.Link.RemoteID != msgRemoteID(relRoom, "alice@x.org", "m1") {
		t.Fatalf("reply op: %+v %s", op, op.Content)
	}
	sent(t, m, h, op, "$re")
	q := queued(t, h)
	if len(q) != 2 || !strings.Contains(q[0], "&gt; Carol: question?\nanswer") ||
		!strings.Contains(q[0], `<reply xmlns="urn:xmpp:reply:0" to="room@matrix.test/Carol" id="`+string(carols)+`">`) ||
		!strings.Contains(q[0], `start="0" end="19">`) {
		t.Fatalf("reflection: %q", q)
	}
}

// TestMatrixRelationsToXMPP: Carol's edit is a correction of her
// message's id; her reactions (and the redaction of one) send her whole
// set; her redaction of her own message is a retraction, of Alice's a
// moderation from the room; her reply quotes the author by nick.
func TestMatrixRelationsToXMPP(t *testing.T) {
	ctx := context.Background()
	m, g, h := relGateway(t)
	portal := &bridges.Portal{Key: bridges.PortalKey{ID: portalPrefix + string(relRoom)}, Room: relRoom}
	carol := matrix.UserID("@carol:localhost")
	orig := h.HS.PutEvent(fakehs.Event{Room: relRoom, Sender: carol, Type: matrix.EventMessage,
		Content: json.RawMessage(`{"msgtype":"m.text","body":"first line\nsecond"}`)})
	last := func() string {
		t.Helper()
		q := queued(t, h)
		if len(q) < 2 {
			t.Fatalf("queued: %q", q)
		}
		if !strings.Contains(q[len(q)-2]+q[len(q)-1], `to="alice@x.org/r"`) || !strings.Contains(q[len(q)-2]+q[len(q)-1], `to="bob@x.org/r"`) {
			t.Fatalf("not sent to both occupants: %q", q[len(q)-2:])
		}
		return q[len(q)-1]
	}
	ev := func(id matrix.EventID) *matrix.Event { return &matrix.Event{ID: id, Sender: carol, RoomID: relRoom} }

	if err := m.HandleMatrixEdit(ctx, &bridges.Edit{Portal: portal, Event: ev("$edit"), Target: orig,
		NewContent: matrix.MessageContent{MsgType: matrix.MsgText, Body: "fixed"}}); err != nil {
		t.Fatal(err)
	}
	if s := last(); !strings.Contains(s, `from="room@matrix.test/Carol"`) || !strings.Contains(s, `<replace xmlns="urn:xmpp:message-correct:0" id="`+string(orig)+`">`) ||
		!strings.Contains(s, "<body>fixed</body>") {
		t.Fatalf("edit: %s", s)
	}

	for _, r := range []struct {
		id  matrix.EventID
		key string
	}{{"$rx1", "👍"}, {"$rx2", "🎉"}} {
		if err := m.HandleMatrixReaction(ctx, &bridges.Reaction{Portal: portal, Event: ev(r.id), Target: orig, Key: r.key}); err != nil {
			t.Fatal(err)
		}
	}
	if s := last(); !strings.Contains(s, `<reactions xmlns="urn:xmpp:reactions:0" id="`+string(orig)+`">`) ||
		!strings.Contains(s, `>👍</reaction><reaction xmlns="urn:xmpp:reactions:0">🎉</reaction></reactions>`) {
		t.Fatalf("reactions: %s", s)
	}
	// The core resolves the redacted reaction through its link.
	l, err := h.Links().ByEvent(ctx, "$rx1")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleMatrixRedaction(ctx, &bridges.Redaction{Portal: portal, Event: ev("$unrx"), Target: "$rx1", TargetRemote: &l}); err != nil {
		t.Fatal(err)
	}
	if s := last(); !strings.Contains(s, `<reactions xmlns="urn:xmpp:reactions:0" id="`+string(orig)+`"><reaction xmlns="urn:xmpp:reactions:0">🎉</reaction></reactions>`) {
		t.Fatalf("reactions after a redaction: %s", s)
	}

	if err := m.HandleMatrixMessage(ctx, &bridges.Message{Portal: portal, Event: ev("$reply"), ReplyTo: orig,
		Content: matrix.MessageContent{MsgType: matrix.MsgText, Body: "> <@carol:localhost> first line\n\nme too"}}); err != nil {
		t.Fatal(err)
	}
	s := last()
	if strings.Contains(s, "@carol") || !strings.Contains(s, "<body>&gt; Carol: first line\nme too</body>") ||
		!strings.Contains(s, `<reply xmlns="urn:xmpp:reply:0" to="room@matrix.test/Carol" id="`+string(orig)+`">`) ||
		!strings.Contains(s, `start="0" end="20">`) {
		t.Fatalf("reply: %s", s)
	}

	dm := &bridges.Portal{Key: bridges.PortalKey{ID: dmPrefix + "x@y", Receiver: carol}, Room: "!dm:localhost"}
	if err := m.HandleMatrixEdit(ctx, &bridges.Edit{Portal: dm, Event: ev("$dmedit"), Target: "$x",
		NewContent: matrix.MessageContent{MsgType: matrix.MsgText, Body: "x"}}); err != nil {
		t.Fatalf("an edit in a direct chat: %v", err)
	}
	if q := queued(t, h); !strings.Contains(q[len(q)-1], `type="chat"`) || !strings.Contains(q[len(q)-1], `to="x@y"`) ||
		!strings.Contains(q[len(q)-1], `<replace xmlns="urn:xmpp:message-correct:0" id="$x">`) {
		t.Fatalf("an edit in a direct chat: %s", q[len(q)-1])
	}

	h.HS.PutEvent(fakehs.Event{ID: "$gone", Room: relRoom, Sender: carol, Type: matrix.EventMessage, Content: json.RawMessage(`{}`)})
	if err := m.HandleMatrixRedaction(ctx, &bridges.Redaction{Portal: portal, Event: ev("$red"), Target: "$gone"}); err != nil {
		t.Fatal(err)
	}
	if s := last(); !strings.Contains(s, `from="room@matrix.test/Carol"`) || !strings.Contains(s, `<retract xmlns="urn:xmpp:message-retract:1" id="$gone">`) ||
		strings.Contains(s, "moderated") {
		t.Fatalf("retraction: %s", s)
	}

	g.say(ctx, jid.MustParse(aliceFull), jid.MustParse(relMUC), "m1", "", inbound{text: "spam"})
	sent(t, m, h, lastOp(t, h), "$spam")
	l, err = h.Links().ByEvent(ctx, "$spam")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.HandleMatrixRedaction(ctx, &bridges.Redaction{Portal: portal, Event: ev("$mod"), Target: "$spam", TargetRemote: &l, Reason: "no"}); err != nil {
		t.Fatal(err)
	}
	if s := last(); !strings.Contains(s, `from="room@matrix.test"`) ||
		!strings.Contains(s, `<retract xmlns="urn:xmpp:message-retract:1" id="$spam"><moderated xmlns="urn:xmpp:message-moderate:1" by="room@matrix.test/Carol">`) ||
		!strings.Contains(s, `">no</reason>`) {
		t.Fatalf("moderation: %s", s)
	}
}

// TestRelateThroughMessage: stanzas reach the relation handlers through
// the component's Message entry: a correction without any id edits the
// message it names (its ops get a made-up id, so two such stanzas do not
// collide); a moderation IQ through the IQ routes is refused without the
// power to redact others' events and done with it; a plain message is
// left to the plain path.
func TestRelateThroughMessage(t *testing.T) {
	ctx := context.Background()
	m, g, h := relGateway(t)
	g.say(ctx, jid.MustParse(aliceFull), jid.MustParse(relMUC), "m1", "", inbound{text: "helo"})
	sent(t, m, h, lastOp(t, h), "$orig")
	from, to := jid.MustParse(aliceFull), jid.MustParse(relMUC)
	correction := `<message from='` + aliceFull + `' to='` + relMUC + `' type='groupchat'><body>%s</body>` +
		`<replace xmlns='urn:xmpp:message-correct:0' id='m1'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>`
	for i, text := range []string{"hello", "hello!"} {
		g.Message(parse(t, []byte(fmt.Sprintf(correction, text))), from, to)
		poll.Until(t, "the correction's op", 5*time.Second, func() bool {
			return strings.Contains(string(lastOp(t, h).Content), `"body":"* `+text+`"`)
		})
		if op := lastOp(t, h); !strings.Contains(string(op.Content), `"event_id":"$orig"`) || !strings.HasPrefix(op.Key, relKeyPrefix) {
			t.Fatalf("correction %d: %+v %s", i, op, op.Content)
		}
	}

	// Alice's puppet has no power to redact others' events: forbidden.
	// (IQs are taken only at the JIDs of room aliases and IDs.)
	muc := `#r\3alocalhost@matrix.test`
	g.mu.Lock()
	g.rooms[relRoom].occupants["alice@x.org"].RoomJID = muc
	g.mu.Unlock()
	to = jid.MustParse(muc)
	empty := ""
	h.HS.PutEvent(fakehs.Event{Room: relRoom, Sender: "@carol:localhost", Type: matrix.EventPowerLevels, StateKey: &empty,
		Content: json.RawMessage(`{"users":{"@carol:localhost":100},"redact":50}`)})
	carols := h.HS.PutEvent(fakehs.Event{Room: relRoom, Sender: "@carol:localhost", Type: matrix.EventMessage,
		Content: json.RawMessage(`{"msgtype":"m.text","body":"spam"}`)})
	iqRaw := []byte(`<iq from='` + aliceFull + `' to='` + muc + `' type='set' id='mod1'><moderate xmlns='urn:xmpp:message-moderate:1' id='` +
		string(carols) + `'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate></iq>`)
	iq := parse(t, iqRaw)
	if !g.IQ(iq, from, to) {
		t.Fatal("the moderation IQ was not taken")
	}
	poll.Until(t, "the moderation's answer", 5*time.Second, func() bool {
		q := queued(t, h)
		return strings.Contains(q[len(q)-1], `id="mod1"`)
	})
	if q := queued(t, h); !strings.Contains(q[len(q)-1], "forbidden") {
		t.Fatalf("moderation without the power: %s", q[len(q)-1])
	}
	// With the power (the new power levels reach the bridge as an event):
	// redacted with the reason, answered, and the room tells everyone.
	pl := json.RawMessage(`{"users":{"@carol:localhost":100,"` + string(alicePup) + `":50},"redact":50}`)
	h.HS.PutEvent(fakehs.Event{Room: relRoom, Sender: "@carol:localhost", Type: matrix.EventPowerLevels, StateKey: &empty, Content: pl})
	if err := h.Matrix().ObserveEvent(ctx, &matrix.Event{RoomID: relRoom, Type: matrix.EventPowerLevels, StateKey: &empty, Content: pl}); err != nil {
		t.Fatal(err)
	}
	iq = parse(t, []byte(strings.ReplaceAll(string(iqRaw), "mod1", "mod2")))
	if !g.IQ(iq, from, to) {
		t.Fatal("the second moderation IQ was not taken")
	}
	poll.Until(t, "the second moderation's answer", 5*time.Second, func() bool {
		return strings.Contains(strings.Join(queued(t, h), ""), `id="mod2" type="result"`)
	})
	if op := lastOp(t, h); op.Kind != intent.OpRedaction || op.Redacts != carols || op.Reason != "spam" || op.Sender != alicePup {
		t.Fatalf("moderation op: %+v", op)
	}
	poll.Until(t, "the moderation told to alice", 5*time.Second, func() bool {
		return strings.Contains(strings.Join(queued(t, h), ""), `<message from="`+muc+`" to="`+aliceFull+`"`)
	})
	for _, st := range queued(t, h) {
		if strings.HasPrefix(st, `<message from="`+muc+`" to="`+aliceFull+`"`) &&
			(!strings.Contains(st, `by="`+muc+`/Alice"`) || !strings.Contains(st, `id="`+string(carols)+`"`)) {
			t.Fatalf("moderation to the room: %s", st)
		}
	}

	if g.relate(parse(t, []byte(`<message type='groupchat'><body>plain</body></message>`)), from, to) {
		t.Fatal("a plain message was taken as related")
	}
}
