package xmpp

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestDisplayedFromXMPP: an occupant's displayed marker becomes its
// puppet's read receipt on the event its id names: an event ID, or the
// id or origin-id of a message an XMPP occupant sent; unknown ids and
// strangers' markers are dropped.
func TestDisplayedFromXMPP(t *testing.T) {
	_, g, h := testGateway(t)
	ephemeralRoom(t, g)
	g.mu.Lock()
	g.rememberSent("!r:localhost", "$fromxmpp", "m1", "o1")
	g.mu.Unlock()
	const cm = `xmlns='urn:xmpp:chat-markers:0'`
	groupchat(t, g, "mallory@x.org/r", `<displayed `+cm+` id='$ev1'/>`)
	groupchat(t, g, "alice@x.org/r", `<displayed `+cm+` id='unknown'/>`)
	groupchat(t, g, "alice@x.org/r", `<received `+cm+` id='$ev0'/>`)
	groupchat(t, g, "alice@x.org/r", `<displayed `+cm+` id='$ev1'/>`)
	groupchat(t, g, "alice@x.org/r", `<displayed `+cm+` id='o1'/>`)
	var got []string
	poll.Until(t, "receipts", 5*time.Second, func() bool { got = requests(h, "/receipt/"); return len(got) >= 2 })
	want := []string{"POST /_matrix/client/v3/rooms/!r:localhost/receipt/m.read/$ev1", "POST /_matrix/client/v3/rooms/!r:localhost/receipt/m.read/$fromxmpp"}
	if len(got) != 2 || !strings.HasPrefix(got[0], want[0]) || !strings.HasPrefix(got[1], want[1]) {
		t.Fatalf("receipts %q, want %q", got, want)
	}
	for _, r := range h.HS.Requests() {
		if strings.Contains(r.Path, "/receipt/") && r.User != "@_xmpp_alice=40x.org:localhost" {
			t.Errorf("receipt as %s", r.User)
		}
	}
}

// TestRecentMessagesBounded: the ids kept for markers are bounded, the
// oldest forgotten first.
func TestRecentMessagesBounded(t *testing.T) {
	var m recentMessages
	for i := range recentIDs + 10 {
		m.remember(matrix.EventID("$e"+itoa(i)), "id"+itoa(i))
	}
	if len(m.ids) != recentIDs || len(m.order) != recentIDs {
		t.Fatalf("%d ids kept", len(m.ids))
	}
	if _, ok := m.ids["id0"]; ok {
		t.Error("the oldest id was kept")
	}
	if m.ids["id"+itoa(recentIDs+9)] != "$e"+matrix.EventID(itoa(recentIDs+9)) {
		t.Error("the newest id was lost")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestDisplayedFromMatrix: a shown Matrix member's read receipt is a
// displayed marker from its nick to every resource, without a body, not
// stored; the room's messages are markable.
func TestDisplayedFromMatrix(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	ephemeralRoom(t, g)
	m.HandleMatrixReceipt(ctx, &bridges.Receipt{RoomID: "!r:localhost", UserID: "@dan:localhost", EventID: "$x"}) // not shown
	m.HandleMatrixReceipt(ctx, &bridges.Receipt{RoomID: "!r:localhost", UserID: "@carol:localhost", EventID: "$ev1"})
	q := queued(t, h)
	if len(q) != 2 {
		t.Fatalf("markers: %q", q)
	}
	for _, s := range q {
		for _, want := range []string{`from="room@matrix.test/Carol"`, `type="groupchat"`,
			`<displayed xmlns="urn:xmpp:chat-markers:0" id="$ev1"></displayed>`, `<no-store xmlns="urn:xmpp:hints">`} {
			if !strings.Contains(s, want) {
				t.Errorf("marker lacks %s: %s", want, s)
			}
		}
	}
	g.fromMatrix(ctx, "!r:localhost", "@carol:localhost", "$ev2", "hello", nil)
	q = queued(t, h)
	if len(q) != 4 || !strings.Contains(q[3], `<markable xmlns="urn:xmpp:chat-markers:0"></markable>`) {
		t.Fatalf("message not markable: %q", q)
	}
}
