package xmpp

import (
	"context"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

// TestReverseMarkers: an occupant's displayed marker naming a stanza-id,
// received by two of the bridge's occupants, is one read receipt of its
// puppet on the linked event; a marker of an unknown message is
// dropped. A Matrix user's read receipt is a displayed marker naming the
// event's stanza-id from their occupant, no-store; a burst within
// markerInterval sends the first at once and then only the latest.
func TestReverseMarkers(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	m.cfg.MUCBackfill = 0
	rv := newReverse(m, g)
	m.rev = rv
	room := matrix.RoomID("!portal:localhost")
	rp := rv.add(room, testMUC)
	from := func(nick string) jid.JID { return jid.MustParse(testMUC + "/" + nick) }
	daveSelf := `dave\3alocalhost@matrix.test/` + occupantResource
	rv.membership(ctx, rp, "@carol:localhost", matrix.MemberContent{Membership: "join", Displayname: "Carol"})
	rv.membership(ctx, rp, "@dave:localhost", matrix.MemberContent{Membership: "join", Displayname: "Dave"})
	rv.presence(ctx, rp, parse(t, []byte(selfPresence("Carol", "", "110"))), from("Carol"), jid.MustParse(testSelf))
	dave := strings.ReplaceAll(selfPresence("Dave", "", "110"), testSelf, daveSelf)
	rv.presence(ctx, rp, parse(t, []byte(dave)), from("Dave"), jid.MustParse(daveSelf))
	alice := `<presence from='` + testMUC + `/Alice' to='%s'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='alice@x.org/phone' role='participant'/></x></presence>`
	rv.presence(ctx, rp, parse(t, []byte(strings.Replace(alice, "%s", testSelf, 1))), from("Alice"), jid.MustParse(testSelf))
	for _, sid := range []string{"s1", "s2", "s3"} {
		ev := matrix.EventID("$" + sid)
		if err := h.Links().Put(ctx, bridges.Link{Remote: bridges.MessageID{ID: revKeyPrefix + testMUC + "/" + sid}, Room: room, Event: ev}); err != nil {
			t.Fatal(err)
		}
		rv.rememberSID(ctx, ev, sid)
	}

	marker := `<message from='` + testMUC + `/Alice' to='%s' type='groupchat'><displayed xmlns='urn:xmpp:chat-markers:0' id='%id'/></message>`
	for _, to := range []string{testSelf, daveSelf} {
		rv.message(ctx, rp, parse(t, []byte(strings.NewReplacer("%s", to, "%id", "s1").Replace(marker))), from("Alice"), jid.MustParse(to))
	}
	rv.message(ctx, rp, parse(t, []byte(strings.NewReplacer("%s", testSelf, "%id", "nope").Replace(marker))), from("Alice"), jid.MustParse(testSelf))
	got := requests(h, "/receipt/")
	if len(got) != 1 || !strings.HasPrefix(got[0], "POST /_matrix/client/v3/rooms/!portal:localhost/receipt/m.read/$s1") {
		t.Fatalf("receipts: %q", got)
	}
	for _, r := range h.HS.Requests() {
		if strings.Contains(r.Path, "/receipt/") && r.User != "@_xmpp_alice=40x.org:localhost" {
			t.Errorf("receipt as %s", r.User)
		}
	}

	before := len(queued(t, h))
	for _, ev := range []matrix.EventID{"$s1", "$s2", "$s3", "$unknown"} {
		m.HandleMatrixReceipt(ctx, &bridges.Receipt{RoomID: room, UserID: "@carol:localhost", EventID: ev})
	}
	markers := func() []string {
		var out []string
		for _, s := range queued(t, h)[before:] {
			if strings.Contains(s, "urn:xmpp:chat-markers:0") {
				out = append(out, s)
			}
		}
		return out
	}
	poll.Until(t, "the latest marker after the interval", markerInterval+5*time.Second, func() bool { return len(markers()) >= 2 })
	out := markers()
	if len(out) != 2 || !strings.Contains(out[0], `<displayed xmlns="urn:xmpp:chat-markers:0" id="s1">`) ||
		!strings.Contains(out[1], `id="s3"`) || !strings.Contains(out[0], `from="`+testSelf+`"`) ||
		!strings.Contains(out[0], `to="`+testMUC+`"`) || !strings.Contains(out[0], `type="groupchat"`) || !strings.Contains(out[0], "no-store") {
		t.Fatalf("markers: %q", out)
	}
}
