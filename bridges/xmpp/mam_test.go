package xmpp

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/matrix"
)

// mamAnswer is what a MAM query got: the result ids in the order sent,
// the fin's complete, first and last, or the error condition.
type mamAnswer struct {
	ids                    []string
	results                []string
	complete               bool
	first, last, errorCond string
}

var (
	resultID = regexp.MustCompile(`<result xmlns="urn:xmpp:mam:2" queryid="Q" id="([^"]+)"`)
	finFirst = regexp.MustCompile(`<first[^>]*>([^<]*)</first>`)
	finLast  = regexp.MustCompile(`<last[^>]*>([^<]*)</last>`)
	errCond  = regexp.MustCompile(`<([a-z-]+) xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"`)
)

// mamFixture is a gateway with a hosted room of messages and an
// occupant, alice, whose puppet reads the archive.
type mamFixture struct {
	t       *testing.T
	g       *gateway
	h       *bridgetest.Host
	room    matrix.RoomID
	roomJID string
	ids     []matrix.EventID // the room's messages, oldest first
}

func newMAMFixture(t *testing.T) *mamFixture {
	ctx := context.Background()
	_, g, h := testGateway(t)
	f := &mamFixture{t: t, g: g, h: h, room: "!r:localhost"}
	local, err := address.Localpart(string(f.room))
	if err != nil {
		t.Fatal(err)
	}
	f.roomJID = local + "@matrix.test"
	carol, bob := matrix.UserID("@carol:localhost"), matrix.UserID("@_xmpp_bob=40x.org:localhost")
	ts := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).UnixMilli()
	empty := ""
	h.HS.PutEvent(fakehs.Event{Room: f.room, Sender: carol, Type: "m.room.create", StateKey: &empty, TS: ts, Content: []byte(`{}`)})
	for i := range 7 {
		ts += 60_000
		sender := carol
		if i == 3 {
			sender = bob
		}
		f.ids = append(f.ids, h.HS.PutEvent(fakehs.Event{Room: f.room, Sender: sender, Type: matrix.EventMessage, TS: ts,
			Content: []byte(fmt.Sprintf(`{"msgtype":"m.text","body":"m%d"}`, i))}))
		// Events that are not messages in between.
		h.HS.PutEvent(fakehs.Event{Room: f.room, Sender: carol, Type: matrix.EventTopic, StateKey: &empty, TS: ts + 1, Content: []byte(`{"topic":"t"}`)})
	}
	g.rememberArchived(ctx, f.ids[3], sentMeta{Nick: "Bob", Real: "bob@x.org", ID: "bob-id"})
	if err := h.Matrix().Intent("@_xmpp_alice=40x.org:localhost").EnsureRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	r := g.room(f.room)
	r.loaded = true
	r.members = map[matrix.UserID]*member{carol: {nick: "Carol"}}
	r.occupants["alice@x.org"] = &occupant{RoomJID: f.roomJID, Nick: "Alice", Real: "alice@x.org",
		Resources: newResourceSet("alice@x.org/r"), Puppet: "@_xmpp_alice=40x.org:localhost"}
	return f
}

// query runs a MAM IQ set from from with inner as its query content and
// returns the answer.
func (f *mamFixture) query(from, inner string) mamAnswer {
	f.t.Helper()
	ctx := context.Background()
	n := len(queued(f.t, f.h))
	iq := `<iq type='set' id='q' from='` + from + `' to='` + f.roomJID + `'><query xmlns='urn:xmpp:mam:2' queryid='Q'>` + inner + `</query></iq>`
	st := parse(f.t, []byte(iq))
	q, qerr := parseMAMQuery(st)
	if qerr != nil {
		f.t.Fatalf("%s: %+v", inner, qerr)
	}
	f.g.mamQuery(ctx, st, jid.MustParse(from), jid.MustParse(f.roomJID), q)
	var a mamAnswer
	for _, s := range queued(f.t, f.h)[n:] {
		switch {
		case strings.HasPrefix(s, "<message"):
			m := resultID.FindStringSubmatch(s)
			if m == nil {
				f.t.Fatalf("a result without its id: %s", s)
			}
			a.ids = append(a.ids, m[1])
			a.results = append(a.results, s)
		case strings.Contains(s, `type="error"`):
			a.errorCond = errCond.FindStringSubmatch(s)[1]
		case strings.Contains(s, "<fin"):
			a.complete = strings.Contains(s, `complete="true"`)
			if m := finFirst.FindStringSubmatch(s); m != nil {
				a.first = m[1]
			}
			if m := finLast.FindStringSubmatch(s); m != nil {
				a.last = m[1]
			}
		default:
			f.t.Fatalf("unexpected answer: %s", s)
		}
	}
	return a
}

// want checks that a holds the messages idx (indexes into f.ids), in
// order, with complete.
func (f *mamFixture) want(what string, a mamAnswer, complete bool, idx ...int) {
	f.t.Helper()
	var want []string
	for _, i := range idx {
		want = append(want, string(f.ids[i]))
	}
	if a.errorCond != "" || fmt.Sprint(a.ids) != fmt.Sprint(want) || a.complete != complete {
		f.t.Errorf("%s: got %v complete=%v %s, want %v complete=%v", what, a.ids, a.complete, a.errorCond, want, complete)
	}
	if len(want) > 0 && (a.first != string(f.ids[min(idx[0], idx[len(idx)-1])]) || a.last != string(f.ids[max(idx[0], idx[len(idx)-1])])) {
		f.t.Errorf("%s: first %s last %s", what, a.first, a.last)
	}
}

func rsm(s string) string { return `<set xmlns='http://jabber.org/protocol/rsm'>` + s + `</set>` }

// TestMAMPaging: the archive is the room's messages, oldest first, with
// event IDs as ids: forward and backward paging with RSM, before-id and
// after-id, ids, flipped pages, time bounds, a nick filter; ids that are
// no event are item-not-found; a non-occupant is forbidden.
func TestMAMPaging(t *testing.T) {
	f := newMAMFixture(t)
	const alice = "alice@x.org/r"

	// Backward from the last page with max=2 until complete.
	var got []string
	before := ""
	for pages := 0; ; pages++ {
		a := f.query(alice, rsm(`<max>2</max><before>`+before+`</before>`))
		if a.errorCond != "" || pages > 5 {
			t.Fatalf("page %d: %+v", pages, a)
		}
		got = append(append([]string(nil), a.ids...), got...)
		if a.complete {
			break
		}
		before = a.first
	}
	if fmt.Sprint(got) != fmt.Sprint(f.ids) {
		t.Fatalf("paging back: %v, want %v", got, f.ids)
	}
	f.want("last page", f.query(alice, rsm(`<max>2</max><before/>`)), false, 5, 6)
	f.want("forward", f.query(alice, rsm(`<max>3</max>`)), false, 0, 1, 2)
	// A homeserver that wants a token to page forward (Dendrite): the
	// walk starts at the room's m.room.create.
	f.h.HS.ForwardNeedsToken(true)
	f.want("forward without a token", f.query(alice, rsm(`<max>3</max>`)), false, 0, 1, 2)
	f.want("all forward without a token", f.query(alice, ""), true, 0, 1, 2, 3, 4, 5, 6)
	f.h.HS.ForwardNeedsToken(false)
	f.want("after", f.query(alice, rsm(`<max>3</max><after>`+string(f.ids[2])+`</after>`)), false, 3, 4, 5)
	f.want("after, end", f.query(alice, rsm(`<max>3</max><after>`+string(f.ids[5])+`</after>`)), true, 6)
	f.want("after the last", f.query(alice, rsm(`<after>`+string(f.ids[6])+`</after>`)), true)
	f.want("between ids", f.query(alice, form("after-id", string(f.ids[1]), "before-id", string(f.ids[5]))), true, 2, 3, 4)
	f.want("after-id with RSM after", f.query(alice, form("after-id", string(f.ids[1]))+rsm(`<max>2</max><after>`+string(f.ids[3])+`</after>`)), false, 4, 5)
	f.want("before-id, last page", f.query(alice, form("before-id", string(f.ids[4]))+rsm(`<max>2</max><before/>`)), false, 2, 3)
	f.want("ids", f.query(alice, `<x xmlns='jabber:x:data'><field var='ids'><value>`+string(f.ids[4])+`</value><value>`+string(f.ids[1])+`</value></field></x>`), true, 1, 4)
	f.want("start", f.query(alice, form("start", "2026-12-07T10:05:00Z")+rsm(`<max>1</max>`)), false, 4)
	f.want("start and end", f.query(alice, form("start", "2026-12-07T10:02:00Z", "end", "2026-12-07T10:03:30Z")), true, 1, 2)
	f.want("with a nick", f.query(alice, form("with", f.roomJID+"/Bob")), true, 3)
	f.want("with a Matrix user", f.query(alice, form("with", "carol\\3alocalhost@matrix.test")+rsm(`<max>1</max><before/>`)), false, 6)
	f.want("max 0", f.query(alice, rsm(`<max>0</max>`)), false)

	flipped := f.query(alice, rsm(`<max>3</max><before/>`)+`<flip-page/>`)
	if fmt.Sprint(flipped.ids) != fmt.Sprint([]matrix.EventID{f.ids[6], f.ids[5], f.ids[4]}) || flipped.first != string(f.ids[4]) || flipped.last != string(f.ids[6]) {
		t.Errorf("flipped: %+v", flipped)
	}

	// The results themselves: the archived message from the sender's
	// nick, without a to, with its time, ids and real JID.
	a := f.query(alice, `<x xmlns='jabber:x:data'><field var='ids'><value>`+string(f.ids[3])+`</value></field></x>`)
	for _, want := range []string{`from="` + f.roomJID + `" to="alice@x.org/r"`, `<forwarded xmlns="urn:xmpp:forward:0">`,
		`<delay xmlns="urn:xmpp:delay" from="` + f.roomJID + `" stamp="2026-12-07T10:04:00.000Z">`,
		`<message xmlns="jabber:client" from="` + f.roomJID + `/Bob" id="bob-id" type="groupchat"><body xmlns="jabber:client">m3</body>`,
		`jid="bob@x.org"`, `<stanza-id xmlns="urn:xmpp:sid:0" id="` + string(f.ids[3]) + `" by="` + f.roomJID + `">`,
		`<occupant-id xmlns="urn:xmpp:occupant-id:0" id="` + f.g.occupantID(f.room, "bob@x.org") + `">`} {
		if len(a.results) != 1 || !strings.Contains(a.results[0], want) {
			t.Errorf("result lacks %s: %q", want, a.results)
		}
	}

	for i, c := range []struct{ inner, cond string }{
		{rsm(`<before>$nope</before>`), "item-not-found"},
		{rsm(`<after>$nope</after>`), "item-not-found"},
		{form("after-id", "$nope"), "item-not-found"},
		{`<x xmlns='jabber:x:data'><field var='ids'><value>$nope</value></field></x>`, "item-not-found"},
		{form("with", "someone@x.org/phone"), "feature-not-implemented"},
	} {
		if a := f.query(alice, c.inner); a.errorCond != c.cond {
			t.Errorf("%d: %+v, want %s", i, a, c.cond)
		}
	}
	if a := f.query("mallory@x.org/r", ""); a.errorCond != "forbidden" || len(a.ids) != 0 {
		t.Errorf("a non-occupant: %+v", a)
	}
}

// TestMAMRoute: the route takes MAM IQs to a room's bare JID only,
// answers the form at once and refuses a malformed query there.
func TestMAMRoute(t *testing.T) {
	f := newMAMFixture(t)
	iq := func(typ, to, payload string) bool {
		st := parse(t, []byte(`<iq type='`+typ+`' id='i' from='alice@x.org/r' to='`+to+`'>`+payload+`</iq>`))
		return f.g.routeMAM(st, jid.MustParse("alice@x.org/r"), jid.MustParse(to))
	}
	if iq("get", f.roomJID+"/Alice", `<query xmlns='urn:xmpp:mam:2'/>`) || iq("get", "matrix.test", `<query xmlns='urn:xmpp:mam:2'/>`) ||
		iq("get", f.roomJID, `<query xmlns='urn:xmpp:mam:1'/>`) {
		t.Fatal("took a query that is not MAM to a room")
	}
	n := len(queued(t, f.h))
	if !iq("get", f.roomJID, `<query xmlns='urn:xmpp:mam:2'/>`) || !iq("set", f.roomJID, `<query xmlns='urn:xmpp:mam:2'>`+rsm(`<index>1</index>`)+`</query>`) {
		t.Fatal("did not take MAM queries")
	}
	q := queued(t, f.h)[n:]
	if len(q) != 2 || !strings.Contains(q[0], `type="result"`) || !strings.Contains(q[0], `var="before-id"`) || !strings.Contains(q[0], `var="ids"`) ||
		!strings.Contains(q[1], "feature-not-implemented") {
		t.Fatalf("answers: %q", q)
	}
}

// TestMAMMetadata: the archive's metadata are its first and last
// messages.
func TestMAMMetadata(t *testing.T) {
	f := newMAMFixture(t)
	n := len(queued(t, f.h))
	st := parse(t, []byte(`<iq type='get' id='m' from='alice@x.org/r' to='`+f.roomJID+`'><metadata xmlns='urn:xmpp:mam:2'/></iq>`))
	f.g.mamMetadata(context.Background(), st, jid.MustParse("alice@x.org/r"), jid.MustParse(f.roomJID))
	q := queued(t, f.h)[n:]
	if len(q) != 1 || !strings.Contains(q[0], `<start xmlns="urn:xmpp:mam:2" id="`+string(f.ids[0])+`" timestamp="2026-12-07T10:01:00.000Z">`) ||
		!strings.Contains(q[0], `<end xmlns="urn:xmpp:mam:2" id="`+string(f.ids[6])+`" timestamp="2026-12-07T10:07:00.000Z">`) {
		t.Fatalf("metadata: %q", q)
	}
}

// TestMAMBudget: a query reads at most mamBudget events from the
// homeserver: a page it cuts short is incomplete, one that found
// nothing (or a start further back) is resource-constraint.
func TestMAMBudget(t *testing.T) {
	f := newMAMFixture(t)
	empty := ""
	for range mamBudget + 50 {
		f.h.HS.PutEvent(fakehs.Event{Room: f.room, Sender: "@carol:localhost", Type: matrix.EventTopic, StateKey: &empty, Content: []byte(`{"topic":"t"}`)})
	}
	late := f.h.HS.PutEvent(fakehs.Event{Room: f.room, Sender: "@carol:localhost", Type: matrix.EventMessage,
		TS: time.Date(2026, 12, 7, 11, 0, 0, 0, time.UTC).UnixMilli(), Content: []byte(`{"msgtype":"m.text","body":"late"}`)})
	const alice = "alice@x.org/r"
	if a := f.query(alice, rsm(`<max>2</max><before/>`)); fmt.Sprint(a.ids) != fmt.Sprint([]matrix.EventID{late}) || a.complete {
		t.Errorf("last page cut short: %+v", a)
	}
	if a := f.query(alice, rsm(`<after>`+string(f.ids[6])+`</after>`)); a.errorCond != "resource-constraint" {
		t.Errorf("nothing within the budget: %+v", a)
	}
	if a := f.query(alice, form("start", "2026-12-07T10:00:00Z")+rsm(`<max>1</max>`)); a.errorCond != "resource-constraint" {
		t.Errorf("a start too far back: %+v", a)
	}
}

// TestMAMOccupantRoomKnown: an occupant who joined through an alias JID
// queries the archive there without the homeserver resolving the alias
// (this one no longer resolves at all); anyone else's query to it still
// asks the homeserver, which does not know it.
func TestMAMOccupantRoomKnown(t *testing.T) {
	f := newMAMFixture(t)
	local, err := address.Localpart("#gone:localhost")
	if err != nil {
		t.Fatal(err)
	}
	f.roomJID = local + "@matrix.test"
	f.g.mu.Lock()
	f.g.rooms[f.room].occupants["alice@x.org"].RoomJID = f.roomJID
	f.g.mu.Unlock()
	f.want("last page through the alias", f.query("alice@x.org/r", rsm(`<max>2</max><before/>`)), false, 5, 6)
	if a := f.query("dave@x.org/r", rsm(`<max>2</max><before/>`)); a.errorCond != "item-not-found" {
		t.Fatalf("a non-occupant through an unknown alias: %+v", a)
	}
}
