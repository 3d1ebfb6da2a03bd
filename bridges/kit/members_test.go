package kit

import (
	"context"
	"testing"

	"github.com/causewaybridge/causeway/matrix"
)

// TestPuppetRoomsLeaveCarriedOutAtOnce: a leave is recorded before it is
// queued, so an outbox that carries it out (and reports it) before the
// queueing call returns still frees the entry; a leave that could not be
// queued leaves no record behind; a failed leave keeps the puppet in.
func TestPuppetRoomsLeaveCarriedOutAtOnce(t *testing.T) {
	var p PuppetRooms
	p.Set("!r", "@irc_x", true)
	p.Set("!r", "@irc_x", false)
	if !p.LeaveDone("!r", "@irc_x") || p.Len() != 0 {
		t.Fatalf("the leave was carried out but %d entries are left", p.Len())
	}
	undo := p.Set("!r", "@irc_y", false)
	undo() // queueing failed
	if p.Len() != 0 || len(p.rooms) != 0 {
		t.Fatalf("a leave that was never queued left %d entries, %d puppets", p.Len(), len(p.rooms))
	}
	p.Set("!r", "@irc_z", true)
	p.Set("!r", "@irc_z", false)() // failed: back to in
	if in, known := p.Get("!r", "@irc_z"); !known || !in {
		t.Fatalf("after a failed leave: in=%v known=%v, want the puppet still in", in, known)
	}
}

// TestPuppetRoomsTwoLeavesAndRooms: an entry is forgotten only once every
// leave queued for it is carried out, and a puppet is gone only when it
// has no entry in any room.
func TestPuppetRoomsTwoLeavesAndRooms(t *testing.T) {
	var p PuppetRooms
	p.Set("!a", "@p", false)
	p.Set("!a", "@p", false)
	p.Set("!b", "@p", true)
	if p.LeaveDone("!a", "@p") {
		t.Fatal("gone after the first of two leaves")
	}
	if in, known := p.Get("!a", "@p"); in || !known {
		t.Fatal("forgot a puppet with a leave still queued")
	}
	if p.LeaveDone("!a", "@p") {
		t.Fatal("gone although still in !b")
	}
	if _, known := p.Get("!a", "@p"); known {
		t.Fatal("kept an entry whose leaves are all carried out")
	}
	p.Set("!b", "@p", false)
	if !p.LeaveDone("!b", "@p") {
		t.Fatal("not gone after leaving its last room")
	}
	if p.LeaveDone("!c", "@p") {
		t.Fatal("a leave of an earlier run (never recorded) reported gone")
	}
}

type recorded map[matrix.RoomID]string

func (r recorded) Membership(_ context.Context, room matrix.RoomID, _ matrix.UserID) (string, error) {
	return r[room], nil
}

// TestPuppetRoomsInRoom: what was queued wins over the recorded
// membership, which answers for the rest.
func TestPuppetRoomsInRoom(t *testing.T) {
	var p PuppetRooms
	rec := recorded{"!joined": "join", "!left": "leave"}
	p.Set("!joined", "@p", false) // a leave queued, not carried out
	for room, want := range map[matrix.RoomID]bool{"!joined": false, "!left": false, "!none": false} {
		if in, err := p.InRoom(t.Context(), rec, room, "@p"); err != nil || in != want {
			t.Errorf("%s: in=%v err=%v, want %v", room, in, err, want)
		}
	}
	if in, _ := p.InRoom(t.Context(), rec, "!joined", "@q"); !in {
		t.Error("the recorded join of an unrecorded puppet not believed")
	}
	p.Set("!left", "@p", true)
	if in, _ := p.InRoom(t.Context(), rec, "!left", "@p"); !in {
		t.Error("a queued join not believed over a recorded leave")
	}
}
