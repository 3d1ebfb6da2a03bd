package ircconn

import (
	"reflect"
	"strconv"
	"testing"
)

func sameMap(a, b any) bool {
	return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
}

// TestSharedCapSets: connections with equal capability sets keep one copy;
// a change on one connection leaves the others' set as it was.
func TestSharedCapSets(t *testing.T) {
	var sh Shared
	cfg := Config{Addr: "x", Nick: "a", PingInterval: -1, Shared: &sh}.withDefaults()
	line := "server-time batch=1 draft/multiline=max-bytes=4096,max-lines=24"
	a, b := newConn(&scriptConn{}, cfg), newConn(&scriptConn{}, cfg)
	for _, c := range []*Conn{a, b} {
		c.updateCapsLocked(func(caps map[string]string) {
			c.enableCapLocked(caps, "server-time", "")
			c.enableCapLocked(caps, "batch", line[17:18])
			c.enableCapLocked(caps, "draft/multiline", "max-bytes=4096,max-lines=24")
		})
	}
	if !sameMap(a.caps, b.caps) {
		t.Fatal("two connections with the same capabilities keep two sets")
	}
	if a.isupport.MultilineMaxBytes != 4096 || b.isupport.MultilineMaxLines != 24 {
		t.Errorf("multiline limits not applied: %+v", a.isupport)
	}
	a.updateCapsLocked(func(caps map[string]string) { delete(caps, "batch") })
	if _, ok := b.caps["batch"]; !ok {
		t.Fatal("CAP DEL on one connection removed the capability from another")
	}
	if _, ok := a.caps["batch"]; ok || a.caps["server-time"] != "" || len(a.caps) != 2 {
		t.Fatalf("after DEL: %v", a.caps)
	}
	var none *Shared
	if got := none.capSet(map[string]string{"x": "1"}); got["x"] != "1" {
		t.Fatalf("nil Shared: %v", got)
	}
}

// TestSharedBounded: a server offering a different set to every connection
// cannot grow the shared table past maxSharedSets.
func TestSharedBounded(t *testing.T) {
	var sh Shared
	for i := range 3 * maxSharedSets {
		m := sh.capSet(map[string]string{"cap" + strconv.Itoa(i): ""})
		if len(m) != 1 {
			t.Fatalf("set %d = %v", i, m)
		}
	}
	if len(sh.caps) != maxSharedSets {
		t.Fatalf("shared sets = %d, want %d", len(sh.caps), maxSharedSets)
	}
	t1, t2 := sh.targMaxTable("PRIVMSG:4,NOTICE:4"), sh.targMaxTable("PRIVMSG:4,NOTICE:4")
	if !sameMap(t1, t2) || t1["NOTICE"] != 4 {
		t.Fatalf("TARGMAX tables not shared: %v %v", t1, t2)
	}
}
