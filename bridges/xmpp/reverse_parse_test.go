package xmpp

import (
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
)

const mamResult = `<message from='lounge@conference.x.org' to='matrix.test'><result xmlns='urn:xmpp:mam:2' queryid='q1' id='a1'>` +
	`<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='2026-12-01T10:00:00.5Z'/>` +
	`<message xmlns='jabber:client' from='lounge@conference.x.org/Alice' type='groupchat' id='m1'><body>old *news*</body>` +
	`<origin-id xmlns='urn:xmpp:sid:0' id='o1'/><x xmlns='http://jabber.org/protocol/muc#user'><item jid='alice@x.org'/></x>` +
	`</message></forwarded></result></message>`

// TestMAMResults: an archive result for a waiting query, from its MUC,
// is collected with its sender's nick and real JID, body, formatting
// input, archive id and original time; results for other queries or
// from elsewhere are not taken.
func TestMAMResults(t *testing.T) {
	m, g, _ := testGateway(t)
	rv := newReverse(m, g)
	col := &mamCollect{muc: testMUC}
	rv.mam["q1"] = col
	muc, self := jid.MustParse(testMUC), jid.MustParse("matrix.test")
	if !rv.mamRoute(parse(t, []byte(mamResult)), muc, self) {
		t.Fatal("the result was not taken")
	}
	if len(col.items) != 1 {
		t.Fatalf("items %+v", col.items)
	}
	it := col.items[0]
	want := time.Date(2026, 12, 1, 10, 0, 0, 5e8, time.UTC)
	if it.Nick != "Alice" || it.JID != "alice@x.org" || it.Msg.Body != "old *news*" || it.Msg.In.text != "old *news*" ||
		it.Msg.StanzaID != "a1" || it.Msg.OriginID != "o1" || !it.Msg.Stamp.Equal(want) {
		t.Fatalf("item %+v", it)
	}
	if rv.mamRoute(parse(t, []byte(strings.Replace(mamResult, "'q1'", "'q2'", 1))), muc, self) {
		t.Error("a result for another query was taken")
	}
	if rv.mamRoute(parse(t, []byte(mamResult)), jid.MustParse("other@conference.x.org"), self) {
		t.Error("a result from another room was taken")
	}
}

// lenientStanza reads raw as the component would, or reports false.
func lenientStanza(raw string) (*component.Stanza, jid.JID, bool) {
	d := xml.NewDecoder(strings.NewReader(raw))
	st := &component.Stanza{}
	for depth := 0; ; {
		tok, err := d.Token()
		if err != nil {
			return nil, jid.JID{}, false
		}
		tok = xml.CopyToken(tok)
		switch tt := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				st.Start = tt
				continue
			}
		case xml.EndElement:
			depth--
			if depth == 0 {
				from, err := jid.Parse(st.Attr("from"))
				return st, from, err == nil
			}
		}
		if depth > 0 {
			st.Inner = append(st.Inner, tok)
		}
	}
}

// FuzzReverseParsers: whatever a MUC sends, reading it as an occupant
// presence, a groupchat message or an archive result does not panic,
// and an archive result is collected at most once.
func FuzzReverseParsers(f *testing.F) {
	for _, seed := range []string{
		mamResult,
		selfPresence("Carol", "unavailable", "110", "307"),
		conflictPresence("Carol"),
		`<message from='lounge@conference.x.org/A' type='groupchat'><body>x</body><subject>t</subject><delay xmlns='urn:xmpp:delay' stamp='bad'/></message>`,
		`<message from='lounge@conference.x.org'><result xmlns='urn:xmpp:mam:2' queryid='q1'><forwarded/></result></message>`,
		`<message from='lounge@conference.x.org' type='groupchat'><retract xmlns='urn:xmpp:message-retract:1' id='s1'>` +
			`<moderated xmlns='urn:xmpp:message-moderate:1' by='lounge@conference.x.org/M'/><reason>r</reason></retract></message>`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		st, from, ok := lenientStanza(raw)
		if !ok {
			return
		}
		_ = parseMUCPresence(st, from)
		_ = parseMUCMessage(st, from.Bare().String())
		if m, ok := parseModerated(st.Inner, from.Bare().String()); ok && m.target == "" {
			t.Fatal("a moderation naming no message")
		}
		rv := &reverse{mam: map[string]*mamCollect{}}
		col := &mamCollect{muc: from.String()}
		rv.mam["q1"] = col
		rv.mamRoute(st, from, jid.JID{})
		if len(col.items) > 1 {
			t.Fatalf("one stanza gave %d results", len(col.items))
		}
	})
}
