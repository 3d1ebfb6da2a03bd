//go:build benchxmpp

package xmppbench

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ircbench "github.com/causewaybridge/causeway/bench/irc"
	"github.com/causewaybridge/causeway/internal/integration"
)

// envNoNagle, when set, starts Prosody with Nagle's algorithm off on its
// sockets (network_settings = { nagle = false }); the MAM figures are
// then recorded as bench "mam/prosody-nagle-off".
const envNoNagle = "BENCH_XMPP_PROSODY_NODELAY"

// TestXMPPBenchMAM times a MAM page of the 50 latest messages of a
// hosted room (XEP-0313 query to the room JID, until its fin: the results
// come before it through the bridge's durable queue) against the
// homeserver's own /messages for the same 50 (a Matrix member of the
// room, dir=b, limit=50), and against two pages that need no bridge: the
// same query to a Prosody MUC with 200 messages (muc_mam, Prosody's own
// archive), and to a component that answers it at once with 50 canned
// results and the fin in one write (what delivering a page through
// Prosody costs any component). The four are interleaved probe by probe,
// in an order that rotates.
func TestXMPPBenchMAM(t *testing.T) {
	ctx := t.Context()
	const page, history, probes, warmup = 50, 200, 20, 4
	bench := "mam"
	if os.Getenv(envNoNagle) != "" {
		bench = "mam/prosody-nagle-off"
	}
	s := startStack(t, "alice", "bob")
	owner := s.user(ctx, "owner")
	room, err := owner.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Visibility: "public", RoomAliasName: "mam"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range history {
		if _, err := owner.SendText(ctx, room, "archived message "+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	alice := integration.DialXMPP(t, s.prosody.C2SAddr(), "alice", "pw")
	bob := integration.DialXMPP(t, s.prosody.C2SAddr(), "bob", "pw")
	waitComponent(ctx, t, alice)
	muc := roomJID(t, "#mam:localhost")
	joinMUC(ctx, t, alice, muc, "alice")
	native := nativeArchive(ctx, t, alice, bob, history)
	canned := cannedArchive(ctx, t, s, alice.JID(), page)

	// query asks to for the page and returns the time until its fin, the
	// time until its first result, and the size of the results as the
	// client re-encodes them.
	query := func(to, qid string) (took, first time.Duration, size int) {
		start := time.Now()
		fin, err := alice.IQ(ctx, qid, `<iq type='set' id='`+qid+`' to='`+to+`'><query xmlns='urn:xmpp:mam:2' queryid='`+qid+`'>`+
			`<set xmlns='http://jabber.org/protocol/rsm'><max>`+strconv.Itoa(page)+`</max><before/></set></query></iq>`)
		took = time.Since(start)
		if err != nil || fin.Type != "result" {
			t.Fatalf("MAM query %s to %s: %v %s", qid, to, err, fin.XML)
		}
		rs := alice.Received()
		n := 0
		for i := len(rs) - 1; i >= 0 && !rs[i].At.Before(start); i-- {
			if rs[i].Name == "message" && strings.Contains(rs[i].XML, `queryid="`+qid+`"`) {
				first, size, n = rs[i].At.Sub(start), size+len(rs[i].XML), n+1
			}
		}
		if n != page {
			t.Fatalf("MAM query %s to %s: %d results, want %d", qid, to, n, page)
		}
		return took, first, size
	}
	messages := func() time.Duration {
		start := time.Now()
		m, err := owner.Messages(ctx, room, "b", "", page)
		took := time.Since(start)
		if err != nil || len(m.Chunk) != page {
			t.Fatalf("/messages: %v (%d events)", err, len(m.Chunk))
		}
		return took
	}
	// The first pages are checked: 50 results each.
	query(muc, "check")
	query(native, "checknative")
	query(canned, "checkcanned")
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for run := 1; run <= envInt(envRuns, 3); run++ {
		var byMAM, firstMAM, deliveryMAM, byHS, byNative, byCanned, deliveryCanned []time.Duration
		var bridgeBytes, cannedBytes int
		c0 := s.child.proc()
		for i := range probes + warmup {
			qid := fmt.Sprintf("r%dq%d", run, i)
			var bridged, bridgedFirst, hs, nat, can, canFirst time.Duration
			steps := []func(){
				func() { bridged, bridgedFirst, bridgeBytes = query(muc, qid+"b") },
				func() { hs = messages() },
				func() { nat, _, _ = query(native, qid+"n") },
				func() { can, canFirst, cannedBytes = query(canned, qid+"c") },
			}
			for k := range steps {
				steps[(i+k)%len(steps)]()
			}
			if i >= warmup {
				byMAM, firstMAM, deliveryMAM = append(byMAM, bridged), append(firstMAM, bridgedFirst), append(deliveryMAM, bridged-bridgedFirst)
				byHS, byNative = append(byHS, hs), append(byNative, nat)
				byCanned, deliveryCanned = append(byCanned, can), append(deliveryCanned, can-canFirst)
			}
		}
		c1 := s.child.proc()
		m, h := ircbench.Percentile(byMAM, 50), ircbench.Percentile(byHS, 50)
		n, c := ircbench.Percentile(byNative, 50), ircbench.Percentile(byCanned, 50)
		record(t, run, bench, "page_p50_ms", ms(m))
		record(t, run, bench, "messages_p50_ms", ms(h))
		record(t, run, bench, "ratio", float64(m)/float64(h))
		record(t, run, bench, "page_p90_ms", ms(ircbench.Percentile(byMAM, 90)))
		record(t, run, bench, "messages_p90_ms", ms(ircbench.Percentile(byHS, 90)))
		record(t, run, bench, "page_first_result_p50_ms", ms(ircbench.Percentile(firstMAM, 50)))
		record(t, run, bench, "page_first_result_to_fin_p50_ms", ms(ircbench.Percentile(deliveryMAM, 50)))
		record(t, run, bench, "prosody_muc_page_p50_ms", ms(n))
		record(t, run, bench, "canned_component_page_p50_ms", ms(c))
		record(t, run, bench, "canned_first_result_to_fin_p50_ms", ms(ircbench.Percentile(deliveryCanned, 50)))
		record(t, run, bench, "ratio_to_messages_plus_canned", float64(m)/float64(h+c))
		record(t, run, bench, "ratio_to_prosody_muc", float64(m)/float64(n))
		record(t, run, bench, "page_result_kib", float64(bridgeBytes)/kib)
		record(t, run, bench, "canned_result_kib", float64(cannedBytes)/kib)
		record(t, run, bench, "bridge_cpu_ms_per_page", float64((c1.CPU-c0.CPU).Microseconds())/1000/float64(probes+warmup))
	}
}

// nativeArchive makes a Prosody MUC (muc_mam, on the test server) in
// which bob sends n messages that alice, an occupant, receives, and
// returns its JID.
func nativeArchive(ctx context.Context, t *testing.T, alice, bob *integration.XMPPClient, n int) string {
	t.Helper()
	room := "mamnative@" + integration.ProsodyMUC
	joinMUC(ctx, t, alice, room, "alice")
	if r, err := alice.IQ(ctx, "cfgnative", `<iq type='set' id='cfgnative' to='`+room+`'><query xmlns='http://jabber.org/protocol/muc#owner'>`+
		`<x xmlns='jabber:x:data' type='submit'/></query></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("instant room: %v %s", err, r.XML)
	}
	joinMUC(ctx, t, bob, room, "bob")
	for i := range n {
		if err := bob.Send(ctx, `<message type='groupchat' to='`+room+`'><body>archived message `+strconv.Itoa(i)+`</body></message>`); err != nil {
			t.Fatal(err)
		}
	}
	last := ">archived message " + strconv.Itoa(n-1) + "</body>"
	if _, err := alice.Wait(ctx, func(st integration.XMPPStanza) bool {
		return st.Name == "message" && st.From == room+"/bob" && strings.Contains(st.XML, last)
	}); err != nil {
		t.Fatal(err)
	}
	return room
}

// queryIDRe finds the queryid of a MAM query in what the server sent.
var queryIDRe = regexp.MustCompile(`queryid=['"]([^'"]+)['"]`)

// cannedArchive connects a component on loadDomain that answers every
// MAM query (whose iq id is its queryid) to archive@loadDomain at once
// with n canned results, shaped like the bridge's, and the fin, all in
// one write, and returns that JID.
func cannedArchive(ctx context.Context, t *testing.T, s *stack, client string, n int) string {
	t.Helper()
	c, err := DialComponent(ctx, s.prosody.ComponentAddr(), loadDomain, s.loadSecret)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	from := "archive@" + loadDomain
	var b strings.Builder
	for i := range n {
		id := fmt.Sprintf("$%043d", i)
		fmt.Fprintf(&b, `<message from='%[1]s' to='%[2]s'><result xmlns='urn:xmpp:mam:2' queryid='QID' id='%[3]s'>`+
			`<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' from='%[1]s' stamp='2026-12-08T01:00:00.000Z'/>`+
			`<message xmlns='jabber:client' from='%[1]s/owner' id='%[3]s' type='groupchat'><body>archived message %[4]d</body>`+
			`<x xmlns='http://jabber.org/protocol/muc#user'><item jid='owner@matrix.localhost'/></x>`+
			`<stanza-id xmlns='urn:xmpp:sid:0' id='%[3]s' by='%[1]s'/>`+
			`<occupant-id xmlns='urn:xmpp:occupant-id:0' id='Vh2Rk3qX0bQm1nWcZ8yTgP5sLdJfA4eHuC6iOo7rKxE'/></message></forwarded></result></message>`,
			from, client, id, 150+i)
	}
	fmt.Fprintf(&b, `<iq type='result' id='QID' from='%s' to='%s'><fin xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'>`+
		`<first>$%043d</first><last>$%043d</last></set></fin></iq>`, from, client, 0, n-1)
	answer := b.String()
	c.OnData(func(data []byte) {
		m := queryIDRe.FindSubmatch(data)
		if m == nil {
			return
		}
		if err := c.Send(strings.ReplaceAll(answer, "QID", string(m[1]))); err == nil {
			_ = c.Flush()
		}
	})
	return from
}
