package xmpp

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/matrix"
)

// TestHistoryLimits: a join's <history/> is read as XEP-0045 §7.2.15
// says, and the messages picked are the newest that meet every limit,
// oldest first; without <history/> the configured default applies, and
// no join gets more than MaxHistoryStanzas.
func TestHistoryLimits(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var items []histItem
	for i := range 150 {
		// One message a second up to now; each stanza 10 characters
		// ("é" is one character in two bytes).
		items = append(items, histItem{ID: matrix.EventID(fmt.Sprintf("$%d", i)), TS: now.Add(time.Duration(i-149) * time.Second),
			Stanza: []byte("é23456789" + string(rune('a'+i%26)))})
	}
	for i, c := range []struct {
		history   string // the <history/> element, "" for none
		def       int
		wantN     int // messages picked: the newest wantN
		wantLimit historyLimits
	}{
		0:  {"", 20, 20, noLimits},
		1:  {"", 0, 0, noLimits},
		2:  {"<history/>", 7, 7, noLimits},
		3:  {"<history maxstanzas='3'/>", 20, 3, historyLimits{MaxChars: -1, MaxStanzas: 3, Seconds: -1}},
		4:  {"<history maxstanzas='0'/>", 20, 0, historyLimits{MaxChars: -1, MaxStanzas: 0, Seconds: -1}},
		5:  {"<history maxchars='0'/>", 20, 0, historyLimits{MaxChars: 0, MaxStanzas: -1, Seconds: -1}},
		6:  {"<history maxchars='25'/>", 20, 2, historyLimits{MaxChars: 25, MaxStanzas: -1, Seconds: -1}},
		7:  {"<history maxchars='30'/>", 20, 3, historyLimits{MaxChars: 30, MaxStanzas: -1, Seconds: -1}},
		8:  {"<history seconds='4'/>", 20, 5, historyLimits{MaxChars: -1, MaxStanzas: -1, Seconds: 4}},
		9:  {"<history seconds='60' maxstanzas='2'/>", 20, 2, historyLimits{MaxChars: -1, MaxStanzas: 2, Seconds: 60}},
		10: {"<history since='2026-12-07T11:59:50Z'/>", 20, 11, historyLimits{MaxChars: -1, MaxStanzas: -1, Seconds: -1, Since: now.Add(-10 * time.Second)}},
		11: {"<history since='2026-12-07T11:59:50.000+00:00' seconds='3'/>", 20, 4,
			historyLimits{MaxChars: -1, MaxStanzas: -1, Seconds: 3, Since: now.Add(-10 * time.Second)}},
		12: {"<history maxstanzas='1000'/>", 20, MaxHistoryStanzas, historyLimits{MaxChars: -1, MaxStanzas: 1000, Seconds: -1}},
		13: {"<history maxstanzas='x' maxchars='-1' seconds='' since='yesterday'/>", 5, 5, noLimits},
		14: {"<history seconds='0'/>", 20, 1, historyLimits{MaxChars: -1, MaxStanzas: -1, Seconds: 0}},
	} {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			x := "<x xmlns='http://jabber.org/protocol/muc'>" + c.history + "</x>"
			if c.history == "" {
				x = "<x xmlns='http://jabber.org/protocol/muc'/>"
			}
			st := parse(t, []byte("<presence to='r@matrix.test/n'>"+x+"</presence>"))
			h := parseHistory(st)
			if h != c.wantLimit {
				t.Fatalf("limits %+v, want %+v", h, c.wantLimit)
			}
			got := h.pick(items, now, c.def)
			if len(got) != c.wantN {
				t.Fatalf("picked %d, want %d", len(got), c.wantN)
			}
			if c.wantN > 0 && (got[len(got)-1].ID != "$149" || got[0].ID != items[150-c.wantN].ID) {
				t.Fatalf("picked %s..%s, want the newest %d in order", got[0].ID, got[len(got)-1].ID, c.wantN)
			}
		})
	}
	// History in another namespace, or outside the MUC <x/>, is none of it.
	for _, s := range []string{
		"<presence><x xmlns='http://jabber.org/protocol/muc'><history xmlns='urn:other' maxstanzas='1'/></x></presence>",
		"<presence><history xmlns='http://jabber.org/protocol/muc' maxstanzas='1'/></presence>",
	} {
		if h := parseHistory(parse(t, []byte(s))); h != noLimits {
			t.Errorf("%s: %+v", s, h)
		}
	}
}

// TestJoinHistory: a joining XMPP user gets, after its self-presence and
// before the subject, the room's latest messages from Matrix as its
// <history/> asks, oldest first: each from its sender's nick (an XMPP
// message from the nick it was sent with, with its ids), with a delay
// stamped with the event's time and the event ID as stanza-id; edits,
// images and state are not messages. A message from before the join
// that then arrives live (in the history or older) is not sent as live;
// a new one is.
func TestJoinHistory(t *testing.T) {
	ctx := context.Background()
	_, g, h := testGateway(t)
	room := matrix.RoomID("!r:localhost")
	local, err := address.Localpart(string(room))
	if err != nil {
		t.Fatal(err)
	}
	roomJID := local + "@matrix.test"
	carol, bobPuppet := matrix.UserID("@carol:localhost"), matrix.UserID("@_xmpp_bob=40x.org:localhost")
	ts := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC).UnixMilli()
	put := func(sender matrix.UserID, typ, content string) matrix.EventID {
		ts += 1000
		return h.HS.PutEvent(fakehs.Event{Room: room, Sender: sender, Type: typ, Content: []byte(content), TS: ts})
	}
	old := put(carol, matrix.EventMessage, `{"msgtype":"m.text","body":"too old"}`)
	oldTS := ts
	e1 := put(carol, matrix.EventMessage, `{"msgtype":"m.text","body":"one <b>&"}`)
	put(carol, matrix.EventMessage, `{"msgtype":"m.text","body":"* edit","m.relates_to":{"rel_type":"m.replace","event_id":"$x"}}`)
	e2 := put(bobPuppet, matrix.EventMessage, `{"msgtype":"m.text","body":"from bob"}`)
	g.rememberArchived(ctx, e2, sentMeta{Nick: "Bobby", Real: "bob@x.org", ID: "bob-id", Origin: "bob-origin"})
	put(carol, matrix.EventMessage, `{"msgtype":"m.location","body":"here","geo_uri":"geo:1,2"}`)
	topic := ""
	h.HS.PutEvent(fakehs.Event{Room: room, Sender: carol, Type: matrix.EventTopic, StateKey: &topic, Content: []byte(`{"topic":"T"}`)})
	e3 := put(carol, matrix.EventMessage, `{"msgtype":"m.emote","body":"waves"}`)
	h.HS.SetMembership(room, carol, "join")

	join := parse(t, []byte(`<presence from='alice@x.org/r' to='`+roomJID+`/Alice'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='3'/></x></presence>`))
	g.join(ctx, join, jid.MustParse("alice@x.org/r"), jid.MustParse(roomJID+"/Alice"))
	q := queued(t, h)
	self := -1
	for i, s := range q {
		if strings.Contains(s, `code="110"`) {
			self = i
		}
	}
	if self < 0 || len(q) != self+5 {
		t.Fatalf("want the self-presence, 3 messages and the subject: %q", q)
	}
	hist, subject := q[self+1:self+4], q[self+4]
	if !strings.Contains(subject, "<subject>T</subject>") {
		t.Errorf("subject: %s", subject)
	}
	for i, w := range []struct {
		ev   matrix.EventID
		want []string
	}{
		{e1, []string{`from="` + roomJID + `/carol"`, `id="` + string(e1) + `"`, "one &lt;b&gt;&amp;", `stamp="2026-12-07T10:00:02.000Z"`}},
		{e2, []string{`from="` + roomJID + `/Bobby"`, `id="bob-id"`, "from bob", `<origin-id xmlns="urn:xmpp:sid:0" id="bob-origin">`, `stamp="2026-12-07T10:00:04.000Z"`}},
		{e3, []string{`from="` + roomJID + `/carol"`, "/me waves", `stamp="2026-12-07T10:00:06.000Z"`}},
	} {
		for _, want := range append(w.want, `to="alice@x.org/r"`, `type="groupchat"`,
			`<stanza-id xmlns="urn:xmpp:sid:0" id="`+string(w.ev)+`" by="`+roomJID+`">`,
			`<delay xmlns="urn:xmpp:delay" from="`+roomJID+`"`, `<occupant-id xmlns="urn:xmpp:occupant-id:0" id="`) {
			if !strings.Contains(hist[i], want) {
				t.Errorf("history message %d lacks %s: %s", i, want, hist[i])
			}
		}
	}

	if g.occupantID(room, "bob@x.org") == g.occupantID(room, string(carol)) || !strings.Contains(hist[1], g.occupantID(room, "bob@x.org")) ||
		!strings.Contains(hist[0], g.occupantID(room, string(carol))) {
		t.Errorf("occupant-ids: %q", hist)
	}
	// e3 arriving live now is not sent twice; a new message is.
	messages := func() []string {
		var out []string
		for _, s := range queued(t, h)[len(q):] {
			if strings.HasPrefix(s, "<message") {
				out = append(out, s)
			}
		}
		return out
	}
	g.fromMatrix(ctx, room, carol, e3, "/me waves", nil)
	if m := messages(); len(m) != 0 {
		t.Fatalf("a history message was sent again live: %q", m)
	}
	// An older message the homeserver pushes late is of the past too.
	g.fromMatrixAt(ctx, room, carol, old, time.UnixMilli(oldTS), "too old", nil)
	if m := messages(); len(m) != 0 {
		t.Fatalf("a message from before the join was sent as live: %q", m)
	}
	g.fromMatrix(ctx, room, carol, "$new", "new", nil)
	if m := messages(); len(m) != 1 || !strings.Contains(m[0], "new") {
		t.Fatalf("the live message: %q", m)
	}
}

// TestJoinSecondResourceGetsMissed: a second resource of an occupant
// joins; a Matrix message that the room sends while its history is
// being read (so neither in the history nor sent to the new resource
// live) is sent to it after the subject, once.
func TestJoinSecondResourceGetsMissed(t *testing.T) {
	ctx := context.Background()
	_, g, h := testGateway(t)
	room := matrix.RoomID("!r:localhost")
	local, err := address.Localpart(string(room))
	if err != nil {
		t.Fatal(err)
	}
	roomJID := local + "@matrix.test"
	carol, alice := matrix.UserID("@carol:localhost"), matrix.UserID("@_xmpp_alice=40x.org:localhost")
	if err := h.Matrix().Intent(alice).EnsureRegistered(ctx); err != nil {
		t.Fatal(err)
	}
	h.HS.SetMembership(room, alice, "join")
	r := g.room(room)
	r.loaded = true
	r.members = map[matrix.UserID]*member{carol: {nick: "Carol"}}
	r.occupants["alice@x.org"] = &occupant{RoomJID: roomJID, Nick: "Alice", Real: "alice@x.org",
		Resources: newResourceSet("alice@x.org/r1"), Puppet: alice}
	old := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	h.HS.Handle("GET /_matrix/client/v3/rooms/{room}/messages", func(w http.ResponseWriter, req *http.Request) {
		// The message arrives while the join reads the history.
		g.fromMatrixAt(ctx, room, carol, "$during", old.Add(time.Minute), "said during the join", nil)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"chunk":[{"event_id":"$old","type":"m.room.message","sender":"%s","origin_server_ts":%d,"content":{"msgtype":"m.text","body":"old"}}],"start":"s"}`,
			carol, old.UnixMilli())
	})
	join := parse(t, []byte(`<presence from='alice@x.org/r2' to='`+roomJID+`/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`))
	g.join(ctx, join, jid.MustParse("alice@x.org/r2"), jid.MustParse(roomJID+"/Alice"))
	var toR1, toR2 []string
	for _, s := range queued(t, h) {
		switch {
		case strings.Contains(s, `to="alice@x.org/r1"`) && strings.HasPrefix(s, "<message"):
			toR1 = append(toR1, s)
		case strings.Contains(s, `to="alice@x.org/r2"`):
			toR2 = append(toR2, s)
		}
	}
	if len(toR1) != 1 || !strings.Contains(toR1[0], "said during the join") {
		t.Fatalf("to the first resource: %q", toR1)
	}
	n := len(toR2)
	if n < 4 || !strings.Contains(toR2[n-4], `code="110"`) || !strings.Contains(toR2[n-3], ">old<") ||
		!strings.Contains(toR2[n-2], "<subject") || !strings.Contains(toR2[n-1], "said during the join") {
		t.Fatalf("to the joining resource, want self-presence, history, subject, the missed message: %q", toR2)
	}
	if strings.Contains(toR2[n-1], "urn:xmpp:delay") {
		t.Errorf("the missed message has a delay: %s", toR2[n-1])
	}
}
