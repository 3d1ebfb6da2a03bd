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

// TestPresenceBookSize: a user with one resource in one room costs the
// book under 256 bytes besides the strings the caller keeps (the book
// held ~660 with a map per user and per resource). Other tests' leftover
// goroutines can allocate or free meanwhile, so the smallest of a few
// measurements counts.
func TestPresenceBookSize(t *testing.T) {
	const n = 20000
	reals, fulls := make([]string, n), make([]string, n)
	for i := range n {
		reals[i] = fmt.Sprintf("u%d@x.org", i)
		fulls[i] = reals[i] + "/r"
	}
	best := -1.0
	for range 5 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b := newPresenceBook()
		for i := range n {
			b.update(reals[i], fulls[i], "room@m", true, "", "")
			b.due(reals[i])
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(b)
		per := (float64(after.HeapAlloc) - float64(before.HeapAlloc)) / n
		if per > 0 && (best < 0 || per < best) {
			best = per
		}
	}
	if best < 0 {
		t.Skip("the heap shrank during every measurement (other tests' goroutines freeing memory); nothing measured")
	}
	t.Logf("%.0f bytes per user", best)
	if best > 256 {
		t.Errorf("the book keeps %.0f bytes per single-resource user; want under 256", best)
	}
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
