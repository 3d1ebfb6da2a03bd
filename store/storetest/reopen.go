package storetest

import (
	"testing"

	"github.com/causewaybridge/causeway/store"
)

// reopen closes s and opens dsn again.
func reopen(t *testing.T, s *store.Store, dsn string) *store.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	return OpenDSN(t, dsn)
}

func openUnclosed(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(t.Context(), dsn, TestLogger(t))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

func testInboxReopen(t *testing.T, dsn string) {
	s := openUnclosed(t, dsn)
	added, _ := mustAdd(t, s, "t1", Event("$a", "!r1:x"), Event("$b", "!r2:x"), Event("$c", "!r1:x"))
	if err := s.MarkEventsDone(t.Context(), added[0].Seq); err != nil {
		t.Fatalf("MarkEventsDone: %v", err)
	}
	s = reopen(t, s, dsn)
	pending := mustPending(t, s, 10)
	sameIDs(t, "pending after reopen", pending, "$b", "$c")
	if pending[0].Seq != added[1].Seq || string(pending[1].Raw) != string(added[2].Raw) {
		t.Errorf("pending after reopen %+v differs from what was added", pending)
	}
	more, seen := mustAdd(t, s, "t1", Event("$a", "!r1:x"), Event("$b", "!r2:x"), Event("$c", "!r1:x"), Event("$d", "!r1:x"))
	if !seen {
		t.Error("transaction forgotten across reopen")
	}
	sameIDs(t, "added after reopen", more, "$d")
	if more[0].Seq <= added[2].Seq {
		t.Errorf("Seq %d after reopen not after %d", more[0].Seq, added[2].Seq)
	}
}

func testOutboxReopen(t *testing.T, dsn string) {
	s := openUnclosed(t, dsn)
	done, _ := mustEnqueue(t, s, "!r:x", "remote-1", `1`)
	pending, _ := mustEnqueue(t, s, "!r:x", "remote-2", `2`)
	if err := s.CompleteOutbox(t.Context(), done.Seq, "$e"); err != nil {
		t.Fatalf("CompleteOutbox: %v", err)
	}
	if err := s.RecordOutboxAttempt(t.Context(), pending.Seq, "timeout"); err != nil {
		t.Fatalf("RecordOutboxAttempt: %v", err)
	}
	s = reopen(t, s, dsn)
	for _, key := range []string{"remote-1", "remote-2"} {
		if _, dup := mustEnqueue(t, s, "!r:x", key, `x`); !dup {
			t.Errorf("key %s not a duplicate after reopen", key)
		}
	}
	got := mustPendingOutbox(t, s)
	if len(got) != 1 || got[0].Seq != pending.Seq || got[0].Attempts != 1 || string(got[0].Payload) != "2" {
		t.Errorf("pending after reopen = %+v; want remote-2 with 1 attempt", got)
	}
}

func testBridgeReopen(t *testing.T, dsn string) {
	s := openUnclosed(t, dsn)
	ctx := t.Context()
	if err := s.PutPortal(ctx, store.Portal{Module: "irc", RemoteID: "#go", RoomID: "!r:x"}); err != nil {
		t.Fatalf("PutPortal: %v", err)
	}
	if err := s.PutKV(ctx, "irc", "k", []byte("v")); err != nil {
		t.Fatalf("PutKV: %v", err)
	}
	if err := s.MarkRegistered(ctx, "@p:x"); err != nil {
		t.Fatalf("MarkRegistered: %v", err)
	}
	s = reopen(t, s, dsn)
	if p, err := s.PortalByRoom(ctx, "!r:x"); err != nil || p.RemoteID != "#go" {
		t.Errorf("portal after reopen = %+v, %v", p, err)
	}
	if v, err := s.GetKV(ctx, "irc", "k"); err != nil || string(v) != "v" {
		t.Errorf("kv after reopen = %q, %v", v, err)
	}
	if ok, err := s.IsRegistered(ctx, "@p:x"); err != nil || !ok {
		t.Errorf("registered after reopen = %v, %v", ok, err)
	}
}
