package core

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// listener is a fake module that records the outbox completions it hears,
// by op key.
type listener struct {
	*fakeModule
	mu     sync.Mutex
	sent   []string
	failed []string
}

func (l *listener) OnOutboxSent(_ context.Context, op intent.Op, _ matrix.EventID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent = append(l.sent, op.Key)
}

func (l *listener) OnOutboxFailed(_ context.Context, op intent.Op, _ error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failed = append(l.failed, op.Key)
}

// completionHS is the shared fake homeserver with the bot in !ok:hs and
// banned from !refused:hs, where sending is refused with 403 M_FORBIDDEN.
func completionHS(t *testing.T) *fakehs.Homeserver {
	hs := fakehs.New(t, "hs", "@bot:hs")
	hs.SetMembership("!ok:hs", "@bot:hs", "join")
	hs.SetMembership("!refused:hs", "@bot:hs", "ban")
	return hs
}

// TestOutboxCompletionReachesTheModuleThatQueued: an item a module queued
// through its Host's outbox is reported to that module only, delivered or
// failed permanently. Items stored before ops recorded their module (no
// "module" in the payload) take the module of their link, or are reported
// to every module when they have none; an item of a module no longer
// configured is reported to none.
func TestOutboxCompletionReachesTheModuleThatQueued(t *testing.T) {
	ctx := t.Context()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "c.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	client, err := intent.New(intent.Options{HomeserverURL: completionHS(t).URL, ASToken: fakehs.ASToken, ServerName: "hs", BotLocalpart: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	a, b := &listener{fakeModule: &fakeModule{id: "a"}}, &listener{fakeModule: &fakeModule{id: "b"}}
	done := completions{log: log, modules: []bridges.Module{a, b}}

	// Stored by a previous version: payloads without "module".
	for _, old := range []struct{ key, payload string }{
		{"old:plain", `{"kind":"message","room":"!ok:hs","type":"m.room.message","content":{"body":"plain"}}`},
		{"old:linked", `{"kind":"message","room":"!ok:hs","type":"m.room.message","content":{"body":"linked"},"link_module":"a","link_remote":"msgid:1"}`},
		{"old:gone", `{"kind":"message","room":"!ok:hs","type":"m.room.message","content":{"body":"gone"},"link_module":"gone","link_remote":"msgid:2"}`},
	} {
		if _, _, err := st.Enqueue(ctx, store.OutboxItem{Queue: "!ok:hs", Key: old.key, Payload: []byte(old.payload)}); err != nil {
			t.Fatal(err)
		}
	}
	ob, err := intent.NewOutbox(intent.OutboxOptions{Client: client, Store: st, Logger: log, OnSent: done.sent, OnFailed: done.failed})
	if err != nil {
		t.Fatal(err)
	}
	if err := ob.Start(ctx); err != nil {
		t.Fatal(err)
	}
	msg := func(room matrix.RoomID, key string) intent.Op {
		return intent.Op{Kind: intent.OpMessage, Room: room, Type: matrix.EventMessage, Content: []byte(`{"body":"x"}`), Key: key}
	}
	// SendAndWait returns once the item is delivered or failed, so the
	// old items of !ok:hs (its lane is in order) are done too; Stop then
	// waits for the completions and their callbacks.
	if _, err := (moduleOutbox{o: ob, id: "a"}).SendAndWait(ctx, msg("!ok:hs", "a:sent")); err != nil {
		t.Fatal(err)
	}
	if _, err := (moduleOutbox{o: ob, id: "b"}).SendAndWait(ctx, msg("!ok:hs", "b:sent")); err != nil {
		t.Fatal(err)
	}
	if _, err := (moduleOutbox{o: ob, id: "a"}).SendAndWait(ctx, msg("!refused:hs", "a:failed")); err == nil {
		t.Fatal("a message to !refused:hs was delivered")
	}
	if err := ob.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	for i, tc := range []struct {
		module             *listener
		wantSent, wantFail []string
	}{
		0: {a, []string{"old:plain", "old:linked", "a:sent"}, []string{"a:failed"}},
		1: {b, []string{"old:plain", "b:sent"}, nil},
	} {
		t.Run(tc.module.id, func(t *testing.T) {
			tc.module.mu.Lock()
			defer tc.module.mu.Unlock()
			if !slices.Equal(tc.module.sent, tc.wantSent) {
				t.Errorf("%d: module %s heard sent %q, want %q", i, tc.module.id, tc.module.sent, tc.wantSent)
			}
			if !slices.Equal(tc.module.failed, tc.wantFail) {
				t.Errorf("%d: module %s heard failed %q, want %q", i, tc.module.id, tc.module.failed, tc.wantFail)
			}
		})
	}
}
