package irc

import (
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/bridges/irc/netstate"
	"github.com/causewaybridge/causeway/bridges/kit"
)

// TestPortalMovedFollowsTheUpgrade: after a room upgrade the channel's
// portal in memory is the replacement room (lookups by channel and by
// room), the old room is no portal any more. A DM portal has nothing in
// memory to move.
func TestPortalMovedFollowsTheUpgrade(t *testing.T) {
	m := newTestModule(t, "127.0.0.1:1")
	n := m.networks["test"]
	key := chanKey("test", "#chan").portal()
	old := &bridges.Portal{Key: key, Room: "!old"}
	if err := bridges.SetPortalMeta(old, portalMeta{Name: "#Chan"}); err != nil {
		t.Fatal(err)
	}
	n.addPortal("#chan", old.Room, old.Meta)

	moved := *old
	moved.Room = "!new"
	if err := m.PortalMoved(t.Context(), &moved, "!old"); err != nil {
		t.Fatal(err)
	}
	p := n.portal("#CHAN")
	if p == nil || p.room != "!new" || p.name != "#Chan" {
		t.Fatalf("portal of #chan after the move = %+v, want room !new named #Chan", p)
	}
	if f, ok := n.channelOfRoom("!new"); !ok || f != "#chan" {
		t.Errorf("channelOfRoom(!new) = %q, %v; want #chan", f, ok)
	}
	if f, ok := n.channelOfRoom("!old"); ok {
		t.Errorf("the old room still bridges %q", f)
	}

	dm := &bridges.Portal{Key: pmKey("test", "@u:localhost", "friend").portal(), Room: "!dm2"}
	if err := m.PortalMoved(t.Context(), dm, "!dm"); err != nil {
		t.Fatalf("moving a DM portal: %v", err)
	}
	if err := m.PortalMoved(t.Context(), &bridges.Portal{Key: bridges.PortalKey{ID: "chan:elsewhere:#x"}, Room: "!x"}, "!y"); err != nil {
		t.Fatalf("moving a portal of an unknown network: %v", err)
	}
}

// TestChannelAccess: a portal room's kit.Access follows the channel's
// modes: +i or +k make it invite only (whatever else is set), +s or +p
// keep it out of the directory, no such mode makes it public.
func TestChannelAccess(t *testing.T) {
	for modes, want := range map[string]kit.Access{
		"+nt": kit.Public, "+s": kit.Unpublished, "+p": kit.Unpublished,
		"+i": kit.InviteOnly, "+k": kit.InviteOnly, "+is": kit.InviteOnly,
	} {
		st := netstate.New(netstate.Options{})
		st.Join("#c", "op!o@h", "", "")
		var args []string
		if strings.Contains(modes, "k") {
			args = []string{"key"}
		}
		st.ChannelModes("#c", modes, args)
		info, _ := st.Channel("#c")
		if got := channelAccess(info.Modes); got != want {
			t.Errorf("channel %s (modes %s): access %s, want %s", modes, info.Modes, got, want)
		}
	}
}
