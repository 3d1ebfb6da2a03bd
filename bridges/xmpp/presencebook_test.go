package xmpp

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"mellium.im/xmpp/jid"
)

// TestPresenceBookForgetsIdleUsers: a user whose last resource left is
// kept only until its offline presence is written; one never written
// leaves nothing behind; a failed write (unmark) of a user still online
// keeps it due.
func TestPresenceBookForgetsIdleUsers(t *testing.T) {
	b := newPresenceBook()
	b.update("a@x.org", "a@x.org/r", "room@m", true, "", "")
	b.update("a@x.org", "a@x.org/r", rosterChannel, true, "", "")
	if _, due := b.due("a@x.org"); !due {
		t.Fatal("a first available presence is not due")
	}
	b.update("a@x.org", "a@x.org/r", "room@m", false, "", "")
	if len(b.users) != 1 {
		t.Fatalf("the resource left one channel of two and the user is gone: %d users", len(b.users))
	}
	b.update("a@x.org", "a@x.org/r", rosterChannel, false, "", "")
	if len(b.users) != 1 {
		t.Fatal("the user was forgotten before its offline presence was written")
	}
	if p, due := b.due("a@x.org"); !due || p != (matrixPresence{Presence: "offline"}) {
		t.Fatalf("offline after online: %+v due %t", p, due)
	}
	if len(b.users) != 0 {
		t.Fatalf("an offline user written offline is kept: %d users", len(b.users))
	}
	b.update("b@x.org", "b@x.org/r", "room@m", true, "", "")
	b.update("b@x.org", "b@x.org/r", "room@m", false, "", "")
	if _, due := b.due("b@x.org"); due || len(b.users) != 0 {
		t.Fatalf("a user never written: due %t, %d users kept", due, len(b.users))
	}
	b.update("c@x.org", "c@x.org/r", "room@m", true, "away", "")
	b.due("c@x.org")
	b.unmark("c@x.org")
	if p, due := b.due("c@x.org"); !due || p.Presence != "unavailable" {
		t.Fatalf("after a failed write: %+v due %t", p, due)
	}
}

// BenchmarkPresenceBook reports what a user with one resource in one
// room costs the book besides the strings the caller keeps (bytes/user,
// the live heap after GC; the book held ~660 with a map per user and per
// resource, ~204 since). Memory is a benchmark's figure, not a test's
// verdict: other tests' goroutines allocate and free meanwhile.
//
//	go test -run '^$' -bench '^BenchmarkPresenceBook$' ./bridges/xmpp/
func BenchmarkPresenceBook(b *testing.B) {
	const n = 20000
	reals, fulls := make([]string, n), make([]string, n)
	for i := range n {
		reals[i] = fmt.Sprintf("u%d@x.org", i)
		fulls[i] = reals[i] + "/r"
	}
	var per float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		book := newPresenceBook()
		for i := range n {
			book.update(reals[i], fulls[i], "room@m", true, "", "")
			book.due(reals[i])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(book)
		per = (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
	}
	b.ReportMetric(per, "B/user")
}

// TestSharedBare: the bare JID is the full one's prefix (no copy), and a
// JID without a resource is its own bare JID.
func TestSharedBare(t *testing.T) {
	for i, tc := range []struct{ in, real, full string }{
		0: {"a@x.org/r", "a@x.org", "a@x.org/r"},
		1: {"a@x.org", "a@x.org", "a@x.org"},
		2: {"x.org/r/s", "x.org", "x.org/r/s"},
	} {
		real, full := sharedBare(jid.MustParse(tc.in))
		if real != tc.real || full != tc.full {
			t.Errorf("%d: %q, %q; want %q, %q", i, real, full, tc.real, tc.full)
		}
		if len(full) > len(real) && unsafe.StringData(real) != unsafe.StringData(full) {
			t.Errorf("%d: the bare JID is a copy", i)
		}
	}
}
