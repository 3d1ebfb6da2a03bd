package core

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// fakeMgmtActions is the homeserver side of management rooms: rooms with
// their members, the rooms created and the notices queued.
type fakeMgmtActions struct {
	mu       sync.Mutex
	members  map[matrix.RoomID][]matrix.UserID
	lookups  int
	created  []string // "<user> <name>"
	notices  map[matrix.RoomID][]string
	failRoom error
}

func (a *fakeMgmtActions) JoinedMembers(_ context.Context, room matrix.RoomID) (map[matrix.UserID]intent.Member, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.lookups++
	out := map[matrix.UserID]intent.Member{}
	for _, u := range a.members[room] {
		out[u] = intent.Member{}
	}
	return out, nil
}

func (a *fakeMgmtActions) CreateDM(_ context.Context, user matrix.UserID, name string) (matrix.RoomID, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.failRoom != nil {
		return "", a.failRoom
	}
	a.created = append(a.created, string(user)+" "+name)
	return matrix.RoomID("!new" + string(rune('0'+len(a.created))) + ":hs"), nil
}

func (a *fakeMgmtActions) QueueNotice(_ context.Context, room matrix.RoomID, text string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.notices == nil {
		a.notices = map[matrix.RoomID][]string{}
	}
	a.notices[room] = append(a.notices[room], text)
	return nil
}

// newTestMgmtRooms returns management rooms kept in a new SQLite store.
func newTestMgmtRooms(t *testing.T, name string) (*mgmtRooms, *store.Store, *fakeMgmtActions) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "m.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	act := &fakeMgmtActions{members: map[matrix.RoomID][]matrix.UserID{
		"!dm:hs":    {"@u:hs", "@bot:hs"},
		"!group:hs": {"@u:hs", "@bot:hs", "@v:hs"},
		"!pair:hs":  {"@u:hs", "@v:hs"},
	}}
	return newMgmtRooms(st, act, "@bot:hs", name, log), st, act
}

// TestManagementRoomCreatedOnceAndReused: a user without a management room
// gets one direct chat named after the bridge, reused for every notice
// (whatever module sends it).
func TestManagementRoomCreatedOnceAndReused(t *testing.T) {
	for i, tc := range []struct{ name, want string }{
		0: {"", "Causeway bridge"},
		1: {"Bridge bot", "Bridge bot"},
	} {
		rooms, _, act := newTestMgmtRooms(t, tc.name)
		ctx := t.Context()
		for _, text := range []string{"one", "two"} {
			if err := rooms.tell(ctx, "@u:hs", text); err != nil {
				t.Fatalf("%d: %v", i, err)
			}
		}
		if len(act.created) != 1 || act.created[0] != "@u:hs "+tc.want {
			t.Fatalf("%d: rooms created %q, want one named %q", i, act.created, tc.want)
		}
		if got := act.notices["!new1:hs"]; len(got) != 2 || got[0] != "one" || got[1] != "two" {
			t.Errorf("%d: notices %q", i, act.notices)
		}
	}
}

// TestManagementRoomRememberedFromCommands: a command run in a direct chat
// between the user and the bot makes it their management room; a group
// room or a room without the bot does not; the same room is not looked up
// again.
func TestManagementRoomRememberedFromCommands(t *testing.T) {
	rooms, _, act := newTestMgmtRooms(t, "")
	ctx := t.Context()
	rooms.remember(ctx, "@u:hs", "!group:hs")
	rooms.remember(ctx, "@u:hs", "!pair:hs")
	rooms.remember(ctx, "@u:hs", "!dm:hs")
	rooms.remember(ctx, "@u:hs", "!dm:hs")
	if act.lookups != 3 {
		t.Errorf("members looked up %d times, want 3 (not again for the room already remembered)", act.lookups)
	}
	if err := rooms.tell(ctx, "@u:hs", "hello"); err != nil {
		t.Fatal(err)
	}
	if len(act.created) != 0 || len(act.notices["!dm:hs"]) != 1 {
		t.Fatalf("created %q, notices %q: want the notice in !dm:hs", act.created, act.notices)
	}
	err := errors.New("homeserver down")
	act.failRoom = err
	if got := rooms.tell(ctx, "@v:hs", "hi"); !errors.Is(got, err) {
		t.Errorf("tell without a room, creation failing: %v", got)
	}
}

// TestManagementRoomMigratesIRCAdminRooms: the IRC module's admin rooms
// (irc KV "adminroom:<user>") become the core's management rooms of users
// who have none, and are deleted; a user's core room is kept.
func TestManagementRoomMigratesIRCAdminRooms(t *testing.T) {
	rooms, st, act := newTestMgmtRooms(t, "")
	ctx := t.Context()
	put := func(module, key, value string) {
		t.Helper()
		if err := st.PutKV(ctx, module, key, []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	put("irc", "adminroom:@old:hs", "!ircadmin:hs")
	put("irc", "adminroom:@both:hs", "!stale:hs")
	put("core", "mgmtroom:@both:hs", "!current:hs")
	put("irc", "other:@old:hs", "kept")
	for range 2 { // a second start finds nothing to do
		if err := rooms.migrate(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, user := range []matrix.UserID{"@old:hs", "@both:hs"} {
		if err := rooms.tell(ctx, user, "hi"); err != nil {
			t.Fatal(err)
		}
	}
	if len(act.created) != 0 || len(act.notices["!ircadmin:hs"]) != 1 || len(act.notices["!current:hs"]) != 1 {
		t.Fatalf("created %q, notices %q: want the IRC admin room adopted, the core's kept", act.created, act.notices)
	}
	if left, err := st.KVWithPrefix(ctx, "irc", "adminroom:"); err != nil || len(left) != 0 {
		t.Errorf("IRC admin room keys left: %v %v", left, err)
	}
	if v, err := st.GetKV(ctx, "irc", "other:@old:hs"); err != nil || string(v) != "kept" {
		t.Errorf("another IRC key: %q %v", v, err)
	}
}

// TestRouterRemembersManagementRoom: running a command in a direct chat
// with the bot makes it the sender's management room, where a module's
// TellUser then goes.
func TestRouterRemembersManagementRoom(t *testing.T) {
	rooms, _, act := newTestMgmtRooms(t, "")
	a := &fakeModule{id: "a", cmds: []bridges.Command{echoCommand("a", "hello", false)}}
	r, err := newRouter(slog.New(slog.NewTextHandler(io.Discard, nil)), "@bot:hs", nil, []bridges.Module{a}, fakePortals{}, &fakeActions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.rooms = rooms
	ctx := t.Context()
	if err := r.HandleEvent(ctx, ev("$1", matrix.EventMessage, "!dm:hs", "@u:hs", nil, map[string]any{"msgtype": "m.text", "body": "!hello"})); err != nil {
		t.Fatal(err)
	}
	if err := rooms.tell(ctx, "@u:hs", "from a module"); err != nil {
		t.Fatal(err)
	}
	if len(act.created) != 0 || len(act.notices["!dm:hs"]) != 1 {
		t.Fatalf("created %q, notices %q: want the notice in !dm:hs", act.created, act.notices)
	}
}
