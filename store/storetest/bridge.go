package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/causewaybridge/causeway/store"
)

func runState(t *testing.T, open OpenFunc) {
	t.Run("Registered", func(t *testing.T) { testRegistered(t, open(t)) })
	t.Run("Membership", func(t *testing.T) { testMembership(t, open(t)) })
}

func runBridge(t *testing.T, open OpenFunc) {
	t.Run("Portals", func(t *testing.T) { testPortals(t, open(t)) })
	t.Run("PortalRoomConflict", func(t *testing.T) { testPortalConflict(t, open(t)) })
	t.Run("MessageLinks", func(t *testing.T) { testMessageLinks(t, open(t)) })
	t.Run("MessageLinksByEvent", func(t *testing.T) { testMessageLinksByEvent(t, open(t)) })
	t.Run("KV", func(t *testing.T) { testKV(t, open(t)) })
	t.Run("KVMany", func(t *testing.T) { testKVMany(t, open(t)) })
}

func testRegistered(t *testing.T, s *store.Store) {
	ctx := t.Context()
	const u = "@irc_libera_bob:example.org"
	if ok, err := s.IsRegistered(ctx, u); err != nil || ok {
		t.Fatalf("IsRegistered before marking = %v, %v; want false", ok, err)
	}
	for range 2 {
		if err := s.MarkRegistered(ctx, u); err != nil {
			t.Fatalf("MarkRegistered: %v", err)
		}
	}
	if ok, err := s.IsRegistered(ctx, u); err != nil || !ok {
		t.Errorf("IsRegistered after marking = %v, %v; want true", ok, err)
	}
	if ok, _ := s.IsRegistered(ctx, "@other:example.org"); ok {
		t.Error("unmarked user reported registered")
	}
	if err := s.UnmarkRegistered(ctx, u); err != nil {
		t.Fatalf("UnmarkRegistered: %v", err)
	}
	if ok, err := s.IsRegistered(ctx, u); err != nil || ok {
		t.Errorf("IsRegistered after unmarking = %v, %v; want false", ok, err)
	}
}

func testMembership(t *testing.T, s *store.Store) {
	ctx := t.Context()
	steps := []struct{ room, user, set, want string }{
		0: {"!a:x", "@u:x", "", ""},
		1: {"!a:x", "@u:x", "invite", "invite"},
		2: {"!a:x", "@u:x", "join", "join"},
		3: {"!b:x", "@u:x", "leave", "leave"},
		4: {"!a:x", "@u:x", "", ""},
	}
	for i, st := range steps {
		if st.set != "" || i > 0 {
			if err := s.SetMembership(ctx, st.room, st.user, st.set); err != nil {
				t.Fatalf("step %d: SetMembership: %v", i, err)
			}
		}
		got, err := s.Membership(ctx, st.room, st.user)
		if err != nil || got != st.want {
			t.Errorf("step %d: Membership(%s) = %q, %v; want %q", i, st.room, got, err, st.want)
		}
	}
	if got, _ := s.Membership(ctx, "!b:x", "@u:x"); got != "leave" {
		t.Errorf("membership in another room changed to %q", got)
	}
}

func testPortals(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if _, err := s.PortalByRemote(ctx, "irc", "#go"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PortalByRemote(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.PortalByRoom(ctx, "!nope:x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PortalByRoom(missing) = %v, want ErrNotFound", err)
	}
	p := store.Portal{Module: "irc", RemoteID: "libera/#go", RoomID: "!go:x", Meta: []byte(`{"topic":"Go"}`)}
	if err := s.PutPortal(ctx, p); err != nil {
		t.Fatalf("PutPortal: %v", err)
	}
	// Two portals may wait for a room at the same time.
	for _, id := range []string{"libera/#a", "libera/#b"} {
		if err := s.PutPortal(ctx, store.Portal{Module: "irc", RemoteID: id}); err != nil {
			t.Fatalf("PutPortal(%s without room): %v", id, err)
		}
	}
	if err := s.PutPortal(ctx, store.Portal{Module: "xmpp", RemoteID: "libera/#go", RoomID: "!x:x"}); err != nil {
		t.Fatalf("PutPortal(other module): %v", err)
	}
	got, err := s.PortalByRoom(ctx, "!go:x")
	if err != nil || got.Module != "irc" || got.RemoteID != p.RemoteID || !bytes.Equal(got.Meta, p.Meta) {
		t.Errorf("PortalByRoom = %+v, %v; want %+v", got, err, p)
	}
	p.Meta, p.RoomID = []byte(`{"topic":"Gophers"}`), "!go2:x"
	if err := s.PutPortal(ctx, p); err != nil {
		t.Fatalf("PutPortal(update): %v", err)
	}
	got, err = s.PortalByRemote(ctx, "irc", p.RemoteID)
	if err != nil || got.RoomID != "!go2:x" || string(got.Meta) != `{"topic":"Gophers"}` {
		t.Errorf("after update PortalByRemote = %+v, %v", got, err)
	}
	if _, err := s.PortalByRoom(ctx, "!go:x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old room still linked: %v", err)
	}
	list, err := s.Portals(ctx, "irc")
	if err != nil {
		t.Fatalf("Portals: %v", err)
	}
	if got := fmt.Sprint(remoteIDs(list)); got != "[libera/#a libera/#b libera/#go]" {
		t.Errorf("Portals(irc) = %s", got)
	}
	if list[0].RoomID != "" || list[0].Meta != nil {
		t.Errorf("roomless portal came back as %+v", list[0])
	}
	if err := s.DeletePortal(ctx, "irc", p.RemoteID); err != nil {
		t.Fatalf("DeletePortal: %v", err)
	}
	if err := s.DeletePortal(ctx, "irc", p.RemoteID); err != nil {
		t.Errorf("DeletePortal(missing): %v", err)
	}
	if _, err := s.PortalByRoom(ctx, "!go2:x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted portal still found: %v", err)
	}
	if _, err := s.PortalByRemote(ctx, "xmpp", "libera/#go"); err != nil {
		t.Errorf("deleting irc portal removed the xmpp one: %v", err)
	}
}

func remoteIDs(ps []store.Portal) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.RemoteID)
	}
	return out
}

func testPortalConflict(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if err := s.PutPortal(ctx, store.Portal{Module: "irc", RemoteID: "#a", RoomID: "!r:x"}); err != nil {
		t.Fatalf("PutPortal: %v", err)
	}
	err := s.PutPortal(ctx, store.Portal{Module: "xmpp", RemoteID: "b@muc", RoomID: "!r:x"})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("second portal for one room: %v, want ErrConflict", err)
	}
	if got, err := s.PortalByRoom(ctx, "!r:x"); err != nil || got.RemoteID != "#a" {
		t.Errorf("PortalByRoom after conflict = %+v, %v; want the first portal", got, err)
	}
}

// testMessageLinksByEvent: every link of an event, of one module only, by
// remote ID; none is an empty list, not an error.
func testMessageLinksByEvent(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if ls, err := s.MessageLinksByEvent(ctx, "irc", "$e"); err != nil || len(ls) != 0 {
		t.Fatalf("links of an unknown event: %v, %v", ls, err)
	}
	for _, l := range []store.MessageLink{
		{Module: "irc", RemoteID: "b\t1", RoomID: "!r:x", EventID: "$e"},
		{Module: "irc", RemoteID: "a", RoomID: "!r:x", EventID: "$e"},
		{Module: "xmpp", RemoteID: "c", RoomID: "!r:x", EventID: "$e"},
		{Module: "irc", RemoteID: "d", RoomID: "!r:x", EventID: "$other"},
	} {
		if err := s.PutMessageLink(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := s.MessageLinksByEvent(ctx, "irc", "$e")
	if err != nil || len(ls) != 2 || ls[0].RemoteID != "a" || ls[1].RemoteID != "b\t1" {
		t.Fatalf("links of $e for irc: %+v, %v; want a and b\\t1", ls, err)
	}
}

func testMessageLinks(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if _, err := s.MessageByRemote(ctx, "irc", "msgid1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MessageByRemote(missing) = %v, want ErrNotFound", err)
	}
	if _, err := s.MessageByEvent(ctx, "$e1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MessageByEvent(missing) = %v, want ErrNotFound", err)
	}
	m := store.MessageLink{Module: "irc", RemoteID: "msgid1", RoomID: "!r:x", EventID: "$e1"}
	if err := s.PutMessageLink(ctx, m); err != nil {
		t.Fatalf("PutMessageLink: %v", err)
	}
	if got, err := s.MessageByRemote(ctx, "irc", "msgid1"); err != nil || got != m {
		t.Errorf("MessageByRemote = %+v, %v; want %+v", got, err, m)
	}
	if got, err := s.MessageByEvent(ctx, "$e1"); err != nil || got != m {
		t.Errorf("MessageByEvent = %+v, %v; want %+v", got, err, m)
	}
	if _, err := s.MessageByRemote(ctx, "xmpp", "msgid1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other module's message found: %v", err)
	}
	m.EventID = "$e2"
	if err := s.PutMessageLink(ctx, m); err != nil {
		t.Fatalf("PutMessageLink(update): %v", err)
	}
	if got, err := s.MessageByRemote(ctx, "irc", "msgid1"); err != nil || got.EventID != "$e2" {
		t.Errorf("after update MessageByRemote = %+v, %v", got, err)
	}
	if err := s.PutMessageLink(ctx, store.MessageLink{Module: "irc", RoomID: "!r:x"}); err == nil {
		t.Error("message link without IDs accepted")
	}
}

func testKV(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if _, err := s.GetKV(ctx, "irc", "cursor"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetKV(missing) = %v, want ErrNotFound", err)
	}
	steps := []struct{ key, value string }{
		0: {"cursor", "1"},
		1: {"cursor", "2"},
		2: {"empty", ""},
	}
	for i, st := range steps {
		if err := s.PutKV(ctx, "irc", st.key, []byte(st.value)); err != nil {
			t.Fatalf("step %d: PutKV: %v", i, err)
		}
		got, err := s.GetKV(ctx, "irc", st.key)
		if err != nil || string(got) != st.value {
			t.Errorf("step %d: GetKV = %q, %v; want %q", i, got, err, st.value)
		}
	}
	if _, err := s.GetKV(ctx, "xmpp", "cursor"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("other module's key found: %v", err)
	}
	if err := s.DeleteKV(ctx, "irc", "cursor"); err != nil {
		t.Fatalf("DeleteKV: %v", err)
	}
	if _, err := s.GetKV(ctx, "irc", "cursor"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetKV after delete = %v, want ErrNotFound", err)
	}
	if err := s.DeleteKV(ctx, "irc", "cursor"); err != nil {
		t.Errorf("DeleteKV(missing): %v", err)
	}
	testKVWithPrefix(t, s)
}

// testKVWithPrefix: a prefix lists exactly its module's keys that start
// with it, in bytewise order; LIKE wildcards in the prefix are literal.
func testKVWithPrefix(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for _, k := range []string{"hold:b", "hold:a", "hold:Z", "hold:é", "hold", "holdx", "hist:1", "hold%:x", "hold_:y"} {
		if err := s.PutKV(ctx, "irc", k, []byte("v"+k)); err != nil {
			t.Fatalf("PutKV %q: %v", k, err)
		}
	}
	if err := s.PutKV(ctx, "xmpp", "hold:other", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		prefix string
		want   []string
	}{
		0: {"hold:", []string{"hold:Z", "hold:a", "hold:b", "hold:é"}},
		1: {"hold%", []string{"hold%:x"}},
		2: {"hold_", []string{"hold_:y"}},
		3: {"nothing", nil},
	} {
		got, err := s.KVWithPrefix(ctx, "irc", tc.prefix)
		if err != nil {
			t.Fatalf("case %d: KVWithPrefix: %v", i, err)
		}
		var keys []string
		for _, kv := range got {
			keys = append(keys, kv.Key)
			if string(kv.Value) != "v"+kv.Key {
				t.Errorf("case %d: value of %q = %q", i, kv.Key, kv.Value)
			}
		}
		if fmt.Sprint(keys) != fmt.Sprint(tc.want) {
			t.Errorf("case %d: KVWithPrefix(%q) = %q, want %q", i, tc.prefix, keys, tc.want)
		}
	}
}

// testKVMany: several keys are put and deleted in one call; a module's
// batch touches only its keys, and an empty batch is harmless.
func testKVMany(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if err := s.PutKV(ctx, "xmpp", "q/1", []byte("old")); err != nil {
		t.Fatal(err)
	}
	if err := s.PutKV(ctx, "irc", "q/2", []byte("irc's")); err != nil {
		t.Fatal(err)
	}
	batch := []store.KV{{Key: "q/1", Value: []byte("one")}, {Key: "q/2", Value: []byte("two")}, {Key: "q/3"}}
	if err := s.PutKVMany(ctx, "xmpp", batch); err != nil {
		t.Fatal(err)
	}
	got, err := s.KVWithPrefix(ctx, "xmpp", "q/")
	if err != nil || len(got) != 3 || string(got[0].Value) != "one" || string(got[1].Value) != "two" || len(got[2].Value) != 0 {
		t.Fatalf("after PutKVMany: %+v, %v", got, err)
	}
	if v, err := s.GetKV(ctx, "irc", "q/2"); err != nil || string(v) != "irc's" {
		t.Fatalf("another module's key changed: %q, %v", v, err)
	}
	if err := s.DeleteKVMany(ctx, "xmpp", []string{"q/1", "q/3", "q/missing"}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.KVWithPrefix(ctx, "xmpp", "q/"); err != nil || len(got) != 1 || got[0].Key != "q/2" {
		t.Fatalf("after DeleteKVMany: %+v, %v", got, err)
	}
	if err := s.PutKVMany(ctx, "xmpp", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.PutKVMany(ctx, "", batch); err == nil {
		t.Fatal("a batch without a module was stored")
	}
}
