package xmpp

import (
	"encoding/xml"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/causewaybridge/causeway/matrix"
)

// elements counts the elements of an encoded stanza, failing on XML that
// is not well-formed.
func elements(t *testing.T, b []byte) int {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	n := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatalf("not well-formed: %v: %s", err, b)
		}
		if _, ok := tok.(xml.StartElement); ok {
			n++
		}
	}
}

// FuzzContacts: what 1:1 chats and contacts read from XMPP stanzas never
// panics; the outbox key of a chat gives back its sender, Matrix user,
// id and origin-id, and its link its sender and id; Matrix text and
// names in the stanzas the component writes (chats and their relations)
// stay text (no element added, the XML well-formed).
func FuzzContacts(f *testing.F) {
	for _, seed := range []struct{ raw, text string }{
		{`<presence from='a@x.org/r' to='carol\3alocalhost@matrix.test' type='subscribe'><nick xmlns='http://jabber.org/protocol/nick'>A</nick></presence>`, "Carol"},
		{`<presence from='a@x.org/r' to='carol\3alocalhost@matrix.test'><show>away</show><status>lunch</status></presence>`, "</status><evil/>"},
		{`<message from='a@x.org/r' to='carol\3alocalhost@matrix.test' type='chat' id='m/1'><body>hi</body><origin-id xmlns='urn:xmpp:sid:0' id='o\1'/></message>`, "a & b <c>"},
		{`<message from='a@x.org/r' to='#room\3alocalhost@matrix.test/nick' type='chat'><body/></message>`, "\x00\uFFFE"},
	} {
		f.Add(seed.raw, seed.text)
	}
	f.Fuzz(func(t *testing.T, raw, text string) {
		if st, from, ok := lenientStanza(raw); ok {
			show, status := presenceOf(st)
			_, _, _ = show, status, body(st)
			_, _ = find(st, nsNick, "nick")
			s := subscription{}
			_ = s.apply(st.Attr("type"))
			id, origin := st.Attr("id"), originID(st)
			real := from.Bare().String()
			u := matrix.UserID("@" + text + ":localhost")
			gotReal, gotU, gotID, gotOrigin, ok := parseDMKey(dmKey(real, u, id, origin))
			if !ok || gotReal != real || gotU != u || (id != "" || origin != "") && (gotID != id || gotOrigin != origin) {
				t.Fatalf("dmKey(%q, %q, %q, %q) read back as %q %q %q %q %t", real, u, id, origin, gotReal, gotU, gotID, gotOrigin, ok)
			}
			if lr, lid, ok := parseMsgLink(msgRemoteID("!dm:localhost", real, id)); !ok || lr != real || lid != id {
				t.Fatalf("msgRemoteID(%q, %q) read back as %q %q %t", real, id, lr, lid, ok)
			}
		}
		if !utf8.ValidString(text) {
			return
		}
		want := 3 // presence, show, caps (available)
		if text != "" {
			want += 2 // status, nick
		}
		if n := elements(t, contactPresence("c@matrix.test", "a@x.org", "", "away", text, text)); n != want {
			t.Fatalf("presence with %q has %d elements, want %d", text, n, want)
		}
		if n := elements(t, chatMessage("c@matrix.test", "a@x.org", "$e", text)); n != 4 { // message, body, stanza-id, markable
			t.Fatalf("chat with %q has %d elements, want 4", text, n)
		}
		// A relation in a 1:1 chat: message, body, replace, reply,
		// fallback and its body, reactions and one reaction, store,
		// markable, stanza-id.
		rel := relOut{ID: "$e", Body: &text, Replace: "m1", ReplyID: "m1", ReplyJID: "a@x.org", ReplyQuote: 1,
			HasReactions: true, ReactionsTo: "m1", Reactions: []string{text}, StanzaID: "$e", Markable: true}
		if n := elements(t, chatRelStanza("c@matrix.test", "a@x.org", rel)); n != 11 {
			t.Fatalf("a chat relation with %q has %d elements, want 11: %s", text, n, chatRelStanza("c@matrix.test", "a@x.org", rel))
		}
	})
}
