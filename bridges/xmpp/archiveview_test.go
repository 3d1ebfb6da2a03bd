package xmpp

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/internal/fakehs"
	"github.com/causewaybridge/causeway/matrix"
)

// richArchive adds to f's room one message of each kind the archive
// shows differently, and returns their event IDs by name.
func (f *mamFixture) richArchive() map[string]matrix.EventID {
	carol, dave := matrix.UserID("@carol:localhost"), matrix.UserID("@dave:localhost")
	ts := int64(1_796_700_000_000) // after the fixture's messages
	ids := map[string]matrix.EventID{}
	put := func(name string, sender matrix.UserID, content, unsigned string) matrix.EventID {
		ts += 1000
		e := fakehs.Event{Room: f.room, Sender: sender, Type: matrix.EventMessage, TS: ts, Content: []byte(content)}
		if name == "bundled" {
			e.ID = "$bundled:localhost"
		}
		if unsigned != "" {
			e.Unsigned = []byte(unsigned)
		}
		id := f.h.HS.PutEvent(e)
		if name != "" {
			ids[name] = id
		}
		return id
	}
	put("formatted", carol, `{"msgtype":"m.text","body":"hello *world*","format":"org.matrix.custom.html","formatted_body":"hello <b>world</b>"}`, "")
	put("file", carol, `{"msgtype":"m.image","body":"cat.png","url":"mxc://localhost/cat"}`, "")
	put("emote", carol, `{"msgtype":"m.emote","body":"waves"}`, "")
	put("edited", carol, `{"msgtype":"m.text","body":"frist"}`, "")
	put("reply", dave, `{"msgtype":"m.text","body":"> <@carol:localhost> hello *world*\n\nindeed","m.relates_to":{"m.in_reply_to":{"event_id":"`+string(ids["formatted"])+`"}}}`, "")
	put("edit", carol, `{"msgtype":"m.text","body":"* first","m.new_content":{"msgtype":"m.text","body":"first","format":"org.matrix.custom.html","formatted_body":"<i>first</i>"},"m.relates_to":{"rel_type":"m.replace","event_id":"`+string(ids["edited"])+`"}}`, "")
	// An edit by someone else than the author is ignored.
	put("hijack", dave, `{"msgtype":"m.text","body":"* hijacked","m.new_content":{"msgtype":"m.text","body":"hijacked"},"m.relates_to":{"rel_type":"m.replace","event_id":"`+string(ids["edited"])+`"}}`, "")
	put("retracted", carol, `{}`, `{"redacted_because":{"event_id":"$red1:localhost","type":"m.room.redaction","sender":"@carol:localhost","origin_server_ts":1796700100000,"redacts":"x","content":{}}}`)
	put("moderated", carol, `{}`, `{"redacted_because":{"event_id":"$red2:localhost","type":"m.room.redaction","sender":"@dave:localhost","origin_server_ts":1796700200000,"content":{}}}`)
	// An edit the homeserver bundles (Synapse) is applied though the
	// walk never reads the edit itself.
	put("bundled", carol, `{"msgtype":"m.text","body":"old"}`, `{"m.relations":{"m.replace":{"event_id":"$ed:localhost","type":"m.room.message","sender":"@carol:localhost","origin_server_ts":1796700300000,"content":{"msgtype":"m.text","body":"* new","m.new_content":{"msgtype":"m.text","body":"new"},"m.relates_to":{"rel_type":"m.replace","event_id":"$bundled:localhost"}}}}}`)
	put("", carol, `{"msgtype":"m.location","body":"here","geo_uri":"geo:1,2"}`, "")
	// An XMPP occupant's correction of its own message (the fixture's
	// fourth, sent with id bob-id), archived as it was sent.
	defer func() {
		f.g.rememberArchived(context.Background(), ids["bobedit"], sentMeta{Nick: "Bob", Real: "bob@x.org", ID: "bob-fix"})
	}()
	put("bobedit", "@_xmpp_bob=40x.org:localhost", `{"msgtype":"m.text","body":"* m3!","m.new_content":{"msgtype":"m.text","body":"m3!"},"m.relates_to":{"rel_type":"m.replace","event_id":"`+string(f.ids[3])+`"}}`, "")
	r := f.g.room(f.room)
	r.members[dave] = &member{nick: "Dave"}
	return ids
}

// TestArchiveShowsLiveContent: history on join and MAM results show
// Matrix messages as live messages are shown (one conversion, shownOf):
// formatting as XHTML-IM with the same body, files as their link with
// XEP-0066 OOB, emotes as /me, replies with an XEP-0461 reply quoting
// the author by nick, edits applied under the original's stanza-id,
// redacted messages as XEP-0424 tombstones; other msgtypes left out.
func TestArchiveShowsLiveContent(t *testing.T) {
	ctx := context.Background()
	f := newMAMFixture(t)
	ids := f.richArchive()

	order := []string{"formatted", "file", "emote", "edited", "reply", "retracted", "moderated", "bundled"}
	roomJID := f.roomJID
	xhtml := `<html xmlns="http://jabber.org/protocol/xhtml-im"><body xmlns="http://www.w3.org/1999/xhtml">`
	link := f.h.HS.URL + "/_matrix/media/v3/download/localhost/cat/cat.png"
	want := map[string][]string{
		"formatted": {`<body>hello *world*</body>`, xhtml, `<strong>world</strong>`},
		"file":      {`<body>` + link + `</body>`, `<x xmlns="jabber:x:oob"><url xmlns="jabber:x:oob">` + link + `</url><desc xmlns="jabber:x:oob">cat.png</desc></x>`},
		"emote":     {`<body>/me waves</body>`},
		"edited":    {`<body>first</body>`, `<em>first</em>`},
		"reply": {`<body>&gt; Carol: hello *world*` + "\n" + `indeed</body>`, `<reply xmlns="urn:xmpp:reply:0" to="` + roomJID + `/Carol" id="` + string(ids["formatted"]) + `">`,
			`<fallback xmlns="urn:xmpp:fallback:0" for="urn:xmpp:reply:0"><body start="0" end="23">`, `/Dave"`},
		"retracted": {`<retracted xmlns="urn:xmpp:message-retract:1" id="$red1:localhost" stamp="2026-12-08T03:21:40.000Z"></retracted>`},
		"moderated": {`<retracted xmlns="urn:xmpp:message-retract:1" id="$red2:localhost" stamp="2026-12-08T03:23:20.000Z"><moderated xmlns="urn:xmpp:message-moderate:1" by="` + roomJID + `/Dave">`},
		"bundled":   {`<body>new</body>`},
	}
	unwanted := map[string][]string{
		"edited":    {"frist", "hijacked", "<replace"},
		"reply":     {"@carol:localhost"},
		"retracted": {"<body"},
		"moderated": {"<body"},
		"bundled":   {"old"},
	}
	check := func(what string, order []string, got []string) {
		t.Helper()
		if len(got) != len(order) {
			t.Fatalf("%s: want %d messages, got %d: %q", what, len(order), len(got), got)
		}
		for i, name := range order {
			s := norm(got[i])
			for _, w := range append(want[name], `<stanza-id xmlns="urn:xmpp:sid:0" id="`+string(ids[name])+`"`) {
				if !strings.Contains(s, norm(w)) {
					t.Errorf("%s: %s lacks %s: %s", what, name, w, s)
				}
			}
			for _, w := range unwanted[name] {
				if strings.Contains(s, w) {
					t.Errorf("%s: %s has %s: %s", what, name, w, s)
				}
			}
		}
	}

	// History on join.
	r := f.g.room(f.room)
	items, _ := f.g.history(ctx, r, r.occupants["alice@x.org"], "alice@x.org/r", historyLimits{MaxChars: -1, MaxStanzas: len(order), Seconds: -1})
	n := len(queued(t, f.h))
	for _, it := range items {
		f.g.enqueue(ctx, it.Stanza)
	}
	check("history", order, queued(t, f.h)[n:])

	// The last MAM page.
	// MAM has the edits too, as XEP-0308 corrections of the message
	// (clients ignore the one by someone else than the author).
	mamOrder := []string{"formatted", "file", "emote", "edited", "reply", "edit", "hijack", "retracted", "moderated", "bundled", "bobedit"}
	want["bobedit"] = []string{`<body>m3!</body>`, `<replace xmlns="urn:xmpp:message-correct:0" id="bob-id">`, `/Bob" id="bob-fix"`}
	want["edit"] = []string{`<body>first</body>`, `<replace xmlns="urn:xmpp:message-correct:0" id="` + string(ids["edited"]) + `">`, `<em>first</em>`, `/Carol"`}
	want["hijack"] = []string{`<body>hijacked</body>`, `<replace xmlns="urn:xmpp:message-correct:0" id="` + string(ids["edited"]) + `">`, `/Dave"`}
	a := f.query("alice@x.org/r", rsm(fmt.Sprintf("<max>%d</max><before/>", len(mamOrder))))
	check("mam", mamOrder, a.results)
	for i, s := range a.results {
		if !strings.Contains(s, `<message xmlns="jabber:client" from="`) || strings.Contains(s, `<markable`) {
			t.Errorf("mam result %d is not an archived message: %s", i, s)
		}
	}

	// Live, the formatted message and the file are the same stanzas.
	n = len(queued(t, f.h))
	for _, name := range []string{"formatted", "file"} {
		var ev matrix.Event
		if err := f.h.Matrix().Intent(r.occupants["alice@x.org"].Puppet).EventContent(ctx, f.room, ids[name], &ev); err != nil {
			t.Fatal(err)
		}
		var c matrix.MessageContent
		if err := json.Unmarshal(ev.Content, &c); err != nil {
			t.Fatal(err)
		}
		out, ok := f.g.shownOf(c, "", nil)
		if !ok {
			t.Fatalf("%s not shown live", name)
		}
		f.g.fromMatrix(ctx, f.room, ev.Sender, matrix.EventID(string(ev.ID)+"live"), *out.Body, out.Extra)
	}
	var live []string
	for _, s := range queued(t, f.h)[n:] {
		if strings.HasPrefix(s, "<message") {
			live = append(live, norm(s))
		}
	}
	if len(live) != 2 {
		t.Fatalf("live: %q", live)
	}
	for i, name := range []string{"formatted", "file"} {
		for _, w := range want[name] {
			if !strings.Contains(live[i], norm(w)) {
				t.Errorf("live %s lacks %s: %s", name, w, live[i])
			}
		}
	}
}

// xmlnsAttr is a namespace declaration, as encoders repeat them.
var xmlnsAttr = regexp.MustCompile(` xmlns="[^"]*"`)

// norm is stanza s with the namespace declarations of its children
// left out (those of the top element kept), so that encodings that
// repeat them or not compare equal, and newlines as their reference.
func norm(s string) string {
	return strings.ReplaceAll(xmlnsAttr.ReplaceAllStringFunc(s, func(m string) string {
		switch m {
		case ` xmlns="jabber:client"`, ` xmlns="urn:xmpp:fallback:0"`, ` xmlns="jabber:x:oob"`, ` xmlns="http://www.w3.org/1999/xhtml"`,
			` xmlns="http://jabber.org/protocol/muc#user"`:
			return ""
		}
		return m
	}), "\n", "&#xA;")
}
