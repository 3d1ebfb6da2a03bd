package core

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// typedModule takes messages, memberships, topics and redactions typed.
type typedModule struct {
	fakeModule
	messages    []*bridges.Message
	members     []*bridges.Membership
	topics      []*bridges.Topic
	redactions  []*bridges.Redaction
	rawMessages int
	moved       []string
}

func (f *typedModule) PortalMoved(_ context.Context, p *bridges.Portal, from matrix.RoomID) error {
	f.moved = append(f.moved, string(from)+"→"+string(p.Room)+" "+p.Key.ID)
	return nil
}

func (f *typedModule) HandleMatrixMessage(_ context.Context, m *bridges.Message) error {
	f.messages = append(f.messages, m)
	return nil
}
func (f *typedModule) HandleMatrixMembership(_ context.Context, m *bridges.Membership) error {
	f.members = append(f.members, m)
	return nil
}
func (f *typedModule) HandleMatrixTopic(_ context.Context, t *bridges.Topic) error {
	f.topics = append(f.topics, t)
	return nil
}
func (f *typedModule) HandleMatrixRedaction(_ context.Context, r *bridges.Redaction) error {
	f.redactions = append(f.redactions, r)
	return nil
}
func (f *typedModule) HandleMatrixEvent(ctx context.Context, e *matrix.Event) error {
	if e.Type == matrix.EventMessage {
		f.rawMessages++
	}
	return f.fakeModule.HandleMatrixEvent(ctx, e)
}

// keyedPortals are portals with keys and metadata.
type keyedPortals map[string]store.Portal

func (p keyedPortals) PortalByRoom(_ context.Context, room string) (store.Portal, error) {
	if sp, ok := p[room]; ok {
		return sp, nil
	}
	return store.Portal{}, store.ErrNotFound
}

func (p keyedPortals) PutPortal(_ context.Context, sp store.Portal) error {
	for room, old := range p {
		if old.Module == sp.Module && old.RemoteID == sp.RemoteID {
			delete(p, room)
		}
	}
	p[sp.RoomID] = sp
	return nil
}

// fakeLinks is a module's message links in memory.
type fakeLinks map[matrix.EventID]bridges.Link

func (l fakeLinks) Put(_ context.Context, link bridges.Link) error { l[link.Event] = link; return nil }
func (l fakeLinks) ByRemote(context.Context, bridges.MessageID) (bridges.Link, error) {
	return bridges.Link{}, bridges.ErrNotFound
}
func (l fakeLinks) ByEvent(_ context.Context, e matrix.EventID) (bridges.Link, error) {
	if link, ok := l[e]; ok {
		return link, nil
	}
	return bridges.Link{}, bridges.ErrNotFound
}

// TestTypedEvents: the router looks a portal up once and hands the module
// typed events: the portal with its key and metadata, the decoded
// content, the reply and redaction targets resolved to the module's remote
// messages, memberships and topics typed, puppets' invites outside any
// portal with no portal; in a direct-chat portal only its receiver acts.
func TestTypedEvents(t *testing.T) {
	m := &typedModule{fakeModule: fakeModule{id: "x"}}
	portals := keyedPortals{
		"!chan:hs": {Module: "x", RemoteID: "chan:#go", RoomID: "!chan:hs", Meta: json.RawMessage(`{"name":"#Go"}`)},
		"!dm:hs":   {Module: "x", RemoteID: bridges.PortalKey{ID: "dm:bob", Receiver: "@alice:hs"}.String(), RoomID: "!dm:hs"},
	}
	r, err := newRouter(slog.New(slog.NewTextHandler(io.Discard, nil)), "@bot:hs", nil, []bridges.Module{m}, portals, &fakeActions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	links := fakeLinks{"$orig": {Remote: bridges.MessageID{ID: "msg-1"}, Room: "!chan:hs", Event: "$orig"}}
	r.byID["x"].links = links
	ctx := t.Context()

	reply := map[string]any{"msgtype": "m.text", "body": "yes", "m.relates_to": map[string]any{"m.in_reply_to": map[string]string{"event_id": "$orig"}}}
	steps := []*matrix.Event{
		ev("$m1", matrix.EventMessage, "!chan:hs", "@alice:hs", nil, reply),
		ev("$m2", matrix.EventMessage, "!dm:hs", "@alice:hs", nil, map[string]string{"msgtype": "m.text", "body": "hi bob"}),
		ev("$m3", matrix.EventMessage, "!dm:hs", "@mallory:hs", nil, map[string]string{"msgtype": "m.text", "body": "as alice?"}),
		ev("$j1", matrix.EventMember, "!chan:hs", "@alice:hs", sk("@alice:hs"), map[string]string{"membership": "join"}),
		ev("$i1", matrix.EventMember, "!new:hs", "@alice:hs", sk("@x_bob:hs"), map[string]any{"membership": "invite", "is_direct": true}),
		ev("$t1", matrix.EventTopic, "!chan:hs", "@alice:hs", sk(""), map[string]string{"topic": "gophers"}),
		{ID: "$r1", Type: matrix.EventRedaction, RoomID: "!chan:hs", Sender: "@alice:hs", Redacts: "$orig", Content: json.RawMessage(`{}`)},
	}
	for _, e := range steps {
		if err := r.HandleEvent(ctx, e); err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
	}

	if len(m.messages) != 2 || m.rawMessages != 0 {
		t.Fatalf("typed messages %d (want 2: mallory's in alice's direct chat dropped), raw %d", len(m.messages), m.rawMessages)
	}
	first := m.messages[0]
	meta, err := bridges.PortalMeta[struct{ Name string }](first.Portal)
	if err != nil || meta.Name != "#Go" || first.Portal.Key.ID != "chan:#go" || first.Portal.Module != "x" {
		t.Errorf("portal %+v meta %+v %v", first.Portal, meta, err)
	}
	if first.Content.Body != "yes" || first.ReplyTo != "$orig" || first.ReplyToRemote == nil || first.ReplyToRemote.Remote.ID != "msg-1" {
		t.Errorf("reply: body %q to %q remote %+v", first.Content.Body, first.ReplyTo, first.ReplyToRemote)
	}
	if dm := m.messages[1]; dm.Portal.Key.Receiver != "@alice:hs" || dm.Portal.Key.ID != "dm:bob" || dm.ReplyToRemote != nil {
		t.Errorf("direct chat message: key %+v", dm.Portal.Key)
	}
	if len(m.members) != 2 || m.members[0].Portal == nil || m.members[0].Content.Membership != "join" ||
		m.members[1].Portal != nil || m.members[1].Target != "@x_bob:hs" || !m.members[1].Content.IsDirect {
		t.Errorf("memberships: %+v", m.members)
	}
	if len(m.topics) != 1 || m.topics[0].Topic != "gophers" {
		t.Errorf("topics: %+v", m.topics)
	}
	if len(m.redactions) != 1 || m.redactions[0].TargetRemote == nil || m.redactions[0].TargetRemote.Remote.ID != "msg-1" {
		t.Errorf("redactions: %+v", m.redactions)
	}
}

// TestKeyAndMessageIDRoundTrip: portal keys and message IDs read back as
// written.
func TestKeyAndMessageIDRoundTrip(t *testing.T) {
	for _, k := range []bridges.PortalKey{{ID: "chan:libera:#go"}, {ID: "dm:bob@example.org", Receiver: "@alice:hs"}} {
		if got := bridges.ParsePortalKey(k.String()); got != k {
			t.Errorf("key %+v read back as %+v", k, got)
		}
	}
	for _, id := range []bridges.MessageID{{ID: "abc"}, {ID: "abc", Part: 3}} {
		if got := bridges.ParseMessageID(id.String()); got != id {
			t.Errorf("message ID %+v read back as %+v", id, got)
		}
	}
}

// TestTombstoneMovesPortal: when a portal room is upgraded, the bot joins
// the replacement room, the portal moves there (events in the old room no
// longer reach the module, those in the new one do) and the module is
// told; a tombstone without a replacement changes nothing.
func TestTombstoneMovesPortal(t *testing.T) {
	m := &typedModule{fakeModule: fakeModule{id: "x"}}
	portals := keyedPortals{"!old:hs": {Module: "x", RemoteID: "chan:#go", RoomID: "!old:hs", Meta: json.RawMessage(`{"name":"#Go"}`)}}
	acts := &fakeActions{}
	r, err := newRouter(slog.New(slog.NewTextHandler(io.Discard, nil)), "@bot:hs", nil, []bridges.Module{m}, portals, acts, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, e := range []*matrix.Event{
		ev("$t0", matrix.EventTombstone, "!old:hs", "@admin:hs", sk(""), map[string]string{"body": "no replacement"}),
		ev("$t1", matrix.EventTombstone, "!old:hs", "@admin:hs", sk(""), map[string]string{"body": "upgraded", "replacement_room": "!new:hs"}),
		ev("$m1", matrix.EventMessage, "!old:hs", "@alice:hs", nil, map[string]string{"msgtype": "m.text", "body": "old room"}),
		ev("$m2", matrix.EventMessage, "!new:hs", "@alice:hs", nil, map[string]string{"msgtype": "m.text", "body": "new room"}),
	} {
		if err := r.HandleEvent(ctx, e); err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
	}
	if len(acts.joined) != 1 || acts.joined[0] != "!new:hs" {
		t.Errorf("bot joined %v, want the replacement room only", acts.joined)
	}
	if len(m.moved) != 1 || m.moved[0] != "!old:hs→!new:hs chan:#go" {
		t.Errorf("module told %v", m.moved)
	}
	if len(m.messages) != 1 || m.messages[0].Content.Body != "new room" || m.messages[0].Portal.Room != "!new:hs" {
		t.Fatalf("messages after the upgrade: %d, want only the new room's", len(m.messages))
	}
	if meta, _ := bridges.PortalMeta[struct{ Name string }](m.messages[0].Portal); meta.Name != "#Go" {
		t.Errorf("the moved portal lost its metadata: %+v", meta)
	}
}
