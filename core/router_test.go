package core

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

type fakeModule struct {
	id     string
	mu     sync.Mutex
	events []string
	edits  []matrix.EventID
	users  []matrix.UserID
	cmds   []bridges.Command
	typing []*bridges.Typing
}

func (f *fakeModule) Info() bridges.Info                           { return bridges.Info{ID: f.id} }
func (f *fakeModule) Configure(bridges.Env, bridges.Decoder) error { return nil }
func (f *fakeModule) Start(context.Context, bridges.Host) error    { return nil }
func (f *fakeModule) Stop(context.Context) error                   { return nil }
func (f *fakeModule) Commands() []bridges.Command                  { return f.cmds }
func (f *fakeModule) HandleMatrixTyping(_ context.Context, t *bridges.Typing) {
	f.typing = append(f.typing, t)
}
func (f *fakeModule) Namespaces() bridges.Namespaces {
	return bridges.Namespaces{UserRegexes: []string{`^@` + f.id + `_.+:hs$`}, AliasRegexes: []string{`^#` + f.id + `_.+:hs$`}}
}
func (f *fakeModule) HandleMatrixEvent(_ context.Context, e *matrix.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, string(e.ID))
	return nil
}
func (f *fakeModule) HandleMatrixEdit(_ context.Context, e *bridges.Edit) error {
	f.edits = append(f.edits, e.Target)
	return nil
}
func (f *fakeModule) QueryUser(_ context.Context, id matrix.UserID) (bool, error) {
	f.users = append(f.users, id)
	return true, nil
}

type fakePortals map[string]string

func (p fakePortals) PortalByRoom(_ context.Context, room string) (store.Portal, error) {
	if m, ok := p[room]; ok {
		return store.Portal{Module: m, RoomID: room}, nil
	}
	return store.Portal{}, store.ErrNotFound
}

func (p fakePortals) PutPortal(_ context.Context, sp store.Portal) error {
	for room, m := range p {
		if m == sp.Module && room != sp.RoomID {
			delete(p, room)
		}
	}
	p[sp.RoomID] = sp.Module
	return nil
}

type fakeActions struct {
	joined  []matrix.RoomID
	notices []string
}

func (a *fakeActions) JoinAsBot(_ context.Context, r matrix.RoomID) error {
	a.joined = append(a.joined, r)
	return nil
}
func (a *fakeActions) Notice(_ context.Context, _ matrix.RoomID, t string) error {
	a.notices = append(a.notices, t)
	return nil
}

func ev(id, typ, room, sender string, stateKey *string, content any) *matrix.Event {
	raw, _ := json.Marshal(content)
	return &matrix.Event{ID: matrix.EventID(id), Type: typ, RoomID: matrix.RoomID(room), Sender: matrix.UserID(sender), StateKey: stateKey, Content: raw}
}

func sk(s string) *string { return &s }

func newTestRouter(t *testing.T) (*Router, *fakeModule, *fakeModule, *fakeActions) {
	t.Helper()
	a := &fakeModule{id: "a"}
	a.cmds = []bridges.Command{
		{Name: "hello", Help: "greets", Run: func(_ context.Context, c *bridges.CommandContext) (string, error) {
			return "hi " + strings.Join(c.Args, ","), nil
		}},
		{Name: "nuke", Help: "admins only", AdminOnly: true, Run: func(context.Context, *bridges.CommandContext) (string, error) {
			return "boom", nil
		}},
	}
	b := &fakeModule{id: "b"}
	acts := &fakeActions{}
	r, err := newRouter(slog.New(slog.NewTextHandler(io.Discard, nil)), "@bot:hs", []string{"@admin:hs"},
		[]bridges.Module{a, b}, fakePortals{"!pa:hs": "a", "!pb:hs": "b"}, acts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r, a, b, acts
}

func TestRouterRoutesByPortalAndNamespace(t *testing.T) {
	r, a, b, acts := newTestRouter(t)
	ctx := context.Background()
	msg := map[string]any{"msgtype": "m.text", "body": "hi"}
	steps := []*matrix.Event{
		ev("$1", matrix.EventMessage, "!pa:hs", "@u:hs", nil, msg),
		ev("$2", matrix.EventMessage, "!pb:hs", "@u:hs", nil, msg),
		ev("$3", matrix.EventMessage, "!pa:hs", "@a_puppet:hs", nil, msg),                                         // echo: dropped
		ev("$4", matrix.EventMessage, "!pa:hs", "@bot:hs", nil, msg),                                              // echo: dropped
		ev("$5", matrix.EventMember, "!other:hs", "@u:hs", sk("@b_x:hs"), map[string]any{"membership": "invite"}), // invite of b's puppet
		ev("$6", matrix.EventMessage, "!other:hs", "@u:hs", nil, msg),                                             // unowned, not a command
		ev("$7", matrix.EventMessage, "!pa:hs", "@u:hs", nil, map[string]any{"msgtype": "m.text", "body": "* x",
			"m.new_content": map[string]any{"msgtype": "m.text", "body": "x"},
			"m.relates_to":  map[string]any{"rel_type": "m.replace", "event_id": "$1"}}),
		ev("$8", matrix.EventMessage, "!pb:hs", "@u:hs", nil, map[string]any{"msgtype": "m.text", "body": "* x",
			"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": "$2"}}), // b has no EditHandler... it does (fakeModule); still routed
	}
	for _, e := range steps {
		if err := r.HandleEvent(ctx, e); err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
	}
	if got := strings.Join(a.events, ","); got != "$1" {
		t.Errorf("module a got %q, want $1 (echoes dropped)", got)
	}
	if got := strings.Join(b.events, ","); got != "$2,$5" {
		t.Errorf("module b got %q, want $2,$5", got)
	}
	if len(a.edits) != 1 || a.edits[0] != "$1" || len(b.edits) != 1 {
		t.Errorf("edits a=%v b=%v", a.edits, b.edits)
	}
	if len(acts.notices) != 0 {
		t.Errorf("unexpected notices %v", acts.notices)
	}
}

func TestRouterBotInviteAndCommands(t *testing.T) {
	r, _, _, acts := newTestRouter(t)
	ctx := context.Background()
	must := func(e *matrix.Event) {
		t.Helper()
		if err := r.HandleEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	must(ev("$1", matrix.EventMember, "!dm:hs", "@u:hs", sk("@bot:hs"), map[string]any{"membership": "invite"}))
	if len(acts.joined) != 1 || acts.joined[0] != "!dm:hs" {
		t.Fatalf("bot did not join on invite: %v", acts.joined)
	}
	text := func(s string) map[string]any { return map[string]any{"msgtype": "m.text", "body": s} }
	must(ev("$2", matrix.EventMessage, "!dm:hs", "@u:hs", nil, text("!help")))
	must(ev("$3", matrix.EventMessage, "!dm:hs", "@u:hs", nil, text("!hello a b")))
	must(ev("$4", matrix.EventMessage, "!dm:hs", "@u:hs", nil, text("!nuke")))
	must(ev("$5", matrix.EventMessage, "!dm:hs", "@admin:hs", nil, text("!nuke")))
	must(ev("$6", matrix.EventMessage, "!dm:hs", "@u:hs", nil, text("!nope")))
	n := acts.notices
	if len(n) != 6 {
		t.Fatalf("notices: %q", n)
	}
	if !strings.Contains(n[1], "!hello: greets") || strings.Contains(n[1], "!nuke") {
		t.Errorf("help for non-admin: %q", n[1])
	}
	if n[2] != "hi a,b" || !strings.Contains(n[3], "admins only") || n[4] != "boom" || !strings.Contains(n[5], "Unknown command !nope") {
		t.Errorf("command replies: %q", n[2:])
	}
}

func TestRouterQueriesAndEphemeral(t *testing.T) {
	r, a, b, _ := newTestRouter(t)
	ctx := context.Background()
	if ok, err := r.QueryUser(ctx, "@a_bob:hs"); !ok || err != nil || len(a.users) != 1 {
		t.Fatalf("QueryUser routed wrong: %v %v %v", ok, err, a.users)
	}
	if ok, _ := r.QueryUser(ctx, "@zzz:hs"); ok {
		t.Fatal("user outside every namespace must not exist")
	}
	if ok, _ := r.QueryAlias(ctx, "#a_room:hs"); ok {
		t.Fatal("module without AliasQuerier must answer not found")
	}
	r.HandleEphemeral(ctx, ev("", matrix.EventTyping, "!pb:hs", "", nil, map[string]any{"user_ids": []string{"@u:hs", "@b_x:hs"}}))
	if len(b.typing) != 1 || len(b.typing[0].UserIDs) != 1 || b.typing[0].UserIDs[0] != "@u:hs" {
		t.Fatalf("typing: %+v", b.typing)
	}
}

// TestRouterCommandNames: two modules may define the same command name;
// one module may not define a name twice, nor "help".
func TestRouterCommandNames(t *testing.T) {
	for i, tc := range []struct {
		a, b []bridges.Command
		err  string // "" when the router starts
	}{
		0: {a: []bridges.Command{{Name: "x"}}, b: []bridges.Command{{Name: "x"}}},
		1: {a: []bridges.Command{{Name: "x"}, {Name: "X"}}, err: "!x already defined"},
		2: {b: []bridges.Command{{Name: "help"}}, err: `invalid command name "help"`},
	} {
		a := &fakeModule{id: "a", cmds: tc.a}
		b := &fakeModule{id: "b", cmds: tc.b}
		_, err := newRouter(slog.New(slog.NewTextHandler(io.Discard, nil)), "@bot:hs", nil, []bridges.Module{a, b}, fakePortals{}, &fakeActions{}, nil)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%d: err = %v, want %q", i, err, tc.err)
		}
	}
}
