package xmppbench

import (
	"fmt"
	"runtime"
)

// floorOccupant is the least a component must remember of an occupant of
// a hosted room: who it is, its nick, its resource and its Matrix puppet,
// found by its real JID. It is the floor the bridge's memory per occupant
// is compared with (a component needs no socket per user).
type floorOccupant struct {
	roomJID, nick, real, resource, puppet string
}

// FloorHeapPerOccupant returns the Go heap, in bytes, that n floor
// occupants spread over rooms of per occupants take after a GC: one map
// per room from real JID to the record, with strings shaped like the
// bridge's (room ID JIDs, loadgen JIDs, escaped puppet IDs).
func FloorHeapPerOccupant(n, per int) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	rooms := make([]map[string]*floorOccupant, (n+per-1)/per)
	for i := range rooms {
		rooms[i] = map[string]*floorOccupant{}
	}
	for i := range n {
		real := fmt.Sprintf("u%d@loadgen.localhost", i)
		o := &floorOccupant{
			roomJID:  fmt.Sprintf("!\\41b\\43d%06d\\3alocalhost@matrix.localhost", i%len(rooms)),
			nick:     fmt.Sprintf("u%d", i),
			real:     real,
			resource: real + "/r",
			puppet:   fmt.Sprintf("@_xmpp_u%d=40loadgen.localhost:localhost", i),
		}
		rooms[i%len(rooms)][real] = o
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(rooms)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}
