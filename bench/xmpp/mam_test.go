//go:build benchxmpp

package xmppbench

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	ircbench "github.com/causewaybridge/causeway/bench/irc"
	"github.com/causewaybridge/causeway/internal/integration"
)

// TestXMPPBenchMAM times a MAM page of the 50 latest messages of a
// hosted room (XEP-0313 query to the room JID, until its fin: the results
// come before it through the bridge's durable queue) against the
// homeserver's own /messages for the same 50 (a Matrix member of the
// room, dir=b, limit=50), interleaved probe by probe.
func TestXMPPBenchMAM(t *testing.T) {
	ctx := t.Context()
	const page, history, probes, warmup = 50, 200, 20, 3
	s := startStack(t, "alice")
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
	waitComponent(ctx, t, alice)
	muc := roomJID(t, "#mam:localhost")
	joinMUC(ctx, t, alice, muc, "alice")
	mam := func(qid string) time.Duration {
		start := time.Now()
		fin, err := alice.IQ(ctx, qid, `<iq type='set' id='`+qid+`' to='`+muc+`'><query xmlns='urn:xmpp:mam:2' queryid='`+qid+`'>`+
			`<set xmlns='http://jabber.org/protocol/rsm'><max>`+strconv.Itoa(page)+`</max><before/></set></query></iq>`)
		took := time.Since(start)
		if err != nil || fin.Type != "result" {
			t.Fatalf("MAM query %s: %v %s", qid, err, fin.XML)
		}
		return took
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
	// The first page is checked: 50 results, the newest archived message
	// among them.
	mam("check")
	results := 0
	for _, st := range alice.Received() {
		if st.Name == "message" && strings.Contains(st.XML, `queryid="check"`) {
			results++
		}
	}
	if results != page {
		t.Fatalf("MAM page: %d results, want %d", results, page)
	}
	for run := 1; run <= envInt(envRuns, 3); run++ {
		var byMAM, byHS []time.Duration
		c0 := s.child.proc()
		for i := range probes + warmup {
			// ABBA: the order alternates probe by probe.
			var a, b time.Duration
			if i%2 == 0 {
				a, b = mam(fmt.Sprintf("r%dq%d", run, i)), messages()
			} else {
				b, a = messages(), mam(fmt.Sprintf("r%dq%d", run, i))
			}
			if i >= warmup {
				byMAM, byHS = append(byMAM, a), append(byHS, b)
			}
		}
		c1 := s.child.proc()
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		m, h := ircbench.Percentile(byMAM, 50), ircbench.Percentile(byHS, 50)
		record(t, run, "mam", "page_p50_ms", ms(m))
		record(t, run, "mam", "messages_p50_ms", ms(h))
		record(t, run, "mam", "ratio", float64(m)/float64(h))
		record(t, run, "mam", "page_p90_ms", ms(ircbench.Percentile(byMAM, 90)))
		record(t, run, "mam", "messages_p90_ms", ms(ircbench.Percentile(byHS, 90)))
		record(t, run, "mam", "bridge_cpu_ms_per_page", float64((c1.CPU-c0.CPU).Microseconds())/1000/float64(probes+warmup))
	}
}
