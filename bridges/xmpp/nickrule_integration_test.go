//go:build integration

package xmpp

import (
	"context"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/integration"
)

// TestIntegrationXMPPMatrixNickClash: on Dendrite and Prosody, in a
// hosted room with Carol (Matrix) and the XMPP occupants Alice and Bob,
// dave joins from Matrix also named "Carol" and erin named "Alice". The
// XMPP client sees two distinct occupants "Carol (dave)" and
// "Alice (erin)" (never a second presence of Carol or Alice), and each
// one's message comes from its own nick; history on join (a second
// client of Bob) and the archive (MAM) name them as live did. Carol renaming herself frees "Carol": dave's occupant
// becomes Carol by a 303 nick change, and his next message comes from
// Carol.
func TestIntegrationXMPPMatrixNickClash(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m := startModRoom(ctx, t, "prosody")
	m.presence(m.alice, "Carol", "")
	dave, erin := m.s.User(ctx, "dave"), m.s.User(ctx, "erin")
	for _, u := range []struct {
		c    *integration.Client
		name string
	}{{dave, "Carol"}, {erin, "Alice"}} {
		if err := u.c.SetDisplayname(ctx, u.name); err != nil {
			t.Fatal(err)
		}
		if _, err := u.c.Join(ctx, string(m.room)); err != nil {
			t.Fatal(err)
		}
	}
	daveJID, err := address.UserJID(jid.MustParse(m.domain), dave.UserID)
	if err != nil {
		t.Fatal(err)
	}
	m.presence(m.alice, "Carol (dave)", "", `jid="`+daveJID.String()+`"`)
	m.presence(m.alice, "Alice (erin)", "")
	for _, s := range m.alice.Received() { // no second Carol, no Matrix Alice
		if s.Name == "presence" && (s.From == m.muc+"/Carol" && strings.Contains(s.XML, daveJID.String()) ||
			s.From == m.muc+"/Alice" && !strings.Contains(s.XML, "alice@")) {
			t.Errorf("a Matrix member shares a nick: %s", s.XML)
		}
	}

	say := func(c *integration.Client, text, nick string) {
		t.Helper()
		if _, err := c.SendText(ctx, m.room, text); err != nil {
			t.Fatal(err)
		}
		m.wait(m.alice, "message "+text+" from "+nick, func(s integration.XMPPStanza) bool {
			return s.Name == "message" && strings.Contains(s.XML, text) && !strings.Contains(s.XML, "urn:xmpp:mam:2")
		})
		for _, s := range m.alice.Received() {
			if s.Name == "message" && strings.Contains(s.XML, text) && s.From != m.muc+"/"+nick {
				t.Errorf("%q came from %s, want %s", text, s.From, nick)
			}
		}
	}
	say(m.carol, "from carol", "Carol")
	say(dave, "from dave", "Carol (dave)")
	say(erin, "from erin", "Alice (erin)")

	// The archive names them as live did (their names have not changed).
	page := queryMAM(ctx, t, m.alice, m.muc, "nq", `<set xmlns='http://jabber.org/protocol/rsm'><max>10</max><before/></set>`)
	got := map[string]string{}
	for _, st := range page.results {
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
		got[r.Result.Forwarded.M.Body] = r.Result.Forwarded.M.From
	}
	for body, nick := range map[string]string{"from carol": "Carol", "from dave": "Carol (dave)", "from erin": "Alice (erin)"} {
		if got[body] != m.muc+"/"+nick {
			t.Errorf("MAM: %q from %q, want %s", body, got[body], nick)
		}
	}

	// History on join (a second client of Bob) names them as live did.
	phone := integration.DialXMPPResource(t, m.srv.C2SAddr(), "bob", "pw", "phone")
	m.send(phone, `<presence to='`+m.muc+`/Bob'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='3'/></x></presence>`)
	m.wait(phone, "the subject", func(s integration.XMPPStanza) bool { return s.Name == "message" && strings.Contains(s.XML, "<subject") })
	hist := map[string]string{}
	for _, st := range phone.Received() {
		var sm shownMessage
		if st.Name == "message" && strings.Contains(st.XML, "urn:xmpp:delay") && xml.Unmarshal([]byte(st.XML), &sm) == nil {
			hist[sm.Body] = sm.From
		}
	}
	for body, nick := range map[string]string{"from carol": "Carol", "from dave": "Carol (dave)", "from erin": "Alice (erin)"} {
		if hist[body] != m.muc+"/"+nick {
			t.Errorf("history: %q from %q, want %s", body, hist[body], nick)
		}
	}

	// Carol renames: Carol is freed and goes to dave, by 303.
	if err := m.carol.SetDisplayname(ctx, "Caroline"); err != nil {
		t.Fatal(err)
	}
	m.presence(m.alice, "Carol", "unavailable", `code="303"`, `nick="Caroline"`)
	m.presence(m.alice, "Carol (dave)", "unavailable", `code="303"`, `nick="Carol"`)
	m.presence(m.alice, "Carol", "", `jid="`+daveJID.String()+`"`)
	say(dave, "dave again", "Carol")
}
