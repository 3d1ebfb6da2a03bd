package mark_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/kit/mark"
	"github.com/causewaybridge/causeway/internal/bridgetest"
)

// TestBookNoteGetClose: a mark moves forward only, is read back while
// pending, is written after the delay by tracked background work, and
// Close writes what is pending and drops later notes; a new Book reads
// the stored marks.
func TestBookNoteGetClose(t *testing.T) {
	h := bridgetest.NewHost(t, bridgetest.HostOptions{})
	ctx := t.Context()
	var wg sync.WaitGroup
	spawned := 0
	b := mark.New(mark.Options{KV: h.KV(), Prefix: "hist:test:", Delay: 20 * time.Millisecond,
		Spawn: func(f func(context.Context)) {
			spawned++
			wg.Add(1)
			go func() { defer wg.Done(); f(ctx) }()
		}})
	if _, ok := b.Get(ctx, "#c"); ok {
		t.Fatal("a mark before any note")
	}
	b.Note("#c", mark.Mark{ID: "m2", TS: 2000})
	b.Note("#c", mark.Mark{ID: "m1", TS: 1000}) // older: ignored
	b.Note("#d", mark.Mark{TS: 5})
	if m, ok := b.Get(ctx, "#c"); !ok || m.ID != "m2" || !m.Time().Equal(time.UnixMilli(2000)) {
		t.Fatalf("pending mark %+v %v", m, ok)
	}
	wg.Wait()
	if spawned != 1 {
		t.Fatalf("%d writes scheduled for one batch, want 1", spawned)
	}
	raw, err := h.KV().Get(ctx, "hist:test:#c")
	var stored mark.Mark
	if err != nil || json.Unmarshal(raw, &stored) != nil || stored.ID != "m2" || stored.TS != 2000 {
		t.Fatalf("stored %s, %v", raw, err)
	}
	if string(raw) != `{"msgid":"m2","ts":2000}` {
		t.Errorf("stored form %s changed: marks stored by earlier versions must stay readable", raw)
	}

	b.Note("#c", mark.Mark{ID: "m3", TS: 3000})
	b.Close(ctx)
	b.Note("#c", mark.Mark{ID: "m4", TS: 4000}) // after Close: dropped
	wg.Wait()
	again := mark.New(mark.Options{KV: h.KV(), Prefix: "hist:test:"})
	if m, ok := again.Get(ctx, "#c"); !ok || m.ID != "m3" {
		t.Fatalf("after Close, a new book reads %+v %v, want m3", m, ok)
	}
	if m, ok := again.Get(ctx, "#d"); !ok || m.TS != 5 {
		t.Fatalf("#d: %+v %v", m, ok)
	}
	if _, ok := again.Get(ctx, "#none"); ok {
		t.Fatal("a mark for a key never noted")
	}
}

// TestBookStopsWithoutWriting: when the module stops before the delay,
// the scheduled write ends without writing (Close does it).
func TestBookStopsWithoutWriting(t *testing.T) {
	h := bridgetest.NewHost(t, bridgetest.HostOptions{})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	b := mark.New(mark.Options{KV: h.KV(), Prefix: "p:", Delay: time.Hour,
		Spawn: func(f func(context.Context)) { go func() { defer close(done); f(ctx) }() }})
	b.Note("k", mark.Mark{TS: 1})
	cancel()
	<-done
	if _, err := h.KV().Get(t.Context(), "p:k"); err == nil {
		t.Fatal("written although the module stopped before the delay")
	}
	b.Close(t.Context())
	if _, err := h.KV().Get(t.Context(), "p:k"); err != nil {
		t.Fatalf("Close did not write the pending mark: %v", err)
	}
}
