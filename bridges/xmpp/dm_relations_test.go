package xmpp

import (
	"strings"
	"testing"

	"github.com/causewaybridge/causeway/bridges"
)

// TestChatRelStanza: relations in 1:1 chats are type='chat' from the
// Matrix user's JID, whose JID gave the stanza-id; a reply names its
// author by JID; a new message is markable; text is escaped.
func TestChatRelStanza(t *testing.T) {
	body := "> Alice: hi\n</body><evil/>"
	for i, tc := range []struct {
		m          relOut
		want, none []string
	}{
		0: {m: relOut{ID: "$e", Body: &body, StanzaID: "$e", ReplyID: "m1", ReplyJID: "alice@x.org", ReplyQuote: 12, Markable: true},
			want: []string{`type="chat"`, `from="c@m.test"`, `to="alice@x.org"`, `<reply xmlns="urn:xmpp:reply:0" to="alice@x.org" id="m1">`,
				`start="0" end="12"`, `<stanza-id xmlns="urn:xmpp:sid:0" id="$e" by="c@m.test">`, "markable", "&lt;/body&gt;&lt;evil/&gt;"},
			none: []string{"<evil/>", "groupchat"}},
		1: {m: relOut{ID: "$r", HasReactions: true, ReactionsTo: "m1", Reactions: []string{"👍"}},
			want: []string{`type="chat"`, `<reactions xmlns="urn:xmpp:reactions:0" id="m1">`, "<store"},
			none: []string{"markable", "<body"}},
		2: {m: relOut{ID: "$d", Retract: "$c1", StanzaID: "$d"},
			want: []string{`<retract xmlns="urn:xmpp:message-retract:1" id="$c1">`, "<body>", "<store"},
			none: []string{"moderated", "markable"}},
		3: {m: relOut{ID: "$x", Body: &body, Replace: "$c1"},
			want: []string{`<replace xmlns="urn:xmpp:message-correct:0" id="$c1">`}},
	} {
		s := string(chatRelStanza("c@m.test", "alice@x.org", tc.m))
		for _, w := range tc.want {
			if !strings.Contains(s, w) {
				t.Errorf("%d: lacks %s: %s", i, w, s)
			}
		}
		for _, n := range tc.none {
			if strings.Contains(s, n) {
				t.Errorf("%d: has %s: %s", i, n, s)
			}
		}
	}
	// In a room the reply still names the occupant JID.
	if s := string(relStanza("r@m.test/Carol", "a@x.org/r", "r@m.test", relOut{ID: "$e", Body: &body, ReplyID: "$o", ReplyNick: "Alice"})); !strings.Contains(s, `to="r@m.test/Alice"`) ||
		!strings.Contains(s, `type="groupchat"`) {
		t.Errorf("groupchat reply: %s", s)
	}
}

// TestDMMessageID: a chat is named by its id attribute, else its
// origin-id; an id the bridge made up is not the client's.
func TestDMMessageID(t *testing.T) {
	for i, tc := range []struct{ id, origin, want string }{
		0: {"m1", "o1", "m1"},
		1: {"", "o1", "o1"},
		2: {"m1", "", "m1"},
		3: {randomID(), "o1", "o1"},
		4: {"", "", ""},
	} {
		if got := dmMessageID(tc.id, tc.origin); got != tc.want {
			t.Errorf("%d: dmMessageID(%q, %q) = %q, want %q", i, tc.id, tc.origin, got, tc.want)
		}
	}
}

// TestParseMsgLink: the author and id come back from a message link,
// escaping and all; other remote IDs are not message links.
func TestParseMsgLink(t *testing.T) {
	real, id, ok := parseMsgLink(msgRemoteID("!dm:x", "a@b.org", "m/1 2"))
	if !ok || real != "a@b.org" || id != "m/1 2" {
		t.Fatalf("parseMsgLink: %q %q %v", real, id, ok)
	}
	for _, s := range []string{dmKey("a@b.org", "@c:x", "m1", ""), reactionRemoteID("$e", "@c:x", "👍"), "x/a/b", "x/a/b/c/d"} {
		if _, _, ok := parseMsgLink(s); ok {
			t.Errorf("parseMsgLink(%q) is a message link", s)
		}
	}
}

// TestDMJIDOf: a direct chat portal names its XMPP user (from its
// metadata, else its key); other portals are not direct chats.
func TestDMJIDOf(t *testing.T) {
	p := &bridges.Portal{Key: dmPortalKey("a@b.org", "@c:x")}
	if real, ok := dmJIDOf(p); !ok || real != "a@b.org" {
		t.Fatalf("dmJIDOf by key: %q %v", real, ok)
	}
	if err := bridges.SetPortalMeta(p, dmMeta{JID: "meta@b.org"}); err != nil {
		t.Fatal(err)
	}
	if real, ok := dmJIDOf(p); !ok || real != "meta@b.org" {
		t.Fatalf("dmJIDOf by meta: %q %v", real, ok)
	}
	for _, q := range []*bridges.Portal{nil, {Key: bridges.PortalKey{ID: portalPrefix + "!r:x"}}} {
		if _, ok := dmJIDOf(q); ok {
			t.Errorf("dmJIDOf(%+v) is a direct chat", q)
		}
	}
}
