package kit_test

import (
	"testing"

	"github.com/causewaybridge/causeway/bridges/kit"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/matrix"
)

func TestSyncProfileOnlyChanges(t *testing.T) {
	h := bridgetest.NewHost(t, bridgetest.HostOptions{Module: "demo"})
	ctx := t.Context()
	room, puppet := matrix.RoomID("!r:example.org"), matrix.UserID("@demo_ann:example.org")
	steps := []struct {
		p       kit.Profile
		want    bool
		content string
	}{
		{kit.Profile{Displayname: "Ann"}, true, `{"displayname":"Ann"}`},
		{kit.Profile{Displayname: "Ann"}, false, ""},
		{kit.Profile{Displayname: "Ann", AvatarURL: "mxc://s/a"}, true, `{"avatar_url":"mxc://s/a"}`},
		{kit.Profile{}, false, ""},
		{kit.Profile{Displayname: "Anna", AvatarURL: "mxc://s/b"}, true, `{"avatar_url":"mxc://s/b","displayname":"Anna"}`},
		{kit.Profile{Displayname: "Anna", AvatarURL: "mxc://s/b"}, false, ""},
	}
	for i, s := range steps {
		h.Sent.Reset()
		got, err := kit.SyncProfile(ctx, h, room, puppet, s.p)
		if err != nil || got != s.want {
			t.Fatalf("step %d: sent %v, %v; want %v", i, got, err, s.want)
		}
		ops := h.Sent.Ops()
		if !s.want {
			if len(ops) != 0 {
				t.Fatalf("step %d: ops %+v", i, ops)
			}
			continue
		}
		if len(ops) != 1 || ops[0].Kind != intent.OpProfile || ops[0].Sender != puppet || ops[0].Room != room || string(ops[0].Content) != s.content {
			t.Fatalf("step %d: ops %+v, want one profile op %s", i, ops, s.content)
		}
	}
	// Another puppet has its own last values.
	if got, err := kit.SyncProfile(ctx, h, room, "@demo_bob:example.org", kit.Profile{Displayname: "Ann"}); err != nil || !got {
		t.Fatalf("other puppet: sent %v, %v", got, err)
	}
}
