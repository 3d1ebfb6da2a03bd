package store_test

import (
	"fmt"
	"testing"

	"github.com/causewaybridge/causeway/store"
	"github.com/causewaybridge/causeway/store/storetest"
)

// BenchmarkOutboxCompletion measures what delivering one remote message
// costs the store: its Enqueue, then its completion with a message link,
// committed alone (batch-1) or eight at a time (batch-8, the outbox's group
// commit under a burst). ns/op is per message.
func BenchmarkOutboxCompletion(b *testing.B) {
	for _, batch := range []int{1, 8} {
		b.Run(fmt.Sprintf("sqlite/batch-%d", batch), func(b *testing.B) {
			s := storetest.OpenDSN(b, storetest.SQLiteDSN(b))
			ctx := b.Context()
			payload := []byte(`{"kind":"message","room":"!r:example.org","type":"m.room.message","content":{"msgtype":"m.text","body":"hello there"}}`)
			done := make([]store.OutboxCompletion, 0, batch)
			b.ResetTimer()
			for i := range b.N {
				it, _, err := s.Enqueue(ctx, store.OutboxItem{Queue: "!r:example.org", Key: fmt.Sprintf("irc:%d", i), Payload: payload})
				if err != nil {
					b.Fatal(err)
				}
				done = append(done, store.OutboxCompletion{Seq: it.Seq, Result: "$ev" + it.Key,
					Link: &store.MessageLink{Module: "irc", RemoteID: "msgid:" + it.Key, RoomID: it.Queue, EventID: "$ev" + it.Key}})
				if len(done) == batch || i == b.N-1 {
					if err := s.CompleteOutboxBatch(ctx, done); err != nil {
						b.Fatal(err)
					}
					done = done[:0]
				}
			}
		})
	}
}
