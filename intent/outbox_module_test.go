package intent

import (
	"testing"

	"github.com/causewaybridge/causeway/store"
)

// TestOpModuleIsStored: the module that queued an op is stored in its
// payload and read back; a payload stored before Op.Module existed takes
// the module of its link, or none.
func TestOpModuleIsStored(t *testing.T) {
	queued, err := Op{Kind: OpMessage, Room: "!r:hs", Type: "m.room.message", Content: []byte(`{}`), Module: "irc"}.marshal()
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		name, payload, want string
	}{
		0: {"queued now", string(queued), "irc"},
		1: {"old with link", `{"kind":"message","room":"!r:hs","type":"m.room.message","link_module":"loopback","link_remote":"msgid:1"}`, "loopback"},
		2: {"old without link", `{"kind":"message","room":"!r:hs","type":"m.room.message"}`, ""},
		3: {"module and link", `{"kind":"message","room":"!r:hs","type":"m.room.message","link_module":"loopback","link_remote":"msgid:1","module":"irc"}`, "irc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := decodeOp(store.OutboxItem{Seq: int64(i + 1), Queue: "!r:hs", Payload: []byte(tc.payload)})
			if err != nil {
				t.Fatalf("%d: %v", i, err)
			}
			if op.Module != tc.want {
				t.Errorf("%d: Module %q, want %q", i, op.Module, tc.want)
			}
		})
	}
}
