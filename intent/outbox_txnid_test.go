package intent

import (
	"testing"
	"time"

	"github.com/causewaybridge/causeway/store"
)

// TestTxnIDForItemStable pins the transaction IDs of a few items: an item
// left pending by one version of Causeway is resent by the next with the
// same ID, so the homeserver deduplicates it. A change to the derivation
// would send such items twice after an upgrade.
func TestTxnIDForItemStable(t *testing.T) {
	cases := []struct {
		item store.OutboxItem
		want string
	}{
		{store.OutboxItem{Seq: 1234, Queue: "!AbCdEf:localhost", Key: "irc:ergo:msgid:ab12cd34", Created: time.UnixMicro(1763700000123456)}, "cwcdaed23338a88b2d.1234"},
		{store.OutboxItem{Seq: 1, Queue: "!r:x", Created: time.UnixMicro(0)}, "cwd0cb86a9aa335673.1"},
		{store.OutboxItem{Seq: 9007199254740993, Queue: "!ünï:x", Key: "k\x00z", Created: time.UnixMicro(-5)}, "cwc78cfafb05cd525a.9007199254740993"},
	}
	for i, c := range cases {
		if got := TxnIDForItem(c.item); got != c.want {
			t.Errorf("%d: TxnIDForItem = %q, want %q", i, got, c.want)
		}
	}
}
