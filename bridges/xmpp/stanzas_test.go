package xmpp

import (
	"encoding/xml"
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges/xmpp/component"
	"github.com/causewaybridge/causeway/matrix"
)

// parse decodes an encoded stanza into a component.Stanza the way the
// component reads incoming ones.
func parse(t testing.TB, b []byte) *component.Stanza {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(string(b)))
	st := &component.Stanza{}
	for depth := 0; ; {
		tok, err := d.Token()
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		tok = xml.CopyToken(tok)
		switch tt := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				st.Start = tt
				depth++
				continue
			}
			depth++
		case xml.EndElement:
			depth--
			if depth == 0 {
				return st
			}
		}
		st.Inner = append(st.Inner, tok)
	}
}

func TestPresenceStatusCodes(t *testing.T) {
	self := presenceStanza("#r@m.example/Alice", "alice@example.org/phone",
		mucItem{Affiliation: "member", Role: "participant", JID: "alice@example.org/phone"}, false,
		statusNonAnonymous, statusSelf, statusLogged)
	want := `<presence from="#r@m.example/Alice" to="alice@example.org/phone"><x xmlns="http://jabber.org/protocol/muc#user">` +
		`<item affiliation="member" role="participant" jid="alice@example.org/phone"></item>` +
		`<status code="100"></status><status code="110"></status><status code="170"></status></x></presence>`
	if string(self) != want {
		t.Fatalf("self-presence:\n got %s\nwant %s", self, want)
	}
	gone := string(presenceStanza("#r@m.example/Alice", "alice@example.org/phone", mucItem{Affiliation: "member"}, true, statusSelf))
	if !strings.Contains(gone, `type="unavailable"`) || !strings.Contains(gone, `role="none"`) || !strings.Contains(gone, `code="110"`) {
		t.Fatalf("unavailable self-presence: %s", gone)
	}
	other := string(presenceStanza("#r@m.example/Bob", "alice@example.org/phone", mucItem{Affiliation: "owner", Role: "moderator"}, false))
	if strings.Contains(other, "status") || strings.Contains(other, "type=") {
		t.Fatalf("another occupant's presence: %s", other)
	}
}

func TestErrorStanzas(t *testing.T) {
	b := string(errorPresenceStanza("presence", "#r@m.example/Alice", "bob@example.org/x", "j1", "#r@m.example",
		"cancel", "conflict", `the nickname "Alice" is taken <here>`))
	for _, want := range []string{`<presence from="#r@m.example/Alice" to="bob@example.org/x" id="j1" type="error">`,
		`<x xmlns="http://jabber.org/protocol/muc"></x>`, `<error type="cancel" by="#r@m.example">`,
		`<conflict xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"></conflict>`,
		`<text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">the nickname &#34;Alice&#34; is taken &lt;here&gt;</text>`} {
		if !strings.Contains(b, want) {
			t.Errorf("error presence lacks %s: %s", want, b)
		}
	}
	m := string(errorPresenceStanza("message", "#r@m.example", "bob@example.org/x", "m1", "#r@m.example", "modify", "not-acceptable", ""))
	if !strings.HasPrefix(m, "<message ") || strings.Contains(m, "muc") || strings.Contains(m, "<text") {
		t.Fatalf("error message: %s", m)
	}
}

// TestMessageEscaping: Matrix text cannot inject XML; what goes out
// parses back to the same body, with one body, the ids and markable.
func TestMessageEscaping(t *testing.T) {
	for _, text := range []string{`</body><evil/>`, `a & b <c d="e">`, "]]>", "ctl\x01\x1b bytes", `"quotes' and /me`} {
		b := messageStanza("#r@m.example/Carol", "alice@example.org/phone", "$ev", text, "", "$ev", "#r@m.example", "")
		st := parse(t, b)
		if n := len(children(st)); n != 3 {
			t.Fatalf("%q: %d children, want body, stanza-id and markable: %s", text, n, b)
		}
		got := body(st)
		want := strings.Map(func(r rune) rune {
			if r < 0x20 && r != '\n' && r != '\t' && r != '\r' {
				return '\uFFFD'
			}
			return r
		}, text)
		if got != want {
			t.Fatalf("body %q, want %q: %s", got, want, b)
		}
		sid, ok := find(st, nsStanzaID, "stanza-id")
		if !ok || attr(sid.Start, "id") != "$ev" || attr(sid.Start, "by") != "#r@m.example" {
			t.Fatalf("stanza-id: %s", b)
		}
	}
	withOrigin := parse(t, messageStanza("#r@m.example/A", "a@example.org/x", "m1", "hi", "o1", "$e", "#r@m.example", ""))
	if originID(withOrigin) != "o1" || withOrigin.Attr("id") != "m1" {
		t.Fatal("origin-id or id lost")
	}
}

func TestSubjectStanza(t *testing.T) {
	if got := string(subjectStanza("#r@m.example", "a@example.org/x", "")); got !=
		`<message from="#r@m.example" to="a@example.org/x" type="groupchat"><subject></subject></message>` {
		t.Fatalf("empty subject: %s", got)
	}
	st := parse(t, subjectStanza("#r@m.example", "a@example.org/x", "Topic <b>&"))
	if c, ok := find(st, "", "subject"); !ok || c.Text != "Topic <b>&" {
		t.Fatalf("subject: %+v", c)
	}
}

func TestBodyIgnoresForeignNamespaces(t *testing.T) {
	st := parse(t, []byte(`<message xmlns="jabber:client"><body xmlns="urn:other">no</body><body>yes</body></message>`))
	if got := body(st); got != "yes" {
		t.Fatalf("body %q", got)
	}
}

func TestWithTo(t *testing.T) {
	b := presenceStanza("#r@m.example/A", "", mucItem{Affiliation: "member", Role: "participant"}, false)
	got := string(withTo(b, `bob@example.org/a"b<`))
	if !strings.Contains(got, `to="bob@example.org/a&#34;b&lt;"`) || strings.Count(got, "to=") != 1 {
		t.Fatalf("withTo: %s", got)
	}
}

func TestAffiliation(t *testing.T) {
	for _, c := range []struct {
		level     int
		aff, role string
	}{{100, "owner", "moderator"}, {50, "admin", "moderator"}, {49, "member", "participant"}, {0, "member", "participant"}, {-5, "member", "participant"}} {
		if aff, role := affiliation(c.level); aff != c.aff || role != c.role {
			t.Errorf("level %d: %s/%s, want %s/%s", c.level, aff, role, c.aff, c.role)
		}
	}
}

func TestNickConflict(t *testing.T) {
	r := &mucRoom{occupants: map[string]*occupant{"alice@example.org": {Nick: "Alice", Real: "alice@example.org"}},
		members: map[matrix.UserID]*member{"@carol:example.org": {nick: "Carol"}}}
	if who := r.nickTaken("Alice", "bob@example.org"); who == "" {
		t.Error("another XMPP user's nick is free")
	}
	if who := r.nickTaken("Carol", "bob@example.org"); who == "" {
		t.Error("a Matrix user's nick is free")
	}
	if who := r.nickTaken("Alice", "alice@example.org"); who != "" {
		t.Errorf("one's own nick is taken by %s", who)
	}
	if who := r.nickTaken("Bob", "bob@example.org"); who != "" {
		t.Errorf("a free nick is taken by %s", who)
	}
}

func TestAnnounceBounded(t *testing.T) {
	r := &mucRoom{members: map[matrix.UserID]*member{
		"@a:x": {nick: "a"}, "@b:x": {nick: "b", level: 100}, "@c:x": {nick: "c", level: 50}, "@d:x": {nick: "d"}}}
	got := r.announce(3)
	if len(got) != 3 || got[0] != "@b:x" || got[1] != "@c:x" || got[2] != "@a:x" {
		t.Fatalf("announce(3) = %v", got)
	}
}

func TestSentKeyRoundTrip(t *testing.T) {
	key := sentKey("alice@example.org", "Al/ice ☃", "#r@m.example", "id/1", "")
	if strings.ContainsAny(key, "\t") || strings.Count(key, "/") != 5 {
		t.Fatalf("key %q", key)
	}
	real, nick, room, id, origin, ok := parseSentKey(key)
	if !ok || real != "alice@example.org" || nick != "Al/ice ☃" || room != "#r@m.example" || id != "id/1" || origin != "" {
		t.Fatalf("parse: %q %q %q %q %q %v", real, nick, room, id, origin, ok)
	}
	if a, b := sentKey("a@x", "n", "r@y", "", ""), sentKey("a@x", "n", "r@y", "", ""); a == b {
		t.Fatal("messages without ids share a key")
	}
	if _, _, _, _, _, ok := parseSentKey("g/a/b"); ok {
		t.Fatal("a short key parsed")
	}
}

func TestCleanNick(t *testing.T) {
	if got := cleanNick("  Ca\x00rol\u007f \n"); got != "Carol" {
		t.Fatalf("cleanNick: %q", got)
	}
}
