//go:build integration

package xmpp

import (
	"context"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/matrix"
)

// shownMessage is what a client reads of a groupchat message: its body,
// stanza-id, XHTML-IM, OOB link, reply and retraction tombstone.
type shownMessage struct {
	From     string `xml:"from,attr"`
	Body     string `xml:"jabber:client body"`
	StanzaID struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:sid:0 stanza-id"`
	HTML *struct {
		Inner string `xml:",innerxml"`
	} `xml:"http://jabber.org/protocol/xhtml-im html"`
	OOB *struct {
		URL  string `xml:"url"`
		Desc string `xml:"desc"`
	} `xml:"jabber:x:oob x"`
	Reply *struct {
		ID string `xml:"id,attr"`
		To string `xml:"to,attr"`
	} `xml:"urn:xmpp:reply:0 reply"`
	Retracted *struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:message-retract:1 retracted"`
	Replace *struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:message-correct:0 replace"`
}

// TestIntegrationXMPPRichHistory: on Dendrite and Prosody, a Matrix user
// posts a formatted message, a file, an emote, a message she then edits,
// one she redacts and a reply. An XMPP client joining gets them as
// history, and a MAM query (the last page, and forward from the start)
// gets them too, each as it would have come live: XHTML-IM with the
// same body, the file's link as body and OOB URL, /me, the edited text
// under the original's stanza-id, a retraction tombstone without the
// redacted text, an XEP-0461 reply quoting Carol by nick; MAM also has
// the edit as an XEP-0308 correction of the original, where it was made.
func TestIntegrationXMPPRichHistory(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"))
	domain := p.ComponentDomain()
	s := bridgetest.Start(t, bridgetest.Options{
		Bridges: fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q}\n", p.ComponentAddr(), domain, p.ComponentSecret()),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", RoomAliasName: "Rich"})
	if err != nil {
		t.Fatal(err)
	}
	send := func(content map[string]any) matrix.EventID {
		t.Helper()
		id, err := carol.SendEvent(ctx, room, matrix.EventMessage, content)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	mxc, err := uploadMedia(ctx, carol, "notes.txt", "text/plain", []byte("some notes"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]matrix.EventID{}
	ids["formatted"] = send(map[string]any{"msgtype": "m.text", "body": "hello *world*", "format": htmlFormat, "formatted_body": "hello <strong>world</strong>"})
	ids["file"] = send(map[string]any{"msgtype": "m.file", "body": "notes.txt", "url": mxc, "info": map[string]any{"mimetype": "text/plain", "size": 10}})
	ids["emote"] = send(map[string]any{"msgtype": "m.emote", "body": "waves"})
	ids["edited"] = send(map[string]any{"msgtype": "m.text", "body": "frist"})
	ids["edit"] = send(map[string]any{"msgtype": "m.text", "body": "* first", "m.new_content": map[string]any{"msgtype": "m.text", "body": "first"},
		"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": ids["edited"]}})
	ids["redacted"] = send(map[string]any{"msgtype": "m.text", "body": "oops secret"})
	if err := carol.Redact(ctx, room, ids["redacted"], ""); err != nil {
		t.Fatal(err)
	}
	ids["reply"] = send(map[string]any{"msgtype": "m.text", "body": "> <@carol:localhost> hello *world*\n\nindeed",
		"m.relates_to": map[string]any{"m.in_reply_to": map[string]any{"event_id": ids["formatted"]}}})
	// Once Carol's sync has the reply, Dendrite serves the redaction.
	if _, err := carol.WaitForEvent(ctx, func(ev *matrix.Event) bool { return ev.ID == ids["reply"] }); err != nil {
		t.Fatal(err)
	}
	order := []string{"formatted", "file", "emote", "edited", "redacted", "reply"}

	local, err := address.Localpart("#Rich:localhost")
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + domain
	check := func(what string, order []string, got []shownMessage) {
		t.Helper()
		if len(got) != len(order) {
			t.Fatalf("%s: want %d messages, got %d: %+v", what, len(order), len(got), got)
		}
		for i, name := range order {
			m := got[i]
			if m.StanzaID.ID != string(ids[name]) {
				t.Errorf("%s: message %d (%s) has stanza-id %q, want %s", what, i, name, m.StanzaID.ID, ids[name])
			}
			if m.From != muc+"/Carol" {
				t.Errorf("%s: %s from %s", what, name, m.From)
			}
			ok := true
			switch name {
			case "formatted":
				ok = m.Body == "hello *world*" && m.HTML != nil && strings.Contains(m.HTML.Inner, "world</strong>")
			case "file":
				ok = m.OOB != nil && m.Body == m.OOB.URL && strings.Contains(m.Body, "/_matrix/media/v3/download/localhost/") &&
					strings.HasSuffix(m.Body, "/notes.txt") && m.OOB.Desc == "notes.txt"
			case "emote":
				ok = m.Body == "/me waves"
			case "edited":
				ok = m.Body == "first" && m.Replace == nil
			case "edit":
				ok = m.Body == "first" && m.Replace != nil && m.Replace.ID == string(ids["edited"])
			case "redacted":
				ok = m.Body == "" && m.Retracted != nil
			case "reply":
				ok = m.Body == "> Carol: hello *world*\nindeed" && m.Reply != nil && m.Reply.ID == string(ids["formatted"]) &&
					m.Reply.To == muc+"/Carol"
			}
			if !ok {
				t.Errorf("%s: %s shown as %+v", what, name, m)
			}
		}
	}

	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	waitComponent(ctx, t, alice, domain)
	if err := alice.Send(ctx, `<presence to='`+muc+`/Alice'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='10'/></x></presence>`); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Wait(ctx, func(s integration.XMPPStanza) bool { return s.Name == "message" && strings.Contains(s.XML, "<subject") }); err != nil {
		t.Fatalf("subject: %v", err)
	}
	var hist []shownMessage
	for _, st := range alice.Received() {
		if st.Name != "message" || !strings.HasPrefix(st.From, muc) || strings.Contains(st.XML, "<subject") {
			continue
		}
		var m shownMessage
		if err := xml.Unmarshal([]byte(st.XML), &m); err != nil {
			t.Fatalf("history message: %v: %s", err, st.XML)
		}
		hist = append(hist, m)
	}
	check("history on join", order, hist)

	results := func(p mamPage) []shownMessage {
		var out []shownMessage
		for _, st := range p.results {
			var r struct {
				Result struct {
					Forwarded struct {
						M shownMessage `xml:"jabber:client message"`
					} `xml:"urn:xmpp:forward:0 forwarded"`
				} `xml:"urn:xmpp:mam:2 result"`
			}
			if err := xml.Unmarshal([]byte(st.XML), &r); err != nil {
				t.Fatalf("MAM result: %v: %s", err, st.XML)
			}
			out = append(out, r.Result.Forwarded.M)
		}
		return out
	}
	// MAM has the edit too, as an XEP-0308 correction.
	mamOrder := []string{"formatted", "file", "emote", "edited", "edit", "redacted", "reply"}
	last := queryMAM(ctx, t, alice, muc, "last", `<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set>`)
	check("MAM last page", mamOrder, results(last))
	fwd := queryMAM(ctx, t, alice, muc, "fwd", `<set xmlns='http://jabber.org/protocol/rsm'><max>10</max></set>`)
	check("MAM from the start", mamOrder, results(fwd))

	// Alice's message and her XEP-0308 correction of it: the archive has
	// the message as corrected, with her ids, and the correction with
	// the ids she sent it with.
	for _, st := range []string{
		`<message to='` + muc + `' type='groupchat' id='a1'><body>tpyo</body><origin-id xmlns='urn:xmpp:sid:0' id='o-a1'/></message>`,
		`<message to='` + muc + `' type='groupchat' id='a2'><body>typo</body><replace xmlns='urn:xmpp:message-correct:0' id='a1'/><origin-id xmlns='urn:xmpp:sid:0' id='o-a2'/></message>`,
	} {
		if err := alice.Send(ctx, st); err != nil {
			t.Fatal(err)
		}
		id := st[strings.Index(st, "id='")+4 : strings.Index(st, "'><body")]
		if _, err := alice.Wait(ctx, func(s integration.XMPPStanza) bool {
			return s.Name == "message" && s.ID == id && strings.Contains(s.XML, "stanza-id")
		}); err != nil {
			t.Fatalf("the reflection of %s: %v", id, err)
		}
	}
	own := queryMAM(ctx, t, alice, muc, "own", `<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>`+
		`<field var='after-id'><value>`+string(ids["reply"])+`</value></field></x>`)
	got := results(own)
	if len(got) != 2 || got[0].Body != "typo" || got[0].Replace != nil || got[1].Body != "typo" || got[1].Replace == nil || got[1].Replace.ID != "a1" ||
		got[0].From != muc+"/Alice" || got[1].From != muc+"/Alice" {
		t.Fatalf("alice's corrected message in the archive: %+v", got)
	}
	for i, want := range []string{`id="a1"`, `id="a2"`} {
		if !strings.Contains(own.results[i].XML, want) {
			t.Errorf("archived %d lacks %s: %s", i, want, own.results[i].XML)
		}
	}
}
