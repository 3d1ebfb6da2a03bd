package xmpp

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/matrix"
)

// settle collects garbage until the heap stops shrinking (pools keep
// their contents through one collection).
func settle() {
	var ms runtime.MemStats
	last := uint64(0)
	for range 5 {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc == last {
			return
		}
		last = ms.HeapAlloc
	}
}

// cpuTime is the CPU time this process used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkJoinBigRoom measures the bridge's own share of an XMPP user
// joining a Matrix room of many members, against the shared fake
// homeserver (in process, so its answers cost little): each iteration
// joins a new occupant to a new room of that many members, which the
// bridge reads whole (/members), keeps as the room's member table, and
// announces max_join_occupants of. Besides the time and allocations per
// join it reports cpu-ms/join (the whole process: the fake homeserver's
// answers too, a third of it in a profile) and kept-KiB/join, the heap still held after the joins
// (after GC): the member tables, the core's membership cache (bounded at
// 10,000 entries), the occupants. The fake homeserver's request log is
// counted too (a few hundred bytes per join). bench/xmpp's
// TestXMPPBenchBigRoom measures the same join on Dendrite.
//
//	go test -run '^$' -bench JoinBigRoom -benchtime 3x ./bridges/xmpp/
func BenchmarkJoinBigRoom(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) { benchJoinBigRoom(b, n) })
	}
}

func benchJoinBigRoom(b *testing.B, n int) {
	ctx := context.Background()
	_, g, h := testGateway(b)
	rooms := make([]matrix.RoomID, b.N)
	for i := range rooms {
		rooms[i] = matrix.RoomID(fmt.Sprintf("!big%d:localhost", i))
		for u := range n {
			h.HS.SetMembership(rooms[i], matrix.UserID(fmt.Sprintf("@m%d:localhost", u)), "join")
		}
	}
	var before, after runtime.MemStats
	settle()
	runtime.ReadMemStats(&before)
	cpu0 := cpuTime(b)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		local, err := address.Localpart(string(rooms[i]))
		if err != nil {
			b.Fatal(err)
		}
		to := jid.MustParse(local + "@matrix.test/Alice")
		from := jid.MustParse("alice@x.org/r")
		st := parse(b, []byte(`<presence from='alice@x.org/r' to='`+to.String()+`'><x xmlns='http://jabber.org/protocol/muc'/></presence>`))
		g.join(ctx, st, from, to)
		g.mu.Lock()
		got := len(g.rooms[rooms[i]].members)
		g.mu.Unlock()
		if got < n {
			b.Fatalf("the bridge knows %d members of %d", got, n)
		}
	}
	took, cpu := time.Since(start), cpuTime(b)-cpu0
	b.StopTimer()
	settle()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(took.Milliseconds())/float64(b.N), "ms/join")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/join")
	b.ReportMetric((float64(after.HeapAlloc)-float64(before.HeapAlloc))/1024/float64(b.N), "kept-KiB/join")
	runtime.KeepAlive(g)
}
