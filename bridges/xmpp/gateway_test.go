package xmpp

import (
	"context"
	"strings"
	"sync"
	"testing"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

// testGateway is a module with its gateway on a fake host, with a queue
// but no connection: what the gateway sends stays in the queue's KV.
func testGateway(t testing.TB) (*Module, *gateway, *bridgetest.Host) {
	t.Helper()
	h := bridgetest.NewHost(t, bridgetest.HostOptions{Module: ID, ServerName: "localhost"})
	m := New()
	m.domain = jid.MustParse("matrix.test")
	var err error
	if m.users, err = puppet.NewUsers(m.cfg.UserTemplate, "localhost"); err != nil {
		t.Fatal(err)
	}
	m.host = h
	q, err := component.OpenQueue(context.Background(), h.KV(), 0)
	if err != nil {
		t.Fatal(err)
	}
	m.queue = q
	testQueues.Store(h, q)
	t.Cleanup(func() { testQueues.Delete(h) })
	m.conn = component.New(component.Options{Domain: m.domain, Queue: q})
	if m.gw, err = newGateway(m, h); err != nil {
		t.Fatal(err)
	}
	return m, m.gw, h
}

// testQueues maps the hosts of testGateway to their outbound queues.
var testQueues sync.Map // *bridgetest.Host → *component.Queue

// queued returns the stanzas in the outbound queue, in order: all of
// them, volatile ones too, for a host of testGateway, else the stored
// ones.
func queued(t *testing.T, h *bridgetest.Host) []string {
	t.Helper()
	if q, ok := testQueues.Load(h); ok {
		var out []string
		for _, b := range q.(*component.Queue).Pending() {
			out = append(out, string(b))
		}
		return out
	}
	entries, err := h.KV().WithPrefix(context.Background(), "outq/")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, string(e.Value))
	}
	return out
}

// TestJoinHoldsMatrixMessages: a Matrix message that arrives while an
// XMPP user's join is under way is sent to it after its self-presence
// and the subject, not lost and not before.
func TestJoinHoldsMatrixMessages(t *testing.T) {
	ctx := context.Background()
	_, g, h := testGateway(t)
	room := matrix.RoomID("!r:localhost")
	r := g.room(room)
	r.loaded = true
	r.members = map[matrix.UserID]*member{"@carol:localhost": {nick: "Carol", level: 100}}
	o := &occupant{RoomJID: "room@matrix.test", Nick: "Alice", Real: "alice@x.org",
		Resources: newResourceSet("alice@x.org/r"), Puppet: "@_xmpp_alice=40x.org:localhost", joining: true}
	r.occupants[o.Real] = o

	g.fromMatrix(ctx, room, "@carol:localhost", "$e1", "said during the join", nil)
	if q := queued(t, h); len(q) != 0 {
		t.Fatalf("sent before the join: %q", q)
	}
	g.mu.Lock()
	g.sendJoin(ctx, r, o, "alice@x.org/r", "the topic", true, nil, nil)
	g.mu.Unlock()
	q := queued(t, h)
	if len(q) != 4 {
		t.Fatalf("queued %d stanzas, want Carol's presence, self, subject, message: %q", len(q), q)
	}
	for i, want := range []string{`from="room@matrix.test/Carol"`, `code="110"`, `<subject>the topic</subject>`, "said during the join"} {
		if !strings.Contains(q[i], want) {
			t.Errorf("stanza %d lacks %s: %s", i, want, q[i])
		}
	}
	if !strings.Contains(q[3], `<stanza-id xmlns="urn:xmpp:sid:0" id="$e1" by="room@matrix.test">`) {
		t.Errorf("message without its stanza-id: %s", q[3])
	}
}

// TestSayAndReflect: an occupant's groupchat message goes to the outbox
// from its puppet with its key and link; once delivered, it is reflected
// to every occupant (the sender too) with the event ID as stanza-id;
// a non-occupant's message is refused.
func TestSayAndReflect(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	room := matrix.RoomID("!r:localhost")
	r := g.room(room)
	r.loaded = true
	for _, o := range []*occupant{
		{RoomJID: "room@matrix.test", Nick: "Alice", Real: "alice@x.org", Resources: newResourceSet("alice@x.org/r"), Puppet: "@_xmpp_alice=40x.org:localhost"},
		{RoomJID: "room@matrix.test", Nick: "Bob", Real: "bob@x.org", Resources: newResourceSet("bob@x.org/r"), Puppet: "@_xmpp_bob=40x.org:localhost"},
	} {
		r.occupants[o.Real] = o
	}
	g.say(ctx, jid.MustParse("alice@x.org/r"), jid.MustParse("room@matrix.test"), "m1", "o1", inbound{text: "/me waves"})
	ops := h.Sent.Ops()
	if len(ops) != 1 {
		t.Fatalf("ops: %+v", ops)
	}
	op := ops[0]
	if op.Sender != "@_xmpp_alice=40x.org:localhost" || op.Room != room || op.Link == nil || op.Link.RemoteID != msgRemoteID(room, "alice@x.org", "o1") ||
		!strings.Contains(string(op.Content), `"msgtype":"m.emote"`) || !strings.Contains(string(op.Content), `"body":"waves"`) {
		t.Fatalf("op: %+v %s", op, op.Content)
	}
	m.OnOutboxSent(ctx, op, "$ev")
	if meta, ok := g.sentMetaOf(ctx, "$ev"); !ok || meta != (sentMeta{Nick: "Alice", Real: "alice@x.org", ID: "m1", Origin: "o1"}) {
		t.Errorf("what the archive keeps of the message: %+v %v", meta, ok)
	}
	q := queued(t, h)
	if len(q) != 2 {
		t.Fatalf("reflections: %q", q)
	}
	for _, s := range q {
		for _, want := range []string{`from="room@matrix.test/Alice"`, `id="m1"`, `/me waves`, `<origin-id xmlns="urn:xmpp:sid:0" id="o1">`,
			`<stanza-id xmlns="urn:xmpp:sid:0" id="$ev" by="room@matrix.test">`} {
			if !strings.Contains(s, want) {
				t.Errorf("reflection lacks %s: %s", want, s)
			}
		}
	}
	if !strings.Contains(q[0]+q[1], `to="alice@x.org/r"`) || !strings.Contains(q[0]+q[1], `to="bob@x.org/r"`) {
		t.Errorf("not reflected to both: %q", q)
	}
	m.OnOutboxSent(ctx, intent.Op{Kind: intent.OpMessage, Room: room, Key: "irc/other"}, "$x")
	if len(queued(t, h)) != 2 {
		t.Error("an op that is not the gateway's was reflected")
	}

	g.say(ctx, jid.MustParse("mallory@x.org/r"), jid.MustParse("room@matrix.test"), "m2", "", inbound{text: "hi"})
	q = queued(t, h)
	if len(q) != 3 || !strings.Contains(q[2], "not-acceptable") || !strings.Contains(q[2], `to="mallory@x.org/r"`) {
		t.Fatalf("a non-occupant's message: %q", q)
	}
	if len(h.Sent.Ops()) != 1 {
		t.Fatal("a non-occupant's message reached Matrix")
	}
}
