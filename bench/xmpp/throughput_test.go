//go:build benchxmpp

package xmppbench

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ircbench "github.com/causewaybridge/causeway/bench/irc"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// TestXMPPBenchThroughput measures both directions through the component
// against the same traffic sent directly, in the same run:
//
//   - XMPP→Matrix: an XMPP occupant (alice) sends a burst of groupchat
//     messages into a hosted room; the rate is the burst over the time
//     until a Matrix reader, syncing all along, sees the last one.
//   - Matrix→XMPP: a Matrix user (poster) PUTs the burst one by one into
//     the hosted room until alice has the last one.
//   - Directly on Matrix (the baseline of both): the poster PUTs the burst
//     into a plain room the reader is in, before and after the bridged
//     bursts (Dendrite slows down as its rooms grow; the two together
//     cancel that drift).
//   - Directly on XMPP (a reference): bob sends the burst into a Prosody
//     MUC alice is in.
func TestXMPPBenchThroughput(t *testing.T) {
	ctx := t.Context()
	msgs := envInt(envMsgs, 1000)
	s := startStack(t, "alice", "bob")
	owner := s.user(ctx, "owner")
	room, err := owner.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Visibility: "public", RoomAliasName: "bench"})
	if err != nil {
		t.Fatal(err)
	}
	reader, poster := s.user(ctx, "reader"), s.user(ctx, "poster")
	for _, c := range []*integration.Client{reader, poster} {
		if _, err := c.Join(ctx, string(room)); err != nil {
			t.Fatal(err)
		}
	}
	// The plain room has the same members as the hosted one, so that
	// Dendrite evaluates push rules and stores notifications for the same
	// users per message on both paths: the owner, the reader, the poster,
	// and an idle user muted as the bridge mutes its puppets (the master
	// push rule on) where the hosted room has alice's puppet. The idle
	// user sends the XMPP→Matrix baseline (the puppet's place: the poster
	// is a passive member then), the poster the Matrix→XMPP one.
	idle := s.user(ctx, "idle")
	if err := s.mute(ctx, idle); err != nil {
		t.Fatal(err)
	}
	directRoom, err := poster.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*integration.Client{reader, owner, idle} {
		if _, err := c.Join(ctx, string(directRoom)); err != nil {
			t.Fatal(err)
		}
	}
	addr := s.prosody.C2SAddr()
	alice := integration.DialXMPP(t, addr, "alice", "pw")
	bob := integration.DialXMPP(t, addr, "bob", "pw")
	waitComponent(ctx, t, alice)
	muc := roomJID(t, "#bench:localhost")
	joinMUC(ctx, t, alice, muc, "alice")
	// The XMPP reference: a Prosody MUC (with muc_mam, as the test server
	// has it) that alice and bob are in.
	plain := "plain@" + integration.ProsodyMUC
	joinMUC(ctx, t, alice, plain, "alice")
	if r, err := alice.IQ(ctx, "cfg", `<iq type='set' id='cfg' to='`+plain+`'><query xmlns='http://jabber.org/protocol/muc#owner'>`+
		`<x xmlns='jabber:x:data' type='submit'/></query></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("instant room: %v %s", err, r.XML)
	}
	joinMUC(ctx, t, bob, plain, "bob")

	// burst starts the reader waiting for last in room, runs send and
	// returns the time from the first send until the reader saw last.
	burst := func(room matrix.RoomID, last string, send func()) time.Duration {
		if err := reader.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		seen := make(chan error, 1)
		go func() {
			_, err := reader.WaitForMessage(wctx, room, last)
			seen <- err
		}()
		start := time.Now()
		send()
		if err := <-seen; err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	// toAlice runs send and returns the time until alice got the message
	// whose body is last from the JID from.
	toAlice := func(from, last string, send func()) time.Duration {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		seen := make(chan error, 1)
		go func() {
			_, err := alice.Wait(wctx, func(st integration.XMPPStanza) bool {
				return st.Name == "message" && st.From == from && strings.Contains(st.XML, ">"+last+"</body>")
			})
			seen <- err
		}()
		start := time.Now()
		send()
		if err := <-seen; err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	put := func(from *integration.Client, room matrix.RoomID, prefix string) func() {
		return func() {
			for i := range msgs {
				if _, err := from.SendText(ctx, room, prefix+strconv.Itoa(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	groupchat := func(c *integration.XMPPClient, to, prefix string) func() {
		return func() {
			for i := range msgs {
				p := prefix + strconv.Itoa(i)
				if err := c.Send(ctx, `<message type='groupchat' to='`+to+`' id='`+p+`'><body>`+p+`</body></message>`); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	rate := func(d time.Duration) float64 { return float64(msgs) / d.Seconds() }
	cpuMS := func(a, b time.Duration) float64 { return float64((b - a).Microseconds()) / 1000 / float64(msgs) }
	for run := 1; run <= envInt(envRuns, 3); run++ {
		tag := fmt.Sprintf("r%d-", run)
		// direct PUTs the burst as from into the plain room and returns
		// the time until the reader saw the last one and Dendrite's CPU.
		direct := func(from *integration.Client, name string) (time.Duration, time.Duration) {
			hs0 := s.child.homeserverCPU()
			p := "direct-" + tag + name + "-"
			took := burst(directRoom, p+strconv.Itoa(msgs-1), put(from, directRoom, p))
			return took, s.child.homeserverCPU() - hs0
		}
		// ABBA: each baseline runs before and after the bridged bursts.
		dx1, hsX1 := direct(idle, "x1")
		dm1, hsM1 := direct(poster, "m1")

		// XMPP → Matrix.
		p := "xm-" + tag
		c0, hs0 := s.child.proc(), s.child.homeserverCPU()
		xm := burst(room, p+strconv.Itoa(msgs-1), groupchat(alice, muc, p))
		c1, hs1 := s.child.proc(), s.child.homeserverCPU()

		// Matrix → XMPP.
		q := "mx-" + tag
		mx := toAlice(muc+"/poster", q+strconv.Itoa(msgs-1), put(poster, room, q))
		c2, hs2 := s.child.proc(), s.child.homeserverCPU()

		// XMPP → XMPP through Prosody alone.
		xx := toAlice(plain+"/bob", "xx-"+tag+strconv.Itoa(msgs-1), groupchat(bob, plain, "xx-"+tag))

		dm2, hsM2 := direct(poster, "m2")
		dx2, hsX2 := direct(idle, "x2")
		directX := float64(2*msgs) / (dx1 + dx2).Seconds()
		directM := float64(2*msgs) / (dm1 + dm2).Seconds()

		record(t, run, "xmpp-to-matrix", "bridge_msgs_per_s", rate(xm))
		record(t, run, "xmpp-to-matrix", "direct_msgs_per_s", directX)
		record(t, run, "xmpp-to-matrix", "ratio", rate(xm)/directX)
		record(t, run, "xmpp-to-matrix", "bridge_cpu_ms_per_msg", cpuMS(c0.CPU, c1.CPU))
		record(t, run, "xmpp-to-matrix", "homeserver_cpu_ms_per_msg_bridged", float64((hs1-hs0).Microseconds())/1000/float64(msgs))
		record(t, run, "xmpp-to-matrix", "homeserver_cpu_ms_per_msg_direct", float64(((hsX1+hsX2)/2).Microseconds())/1000/float64(msgs))
		o := ircbench.CheckOrder(readBack(t, ctx, reader, room, p, msgs), msgs)
		record(t, run, "xmpp-to-matrix", "out_of_place", float64(o.OutOfPlace))
		record(t, run, "xmpp-to-matrix", "moved", float64(o.Moved))
		record(t, run, "xmpp-to-matrix", "missing", float64(o.Missing))

		record(t, run, "matrix-to-xmpp", "bridge_msgs_per_s", rate(mx))
		record(t, run, "matrix-to-xmpp", "direct_matrix_msgs_per_s", directM)
		record(t, run, "matrix-to-xmpp", "ratio_to_matrix", rate(mx)/directM)
		record(t, run, "matrix-to-xmpp", "direct_xmpp_msgs_per_s", rate(xx))
		record(t, run, "matrix-to-xmpp", "ratio_to_xmpp", rate(mx)/rate(xx))
		record(t, run, "matrix-to-xmpp", "bridge_cpu_ms_per_msg", cpuMS(c1.CPU, c2.CPU))
		record(t, run, "matrix-to-xmpp", "homeserver_cpu_ms_per_msg_bridged", float64((hs2-hs1).Microseconds())/1000/float64(msgs))
		record(t, run, "matrix-to-xmpp", "homeserver_cpu_ms_per_msg_direct", float64(((hsM1+hsM2)/2).Microseconds())/1000/float64(msgs))
		mo := ircbench.CheckOrder(xmppOrder(alice, muc+"/poster", q), msgs)
		record(t, run, "matrix-to-xmpp", "out_of_place", float64(mo.OutOfPlace))
		record(t, run, "matrix-to-xmpp", "moved", float64(mo.Moved))
		record(t, run, "matrix-to-xmpp", "missing", float64(mo.Missing))
		refused := 0
		for _, st := range alice.Received() {
			if st.Type == "error" && strings.Contains(st.ID, p) {
				if refused++; refused == 1 {
					t.Logf("run %d: the bridge refused a message: %s", run, st.XML)
				}
			}
		}
		record(t, run, "xmpp-to-matrix", "refused", float64(refused))
	}
}

var bodyIndex = regexp.MustCompile(`>[a-z]+-r[0-9]+-([0-9]+)</body>`)

// xmppOrder returns the indexes of the messages with prefix that c got
// from the JID from, in the order it got them.
func xmppOrder(c *integration.XMPPClient, from, prefix string) []int {
	var idx []int
	for _, st := range c.Received() {
		if st.Name != "message" || st.From != from || !strings.Contains(st.XML, ">"+prefix) {
			continue
		}
		if m := bodyIndex.FindStringSubmatch(st.XML); m != nil {
			i, _ := strconv.Atoi(m[1])
			idx = append(idx, i)
		}
	}
	return idx
}

// readBack pages /messages backwards until want messages with prefix were
// seen (or the room's start) and returns their indexes oldest first, in
// the order the homeserver lists them.
func readBack(t *testing.T, ctx context.Context, c *integration.Client, room matrix.RoomID, prefix string, want int) []int {
	var idx []int
	from := ""
	const size = 100
	for page := 0; page < 2*want/size+10 && len(idx) < want; page++ {
		m, err := c.Messages(ctx, room, "b", from, size)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range m.Chunk {
			var mc matrix.MessageContent
			if ev.Type != matrix.EventMessage || json.Unmarshal(ev.Content, &mc) != nil {
				continue
			}
			if s, ok := strings.CutPrefix(mc.Body, prefix); ok {
				if i, err := strconv.Atoi(s); err == nil {
					idx = append(idx, i)
				}
			}
		}
		if len(m.Chunk) == 0 || m.End == "" {
			break
		}
		from = m.End
	}
	for i, j := 0, len(idx)-1; i < j; i, j = i+1, j-1 {
		idx[i], idx[j] = idx[j], idx[i]
	}
	return idx
}
