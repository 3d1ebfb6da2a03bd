//go:build integration

package xmpp

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/causewaybridge/causeway/bridges/xmpp/address"
	"github.com/causewaybridge/causeway/internal/bridgetest"
	"github.com/causewaybridge/causeway/internal/integration"
	"github.com/causewaybridge/causeway/internal/poll"
	"github.com/causewaybridge/causeway/matrix"
	"github.com/causewaybridge/causeway/puppet"
)

var occupantIDRe = regexp.MustCompile(`<occupant-id(?: xmlns="urn:xmpp:occupant-id:0")* id="([^"]+)"`)

// occupantIDOf returns the occupant-id of a stanza, failing when it has
// none or several.
func occupantIDOf(t *testing.T, st integration.XMPPStanza) string {
	t.Helper()
	m := occupantIDRe.FindAllStringSubmatch(st.XML, -1)
	if len(m) != 1 {
		t.Fatalf("want one occupant-id: %s", st.XML)
	}
	return m[0][1]
}

// TestIntegrationXMPPMUCExtras: on Dendrite and Prosody, the room's
// XEP-0045 details and ephemeral bits: XEP-0410 self-pings (joined:
// result; after leaving: not-acceptable; the bare room: result), XEP-0421
// occupant-ids (the same for alice across two joins, on her presences
// and her reflected messages, and Carol's on Carol's), the muc#roominfo
// form's occupant count, XEP-0085 chat states ↔ typing both ways, and
// XEP-0333 displayed markers ↔ read receipts both ways, and avatars
// both ways through vCards (XEP-0153 hash → puppet avatar_url; Matrix
// avatar → vCard of the occupant JID and of the user's JID; an XMPP
// occupant's hash in the room's presences and its vCard relayed; a
// Matrix member's hash in its presence once its avatar is known).
func TestIntegrationXMPPMUCExtras(t *testing.T) {
	t.Parallel()
	p := integration.StartProsody(t, integration.WithProsodyUser("alice", "pw"), integration.WithProsodyUser("bob", "pw"),
		integration.WithProsodyModules("vcard"))
	domain := p.ComponentDomain()
	s := bridgetest.Start(t, bridgetest.Options{EphemeralSync: true,
		Bridges: fmt.Sprintf("  xmpp: {server: %q, domain: %q, secret: %q}\n", p.ComponentAddr(), domain, p.ComponentSecret()),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	carol := s.User(ctx, "carol")
	if err := carol.SetDisplayname(ctx, "Carol"); err != nil {
		t.Fatal(err)
	}
	room, err := carol.CreateRoom(ctx, integration.CreateRoomRequest{Preset: "public_chat", Visibility: "public",
		Name: "Extras", RoomAliasName: "Extras", Topic: "All the extras"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := address.Localpart("#Extras:localhost")
	if err != nil {
		t.Fatal(err)
	}
	muc := local + "@" + domain
	users, err := puppet.NewUsers("@_xmpp_{name}:{server}", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	alicePuppet, err := users.Format(puppet.Values{"name": "alice@" + integration.ProsodyHost})
	if err != nil {
		t.Fatal(err)
	}
	alice := integration.DialXMPP(t, p.C2SAddr(), "alice", "pw")
	bob := integration.DialXMPP(t, p.C2SAddr(), "bob", "pw")
	n := 0
	iq := func(c *integration.XMPPClient, to, payload string) integration.XMPPStanza {
		t.Helper()
		n++
		id := fmt.Sprintf("q%d", n)
		r, err := c.IQ(ctx, id, `<iq type='get' id='`+id+`' to='`+to+`'>`+payload+`</iq>`)
		if err != nil {
			t.Fatalf("iq to %s: %v", to, err)
		}
		return r
	}
	const ping = `<ping xmlns='urn:xmpp:ping'/>`
	// The component connects in the background.
	for r := iq(alice, domain, ping); r.Type != "result"; r = iq(alice, domain, ping) {
		if ctx.Err() != nil {
			t.Fatalf("component never answered: %s", r.XML)
		}
		time.Sleep(100 * time.Millisecond)
	}
	wait := func(c *integration.XMPPClient, what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		st, err := c.Wait(ctx, match)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return st
	}
	// after waits for a stanza received after the first before ones
	// (Wait calls match once per stanza, in order).
	after := func(c *integration.XMPPClient, before int, what string, match func(integration.XMPPStanza) bool) integration.XMPPStanza {
		t.Helper()
		i := 0
		return wait(c, what, func(s integration.XMPPStanza) bool {
			i++
			return i > before && match(s)
		})
	}
	join := func(c *integration.XMPPClient, nick string, extra string) integration.XMPPStanza {
		t.Helper()
		before := len(c.Received())
		if err := c.Send(ctx, `<presence to='`+muc+`/`+nick+`'><x xmlns='http://jabber.org/protocol/muc'/>`+extra+`</presence>`); err != nil {
			t.Fatal(err)
		}
		return after(c, before, nick+"'s join", func(s integration.XMPPStanza) bool {
			return s.Name == "presence" && s.From == muc+"/"+nick && strings.Contains(s.XML, `code="110"`)
		})
	}
	leave := func(c *integration.XMPPClient, nick string) {
		t.Helper()
		before := len(c.Received())
		if err := c.Send(ctx, `<presence to='`+muc+`/`+nick+`' type='unavailable'/>`); err != nil {
			t.Fatal(err)
		}
		after(c, before, nick+"'s leave", func(s integration.XMPPStanza) bool {
			return s.Name == "presence" && s.From == muc+"/"+nick && s.Type == "unavailable"
		})
	}

	// Self-ping and occupant-id across two joins.
	self := join(alice, "Alice", "")
	if self.Type != "" || !strings.Contains(self.XML, `code="110"`) {
		t.Fatalf("alice's join: %s", self.XML)
	}
	aliceID := occupantIDOf(t, self)
	carolPresence := wait(alice, "Carol's presence", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Carol"
	})
	carolID := occupantIDOf(t, carolPresence)
	if carolID == aliceID {
		t.Fatal("Carol and alice share an occupant-id")
	}
	if r := iq(alice, muc+"/Alice", ping); r.Type != "result" {
		t.Fatalf("self-ping while joined: %s", r.XML)
	}
	if r := iq(alice, muc, ping); r.Type != "result" {
		t.Fatalf("ping to the room: %s", r.XML)
	}
	if r := iq(alice, muc+"/Nobody", ping); r.Type != "error" || !strings.Contains(r.XML, "item-not-found") {
		t.Fatalf("ping to a nick nobody has: %s", r.XML)
	}
	if r := iq(bob, muc+"/Alice", ping); r.Type != "error" || !strings.Contains(r.XML, "not-acceptable") {
		t.Fatalf("ping from a non-occupant: %s", r.XML)
	}
	leave(alice, "Alice")
	if r := iq(alice, muc+"/Alice", ping); r.Type != "error" || !strings.Contains(r.XML, "not-acceptable") {
		t.Fatalf("self-ping after leaving: %s", r.XML)
	}
	if again := occupantIDOf(t, join(alice, "Alice", "")); again != aliceID {
		t.Fatalf("alice's occupant-id changed across joins: %s, then %s", aliceID, again)
	}

	// Occupant-ids on messages; a forged one never crosses.
	if err := alice.Send(ctx, `<message to='`+muc+`' type='groupchat' id='m1'><body>hello extras</body>`+
		`<occupant-id xmlns='urn:xmpp:occupant-id:0' id='forged'/></message>`); err != nil {
		t.Fatal(err)
	}
	refl := wait(alice, "the reflection", func(s integration.XMPPStanza) bool { return s.Name == "message" && s.ID == "m1" })
	if got := occupantIDOf(t, refl); got != aliceID {
		t.Fatalf("reflection occupant-id %s, want %s", got, aliceID)
	}
	if _, err := carol.SendText(ctx, room, "carol speaks"); err != nil {
		t.Fatal(err)
	}
	cm := wait(alice, "Carol's message", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && strings.Contains(s.XML, "carol speaks")
	})
	if got := occupantIDOf(t, cm); got != carolID {
		t.Fatalf("Carol's message occupant-id %s, want %s", got, carolID)
	}

	// The room info form counts Carol and alice (not the bridge bot).
	info := iq(alice, muc, `<query xmlns='http://jabber.org/protocol/disco#info'/>`)
	info.XML = regexp.MustCompile(` xmlns="[^"]*"`).ReplaceAllString(info.XML, "")
	for _, want := range []string{`var="urn:xmpp:occupant-id:0"`, `var="http://jabber.org/protocol/muc#self-ping-optimization"`,
		`<value>http://jabber.org/protocol/muc#roominfo</value>`, `var="muc#roominfo_occupants"`,
		`<value>All the extras</value>`, `<value>Extras</value>`} {
		if !strings.Contains(info.XML, want) {
			t.Errorf("room disco#info lacks %s: %s", want, info.XML)
		}
	}
	if !regexp.MustCompile(`var="muc#roominfo_occupants"[^>]*><value>2</value>`).MatchString(info.XML) {
		t.Errorf("want 2 occupants (Carol, alice): %s", info.XML)
	}

	// Chat states: alice composing is her puppet typing on Matrix, and
	// pausing stops it; Carol typing is composing from Carol, and
	// stopping is active.
	puppetTyping := func(on bool) {
		t.Helper()
		if _, err := carol.WaitForEvent(ctx, func(ev *matrix.Event) bool {
			var c struct {
				UserIDs []matrix.UserID `json:"user_ids"`
			}
			return ev.RoomID == room && ev.Type == matrix.EventTyping && json.Unmarshal(ev.Content, &c) == nil &&
				slices.Contains(c.UserIDs, alicePuppet) == on
		}); err != nil {
			t.Fatalf("alice's puppet typing %t: %v", on, err)
		}
	}
	const cs = `xmlns='http://jabber.org/protocol/chatstates'`
	if err := alice.Send(ctx, `<message to='`+muc+`' type='groupchat'><composing `+cs+`/></message>`); err != nil {
		t.Fatal(err)
	}
	puppetTyping(true)
	if err := alice.Send(ctx, `<message to='`+muc+`' type='groupchat'><paused `+cs+`/></message>`); err != nil {
		t.Fatal(err)
	}
	puppetTyping(false)
	before := len(alice.Received())
	matrixPut(ctx, t, carol, http.MethodPut, "/rooms/"+url.PathEscape(string(room))+"/typing/"+url.PathEscape(string(carol.UserID)),
		`{"typing":true,"timeout":30000}`)
	composing := after(alice, before, "Carol composing", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == muc+"/Carol" && strings.Contains(s.XML, "composing")
	})
	if strings.Contains(composing.XML, "<body") || !strings.Contains(composing.XML, "no-store") || occupantIDOf(t, composing) != carolID {
		t.Fatalf("Carol composing: %s", composing.XML)
	}
	matrixPut(ctx, t, carol, http.MethodPut, "/rooms/"+url.PathEscape(string(room))+"/typing/"+url.PathEscape(string(carol.UserID)),
		`{"typing":false}`)
	after(alice, before, "Carol active", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == muc+"/Carol" && strings.Contains(s.XML, "<active")
	})

	// Markers: alice's displayed marker on Carol's message is her
	// puppet's read receipt; Carol's read receipt on alice's message is
	// a displayed marker from Carol. The room's messages are markable.
	if !strings.Contains(cm.XML, "markable") {
		t.Errorf("Carol's message is not markable: %s", cm.XML)
	}
	if err := alice.Send(ctx, `<message to='`+muc+`' type='groupchat'><displayed xmlns='urn:xmpp:chat-markers:0' id='`+cm.ID+`'/></message>`); err != nil {
		t.Fatal(err)
	}
	if _, err := carol.WaitForEvent(ctx, func(ev *matrix.Event) bool {
		var c map[matrix.EventID]map[string]map[matrix.UserID]json.RawMessage
		return ev.RoomID == room && ev.Type == matrix.EventReceipt && json.Unmarshal(ev.Content, &c) == nil &&
			c[matrix.EventID(cm.ID)]["m.read"][alicePuppet] != nil
	}); err != nil {
		t.Fatalf("alice's read receipt: %v", err)
	}
	aliceEvent := stanzaIDOf(t, refl)
	matrixPut(ctx, t, carol, http.MethodPost, "/rooms/"+url.PathEscape(string(room))+"/receipt/m.read/"+url.PathEscape(aliceEvent), `{}`)
	shown := after(alice, before, "Carol's displayed marker", func(s integration.XMPPStanza) bool {
		return s.Name == "message" && s.From == muc+"/Carol" && strings.Contains(s.XML, "displayed")
	})
	if !strings.Contains(shown.XML, `id="`+aliceEvent+`"`) {
		t.Fatalf("Carol's displayed marker: %s", shown.XML)
	}

	// Avatars: alice publishes a vCard photo and tells its hash in her
	// presence: her puppet gets it as its avatar. Carol's avatar is in
	// the vCard of her occupant JID and of her JID.
	pic := []byte("\x89PNG\r\n\x1a\nalice's avatar, not really a png")
	sum := sha1.Sum(pic)
	if r, err := alice.IQ(ctx, "vc1", `<iq type='set' id='vc1'><vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE><BINVAL>`+
		base64.StdEncoding.EncodeToString(pic)+`</BINVAL></PHOTO></vCard></iq>`); err != nil || r.Type != "result" {
		t.Fatalf("publishing alice's vCard: %v %s", err, r.XML)
	}
	if err := alice.Send(ctx, `<presence to='`+muc+`/Alice'><x xmlns='vcard-temp:x:update'><photo>`+hex.EncodeToString(sum[:])+`</photo></x></presence>`); err != nil {
		t.Fatal(err)
	}
	var avatar string
	poll.Check(t, "alice's puppet avatar", 20*time.Second, func() error {
		p, err := carol.Profile(ctx, alicePuppet)
		if err != nil {
			return err
		}
		if avatar = p.AvatarURL; !strings.HasPrefix(avatar, "mxc://") {
			return fmt.Errorf("avatar_url %q", avatar)
		}
		return nil
	})
	if got := matrixGet(ctx, t, carol, "/_matrix/media/v3/download/"+strings.TrimPrefix(avatar, "mxc://")); !bytes.Equal(got, pic) {
		t.Fatalf("alice's puppet avatar is %q, want her vCard photo", got)
	}
	carolPic := []byte("GIF89a carol's avatar")
	var up struct {
		ContentURI string `json:"content_uri"`
	}
	if err := json.Unmarshal(matrixDo(ctx, t, carol, http.MethodPost, "/_matrix/media/v3/upload?filename=c.gif", "image/gif", carolPic), &up); err != nil {
		t.Fatal(err)
	}
	matrixPut(ctx, t, carol, http.MethodPut, "/profile/"+url.PathEscape(string(carol.UserID))+"/avatar_url",
		`{"avatar_url":"`+up.ContentURI+`"}`)
	carolJID, err := address.UserJID(jid.MustParse(domain), carol.UserID)
	if err != nil {
		t.Fatal(err)
	}
	for _, to := range []string{muc + "/Carol", carolJID.String()} {
		r := iq(alice, to, `<vCard xmlns='vcard-temp'/>`)
		var card struct {
			FN     string `xml:"vCard>FN"`
			BinVal string `xml:"vCard>PHOTO>BINVAL"`
		}
		if err := xml.Unmarshal([]byte(r.XML), &card); err != nil || r.Type != "result" || card.FN != "Carol" ||
			card.BinVal != base64.StdEncoding.EncodeToString(carolPic) {
			t.Fatalf("vCard of %s: %v %s", to, err, r.XML)
		}
	}
	// Carol's new avatar: her presence goes again with its hash.
	carolSum := sha1.Sum(carolPic)
	wait(alice, "Carol's presence with her photo hash", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Carol" && strings.Contains(s.XML, hex.EncodeToString(carolSum[:])+"</photo>")
	})
	// bob joins: alice's presence tells her photo hash, and the vCard of
	// her occupant JID has her photo (relayed from her own vCard).
	join(bob, "Bob", "")
	alicePres := wait(bob, "alice's presence to bob", func(s integration.XMPPStanza) bool {
		return s.Name == "presence" && s.From == muc+"/Alice"
	})
	if !strings.Contains(alicePres.XML, hex.EncodeToString(sum[:])+"</photo>") {
		t.Fatalf("alice's presence lacks her photo hash: %s", alicePres.XML)
	}
	r := iq(bob, muc+"/Alice", `<vCard xmlns='vcard-temp'/>`)
	var card struct {
		BinVal string `xml:"vCard>PHOTO>BINVAL"`
	}
	if err := xml.Unmarshal([]byte(r.XML), &card); err != nil || r.Type != "result" || card.BinVal != base64.StdEncoding.EncodeToString(pic) {
		t.Fatalf("vCard of alice's occupant JID: %v %s", err, r.XML)
	}
}

// matrixDo sends a request with a body of type ctype as c to path (from
// the server root) and returns the answer's body, failing unless 200.
func matrixDo(ctx context.Context, t *testing.T, c *integration.Client, method, path, ctype string, body []byte) []byte {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, c.HomeserverURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %v %s", method, path, resp.Status, err, out)
	}
	return out
}

// matrixGet GETs path (from the server root) as c.
func matrixGet(ctx context.Context, t *testing.T, c *integration.Client, path string) []byte {
	t.Helper()
	return matrixDo(ctx, t, c, http.MethodGet, path, "", nil)
}

var stanzaIDRe = regexp.MustCompile(`<stanza-id[^>]* id="([^"]+)"`)

// stanzaIDOf returns the XEP-0359 stanza-id of a stanza.
func stanzaIDOf(t *testing.T, st integration.XMPPStanza) string {
	t.Helper()
	m := stanzaIDRe.FindStringSubmatch(st.XML)
	if m == nil {
		t.Fatalf("no stanza-id: %s", st.XML)
	}
	return m[1]
}

// matrixPut sends a client-server API request as c (path under
// /_matrix/client/v3) and fails the test unless it is answered 200.
func matrixPut(ctx context.Context, t *testing.T, c *integration.Client, method, path, body string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, c.HomeserverURL+"/_matrix/client/v3"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
}
