package xmpp

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges"
	"github.com/causewaybridge/causeway/intent"
	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
)

const (
	testMUC  = "lounge@conference.x.org"
	testSelf = `carol\3alocalhost@matrix.test/` + occupantResource
)

// selfPresence is the MUC's presence about nick to the client, with codes.
func selfPresence(nick, typ string, codes ...string) string {
	s := `<presence from='` + testMUC + `/` + nick + `' to='` + testSelf + `'`
	if typ != "" {
		s += ` type='` + typ + `'`
	}
	s += `><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'><reason>spam</reason></item>`
	for _, c := range codes {
		s += `<status code='` + c + `'/>`
	}
	return s + `</x></presence>`
}

func conflictPresence(nick string) string {
	return `<presence from='` + testMUC + `/` + nick + `' to='` + testSelf + `' type='error'><x xmlns='http://jabber.org/protocol/muc'/>` +
		`<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`
}

func mucPresenceOf(t *testing.T, raw string) mucPresence {
	t.Helper()
	st := parse(t, []byte(raw))
	return parseMUCPresence(st, jid.MustParse(st.Attr("from")))
}

// TestMUCClientJoinConflictKick: the client joins without history, holds
// Matrix messages meanwhile, retries a taken nick with a suffix, is
// joined on its self-presence (the held messages go out, the user is
// told the nick), and a kick ends it with a notice and no re-join.
func TestMUCClientJoinConflictKick(t *testing.T) {
	c := newClient("@carol:localhost", jid.MustParse(`carol\3alocalhost@matrix.test`), testMUC, "Carol")
	join := string(c.join())
	for _, want := range []string{`from="` + testSelf + `"`, `to="` + testMUC + `/Carol"`, `<history maxstanzas="0">`, `http://jabber.org/protocol/muc`} {
		if !strings.Contains(join, want) {
			t.Errorf("join lacks %s: %s", want, join)
		}
	}
	if !c.hold(heldMessage{Event: "$1", Text: "early"}) {
		t.Fatal("a joining client did not hold a message")
	}
	p := mucPresenceOf(t, conflictPresence("Carol"))
	if !c.isSelf(p) {
		t.Fatal("the join's error is not about the client")
	}
	st := c.onSelf(p)
	if st.gone || len(st.send) != 1 || !strings.Contains(string(st.send[0]), `to="`+testMUC+`/Carol[m]"`) {
		t.Fatalf("after a conflict: %+v %q", st, st.send)
	}
	// Another occupant's presence is not the client's.
	if c.isSelf(mucPresenceOf(t, selfPresence("Dave", ""))) {
		t.Fatal("another occupant's presence taken as the client's")
	}
	st = c.onSelf(mucPresenceOf(t, selfPresence("Carol[m]", "", "110")))
	if !st.joined || c.state != clientJoined || c.nick != "Carol[m]" || len(st.flush) != 1 || st.flush[0].Text != "early" ||
		!strings.Contains(st.tell, `as "Carol[m]"`) {
		t.Fatalf("joined: state %d nick %q step %+v", c.state, c.nick, st)
	}
	if c.hold(heldMessage{Event: "$2"}) {
		t.Fatal("a joined client held a message")
	}
	// A new displayname is a nick change: the MUC's 303 moves the
	// client; a refused change keeps the old nick, with a notice.
	if b := c.rename("Caroline"); !strings.Contains(string(b), `to="`+testMUC+`/Caroline"`) || strings.Contains(string(b), "history") {
		t.Fatalf("nick change: %s", b)
	}
	moved := `<presence from='` + testMUC + `/Carol[m]' to='` + testSelf + `' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'>` +
		`<item nick='Caroline' role='participant'/><status code='303'/><status code='110'/></x></presence>`
	if p := mucPresenceOf(t, moved); !c.isSelf(p) || c.onSelf(p).gone || c.nick != "Caroline" || c.state != clientJoined {
		t.Fatalf("after the 303: nick %q state %d", c.nick, c.state)
	}
	c.onSelf(mucPresenceOf(t, selfPresence("Caroline", "", "110")))
	c.rename("Zed")
	if st := c.onSelf(mucPresenceOf(t, conflictPresence("Zed"))); st.gone || c.nick != "Caroline" || c.state != clientJoined ||
		!strings.Contains(st.tell, `stays "Caroline"`) {
		t.Fatalf("a refused nick change: nick %q state %d step %+v", c.nick, c.state, st)
	}
	st = c.onSelf(mucPresenceOf(t, selfPresence("Caroline", "unavailable", "110", "307")))
	if !st.gone || c.state != clientGone || !strings.Contains(st.tell, "kicked") || !strings.Contains(st.tell, "spam") {
		t.Fatalf("kicked: %+v", st)
	}
	// Whatever the MUC says next, the client does not join again.
	if st := c.onSelf(mucPresenceOf(t, conflictPresence("Caroline"))); len(st.send) != 0 {
		t.Fatalf("re-joined after a kick: %q", st.send)
	}
}

// TestMUCClientGivesUp: after maxNickTries taken nicks, or any other
// refusal, the client ends with a notice saying why.
func TestMUCClientGivesUp(t *testing.T) {
	c := newClient("@carol:localhost", jid.MustParse(`carol\3alocalhost@matrix.test`), testMUC, "Carol")
	c.join()
	var st clientStep
	for i := 0; i < maxNickTries; i++ {
		st = c.onSelf(mucPresenceOf(t, conflictPresence(c.nick)))
	}
	if !st.gone || !strings.Contains(st.tell, "every nickname tried was taken") {
		t.Fatalf("after %d conflicts: %+v", maxNickTries, st)
	}
	c = newClient("@carol:localhost", jid.MustParse(`carol\3alocalhost@matrix.test`), testMUC, "Carol")
	c.join()
	st = c.onSelf(mucPresenceOf(t, `<presence from='`+testMUC+`/Carol' type='error'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`))
	if !st.gone || !strings.Contains(st.tell, "banned") {
		t.Fatalf("forbidden: %+v", st)
	}
}

// TestReversePortal: a Matrix member's join sends the occupant's join;
// once it is in, puppets of occupants not in the MUC leave the room;
// other occupants become puppets that join the portal room, and their
// message, received by two of the bridge's occupants, is posted once;
// the reflection of a Matrix message is linked, not posted; a Matrix
// message goes to the MUC with its event ID as origin-id; the MUC's
// pings to a joined occupant are answered, others refused.
func TestReversePortal(t *testing.T) {
	ctx := context.Background()
	m, g, h := testGateway(t)
	m.cfg.MUCBackfill = 0
	rv := newReverse(m, g)
	m.rev = rv
	room := matrix.RoomID("!portal:localhost")
	rp := rv.add(room, testMUC)
	from := func(nick string) jid.JID { return jid.MustParse(testMUC + "/" + nick) }

	rv.membership(ctx, rp, "@carol:localhost", matrix.MemberContent{Membership: "join", Displayname: "Carol"})
	rv.membership(ctx, rp, "@dave:localhost", matrix.MemberContent{Membership: "join", Displayname: "Dave"})
	q := queued(t, h)
	if len(q) != 2 || !strings.Contains(q[0], `to="`+testMUC+`/Carol"`) {
		t.Fatalf("joins: %q", q)
	}
	daveSelf := `dave\3alocalhost@matrix.test/` + occupantResource
	// Before the self-presence, a Matrix message is held.
	rv.fromMatrix(ctx, rp, "@carol:localhost", "$early", "early bird", nil)
	if len(queued(t, h)) != 2 {
		t.Fatal("a message was sent before the join completed")
	}
	// A puppet in the portal room whose occupant left while nobody of
	// the bridge was in the MUC leaves once the first occupant is in.
	ghost := matrix.UserID("@_xmpp_ghost=40x.org:localhost")
	h.HS.SetMembership(room, ghost, "join")
	rv.presence(ctx, rp, parse(t, []byte(selfPresence("Carol", "", "110"))), from("Carol"), jid.MustParse(testSelf))
	poll.Until(t, "the ghost puppet leaves", 5*time.Second, func() bool {
		for _, op := range h.Sent.Ops() {
			if op.Kind == intent.OpMembership && op.Sender == ghost && op.Type == "leave" {
				return true
			}
		}
		return false
	})
	q = queued(t, h)
	if len(q) != 3 || !strings.Contains(q[2], "early bird") || !strings.Contains(q[2], `<origin-id xmlns="urn:xmpp:sid:0" id="$early">`) ||
		!strings.Contains(q[2], `type="groupchat"`) || !strings.Contains(q[2], `to="`+testMUC+`"`) {
		t.Fatalf("after the join: %q", q)
	}
	dave := strings.ReplaceAll(selfPresence("Dave", "", "110"), testSelf, daveSelf)
	rv.presence(ctx, rp, parse(t, []byte(dave)), from("Dave"), jid.MustParse(daveSelf))

	// A real occupant, seen by both of the bridge's occupants; the
	// bridge's own nicks are not puppets.
	alice := `<presence from='` + testMUC + `/Alice' to='%s'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='alice@x.org/phone' role='participant'/></x></presence>`
	for _, to := range []string{testSelf, daveSelf} {
		rv.presence(ctx, rp, parse(t, []byte(strings.Replace(alice, "%s", to, 1))), from("Alice"), jid.MustParse(to))
		rv.presence(ctx, rp, parse(t, []byte(strings.Replace(selfPresence("Dave", ""), testSelf, to, 1))), from("Dave"), jid.MustParse(to))
	}
	// An occupant whose real JID the MUC hides is a puppet of its
	// occupant JID.
	bob := `<presence from='` + testMUC + `/Bob' to='` + testSelf + `'><x xmlns='http://jabber.org/protocol/muc#user'><item role='participant'/></x></presence>`
	rv.presence(ctx, rp, parse(t, []byte(bob)), from("Bob"), jid.MustParse(testSelf))
	bobPuppet, err := g.puppetOf(testMUC + "/Bob")
	if err != nil {
		t.Fatal(err)
	}
	var joins []intent.Op
	for _, op := range h.Sent.Ops() {
		if op.Kind == intent.OpMembership && op.Type == "join" {
			joins = append(joins, op)
		}
	}
	if len(joins) != 2 || joins[0].Sender != "@_xmpp_alice=40x.org:localhost" || joins[0].Type != "join" || joins[0].Room != room ||
		joins[1].Sender != bobPuppet {
		t.Fatalf("puppet joins: %+v", joins)
	}

	// Alice's message, received twice, is posted once.
	msg := `<message from='` + testMUC + `/Alice' to='%s' type='groupchat' id='a1'><body>hello</body><stanza-id xmlns='urn:xmpp:sid:0' id='s1' by='` + testMUC + `'/></message>`
	for _, to := range []string{testSelf, daveSelf} {
		rv.message(ctx, rp, parse(t, []byte(strings.Replace(msg, "%s", to, 1))), from("Alice"), jid.MustParse(to))
	}
	var posts []intent.Op
	for _, op := range h.Sent.Ops() {
		if op.Kind == intent.OpMessage {
			posts = append(posts, op)
		}
	}
	if len(posts) != 1 || posts[0].Sender != "@_xmpp_alice=40x.org:localhost" || !strings.Contains(string(posts[0].Content), "hello") ||
		posts[0].Key != revKey(testMUC, "s1", "Alice", "a1") {
		t.Fatalf("posts: %+v", posts)
	}

	// A message already linked (posted long ago: the outbox forgot its
	// key) is not posted again.
	if err := h.Links().Put(ctx, bridges.Link{Remote: bridges.MessageID{ID: revKey(testMUC, "s0", "Alice", "a1")}, Room: room, Event: "$old"}); err != nil {
		t.Fatal(err)
	}
	old := strings.Replace(strings.Replace(msg, "'s1'", "'s0'", 1), "%s", testSelf, 1)
	rv.message(ctx, rp, parse(t, []byte(old)), from("Alice"), jid.MustParse(testSelf))

	// The reflection of Carol's message: linked, not posted.
	refl := `<message from='` + testMUC + `/Carol' to='` + testSelf + `' type='groupchat' id='$early'><body>early bird</body>` +
		`<origin-id xmlns='urn:xmpp:sid:0' id='$early'/><stanza-id xmlns='urn:xmpp:sid:0' id='s2' by='` + testMUC + `'/></message>`
	rv.message(ctx, rp, parse(t, []byte(refl)), from("Carol"), jid.MustParse(testSelf))
	if n := len(h.Sent.Ops()); n != len(joins)+len(posts)+3 { // + the puppets' profiles and the ghost's leave
		t.Fatalf("the reflection was posted: %+v", h.Sent.Ops())
	}
	if l, err := h.Links().ByRemote(ctx, bridges.MessageID{ID: "rv/" + testMUC + "/s2"}); err != nil || l.Event != "$early" {
		t.Fatalf("reflection link: %+v %v", l, err)
	}

	// Corrections: Alice's message, once Matrix has it, is linked by her
	// id; her correction naming it is an edit of its event. A Matrix
	// edit goes to the MUC as a correction of the event's own id.
	m.OnOutboxSent(ctx, posts[0], "$hello")
	corr := `<message from='` + testMUC + `/Alice' to='` + testSelf + `' type='groupchat' id='a2'><body>hello!</body>` +
		`<replace xmlns='urn:xmpp:message-correct:0' id='a1'/><stanza-id xmlns='urn:xmpp:sid:0' id='s3' by='` + testMUC + `'/></message>`
	rv.message(ctx, rp, parse(t, []byte(corr)), from("Alice"), jid.MustParse(testSelf))
	edit := lastOp(t, h)
	if !strings.Contains(string(edit.Content), `"rel_type":"m.replace"`) || !strings.Contains(string(edit.Content), `"event_id":"$hello"`) ||
		!strings.Contains(string(edit.Content), `"body":"* hello!"`) || edit.Sender != "@_xmpp_alice=40x.org:localhost" {
		t.Fatalf("correction: %+v %s", edit, edit.Content)
	}
	rv.edit(ctx, rp, "@carol:localhost", "$fix", "$early", "early bird!", nil)
	if q := queued(t, h); !strings.Contains(q[len(q)-1], `<replace xmlns="urn:xmpp:message-correct:0" id="$early">`) ||
		!strings.Contains(q[len(q)-1], "early bird!") || !strings.Contains(q[len(q)-1], `id="$fix"`) {
		t.Fatalf("Matrix edit: %s", q[len(q)-1])
	}

	// Retractions: Alice's retraction naming her message's stanza-id
	// is a redaction by her puppet; a Matrix user's redaction of their
	// own message is a retraction by stanza-id and origin-id; of
	// someone else's, not bridged.
	retr := `<message from='` + testMUC + `/Alice' to='` + testSelf + `' type='groupchat' id='a3'>` +
		`<retract xmlns='urn:xmpp:message-retract:1' id='s1'/><stanza-id xmlns='urn:xmpp:sid:0' id='s4' by='` + testMUC + `'/></message>`
	rv.message(ctx, rp, parse(t, []byte(retr)), from("Alice"), jid.MustParse(testSelf))
	if op := lastOp(t, h); op.Kind != intent.OpRedaction || op.Redacts != "$hello" || op.Sender != "@_xmpp_alice=40x.org:localhost" {
		t.Fatalf("retraction: %+v", op)
	}
	h.HS.PutEvent(fakehs.Event{ID: "$early", Room: room, Sender: "@carol:localhost", Type: matrix.EventMessage, Content: json.RawMessage(`{"body":"early bird"}`)})
	red := &bridges.Redaction{Portal: &bridges.Portal{Key: bridges.PortalKey{ID: revPortalPrefix + testMUC}, Room: room},
		Event: &matrix.Event{ID: "$red", Sender: "@carol:localhost"}, Target: "$early"}
	if err := rv.redact(ctx, rp, red); err != nil {
		t.Fatal(err)
	}
	q = queued(t, h)
	if last := q[len(q)-1]; !strings.Contains(last, `<retract xmlns="urn:xmpp:message-retract:1" id="s2">`) ||
		!strings.Contains(last, `<apply-to xmlns="urn:xmpp:fasten:0" id="$early">`) || !strings.Contains(last, `id="$red"`) {
		t.Fatalf("Matrix redaction: %s", last)
	}
	red.Event.Sender = "@dave:localhost"
	if err := rv.redact(ctx, rp, red); !errors.Is(err, bridges.ErrUnsupported) {
		t.Fatalf("someone else's redaction: %v", err)
	}

	// Reactions: Alice's set naming a message by its stanza-id becomes
	// m.reaction events of her puppet (a smaller set redacts one); a
	// Matrix user's reaction sends their set naming the stanza-id, and
	// its redaction the smaller set.
	react := func(id string, keys ...string) {
		x := `<message from='` + testMUC + `/Alice' to='` + testSelf + `' type='groupchat' id='` + id + `'><reactions xmlns='urn:xmpp:reactions:0' id='s1'>`
		for _, k := range keys {
			x += `<reaction>` + k + `</reaction>`
		}
		x += `</reactions><stanza-id xmlns='urn:xmpp:sid:0' id='` + id + `' by='` + testMUC + `'/></message>`
		rv.message(ctx, rp, parse(t, []byte(x)), from("Alice"), jid.MustParse(testSelf))
	}
	react("x1", "👍", "🎉")
	ops := h.Sent.Ops()
	thumbs := ops[len(ops)-2]
	if thumbs.Type != matrix.EventReaction || !strings.Contains(string(thumbs.Content), `"event_id":"$hello"`) ||
		!strings.Contains(string(thumbs.Content), `"key":"👍"`) || thumbs.Sender != "@_xmpp_alice=40x.org:localhost" {
		t.Fatalf("reaction: %+v %s", thumbs, thumbs.Content)
	}
	react("x2", "🎉")
	if op := lastOp(t, h); op.Kind != intent.OpRedaction || op.Redacts == "" {
		t.Fatalf("a dropped reaction: %+v", op)
	}
	rv.rememberSID(ctx, "$early", "s2")
	mxr := &bridges.Reaction{Portal: red.Portal, Event: &matrix.Event{ID: "$r1", Sender: "@carol:localhost"}, Target: "$early", Key: "❤️"}
	if err := rv.react(ctx, rp, mxr); err != nil {
		t.Fatal(err)
	}
	q = queued(t, h)
	if last := q[len(q)-1]; !strings.Contains(last, `<reactions xmlns="urn:xmpp:reactions:0" id="s2">`) || !strings.Contains(last, `>❤️</reaction>`) ||
		!strings.Contains(last, `from="`+testSelf+`"`) || strings.Contains(last, "<body") {
		t.Fatalf("Matrix reaction: %s", last)
	}
	rv.unreact(ctx, rp, &bridges.Redaction{Portal: red.Portal, Event: &matrix.Event{ID: "$r2", Sender: "@carol:localhost"}, Target: "$r1"},
		"$early", "@carol:localhost")
	q = queued(t, h)
	if last := q[len(q)-1]; !strings.Contains(last, `<reactions xmlns="urn:xmpp:reactions:0" id="s2"></reactions>`) {
		t.Fatalf("Matrix reaction redacted: %s", last)
	}

	// Replies: Alice's reply naming Carol's message by stanza-id is an
	// m.in_reply_to without the quote; a Matrix reply goes with an
	// XEP-0461 reply and a quote by nick, never the Matrix fallback.
	rp2 := `<message from='` + testMUC + `/Alice' to='` + testSelf + `' type='groupchat' id='y1'><body>> Carol: early bird
indeed</body>` +
		`<reply xmlns='urn:xmpp:reply:0' to='` + testMUC + `/Carol' id='s2'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='20'/></fallback>` +
		`<stanza-id xmlns='urn:xmpp:sid:0' id='s9' by='` + testMUC + `'/></message>`
	rv.message(ctx, rp, parse(t, []byte(rp2)), from("Alice"), jid.MustParse(testSelf))
	if op := lastOp(t, h); !strings.Contains(string(op.Content), `"m.in_reply_to":{"event_id":"$early"}`) ||
		!strings.Contains(string(op.Content), `"body":"indeed"`) {
		t.Fatalf("XMPP reply: %s", op.Content)
	}
	mxReply := &bridges.Message{Portal: red.Portal, Event: &matrix.Event{ID: "$re", Sender: "@carol:localhost"}, ReplyTo: "$early",
		Content: matrix.MessageContent{MsgType: matrix.MsgText, Body: "> <@carol:localhost> early bird\n\nme too"}}
	rv.replyFromMatrix(ctx, rp, mxReply)
	q = queued(t, h)
	if last := q[len(q)-1]; !strings.Contains(last, "&gt; Carol: early bird\nme too") || strings.Contains(last, "@carol:localhost") ||
		!strings.Contains(last, `id="s2"`) || !strings.Contains(last, `to="`+testMUC+`/Carol"`) || !strings.Contains(last, "urn:xmpp:reply:0") {
		t.Fatalf("Matrix reply: %s", last)
	}

	// Chat states: Alice composing (the copy to the listening occupant)
	// is her puppet typing; a Matrix user typing is composing from their
	// occupant, stopping is active.
	composing := `<message from='` + testMUC + `/Alice' to='` + testSelf + `' type='groupchat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`
	rv.message(ctx, rp, parse(t, []byte(composing)), from("Alice"), jid.MustParse(testSelf))
	typingCalls := func() (n int) {
		for _, r := range h.HS.Requests() {
			if r.Method == "PUT" && strings.Contains(r.Path, "/typing/") && r.User == "@_xmpp_alice=40x.org:localhost" &&
				strings.Contains(string(r.Body), `"typing":true`) {
				n++
			}
		}
		return n
	}
	if n := typingCalls(); n != 1 {
		t.Fatalf("alice's puppet typing: %d calls", n)
	}
	rv.typingFromMatrix(ctx, room, []matrix.UserID{"@carol:localhost"})
	q = queued(t, h)
	if last := q[len(q)-1]; !strings.Contains(last, "composing") || !strings.Contains(last, `from="`+testSelf+`"`) || strings.Contains(last, "<body") {
		t.Fatalf("Matrix typing: %s", last)
	}
	rv.typingFromMatrix(ctx, room, nil)
	q = queued(t, h)
	if last := q[len(q)-1]; !strings.Contains(last, "<active") {
		t.Fatalf("Matrix typing stopped: %s", last)
	}

	// Pings from the MUC.
	before := len(queued(t, h))
	ping := func(to string) {
		st := parse(t, []byte(`<iq type='get' id='p1' from='`+testMUC+`/Alice' to='`+to+`'><ping xmlns='urn:xmpp:ping'/></iq>`))
		if !rv.pingRoute(st, from("Alice"), jid.MustParse(to)) {
			t.Fatalf("ping to %s not taken", to)
		}
	}
	ping(testSelf)
	ping(`erin\3alocalhost@matrix.test/` + occupantResource)
	q = queued(t, h)[before:]
	if len(q) != 2 || !strings.Contains(q[0], `type="result"`) || !strings.Contains(q[0], `from="`+testSelf+`"`) ||
		!strings.Contains(q[1], "not-acceptable") {
		t.Fatalf("ping answers: %q", q)
	}
	if rv.pingRoute(parse(t, []byte(`<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>`)), jid.MustParse("other@x.org/r"), jid.MustParse(testSelf)) {
		t.Fatal("a ping from outside the portals was taken")
	}

	// Presence both ways: an occupant's away is its puppet's
	// unavailable; a Matrix user's away goes to the MUC from their
	// occupant.
	away := `<presence from='` + testMUC + `/Alice' to='` + testSelf + `'><show>away</show><status>lunch</status>` +
		`<x xmlns='http://jabber.org/protocol/muc#user'><item jid='alice@x.org/phone' role='participant'/></x></presence>`
	rv.presence(ctx, rp, parse(t, []byte(away)), from("Alice"), jid.MustParse(testSelf))
	poll.Until(t, "alice's puppet is away", 5*time.Second, func() bool {
		p := h.HS.Presence("@_xmpp_alice=40x.org:localhost")
		return strings.Contains(p, `"unavailable"`) && strings.Contains(p, "lunch")
	})
	before = len(queued(t, h))
	rv.matrixPresence(ctx, "@carol:localhost", "unavailable", "in a meeting")
	if q := queued(t, h)[before:]; len(q) != 1 || !strings.Contains(q[0], `from="`+testSelf+`"`) || !strings.Contains(q[0], `to="`+testMUC+`/Carol"`) ||
		!strings.Contains(q[0], "<show>away</show>") || !strings.Contains(q[0], "<status>in a meeting</status>") {
		t.Fatalf("carol's away: %q", q)
	}

	// A private message from an occupant is refused with a text; the
	// MUC's own notices are dropped.
	before = len(queued(t, h))
	pm := parse(t, []byte(`<message type='chat' id='pm1' from='`+testMUC+`/Alice' to='`+testSelf+`'><body>psst</body></message>`))
	notice := parse(t, []byte(`<message from='`+testMUC+`' to='`+testSelf+`'><body>room notice</body></message>`))
	if !rv.privateRoute(pm, from("Alice"), jid.MustParse(testSelf)) || !rv.privateRoute(notice, jid.MustParse(testMUC), jid.MustParse(testSelf)) {
		t.Fatal("a message from the MUC was not taken")
	}
	if q := queued(t, h)[before:]; len(q) != 1 || !strings.Contains(q[0], "service-unavailable") || !strings.Contains(q[0], `to="`+testMUC+`/Alice"`) {
		t.Fatalf("answers to a private message and a notice: %q", q)
	}
	if rv.privateRoute(pm, jid.MustParse("other@x.org/r"), jid.MustParse(testSelf)) {
		t.Fatal("a chat from outside the portals was taken")
	}

	// A message the MUC refuses gets a notice replying to it.
	refusedMsg := `<message type='error' id='$early' from='` + testMUC + `' to='` + testSelf + `'><error type='auth'>` +
		`<forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no voice</text></error></message>`
	rv.message(ctx, rp, parse(t, []byte(refusedMsg)), jid.MustParse(testMUC), jid.MustParse(testSelf))
	ops = h.Sent.Ops()
	last := ops[len(ops)-1]
	if !strings.Contains(string(last.Content), "Not delivered to XMPP") || !strings.Contains(string(last.Content), "no voice") ||
		!strings.Contains(string(last.Content), "$early") {
		t.Fatalf("refusal notice: %s", last.Content)
	}

	// A message the MUC refuses because it does not know the occupant
	// (it forgot it): the occupant joins again and the message goes out
	// once more after the join; refused again, it gets a notice.
	rv.fromMatrix(ctx, rp, "@carol:localhost", "$lost", "lost once", nil)
	notIn := strings.NewReplacer("$early", "$lost", "auth", "cancel", "forbidden", "not-acceptable").Replace(refusedMsg)
	before = len(queued(t, h))
	nOps := len(h.Sent.Ops())
	rv.message(ctx, rp, parse(t, []byte(notIn)), jid.MustParse(testMUC), jid.MustParse(testSelf))
	if q := queued(t, h)[before:]; len(q) != 1 || !strings.Contains(q[0], `to="`+testMUC+`/Carol"`) || !strings.Contains(q[0], "maxstanzas") {
		t.Fatalf("rejoin after not-acceptable: %q", q)
	}
	rv.presence(ctx, rp, parse(t, []byte(selfPresence("Carol", "", "110"))), from("Carol"), jid.MustParse(testSelf))
	if q := queued(t, h); !strings.Contains(q[len(q)-1], "lost once") {
		t.Fatalf("not sent again after the rejoin: %q", q[len(q)-1])
	}
	if len(h.Sent.Ops()) != nOps {
		t.Fatalf("a notice for a message sent again: %+v", h.Sent.Ops()[nOps:])
	}
	rv.message(ctx, rp, parse(t, []byte(notIn)), jid.MustParse(testMUC), jid.MustParse(testSelf))
	ops = h.Sent.Ops()
	if len(ops) != nOps+1 || !strings.Contains(string(ops[nOps].Content), "Not delivered to XMPP") {
		t.Fatalf("refused twice: %+v", ops[nOps:])
	}

	// A new component session sends the join of every client not gone
	// again (the server may have restarted); messages wait for it.
	before = len(queued(t, h))
	rv.rejoin(ctx)
	if q := queued(t, h)[before:]; len(q) != 2 || !strings.Contains(q[0]+q[1], `to="`+testMUC+`/Carol"`) ||
		!strings.Contains(q[0]+q[1], `to="`+testMUC+`/Dave"`) || !strings.Contains(q[0], `maxstanzas="0"`) {
		t.Fatalf("rejoin: %q", q)
	}
	rv.fromMatrix(ctx, rp, "@carol:localhost", "$held", "held again", nil)
	if q := queued(t, h); strings.Contains(q[len(q)-1], "held again") {
		t.Fatal("a message went out before the rejoin completed")
	}
	rv.presence(ctx, rp, parse(t, []byte(selfPresence("Carol", "", "110"))), from("Carol"), jid.MustParse(testSelf))
	if q := queued(t, h); !strings.Contains(q[len(q)-1], "held again") {
		t.Fatalf("the held message after the rejoin: %q", q[len(q)-1])
	}

	// A Matrix leave leaves the MUC.
	rv.membership(ctx, rp, "@carol:localhost", matrix.MemberContent{Membership: "leave"})
	q = queued(t, h)
	if last := q[len(q)-1]; !strings.Contains(last, `type="unavailable"`) || !strings.Contains(last, `from="`+testSelf+`"`) {
		t.Fatalf("leave: %s", last)
	}
}
