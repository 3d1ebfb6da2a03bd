//go:build benchxmpp

package xmppbench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// joinWindow bounds the occupant joins in flight from the load generator.
const joinWindow = 200

// TestXMPPBenchOccupants measures the bridge's memory per XMPP occupant
// puppet: occupants u<i>@loadgen.localhost join hosted rooms through the
// load generator's component (one connection, presences from many JIDs)
// until each count of BENCH_XMPP_OCCUPANTS is reached; every occupant is
// a real join (a Matrix puppet registered, named and joined, the room's
// members read, the join sequence sent). Memory is the bridge process's
// Go heap in use and RSS, each after a GC that returns freed memory to
// the OS, minus the same before the first occupant, over the occupants.
func TestXMPPBenchOccupants(t *testing.T) {
	for run := 1; run <= envInt(envRuns, 3); run++ {
		t.Run(strconv.Itoa(run), func(t *testing.T) { occupantsRun(t, run) })
	}
}

func occupantsRun(t *testing.T, run int) {
	ctx := t.Context()
	counts := envInts(envOccupants, []int{1000, 10000})
	per := envInt(envPerRoom, 100)
	nrooms := (counts[len(counts)-1] + per - 1) / per
	s := startStack(t, "alice")
	owner := s.user(ctx, "owner")
	start := time.Now()
	rooms := make([]string, nrooms)
	if err := parallel(ctx, 0, nrooms, 4, func(ctx context.Context, i int) error {
		id, err := owner.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat"})
		rooms[i] = roomJID(t, string(id))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	record(t, run, "occupants/setup", fmt.Sprintf("s_create_%d_rooms", nrooms), time.Since(start).Seconds())
	alice := integration.DialXMPP(t, s.prosody.C2SAddr(), "alice", "pw")
	waitComponent(ctx, t, alice)
	lg, err := DialComponent(ctx, s.prosody.ComponentAddr(), loadDomain, s.loadSecret)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	// Its users' servers answer the bridge's requests (the PEP avatar it
	// asks every new occupant for): unanswered, each would hold a
	// goroutine for the IQ timeout and be counted as the occupant's.
	lg.RefuseIQs()
	base := s.child.settled()
	s.child.heapProfile(fmt.Sprintf("occupants-run%d-0", run))
	done := 0
	for _, n := range counts {
		before, hs0 := s.child.proc(), s.child.homeserverCPU()
		jctx, cancel := context.WithTimeout(ctx, 60*time.Minute)
		for i := done; i < n; i++ {
			if i%1000 == 0 && i > done {
				t.Logf("occupants: %d joined, %d sent, after %v", lg.self.Load(), i, time.Since(before.At).Round(time.Second))
			}
			if i-joinWindow >= 0 {
				if err := lg.WaitSelf(jctx, int64(i-joinWindow+1)); err != nil {
					cancel()
					t.Fatal(err)
				}
			}
			// Occupant i is in room i mod rooms: the joins in flight are
			// spread over the rooms (each room runs its joins in order).
			if err := lg.Send(fmt.Sprintf(`<presence from='u%d@%s/r' to='%s/u%d'><x xmlns='http://jabber.org/protocol/muc'/></presence>`,
				i, loadDomain, rooms[i%nrooms], i)); err != nil {
				cancel()
				t.Fatal(err)
			}
			if err := lg.Flush(); err != nil {
				cancel()
				t.Fatal(err)
			}
		}
		if err := lg.WaitSelf(jctx, int64(n)); err != nil {
			cancel()
			t.Fatal(err)
		}
		_ = lg.Quiet(jctx, time.Second) // the presences to the other occupants are sent
		cancel()
		after, hs1 := s.child.proc(), s.child.homeserverCPU()
		self, errs, read := lg.Counts()
		if errs > 0 {
			t.Errorf("%d error stanzas from the bridge during the joins", errs)
		}
		t.Logf("%d occupants: %d self-presences, %.1f MiB received by the load generator", n, self, float64(read)/kib/kib)
		record(t, run, "occupants/join", fmt.Sprintf("joins_per_s_to_%d", n), float64(n-done)/after.At.Sub(before.At).Seconds())
		record(t, run, "occupants/join", fmt.Sprintf("bridge_cpu_ms_per_join_to_%d", n), float64((after.CPU-before.CPU).Microseconds())/1000/float64(n-done))
		record(t, run, "occupants/join", fmt.Sprintf("homeserver_cpu_ms_per_join_to_%d", n), float64((hs1-hs0).Microseconds())/1000/float64(n-done))
		done = n
		// Memory is read in a steady state: the puppets' names and the
		// other requests the joins queued for Matrix are sent first
		// (reported apart), then the stanzas they caused.
		d := s.child.drain(20 * time.Minute)
		_ = lg.Quiet(ctx, time.Second)
		t.Logf("%d occupants: %d outbox items pending after the joins, drained in %v, %d left", n, d.pending, d.waited.Round(time.Millisecond), d.left)
		record(t, run, "occupants/memory", fmt.Sprintf("outbox_pending_after_joins_%d", n), float64(d.pending))
		record(t, run, "occupants/memory", fmt.Sprintf("s_outbox_drain_%d", n), d.waited.Seconds())
		if d.left > 0 {
			t.Errorf("%d outbox items still pending when memory was read", d.left)
		}
		st := s.child.settled()
		s.child.heapProfile(fmt.Sprintf("occupants-run%d-%d", run, n))
		record(t, run, "occupants/memory", fmt.Sprintf("heap_kib_per_occupant_%d", n), float64(st.heapInuse-base.heapInuse)/kib/float64(n))
		record(t, run, "occupants/memory", fmt.Sprintf("rss_kib_per_occupant_%d", n), float64(st.RSS-base.RSS)/kib/float64(n))
		record(t, run, "occupants/memory", fmt.Sprintf("goroutines_%d", n), float64(st.goroutines-base.goroutines))
		// Where the RSS goes: goroutine stacks, and what is not Go's at
		// all (SQLite, modernc, allocates its page cache outside the Go
		// heap).
		record(t, run, "occupants/memory", fmt.Sprintf("stack_kib_per_occupant_%d", n), float64(st.stackInuse-base.stackInuse)/kib/float64(n))
		record(t, run, "occupants/memory", fmt.Sprintf("non_go_rss_kib_per_occupant_%d", n),
			float64((st.RSS-st.goHeld)-(base.RSS-base.goHeld))/kib/float64(n))
	}
}

// TestXMPPBenchBigRoom measures joining a Matrix room of many members
// from XMPP: for each count of BENCH_XMPP_MEMBERS, the load generator's
// appservice users are members of one public room, #big:localhost (built
// once per Dendrite build and kept: bigseed_test.go; the building is
// timed when it happens), the measured stack starts from that room, and
// for each run a fresh XMPP account joins the room's alias JID: the time
// until its join sequence ends (the subject), the bridge's CPU for it,
// its peak RSS during the join, and the heap and RSS it keeps while the
// occupant stays (after GC). The occupant then leaves, which drops the
// room's member table.
func TestXMPPBenchBigRoom(t *testing.T) {
	for _, n := range envInts(envMembers, []int{1000, 10000}) {
		t.Run(strconv.Itoa(n), func(t *testing.T) { bigRoom(t, n, envInt(envRuns, 3)) })
	}
}

func bigRoom(t *testing.T, n, runs int) {
	ctx := t.Context()
	seed := bigSeed(ctx, t, n)
	var users []string
	for run := 1; run <= runs; run++ {
		users = append(users, fmt.Sprintf("j%dr%d", n, run))
	}
	s := startStackFrom(t, seed, users...)
	room := bigRoomID(ctx, t, s.as(), false)
	if joined, members := bigCounts(ctx, t, s.as(), room); joined != n+1 || members != n+1 {
		t.Fatalf("big room from the seed: %d joined, %d in /members; want %d (the members and the creator)", joined, members, n+1)
	}
	muc := roomJID(t, "#"+bigAlias+":localhost")
	for run := 1; run <= runs; run++ {
		bigJoin(ctx, t, s, run, n, muc, room)
	}
}

func bigJoin(ctx context.Context, t *testing.T, s *stack, run, n int, muc string, room matrix.RoomID) {
	name := fmt.Sprintf("j%dr%d", n, run)
	c := integration.DialXMPP(t, s.prosody.C2SAddr(), name, "pw")
	defer c.Close()
	waitComponent(ctx, t, c)
	base := s.child.settled()
	stop := make(chan struct{})
	peak := make(chan int64, 1)
	go func() {
		var max int64
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				peak <- max
				return
			case <-tick.C:
				if p := s.child.proc(); p.RSS > max {
					max = p.RSS
				}
			}
		}
	}()
	start := time.Now()
	if err := c.Send(ctx, `<presence to='`+muc+`/`+name+`'><x xmlns='http://jabber.org/protocol/muc'/></presence>`); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	subject, err := c.Wait(wctx, func(st integration.XMPPStanza) bool {
		return st.Name == "message" && st.From == muc && (st.Type == "error" || strings.Contains(st.XML, "<subject"))
	})
	cancel()
	took := time.Since(start)
	after := s.child.proc()
	close(stop)
	if err != nil || subject.Type == "error" {
		t.Fatalf("join of %s: %v %s", name, err, subject.XML)
	}
	presences := 0
	for _, st := range c.Received() {
		if st.Name == "presence" && len(st.From) > len(muc) && st.From[:len(muc)] == muc {
			presences++
		}
	}
	kept := s.child.settled()
	b := fmt.Sprintf("big-room/%d", n)
	record(t, run, b, "join_s", took.Seconds())
	record(t, run, b, "bridge_cpu_ms", float64((after.CPU-base.CPU).Microseconds())/1000)
	record(t, run, b, "peak_rss_mib_above_idle", float64(<-peak-base.RSS)/kib/kib)
	record(t, run, b, "kept_heap_mib", float64(kept.heapInuse-base.heapInuse)/kib/kib)
	record(t, run, b, "kept_rss_mib", float64(kept.RSS-base.RSS)/kib/kib)
	record(t, run, b, "presences_on_join", float64(presences))
	if err := c.Send(ctx, `<presence type='unavailable' to='`+muc+`/`+name+`'/>`); err != nil {
		t.Fatal(err)
	}
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := c.Wait(lctx, func(st integration.XMPPStanza) bool {
		return st.Name == "presence" && st.From == muc+"/"+name && st.Type == "unavailable"
	}); err != nil {
		t.Fatal(err)
	}
}
