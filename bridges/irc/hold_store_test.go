package irc

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/store"
)

// newHoldModule is a module like newTestModule whose store is the SQLite
// file db (shared by the "runs" of one test) and whose network holds
// messages for grace.
func newHoldModule(t *testing.T, addr, db string, grace time.Duration) *Module {
	t.Helper()
	m := newModule(t, Config{Networks: map[string]*NetworkConfig{"test": {Address: addr,
		Flood: FloodConfig{Rate: 100, Burst: 100}, EditGrace: grace}}}, db)
	if err := storeOf(m).PutPortal(t.Context(), store.Portal{Module: ID, RemoteID: pmKey("test", "@u:localhost", "friend").String(),
		RoomID: "!dm", Meta: []byte(`{"name":"friend"}`)}); err != nil {
		t.Fatal(err)
	}
	return m
}

// crash ends a module's run the way a killed process does: nothing held is
// sent or flushed, connections just drop.
func crash(m *Module) {
	m.cancel()
	m.networks["test"].closeAll("crash")
}

func dmMessage(id, body string) (*matrix.Event, *matrix.MessageContent) {
	return &matrix.Event{ID: matrix.EventID(id), Type: matrix.EventMessage, RoomID: "!dm", Sender: "@u:localhost"},
		&matrix.MessageContent{MsgType: matrix.MsgText, Body: body}
}

// expectOnly checks that the server receives want, in order, and nothing
// else before a marker sent on m's connection of @u:localhost.
func expectOnly(t *testing.T, srv *scriptedServer, m *Module, want ...string) {
	t.Helper()
	for _, w := range want {
		if l := srv.next(t); l != w {
			t.Fatalf("server got %q, want %q", l, w)
		}
	}
	c, err := m.networks["test"].userConnFor("@u:localhost", "").connect(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Send(t.Context(), nil, "PING", "marker"); err != nil {
		t.Fatal(err)
	}
	if l := srv.next(t); l != "PING marker" {
		t.Fatalf("server got %q, want only %q", l, want)
	}
}

func heldKeys(t *testing.T, m *Module) int {
	t.Helper()
	kvs, err := storeOf(m).KVWithPrefix(t.Context(), ID, kvHoldPrefix)
	if err != nil {
		t.Fatal(err)
	}
	return len(kvs)
}

// TestHeldMessagesSurviveACrash: messages held in the edit grace window
// (one of them edited in it) when the bridge dies are sent after the
// restart, in order, with the edit applied, exactly once.
func TestHeldMessagesSurviveACrash(t *testing.T) {
	srv := startScriptedServer(t, "")
	db := filepath.Join(t.TempDir(), "db")
	ctx := t.Context()

	first := newHoldModule(t, srv.addr, db, time.Hour)
	n := first.networks["test"]
	evt1, c1 := dmMessage("$one", "draft with a typo")
	evt2, c2 := dmMessage("$two", "second message")
	for _, m := range []struct {
		evt *matrix.Event
		c   *matrix.MessageContent
	}{{evt1, c1}, {evt2, c2}} {
		if err := n.sendMessage(ctx, m.evt, m.c, "friend", false); err != nil {
			t.Fatal(err)
		}
	}
	edit := &bridges.Edit{Event: &matrix.Event{ID: "$edit", RoomID: "!dm", Sender: "@u:localhost"}, Target: "$one",
		NewContent: matrix.MessageContent{MsgType: matrix.MsgText, Body: "fixed text"}}
	if err := first.HandleMatrixEdit(ctx, routed(t, first, edit)); err != nil {
		t.Fatal(err)
	}
	crash(first)
	if got := heldKeys(t, first); got != 2 {
		t.Fatalf("%d held messages stored after the crash, want 2", got)
	}

	second := newHoldModule(t, srv.addr, db, 10*time.Millisecond)
	if err := second.restoreHeld(ctx); err != nil {
		t.Fatal(err)
	}
	expectOnly(t, srv, second, "PRIVMSG friend :fixed text", "PRIVMSG friend :second message")
	poll.Until(t, "the sent messages' records to be deleted", 15*time.Second, func() bool { return heldKeys(t, second) == 0 })

	// A third run has nothing left to send.
	second.cancel()
	third := newHoldModule(t, srv.addr, db, 10*time.Millisecond)
	if err := third.restoreHeld(ctx); err != nil {
		t.Fatal(err)
	}
	expectOnly(t, srv, third)
}

// TestHeldCorrectionSurvivesACrash: the correction of a delivered message,
// queued behind a held one, is not lost either.
func TestHeldCorrectionSurvivesACrash(t *testing.T) {
	srv := startScriptedServer(t, "")
	db := filepath.Join(t.TempDir(), "db")
	ctx := t.Context()
	first := newHoldModule(t, srv.addr, db, time.Hour)
	// $old reached IRC in an earlier run.
	if err := storeOf(first).PutMessageLink(ctx, store.MessageLink{Module: ID, RemoteID: "old", RoomID: "!dm", EventID: "$old"}); err != nil {
		t.Fatal(err)
	}
	first.x.sent.markDelivered("$old")
	first.x.sent.setContent("$old", &matrix.MessageContent{MsgType: matrix.MsgText, Body: "the quick brwn fox"})
	evt, c := dmMessage("$new", "held one")
	if err := first.networks["test"].sendMessage(ctx, evt, c, "friend", false); err != nil {
		t.Fatal(err)
	}
	edit := &bridges.Edit{Event: &matrix.Event{ID: "$fix", RoomID: "!dm", Sender: "@u:localhost"}, Target: "$old",
		NewContent: matrix.MessageContent{MsgType: matrix.MsgText, Body: "the quick brown fox"}}
	if err := first.HandleMatrixEdit(ctx, routed(t, first, edit)); err != nil {
		t.Fatal(err)
	}
	crash(first)

	second := newHoldModule(t, srv.addr, db, 10*time.Millisecond)
	// After the restart the old text comes from the homeserver.
	hs := newHomeserver(t)
	hs.PutEvent(fakehs.Event{ID: "$old", Room: "!dm", Sender: "@u:localhost", Type: matrix.EventMessage,
		Content: []byte(`{"msgtype":"m.text","body":"the quick brwn fox"}`)})
	client, err := intent.New(intent.Options{HomeserverURL: hs.URL, ASToken: fakehs.ASToken, BotUserID: hs.Bot})
	if err != nil {
		t.Fatal(err)
	}
	second.client = client
	if err := second.restoreHeld(ctx); err != nil {
		t.Fatal(err)
	}
	expectOnly(t, srv, second, "PRIVMSG friend :held one", "PRIVMSG friend :* brown")
}

// TestHeldMessageAlreadyDeliveredIsNotResent: a record left behind by a
// crash between the send and its deletion is dropped when the message
// link shows the message reached IRC.
func TestHeldMessageAlreadyDeliveredIsNotResent(t *testing.T) {
	srv := startScriptedServer(t, "")
	db := filepath.Join(t.TempDir(), "db")
	ctx := t.Context()
	first := newHoldModule(t, srv.addr, db, time.Hour)
	evt, c := dmMessage("$sent", "already on IRC")
	if err := first.networks["test"].sendMessage(ctx, evt, c, "friend", false); err != nil {
		t.Fatal(err)
	}
	crash(first)
	if err := storeOf(first).PutMessageLink(ctx, store.MessageLink{Module: ID, RemoteID: "x", RoomID: "!dm", EventID: "$sent"}); err != nil {
		t.Fatal(err)
	}
	second := newHoldModule(t, srv.addr, db, 10*time.Millisecond)
	if err := second.restoreHeld(ctx); err != nil {
		t.Fatal(err)
	}
	expectOnly(t, srv, second)
	if got := heldKeys(t, second); got != 0 {
		t.Errorf("%d records left, want 0", got)
	}
}

// TestHeldMessagesSentOnCleanStop: Stop sends what is held and leaves no
// record behind.
func TestHeldMessagesSentOnCleanStop(t *testing.T) {
	srv := startScriptedServer(t, "")
	m := newHoldModule(t, srv.addr, filepath.Join(t.TempDir(), "db"), time.Hour)
	evt, c := dmMessage("$m", "sent on stop")
	if err := m.networks["test"].sendMessage(t.Context(), evt, c, "friend", false); err != nil {
		t.Fatal(err)
	}
	if err := m.flushHeld(t.Context()); err != nil {
		t.Fatal(err)
	}
	if l := srv.next(t); l != "PRIVMSG friend :sent on stop" {
		t.Fatalf("server got %q", l)
	}
	if got := heldKeys(t, m); got != 0 {
		t.Errorf("%d records left after the flush, want 0", got)
	}
}

// TestHeldRecordFromBeforeTheKit: a message held by a version before the
// kit's hold (the target at the top of the record) when the bridge died is
// sent after the upgrade, not lost.
func TestHeldRecordFromBeforeTheKit(t *testing.T) {
	srv := startScriptedServer(t, "")
	db := filepath.Join(t.TempDir(), "db")
	ctx := t.Context()
	m := newHoldModule(t, srv.addr, db, 10*time.Millisecond)
	old := `{"seq":5,"network":"test","target":"friend","channel":false,"due":"2026-12-01T10:00:00Z",` +
		`"event":{"event_id":"$old","type":"m.room.message","room_id":"!dm","sender":"@u:localhost","content":{}},` +
		`"content":{"msgtype":"m.text","body":"held before the upgrade"}}`
	if err := storeOf(m).PutKV(ctx, ID, kvHoldPrefix+"$old", []byte(old)); err != nil {
		t.Fatal(err)
	}
	if err := m.restoreHeld(ctx); err != nil {
		t.Fatal(err)
	}
	expectOnly(t, srv, m, "PRIVMSG friend :held before the upgrade")
	poll.Until(t, "the record to be deleted", 15*time.Second, func() bool { return heldKeys(t, m) == 0 })
}
